"""Where weights come from: a package resource, a local folder, or the Hugging Face Hub.

A *source* is one of

* ``package://<import package>/<path>``: a weight folder shipped inside an installed package (package data), the
  way the small demo weights travel with the plugin that owns them: found wherever the package is installed,
  whatever the current directory;
* ``hf://owner/repo[@revision]``: a Hub repository, downloaded into the Hub cache (:mod:`.download`);
* a local folder path.

:func:`resolve_source` turns any of them into a local folder; :func:`is_source` tells a source from other
strings (a weight tag, a typo).
"""

from __future__ import annotations

import importlib.resources
import os
import re
from pathlib import Path

from ..errors import WeightsError
from .download import download
from .network import check_repo_id, check_revision

__all__ = ["PACKAGE_SCHEME", "is_source", "package_source", "parse_hub_source", "resolve_source"]

PACKAGE_SCHEME = "package://"
_PACKAGE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def package_source(package: str, path: str) -> str:
    """The source string of the folder ``path`` inside the installed package ``package``."""
    return f"{PACKAGE_SCHEME}{package}/{path}"


def is_source(text: str | os.PathLike[str]) -> bool:
    """Whether ``text`` names a source: ``hf://...``, ``package://...`` or an existing folder."""
    s = str(text)
    return s.startswith(("hf://", PACKAGE_SCHEME)) or Path(s).is_dir()


def _package_folder(source: str) -> Path:
    package, _, rel = source[len(PACKAGE_SCHEME) :].partition("/")
    parts = [p for p in rel.split("/") if p]
    if not _PACKAGE.fullmatch(package) or not parts or any(p in (".", "..") for p in parts):
        raise WeightsError(f"{source}: a package source is 'package://<import package>/<folder inside it>'")
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError as exc:
        raise WeightsError(f"{source}: the package {package!r} is not installed ({exc})") from None
    folder = Path(str(root.joinpath(*parts)))
    if not folder.is_dir():
        raise WeightsError(
            f"{source}: no such folder in the installed package {package!r} (looked at {folder}); the "
            "package was built without its weights, or the registry names the wrong path"
        )
    return folder


def parse_hub_source(source: str, revision: str | None = None) -> tuple[str, str | None]:
    """``(repo_id, revision)`` of ``hf://owner/repo[@revision]``, both validated; ``revision`` is used when the
    source names none (naming two different ones is an error)."""
    repo, at, rev = source[len("hf://") :].partition("@")
    check_repo_id(repo)
    if at and not rev:
        raise WeightsError(f"{source}: empty revision after '@'; write hf://{repo}@<branch, tag or commit>")
    if rev and revision is not None and rev != revision:
        raise WeightsError(
            f"{source}: names revision {rev!r} but revision={revision!r} was also given; pick one"
        )
    chosen = rev or revision
    if chosen is not None:
        check_revision(chosen, source)
    return repo, chosen


def resolve_source(
    source: str | os.PathLike[str], revision: str | None = None, *, timeout: float | None = None
) -> Path:
    """A local folder for ``source`` (downloading ``hf://`` sources into the Hub cache; ``timeout``: how long the
    Hub may stay silent, see :func:`zoo_core.hub.download.download`)."""
    s = str(source)
    if s.startswith("hf://"):
        repo, rev = parse_hub_source(s, revision)
        return download(repo, revision=rev, timeout=timeout)
    if s.startswith(PACKAGE_SCHEME):
        return _package_folder(s)
    path = Path(s)
    if path.is_dir():
        return path
    raise WeightsError(
        f"{s}: weight folder not found; a source is a folder, 'package://<package>/<folder>' or "
        "'hf://owner/repo[@revision]'"
    )
