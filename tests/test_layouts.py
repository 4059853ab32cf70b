"""Every registered model keeps its parameter count and state-dict layout (official checkpoints load into these
layouts): compared with the record ``tests/data/model_layouts.json`` (``python tools/model_layouts.py``)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

import zoo_core as zoo

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("model_layouts", ROOT / "tools" / "model_layouts.py")
model_layouts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(model_layouts)  # type: ignore[union-attr]
RECORD = json.loads(model_layouts.RECORD.read_text())
IN_REPO = [
    n
    for n in zoo.list_models()
    if zoo.model_info(n).plugin in {"zoo_core", *(p.name for p in (ROOT / "plugins").iterdir())}
]


def test_every_model_of_this_repository_is_recorded() -> None:
    missing = sorted(set(IN_REPO) - set(RECORD))
    assert not missing, f"not in tests/data/model_layouts.json (run python tools/model_layouts.py): {missing}"


@pytest.mark.parametrize("name", sorted(set(IN_REPO) & set(RECORD)))
def test_layout_is_unchanged(name: str) -> None:
    assert model_layouts.layout(name) == RECORD[name]
