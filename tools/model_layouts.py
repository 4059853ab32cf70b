"""Record every registered model's parameter count and state-dict layout (``tests/data/model_layouts.json``).

    python tools/model_layouts.py            # rewrite the record after an intended change (say why in the commit)

Each model is built at its registered defaults on PyTorch's ``meta`` device (no memory, no time) and recorded as
its parameter count, its number of state-dict entries and the sha256 of the sorted ``key shape dtype`` lines.
``tests/test_layouts.py`` compares every registered model with the record: official checkpoints load into these
layouts, so a refactor must not change them.
"""

from __future__ import annotations

import hashlib
import json
import sys
import warnings
from pathlib import Path

import torch

import zoo_core as zoo

RECORD = Path(__file__).resolve().parents[1] / "tests" / "data" / "model_layouts.json"


def layout(name: str) -> dict[str, object]:
    """``{"params", "entries", "sha256"}`` of model ``name`` at its defaults."""
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model = zoo.create_model(name)
    lines = sorted(f"{k} {tuple(v.shape)} {v.dtype}" for k, v in model.state_dict().items())
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "entries": len(lines),
        "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest(),
    }


def main() -> int:
    record = {name: layout(name) for name in zoo.list_models()}
    RECORD.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"wrote {RECORD} ({len(record)} models)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
