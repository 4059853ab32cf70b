"""Data sets of the task ``text-attribution``: texts labelled with the sub-dataset they come from, plus texts from
none of them (out of distribution, OOD).

One JSON format serves the shipped demo corpus and a user's own data (``zoo train/eval --dataset FILE.json``)::

    {"classes": ["email", "unittest", ...],
     "chunks": [{"text": "...", "source": "email", "split": "train"},   # split: train | test | ood
                {"text": "...", "source": "logging", "split": "ood"}, ...]}

The ``train`` split holds the labelled training texts (no OOD texts: the OOD detector never sees any); the
``test`` split holds the labelled test texts and every ``ood`` text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset
from zoo_core.sdk import ConfigError

SPLITS = ("train", "test")
DEMO_FILE = "stdlib_docstrings.json"


@dataclass
class TextAttributionData(Dataset):
    """``(text, label)`` items of one split, the class names, and the split's OOD texts."""

    texts: list[str]
    labels: list[int]
    classes: list[str]
    ood_texts: list[str] = field(default_factory=list)
    name: str = ""
    split: str = "test"

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ConfigError(f"{self.name}: {len(self.texts)} texts but {len(self.labels)} labels")
        bad = [y for y in self.labels if not 0 <= y < len(self.classes)]
        if bad:
            raise ConfigError(
                f"{self.name}: labels {sorted(set(bad))[:5]} outside the {len(self.classes)} classes"
            )

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, i: int) -> tuple[str, int]:
        return self.texts[i], self.labels[i]


def from_records(data: dict[str, Any], split: str, name: str) -> TextAttributionData:
    """The ``split`` (``train`` or ``test``) of a corpus in the JSON format of this module."""
    if split not in SPLITS:
        raise ConfigError(f"{name}: split must be one of {', '.join(SPLITS)}, got {split!r}")
    classes = data.get("classes")
    chunks = data.get("chunks")
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise ConfigError(f"{name}: 'classes' must be a non-empty list of sub-dataset names")
    if not isinstance(chunks, list):
        raise ConfigError(f"{name}: 'chunks' must be a list of {{'text', 'source', 'split'}} records")
    index = {c: k for k, c in enumerate(classes)}
    texts, labels, ood = [], [], []
    for i, r in enumerate(chunks):
        if (
            not isinstance(r, dict)
            or not isinstance(r.get("text"), str)
            or r.get("split") not in (*SPLITS, "ood")
        ):
            raise ConfigError(
                f"{name}: chunk {i} must be {{'text': str, 'source': str, 'split': train|test|ood}}"
            )
        if r["split"] == "ood":
            if split == "test":
                ood.append(r["text"])
            continue
        if r.get("source") not in index:
            raise ConfigError(
                f"{name}: chunk {i} has source {r.get('source')!r}, not one of the classes {classes}"
            )
        if r["split"] == split:
            texts.append(r["text"])
            labels.append(index[r["source"]])
    if not texts:
        raise ConfigError(f"{name}: no texts in the {split} split")
    return TextAttributionData(texts, labels, list(classes), ood, name=name, split=split)


def load_json(path: str | Path, split: str = "test") -> TextAttributionData:
    """The ``split`` of a corpus file in the JSON format of this module."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"data set {str(path)!r}: neither a registered data set nor a JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a JSON corpus ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object with 'classes' and 'chunks'")
    return from_records(data, split, str(path))


def demo_corpus() -> dict[str, Any]:
    """The shipped demo corpus (``zoo_copylens/corpora/stdlib_docstrings.json``)."""
    text = resources.files("zoo_copylens").joinpath("corpora", DEMO_FILE).read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


def stdlib_docstrings(split: str = "train") -> TextAttributionData:
    """Docstrings of four Python standard-library packages (sub-datasets ``email``, ``unittest``, ``asyncio``,
    ``xml``; 120 chunks each, 70/30 train/test) and, in the test split, 159 OOD chunks of ``logging`` and
    ``argparse``; chunks of at most 48 all-MiniLM-L6-v2 tokens, frozen into the plugin (made with Python 3.11 by
    ``plugins/copylens/scripts/make_stdlib_data.py``)."""
    return from_records(demo_corpus(), split, "stdlib_docstrings")
