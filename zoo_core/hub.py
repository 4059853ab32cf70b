"""Hugging Face Hub access: download a weight folder, publish one.

Downloads go through ``huggingface_hub.snapshot_download``, which gives the Hub cache, revision pinning (a
commit hash, a tag or a branch), progress bars, ``HF_HUB_OFFLINE=1`` (served from the cache, no network) and
``HF_ENDPOINT`` (any Hub-compatible server, e.g. a self-hosted mirror). Only the three files of a weight folder
are fetched; nothing downloaded is ever executed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .weights import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, WeightsError, read_config

WEIGHT_FILES = [CONFIG_NAME, WEIGHTS_NAME, CARD_NAME]


def download(repo_id: str, revision: str | None = None, cache_dir: str | None = None) -> Path:
    """Download (or reuse from the cache) the weight folder ``repo_id`` at ``revision``; return its path."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    if not repo_id or repo_id.count("/") != 1:
        raise WeightsError(f"hf://{repo_id}: a Hub source is 'hf://owner/name[@revision]'")
    try:
        path = snapshot_download(repo_id, revision=revision, allow_patterns=WEIGHT_FILES, cache_dir=cache_dir)
    except LocalEntryNotFoundError as exc:
        raise WeightsError(
            f"hf://{repo_id}@{revision or 'main'}: not in the local cache and the Hub cannot be "
            f"reached (HF_HUB_OFFLINE or no network): {exc}"
        ) from exc
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise WeightsError(
            f"hf://{repo_id}@{revision or 'main'}: download failed: {type(exc).__name__}: {exc}"
        ) from exc
    folder = Path(path)
    missing = [f for f in (CONFIG_NAME, WEIGHTS_NAME) if not (folder / f).is_file()]
    if missing:
        raise WeightsError(
            f"hf://{repo_id}@{revision or 'main'}: the repository has no {', '.join(missing)}; "
            "it is not a zoo-core weight folder"
        )
    return folder


def validate_folder(folder: str | Path) -> dict[str, Any]:
    """Check a weight folder before publishing: config, card front matter, weights and their checksum."""
    from .cards import parse_card
    from .weights import read_safetensors

    folder = Path(folder)
    cfg = read_config(folder)
    card = folder / CARD_NAME
    if not card.is_file():
        raise WeightsError(f"{card}: missing; every published weight folder has a model card")
    try:
        parse_card(card.read_text())
    except ValueError as exc:
        raise WeightsError(f"{card}: {exc}") from exc
    read_safetensors(folder / WEIGHTS_NAME, cfg.get("files", {}).get(WEIGHTS_NAME))
    return cfg


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
    api: Any = None,
) -> Any:
    """Validate ``folder`` and publish it to the Hub repo ``repo_id`` (created if needed).

    Uses ``HfApi.create_repo(exist_ok=True)`` then ``HfApi.upload_folder`` with only the weight-folder files.
    ``api`` replaces ``HfApi()`` (tests pass a stand-in). Returns what ``upload_folder`` returns (commit info).
    """
    cfg = validate_folder(folder)
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    message = commit_message or f"zoo-core: {cfg['model']}" + (f".{cfg['tag']}" if cfg.get("tag") else "")
    return api.upload_folder(
        folder_path=str(folder),
        repo_id=repo_id,
        repo_type="model",
        revision=revision,
        commit_message=message,
        allow_patterns=WEIGHT_FILES,
    )
