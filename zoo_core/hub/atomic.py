"""All-or-nothing writes of weight folders, and reads that never mix two versions of one.

:func:`replace_folder` writes a folder's new files into a temporary sibling folder (``.<name>.saving-...``),
flushed to disk, then switches it with the old folder in one atomic step: ``renameat2(RENAME_EXCHANGE)`` on Linux,
``renamex_np(RENAME_SWAP)`` on macOS, a plain ``rename`` when there is no old folder. The old folder (now at the
temporary name) is then deleted. So whenever the process dies, the folder's path holds either the complete old
folder or the complete new one; two writers each switch in a complete folder of their own, and the last switch
wins. Files in the old folder that are not being written (a ``.git``, notes) are carried over (hard links). Where
the system has no atomic exchange (or the file system refuses it), the old folder is renamed aside just before the
new one is renamed in: a crash between the two renames leaves the old folder complete at ``.<name>.old-...``.

:func:`read_files` opens the folder once and reads its files relative to that handle, so a folder switched while
it is being read gives all files of one version (it retries if the version it started on was deleted under it).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ..errors import WeightsError

__all__ = ["atomic_write", "read_files", "replace_folder"]

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # Linux <linux/fs.h>
_RENAME_SWAP = 2  # macOS <stdio.h>
_SYS_RENAMEAT2 = {"x86_64": 316, "aarch64": 276, "arm64": 276, "ppc64le": 357, "s390x": 347, "riscv64": 276}


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap the paths ``a`` and ``b`` (both must exist). ``False`` when the system or the file system
    cannot; raises ``OSError`` for other failures."""
    libc = _libc()
    if libc is None:
        return False
    src, dst = os.fsencode(a), os.fsencode(b)
    if sys.platform.startswith("linux"):
        fn = getattr(libc, "renameat2", None)
        if fn is not None:
            rc = fn(_AT_FDCWD, src, _AT_FDCWD, dst, _RENAME_EXCHANGE)
        else:  # glibc < 2.28: the system call itself
            number = _SYS_RENAMEAT2.get(os.uname().machine)
            if number is None:
                return False
            rc = libc.syscall(number, _AT_FDCWD, src, _AT_FDCWD, dst, _RENAME_EXCHANGE)
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        rc = libc.renamex_np(src, dst, _RENAME_SWAP)
    else:
        return False
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform/file system can sync a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write(path: Path, data: bytes) -> None:
    """Write one file through a temporary file and a rename: readers never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; these files are meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _carry_over(old: Path, new: Path, written: Iterable[str]) -> None:
    """Hard-link (or copy) into ``new`` what ``old`` holds besides the files being written."""
    skip = set(written)
    for entry in os.scandir(old):
        if entry.name in skip:
            continue
        src, dst = Path(entry.path), new / entry.name
        if entry.is_symlink():
            os.symlink(os.readlink(src), dst)
        elif entry.is_dir():
            shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(src, dst)


def _link_or_copy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _no_fault(step: str) -> None:
    """Called before each file of a save and before the switch, with what comes next (tests inject faults)."""


_before_step: Callable[[str], None] = _no_fault


def replace_folder(folder: Path, files: dict[str, bytes]) -> Path:
    """Make ``folder`` hold ``files`` (name -> bytes), all or nothing (see the module docstring); return it.

    ``folder`` may be missing (it is created, with its parents) or an existing folder (its other files are
    kept). A symlink to a folder is followed: the folder it points to is replaced.
    """
    folder = Path(os.path.abspath(folder))
    if folder.is_symlink() and folder.is_dir():
        folder = folder.resolve()
    if folder.exists() and not folder.is_dir():
        raise WeightsError(f"{folder}: exists and is not a folder; save_pretrained writes a folder")
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=parent, prefix=f".{folder.name}.saving-"))
    try:
        try:
            mode = stat.S_IMODE(os.stat(folder).st_mode)
        except FileNotFoundError:
            mode = 0o777 & ~_umask()
        os.chmod(stage, mode)  # mkdtemp creates 0700; keep the old folder's mode, else a new folder's
        for name, data in files.items():
            _before_step(f"write {name}")
            _write(stage / name, data, 0o666 & ~_umask())
        if folder.is_dir():
            _carry_over(folder, stage, files)
        _fsync_dir(stage)
        _before_step("switch")
        _switch(stage, folder)
        _fsync_dir(parent)
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # the unfinished folder, or after the switch the old one
    return folder


def _switch(stage: Path, folder: Path) -> None:
    """Put ``stage`` at ``folder``; afterwards ``stage`` holds the previous folder (if any) or is gone."""
    for _ in range(8):  # another writer may create or switch the folder between our checks
        if folder.is_dir():
            if _exchange(stage, folder):
                return
            backup = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old-"))
            os.rename(folder, backup)  # onto the empty backup folder: replaces it
            try:
                os.rename(stage, folder)
            except OSError:
                with contextlib.suppress(OSError):
                    os.rename(backup, folder)
                raise
            os.rename(backup, stage)  # cleaned up by the caller with the stage
            return
        try:
            os.rename(stage, folder)  # no folder yet: atomic (an empty folder is replaced too)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
    raise WeightsError(f"{folder}: could not switch in the new folder (other writers kept replacing it)")


def read_files(
    folder: Path, names: Iterable[str], limits: dict[str, int] | None = None, attempts: int = 5
) -> dict[str, bytearray | None]:
    """Read ``names`` from ``folder`` as one version of it (``None`` for a file it does not have).

    The files are opened relative to one handle on the folder; if afterwards the path no longer leads to that
    folder (a save switched a new one in meanwhile), everything is read again from the new one. A file larger
    than its entry in ``limits`` (bytes) is refused before it is read.
    """
    names, limits = list(names), limits or {}

    def read(f: Any, name: str) -> bytearray:
        size = os.fstat(f.fileno()).st_size
        if name in limits and size > limits[name]:
            raise WeightsError(
                f"{folder / name}: {size:,} bytes, more than a {name} may have ({limits[name]:,})"
            )
        buf = bytearray(size)  # writable: tensors can share this memory instead of copying it
        got = f.readinto(buf)
        del buf[got:]
        rest = f.read()  # the file grew since fstat
        if rest:
            buf += rest
        return buf

    if not (os.open in os.supports_dir_fd and hasattr(os, "O_DIRECTORY")):  # e.g. Windows: plain reads
        out: dict[str, bytearray | None] = {}
        for n in names:
            try:
                with open(folder / n, "rb") as f:
                    out[n] = read(f, n)
            except FileNotFoundError:
                out[n] = None
        return out
    out = {}
    for _ in range(attempts):
        dfd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            out = {}
            for n in names:
                try:
                    fd = os.open(n, os.O_RDONLY, dir_fd=dfd)
                except FileNotFoundError:
                    out[n] = None
                    continue
                with os.fdopen(fd, "rb") as f:
                    out[n] = read(f, n)
            here, now = os.fstat(dfd), os.stat(folder)
            if (here.st_dev, here.st_ino) == (now.st_dev, now.st_ino):
                return out
        finally:
            os.close(dfd)
    return out  # switched under us every time: the last read
