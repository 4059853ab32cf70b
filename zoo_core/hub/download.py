"""Hugging Face Hub access: download a weight folder, publish one; every call bounded and checked.

Downloads go through ``huggingface_hub`` (its cache layout, progress bars, ``HF_HUB_OFFLINE=1``, ``HF_ENDPOINT``
for any Hub-compatible server), but the zoo decides what to ask for:

* the repo id and revision are validated first (:func:`~zoo_core.hub.network.check_repo_id`,
  :func:`~zoo_core.hub.network.check_revision`), so no name can point outside the cache;
* the zoo resolves the revision to a commit itself: a 40-hex commit is used as it is; a branch or tag is asked of
  the Hub (``repo_info``) or, offline, read from the cache's ``refs/`` file, and the answer must be 40 hex digits;
  the files are then fetched for that commit only, and the ref is recorded in the cache afterwards;
* a commit whose files are all in the cache is served from it without any request;
* all traffic runs inside :func:`~zoo_core.hub.network.bounded_hub`: the Hub may stay silent at most ``timeout``
  seconds (``timeout=``, ``ZOO_HUB_TIMEOUT``, default 10) before the call fails with a :class:`WeightsError`, and
  answers that would put files outside the cache are refused;
* only the three files of a weight folder are fetched; nothing downloaded is ever executed, and the folder
  returned is checked to lie inside the cache.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from ..errors import WeightsError
from .atomic import atomic_write
from .cards import parse_card
from .folders import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, read_config
from .network import (
    HubTransferError,
    bounded_hub,
    check_repo_id,
    check_revision,
    hub_timeout,
    is_commit,
)
from .schema import check_front_matter

__all__ = ["WEIGHT_FILES", "check_folder", "check_repo_id", "download", "upload_folder"]

WEIGHT_FILES = [CONFIG_NAME, WEIGHTS_NAME, CARD_NAME]
_REQUIRED = (CONFIG_NAME, WEIGHTS_NAME)
DEFAULT_REVISION = "main"


def _transfer_errors() -> tuple[type[BaseException], ...]:
    """Errors a download can end with besides ``HfHubHTTPError``/``OSError``/``ValueError``.

    ``huggingface_hub`` re-raises proxy errors of its HTTP client (``httpx``/``httpx2``, not ``OSError``) and has
    a few errors of its own that derive from plain ``Exception``; all of them mean "the download failed".
    """
    from huggingface_hub import errors  # huggingface_hub loads only when the Hub is used

    found: list[type[BaseException]] = [
        c
        for c in (
            getattr(errors, n, None)
            for n in ("EntryNotFoundError", "RevisionResolutionError", "IncompleteSnapshotError")
        )
        if isinstance(c, type)
    ]
    for module in ("httpx2", "httpx"):  # only a client that is loaded can have raised
        error = getattr(sys.modules.get(module), "HTTPError", None)
        if isinstance(error, type):
            found.append(error)
    return tuple(found)


def _inside(path: Path, root: Path) -> bool:
    """Whether ``path``, every link followed, lies inside ``root`` (also resolved)."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a link loop
        return False


def _cached_snapshot(storage: Path, commit: str) -> Path | None:
    """The cached folder of ``commit`` if it holds the required files (inside the cache), else ``None``."""
    snapshot = storage / "snapshots" / commit
    if all((snapshot / f).is_file() and _inside(snapshot / f, storage) for f in _REQUIRED):
        return snapshot
    return None


def _cached_ref(storage: Path, revision: str, where: str) -> str | None:
    """The commit the cache records for the branch/tag ``revision`` (already validated), or ``None``."""
    ref = storage / "refs" / revision
    if not ref.is_file():
        return None
    if not _inside(ref, storage / "refs"):
        raise WeightsError(f"{where}: the cache's ref file {ref} leads outside the cache; delete it")
    commit = ref.read_text(errors="replace").strip()
    if not is_commit(commit):
        raise WeightsError(
            f"{where}: the cache's ref file {ref} holds {commit[:60]!r}, not a commit id; delete it and download again"
        )
    return commit


def _endpoint() -> str:
    from huggingface_hub import constants  # loaded only when the Hub is used

    return str(constants.ENDPOINT)


def _transfer_message(where: str, exc: HubTransferError, timeout: float) -> str:
    if exc.kind == "timeout":
        return (
            f"{where}: {exc} (the Hub at {_endpoint()} stalled); try again, allow more with "
            f"ZOO_HUB_TIMEOUT=<seconds> or timeout=, or use the cache with HF_HUB_OFFLINE=1"
        )
    if exc.kind == "unsafe":
        return (
            f"{where}: refused an answer of the Hub at {_endpoint()}: {exc}; is HF_ENDPOINT a trusted server?"
        )
    if exc.kind == "unavailable":
        return f"{where}: {exc}; the Hub is busy or down, try again later"
    return f"{where}: cannot reach the Hub at {_endpoint()} ({exc}); check the network and HF_ENDPOINT"


