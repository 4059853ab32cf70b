"""Training curves from a run log: one panel per numeric column.

A run log is a JSON-lines file (one JSON object per line, e.g. a training run's ``log.jsonl``: ``epoch``,
``step``, ``loss``, ``lr``, ``seconds`` and the validation metrics of each epoch), a CSV file with a header, a
JSON document holding a list of such objects or an object with one under ``"history"`` (``zoo train
--log-json``'s per-step history), or a run folder holding ``log.jsonl``. Nested objects are flattened
(``{"val": {"acc": 1}}`` -> ``val.acc``); values that are not numbers are left out.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .figures import _done, check_path, figure

__all__ = ["curves", "read_log"]

#: the log file inside a run folder
RUN_LOG = "log.jsonl"
#: x-axis candidates, in order of preference
AXES = ("epoch", "step")


def _flat(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, f"{key}."))
        else:
            out[key] = v
    return out


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def read_log(log: str | os.PathLike[str]) -> list[dict[str, float]]:
    """The records of a run log (module docstring), each reduced to its numeric values."""
    p = Path(log)
    if p.is_dir():
        p = p / RUN_LOG
    if not p.is_file():
        raise ConfigError(f"run log not found: {str(p)!r} (a JSON-lines or CSV file, or a run folder)")
    text = p.read_text(encoding="utf-8", errors="replace")
    rows: list[dict[str, Any]]
    if p.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
    else:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get("history"), list):
            rows = doc["history"]
        elif isinstance(doc, list):
            rows = doc
        elif isinstance(doc, dict):
            rows = [doc]
        else:
            lines = [(i, line) for i, line in enumerate(text.splitlines(), 1) if line.strip()]
            rows = []
            for k, (i, line) in enumerate(lines):
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    if k == len(lines) - 1 and rows:  # a torn last line: the run was killed while writing it
                        break
                    raise ConfigError(
                        f"{p}: line {i} is not JSON ({exc.msg}); a run log has one object per line"
                    ) from None
    records = []
    for i, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            raise ConfigError(f"{p}: record {i} is not an object (got {type(row).__name__})")
        values = {k: _number(v) for k, v in _flat(row).items()}
        records.append({k: v for k, v in values.items() if v is not None})
    if not records:
        raise ConfigError(f"{p}: the run log holds no records")
    return records


def _x_axis(records: list[dict[str, float]]) -> str | None:
    """``epoch`` if every record has a distinct one, else ``step`` if so, else the first present (else none)."""
    for key in AXES:
        values = [r.get(key) for r in records]
        if None not in values and len(set(values)) == len(values):
            return key
    return next((k for k in AXES if any(k in r for r in records)), None)


def curves(
    log: str | os.PathLike[str],
    *,
    columns: Sequence[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    ncols: int = 3,
    dpi: float = 100,
    title: str | None = None,
) -> Any:
    """Training curves of a run log (module docstring): one panel per numeric column (or per name in
    ``columns``) against ``epoch`` if the log has one per record, else ``step``, else the record number."""
    if path is not None:
        check_path(path)
    records = read_log(log)
    x = _x_axis(records)
    present = list(dict.fromkeys(k for r in records for k in r))
    if columns is None:
        columns = [k for k in present if k not in AXES]
    else:
        missing = [c for c in columns if c not in present]
        if missing:
            raise ConfigError(f"{log}: no numeric column {missing[0]!r}; columns: {', '.join(present)}")
    if not columns:
        raise ConfigError(f"{log}: nothing to plot besides {', '.join(present) or 'nothing'}")
    cols = max(1, min(ncols, len(columns)))
    rows = math.ceil(len(columns) / cols)
    fig = figure((3.6 * cols, 0.4 + 2.5 * rows), dpi)
    axes = fig.subplots(rows, cols, squeeze=False)
    xs = [r.get(x, float("nan")) if x else float(i) for i, r in enumerate(records, 1)]
    for k, name in enumerate(columns):
        ax = axes[k // cols][k % cols]
        pts = [(a, r[name]) for a, r in zip(xs, records) if name in r]
        ax.plot([a for a, _ in pts], [b for _, b in pts], "-o" if len(pts) <= 40 else "-", ms=3, label=name)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel(x or "record")
        ax.grid(alpha=0.3)
    for k in range(len(columns), rows * cols):
        axes[k // cols][k % cols].set_axis_off()
    shown = f"{Path(log).name}/{RUN_LOG}" if Path(log).is_dir() else Path(log).name
    fig.suptitle(title or f"{shown}: {len(records)} records", fontsize=10)
    return _done(fig, path)
