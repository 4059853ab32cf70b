"""Where weights come from: a local folder, a registry source relative to the checkout, or the Hugging Face Hub."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import WeightsError
from .download import download
from .folders import CHECKOUT_ROOT

__all__ = ["resolve_source"]


def resolve_source(source: str | os.PathLike[str], revision: str | None = None) -> Path:
    """A local folder for ``source`` (downloading ``hf://`` sources into the Hub cache)."""
    s = str(source)
    if s.startswith("hf://"):
        repo, _, rev = s[5:].partition("@")
        return download(repo, revision=rev or revision)
    path = Path(s)
    if path.is_absolute() or path.exists():
        return path
    # registry sources are relative to the repository root (model_cards/<id>); an install that is not a
    # checkout finds them through $ZOO_MODEL_CARDS (a copy of the model_cards/ folder)
    candidates = [CHECKOUT_ROOT / path]
    cards = os.environ.get("ZOO_MODEL_CARDS")
    if cards and path.parts[0] == "model_cards":
        candidates.append(Path(cards).joinpath(*path.parts[1:]))
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise WeightsError(
        f"{s}: weight folder not found (looked in {', '.join(str(c) for c in candidates)}). Demo weights ship in "
        "the model_cards/ folder of a zoo-core checkout; with another install, point ZOO_MODEL_CARDS at "
        "such a folder, or load a Hub copy with zoo.load_pretrained(model, 'hf://owner/repo')"
    )