def download(
    repo_id: str,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    timeout: float | None = None,
) -> Path:
    """Download (or reuse from the cache) the weight folder ``repo_id`` at ``revision``; return its path.

    ``revision``: a 40-hex commit, a branch or a tag (default ``main``). ``timeout``: how long the Hub may stay
    silent, in seconds (default ``$ZOO_HUB_TIMEOUT`` or 10). Every failure (a malformed name, an unknown repo or
    revision, a stalled or unreachable Hub, ``HF_HUB_OFFLINE=1`` with nothing cached, a repo that is not a
    weight folder, an unsafe answer) raises :class:`~zoo_core.errors.WeightsError` naming ``hf://repo@revision``.
    """
    started = time.monotonic()
    check_repo_id(repo_id)
    rev = DEFAULT_REVISION if revision is None else revision
    where = f"hf://{repo_id}@{rev}"
    check_revision(rev, where)
    seconds = hub_timeout(timeout)
    # huggingface_hub loads only when the Hub is used
    from huggingface_hub import HfApi, constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    from huggingface_hub.file_download import repo_folder_name

    cache = Path(cache_dir if cache_dir is not None else constants.HF_HUB_CACHE).expanduser().resolve()
    storage = cache / repo_folder_name(repo_id=repo_id, repo_type="model")
    commit = rev if is_commit(rev) else None
    if commit is not None and (cached := _cached_snapshot(storage, commit)) is not None:
        return cached  # a commit never changes: no request needed
    if constants.is_offline_mode():
        commit = commit or _cached_ref(storage, rev, where)
        cached = _cached_snapshot(storage, commit) if commit else None
        if cached is None:
            raise WeightsError(
                f"{where}: not in the local cache and HF_HUB_OFFLINE=1 forbids the network; download it once "
                "with the network on (zoo download), or unset HF_HUB_OFFLINE"
            )
        return cached
    with bounded_hub(seconds, started) as budget:
        try:
            if commit is None:
                try:
                    info = HfApi().repo_info(repo_id, revision=rev, timeout=seconds)
                except HubTransferError as exc:
                    known = _cached_ref(storage, rev, where)
                    cached = _cached_snapshot(storage, known) if known else None
                    if cached is None:
                        raise
                    warnings.warn(
                        f"{_transfer_message(where, exc, seconds)}; using the cached commit {known}",
                        stacklevel=2,
                    )
                    return cached
                commit = getattr(info, "sha", None)
                if not is_commit(commit):
                    raise HubTransferError(
                        "unsafe", f"{rev!r} resolved to {str(commit)[:60]!r}, which is not a 40-hex commit id"
                    )
            budget.commit = commit
            path = snapshot_download(
                repo_id,
                revision=commit,
                allow_patterns=WEIGHT_FILES,
                cache_dir=str(cache),
                etag_timeout=seconds,
            )
        except HubTransferError as exc:
            raise WeightsError(_transfer_message(where, exc, seconds)) from exc
        except LocalEntryNotFoundError as exc:
            raise WeightsError(
                f"{where}: not in the local cache and the Hub cannot be reached: {exc}"
            ) from exc
        except (HfHubHTTPError, OSError, ValueError, *_transfer_errors()) as exc:
            raise WeightsError(f"{where}: download failed: {type(exc).__name__}: {exc}") from exc
    folder = storage / "snapshots" / commit
    if Path(path).resolve() != folder.resolve():
        raise WeightsError(f"{where}: the download landed in {path}, not in {folder}; refusing to read it")
    missing = [f for f in _REQUIRED if not (folder / f).is_file()]
    if missing:
        raise WeightsError(
            f"{where}: the repository has no {', '.join(missing)}; it is not a zoo-core weight folder"
        )
    outside = [f.name for f in folder.iterdir() if not _inside(f, storage)]
    if outside:
        raise WeightsError(f"{where}: cached files {outside} lead outside {storage}; delete the cache folder")
    if rev != commit:  # remember the ref, for HF_HUB_OFFLINE=1 later (the same file huggingface_hub writes)
        try:
            atomic_write(storage / "refs" / rev, commit.encode())
        except OSError as exc:
            warnings.warn(f"{where}: could not record the ref in the cache ({exc})", stacklevel=2)
    return folder


