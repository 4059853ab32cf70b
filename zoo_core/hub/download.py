"""Hugging Face Hub access: download a weight folder, publish one (every call bounded by huggingface_hub's
timeouts).

Downloads go through ``huggingface_hub.snapshot_download``, which gives the Hub cache, revision pinning (a
commit hash, a tag or a branch), progress bars, ``HF_HUB_OFFLINE=1`` (served from the cache, no network) and
``HF_ENDPOINT`` (any Hub-compatible server, e.g. a self-hosted mirror). Only the three files of a weight folder
are fetched; nothing downloaded is ever executed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..errors import WeightsError
from .cards import parse_card
from .folders import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, read_config

WEIGHT_FILES = [CONFIG_NAME, WEIGHTS_NAME, CARD_NAME]


def check_repo_id(repo_id: str) -> None:
    if not repo_id or repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise WeightsError(f"hf://{repo_id}: a Hub source is 'hf://owner/name[@revision]'")


def _transfer_errors() -> tuple[type[BaseException], ...]:
    """Errors a download can end with besides ``HfHubHTTPError``/``OSError``/``ValueError``.

    ``huggingface_hub`` re-raises proxy errors of its HTTP client (``httpx``/``httpx2``, not ``OSError``) and has
    a few errors of its own that derive from plain ``Exception``; all of them mean "the download failed".
    """
    from huggingface_hub import errors  # huggingface_hub loads only when the Hub is used

    found: list[type[BaseException]] = [
        c
        for c in (getattr(errors, n, None) for n in ("EntryNotFoundError", "RevisionResolutionError"))
        if isinstance(c, type)
    ]
    for module in ("httpx2", "httpx"):  # only a client that is loaded can have raised
        error = getattr(sys.modules.get(module), "HTTPError", None)
        if isinstance(error, type):
            found.append(error)
    return tuple(found)


def download(repo_id: str, revision: str | None = None, cache_dir: str | None = None) -> Path:
    """Download (or reuse from the cache) the weight folder ``repo_id`` at ``revision``; return its path.

    Every failure (unknown repo or revision, no network, ``HF_HUB_OFFLINE=1`` with nothing cached, a repo that
    is not a weight folder) raises :class:`~zoo_core.weights.WeightsError` naming ``hf://repo@revision``.
    """
    # huggingface_hub loads only when the Hub is used
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    check_repo_id(repo_id)
    where = f"hf://{repo_id}@{revision or 'main'}"
    try:
        path = snapshot_download(repo_id, revision=revision, allow_patterns=WEIGHT_FILES, cache_dir=cache_dir)
    except LocalEntryNotFoundError as exc:
        raise WeightsError(
            f"{where}: not in the local cache and the Hub cannot be reached "
            f"(HF_HUB_OFFLINE or no network): {exc}"
        ) from exc
    except (HfHubHTTPError, OSError, ValueError, *_transfer_errors()) as exc:
        raise WeightsError(f"{where}: download failed: {type(exc).__name__}: {exc}") from exc
    folder = Path(path)
    missing = [f for f in (CONFIG_NAME, WEIGHTS_NAME) if not (folder / f).is_file()]
    if missing:
        raise WeightsError(
            f"{where}: the repository has no {', '.join(missing)}; it is not a zoo-core weight folder"
        )
    return folder


def check_folder(folder: str | Path) -> dict[str, Any]:
    """Check the files of a weight folder before publishing; return its config.

    The folder must hold a ``config.json`` that records the sha256 of ``model.safetensors`` (as
    :func:`~zoo_core.hub.folders.save_pretrained` writes it) and a card whose front matter the Hub and the zoo
    accept. :func:`zoo_core.push_to_hub` also loads the weights into the model the config names before sending
    anything, so nothing is published that cannot be loaded back.
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
        parse_card(card.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise WeightsError(f"{card}: {exc}") from exc
    return cfg


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
) -> Any:
    """Publish the files of a checked weight folder to the Hub repo ``repo_id`` (created if needed):
    ``HfApi.create_repo(exist_ok=True)``, then ``HfApi.upload_folder`` with only the weight-folder files. ``api``
    replaces ``HfApi()`` (tests pass a stand-in). Returns what ``upload_folder`` returns (a ``CommitInfo``:
    ``.oid`` is the commit to pin)."""
    check_repo_id(repo_id)
    if api is None:
        from huggingface_hub import HfApi  # huggingface_hub loads only when something is published

        api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    message = commit_message or f"zoo-core: {config['model']}" + (
        f".{config['tag']}" if config.get("tag") else ""
    )
    return api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="model",
        revision=revision,
        commit_message=message,
        allow_patterns=WEIGHT_FILES,
    )
