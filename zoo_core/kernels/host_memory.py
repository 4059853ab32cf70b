r"""Host memory: keep freed large blocks in the process heap, so that a kernel's output is not fresh memory.

PyTorch's CPU allocator takes every tensor from ``malloc`` and gives it back on free; it caches nothing. glibc's
``malloc`` serves a block above its *mmap threshold* (128 KiB, growing to at most 32 MiB as blocks are freed) with
a fresh ``mmap`` and unmaps it on free, and trims freed memory at the top of the heap above its *trim threshold*.
A fresh mapping costs one page fault per 4 KiB page on first touch: on this project's machine (a VM, AVX-512,
1 thread) ``x.clone()`` of a 32 MiB tensor took 14-16 ms from fresh pages and 1.4 ms into a buffer already
touched, so a fused LIF forward that returns a new spike tensor ran at a tenth of the memory bandwidth, and the
variation of that cost between runs (up to 10x) made the benchmarks unrepeatable.

:func:`retain_freed_memory` raises both thresholds (``mallopt(M_MMAP_THRESHOLD, 1 GiB)``,
``mallopt(M_TRIM_THRESHOLD, 2**31 - 1)``): blocks up to 1 GiB come from the heap and freed ones stay there for the
next allocation of that size, as a caching allocator does (the heap grows over the first calls of a shape until it
holds a free block of each size asked for, then is reused). ``tools/bench_host_memory.py`` (fresh processes, 1
thread, against ``ZOO_HOST_MEMORY=system``): compiled LIF at ``[4, 32, 64, 32, 32]`` forward x6.8, forward+backward
x6.1; SpikingResformer-Ti forward per image-step x1.47 at 64x64 (batch 8, T=4), x1.02 at 224x224 batch 1, T=1 and
x2.11 at batch 8, T=8. The price is the same as any caching allocator's: the process keeps its peak heap until it
exits (:func:`release_memory` hands the free part back).

It is applied when :mod:`zoo_core.kernels` is first imported, unless ``ZOO_HOST_MEMORY=system`` (keep the C
library's defaults; also the choice to make when another allocator such as jemalloc or tcmalloc is preloaded,
where these calls change nothing). It acts on glibc only; elsewhere :func:`retain_freed_memory` returns ``False``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import warnings
from typing import Any

__all__ = ["configure_from_env", "heap_stats", "release_memory", "retain_freed_memory", "state"]

# glibc's mallopt parameter numbers (malloc.h) and values
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_RETAIN_MMAP, _RETAIN_TRIM = 1 << 30, 2**31 - 1
_DEFAULT_MMAP, _DEFAULT_TRIM = 128 * 1024, 128 * 1024  # glibc's documented defaults
_CHOICES = ("retain", "system")

_state = "system"
_libc: Any = None


def _glibc() -> Any:
    """glibc's ``libc`` through ctypes, or ``None`` on another C library or platform."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux") and os.confstr_names.get("CS_GNU_LIBC_VERSION") is not None:
            try:
                if os.confstr("CS_GNU_LIBC_VERSION"):
                    lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                    if hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim"):
                        _libc = lib
            except (OSError, ValueError):
                pass
    return _libc or None


def retain_freed_memory(enable: bool = True) -> bool:
    """Keep freed blocks of up to 1 GiB in the heap for reuse. ``enable=False`` sets glibc's default thresholds
    again and hands the free memory back, but not its dynamic mmap threshold, which any ``mallopt`` switches off
    for the process: for glibc's behaviour exactly, start the process with ``ZOO_HOST_MEMORY=system``. Returns
    whether the setting took effect (``False`` without glibc)."""
    global _state
    lib = _glibc()
    if lib is None:
        return False
    mmap, trim = (_RETAIN_MMAP, _RETAIN_TRIM) if enable else (_DEFAULT_MMAP, _DEFAULT_TRIM)
    ok = bool(lib.mallopt(_M_MMAP_THRESHOLD, mmap)) and bool(lib.mallopt(_M_TRIM_THRESHOLD, trim))
    if ok:
        _state = "retain" if enable else "system"
    if not enable:
        release_memory()
    return ok


def release_memory() -> None:
    """Hand the heap's free memory back to the operating system (``malloc_trim(0)``; no-op without glibc)."""
    lib = _glibc()
    if lib is not None:
        lib.malloc_trim(0)


def state() -> str:
    """``"retain"`` once :func:`retain_freed_memory` took effect, else ``"system"`` (the C library's defaults)."""
    return _state


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (n, ctypes.c_size_t)
        for n in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def heap_stats() -> dict[str, int] | None:
    """glibc's ``mallinfo2()``: ``mmapped`` (bytes in blocks served by their own mapping), ``heap`` (bytes the
    heap holds), ``free`` (free bytes in it); ``None`` without glibc 2.33+."""
    lib = _glibc()
    fn = getattr(lib, "mallinfo2", None) if lib is not None else None
    if fn is None:
        return None
    fn.restype = _MallInfo2
    info = fn()
    return {"mmapped": int(info.hblkhd), "heap": int(info.arena), "free": int(info.fordblks)}


def configure_from_env() -> str:
    """Apply ``ZOO_HOST_MEMORY`` (``retain``, the default, or ``system``); returns :func:`state`. An unknown value
    warns, naming the valid ones, and leaves the defaults."""
    choice = os.environ.get("ZOO_HOST_MEMORY", "retain").strip().lower() or "retain"
    if choice not in _CHOICES:
        warnings.warn(
            f"ZOO_HOST_MEMORY={choice!r} is not one of {', '.join(_CHOICES)}; keeping the C library's defaults",
            RuntimeWarning,
            stacklevel=2,
        )
    elif choice == "retain":
        retain_freed_memory(True)
    return state()