def check_folder(folder: str | Path) -> dict[str, Any]:
    """Check the files of a weight folder before publishing; return its config.

    The folder must hold a ``config.json`` that records the sha256 of ``model.safetensors`` (as
    :func:`~zoo_core.hub.folders.save_pretrained` writes it) and a card whose front matter the Hub and the zoo
    accept (:func:`~zoo_core.hub.schema.check_front_matter`, then the zoo's own rules). :func:`zoo_core.push_to_hub`
    also loads the weights into the model the config names before sending anything, so nothing is published that
    cannot be loaded back.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"{folder}: not a folder; publish a folder written by zoo.save_pretrained")
    cfg = read_config(folder)
    files = cfg.get("files")
    if not isinstance(files, dict) or not isinstance(files.get(WEIGHTS_NAME), str):
        raise WeightsError(
            f"{folder / CONFIG_NAME}: no sha256 recorded for {WEIGHTS_NAME} (field 'files'); "
            "write the folder with zoo.save_pretrained"
        )
    card = folder / CARD_NAME
    if not card.is_file():
        raise WeightsError(f"{card}: missing; every published weight folder has a model card")
    try:
        text = card.read_text()
    except UnicodeDecodeError as exc:
        raise WeightsError(f"{card}: not UTF-8 text ({exc})") from None
    check_front_matter(text, str(card))
    try:
        parse_card(text)
    except ValueError as exc:
        raise WeightsError(f"{card}: {exc}") from exc
    return cfg


_PUSH_HINTS = {
    401: "the Hub refused the token: log in with `hf auth login` or set HF_TOKEN to a token with write access",
    403: "this token may not write to that repo: use a token with write access to its owner",
    404: "the endpoint has no upload API; check HF_ENDPOINT (a read-only mirror cannot be pushed to)",
    405: "the endpoint does not accept uploads; check HF_ENDPOINT (a read-only mirror cannot be pushed to)",
    409: "the Hub reports a conflict (another commit landed meanwhile?); push again",
    413: "the Hub refused the upload as too large",
    501: "the endpoint does not implement uploads; check HF_ENDPOINT",
}


def _push_error(exc: Exception, target: str, seconds: float) -> WeightsError:
    """One line saying why publishing to ``target`` failed and what to do."""
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError  # loaded with the Hub

    if isinstance(exc, HubTransferError):
        return WeightsError(_transfer_message(f"push to {target}", exc, seconds))
    if isinstance(exc, LocalTokenNotFoundError):
        return WeightsError(
            f"push to {target}: no Hugging Face token; log in with `hf auth login` or set HF_TOKEN to a token "
            "with write access"
        )
    detail = " ".join(str(exc).split())
    detail = detail[:300] + ("..." if len(detail) > 300 else "")
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        code = exc.response.status_code
        hint = _PUSH_HINTS.get(code, "see the Hub's answer above")
        return WeightsError(
            f"push to {target}: the Hub at {_endpoint()} answered HTTP {code}: {hint} ({detail})"
        )
    return WeightsError(f"push to {target}: failed: {type(exc).__name__}: {detail}")


def upload_folder(
    folder: str | Path,
    repo_id: str,
    config: dict[str, Any],
    *,
    revision: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
    api: Any = None,
    timeout: float | None = None,
) -> Any:
    """Publish the files of a checked weight folder to the Hub repo ``repo_id`` (created if needed):
    ``HfApi.create_repo(exist_ok=True)``, then ``HfApi.upload_folder`` with only the weight-folder files. ``api``
    replaces ``HfApi()`` (tests pass a stand-in). Every request is bounded by ``timeout`` (see :func:`download`);
    any failure is a one-line :class:`WeightsError` saying what to do. Returns what ``upload_folder`` returns (a
    ``CommitInfo``: ``.oid`` is the commit to pin)."""
    started = time.monotonic()
    check_repo_id(repo_id)
    target = f"hf://{repo_id}" + (f"@{revision}" if revision else "")
    if revision is not None:
        check_revision(revision, target)
    seconds = hub_timeout(timeout)
    message = commit_message or f"zoo-core: {config['model']}" + (
        f".{config['tag']}" if config.get("tag") else ""
    )
    with bounded_hub(seconds, started):
        try:
            if api is None:
                # huggingface_hub loads only when something is published
                from huggingface_hub import HfApi, get_token
                from huggingface_hub.errors import LocalTokenNotFoundError

                if token is None and get_token() is None:  # the Hub refuses anonymous writes: say so first
                    raise LocalTokenNotFoundError("no token")
                api = HfApi(token=token)
            api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            return api.upload_folder(
                folder_path=str(folder),
                repo_id=repo_id,
                repo_type="model",
                revision=revision,
                commit_message=message,
                allow_patterns=WEIGHT_FILES,
            )
        except Exception as exc:  # whatever the Hub client raises: one line with what to do
            raise _push_error(exc, target, seconds) from exc
