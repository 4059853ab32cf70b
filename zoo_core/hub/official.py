"""Official checkpoints: read a paper's released file safely and unwrap its state dict.

Safetensors files are read directly, recognised by their content (an 8-byte header length, then a JSON header)
whatever their name, so one saved as ``.bin`` or ``.pth`` needs no opt-in. A pickle can run code when loaded, so
pickled ``.pth``/``.pt``/``.tar`` files are refused unless the caller opts in (``allow_pickle=True``), and even
then they are read with ``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers. Mapping the keys to a zoo
model's layout is the plugin's ``from_official`` hook (:func:`zoo_core.from_official`).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ..errors import WeightsError
from .folders import read_safetensors

__all__ = ["is_safetensors", "load_official", "unwrap_state_dict"]


def is_safetensors(path: str | os.PathLike[str]) -> bool:
    """Whether the file at ``path`` begins like a safetensors file: a little-endian u64 ``n`` that fits in the
    file, then ``n`` bytes of a JSON object. Reads the header only; never unpickles anything."""
    path = Path(path)
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return False
        (n,) = struct.unpack("<Q", head)
        if not 2 <= n <= min(size - 8, 100_000_000):  # safetensors caps its header at 100 MB
            return False
        first = f.read(1)
        if first != b"{":
            return False
        try:
            header = json.loads(first + f.read(n - 1))
        except (UnicodeDecodeError, ValueError):
            return False
    return isinstance(header, dict)


def load_official(path: str | os.PathLike[str], allow_pickle: bool = False) -> dict[str, Tensor]:
    """Read an official checkpoint: safetensors always (by name or by content); a pickle only with opt-in.

    A pickle can run code when loaded; even with ``allow_pickle=True`` the file is read with
    ``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers. A top-level
    ``{"model": ...}`` / ``{"state_dict": ...}`` wrapper is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: checkpoint not found")
    if path.suffix == ".safetensors" or is_safetensors(path):
        return read_safetensors(path)
    if not allow_pickle:
        raise WeightsError(
            f"{path}: a pickled checkpoint; loading pickles is off by default because they can "
            "execute code. Pass allow_pickle=True (CLI: --allow-pickle) if you trust the file; it is "
            "then read with torch.load(weights_only=True)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"{path}: cannot be read as a weights-only checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        return unwrap_state_dict(obj)
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from None


def unwrap_state_dict(obj: Any) -> dict[str, Tensor]:
    """The state dict inside a training checkpoint: unwrap ``{"model"|"state_dict"|...: sd}`` and a DDP
    ``module.`` prefix; everything left must be tensors."""
    for key in ("model", "state_dict", "model_state_dict", "net", "model_ema"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        kind = type(obj).__name__
        raise WeightsError(
            f"expected a (possibly wrapped) state dict of tensors, got {kind}"
            + (f" with keys {sorted(obj)[:6]}" if isinstance(obj, dict) else "")
        )
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return dict(obj)
