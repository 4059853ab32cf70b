"""safetensors files read by the zoo itself: the header first (checked, and usable before anything is
allocated), then the tensors, for every dtype the format defines.

``safetensors.torch.load`` knows fewer dtypes than the format (no ``F8_E8M0``, ``F4``) and gives raw
``KeyError``s for the others; and the zoo wants the header alone, to compare a model's layout with the file before
building the model. So the file is parsed here: an 8-byte little-endian header length, a JSON header
``{name: {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}``, then the data. Every rule of the format is
checked (offsets contiguous from 0 to the end of the data, sizes equal to shape x dtype size, nothing
overlapping) before a tensor is made. A dtype torch cannot hold (``F6_*``) is a clear error.
"""

from __future__ import annotations

import json
import math
import struct
import sys
from typing import Any, NamedTuple

import torch
from torch import Tensor

from ..errors import WeightsError

__all__ = [
    "DTYPES",
    "MAX_HEADER_BYTES",
    "TensorSpec",
    "check_representable",
    "decode",
    "non_finite",
    "read_header",
]

#: the largest header accepted (the format's own limit)
MAX_HEADER_BYTES = 100_000_000

# safetensors dtype name -> (torch dtype or None when torch has none, bits per element)
_FORMAT: dict[str, tuple[str | None, int]] = {
    "BOOL": ("bool", 8),
    "U8": ("uint8", 8),
    "I8": ("int8", 8),
    "U16": ("uint16", 16),
    "I16": ("int16", 16),
    "U32": ("uint32", 32),
    "I32": ("int32", 32),
    "U64": ("uint64", 64),
    "I64": ("int64", 64),
    "F16": ("float16", 16),
    "BF16": ("bfloat16", 16),
    "F32": ("float32", 32),
    "F64": ("float64", 64),
    "C64": ("complex64", 64),
    "F8_E4M3": ("float8_e4m3fn", 8),
    "F8_E4M3FNUZ": ("float8_e4m3fnuz", 8),
    "F8_E5M2": ("float8_e5m2", 8),
    "F8_E5M2FNUZ": ("float8_e5m2fnuz", 8),
    "F8_E8M0": ("float8_e8m0fnu", 8),
    "F4": ("float4_e2m1fn_x2", 4),  # torch packs two 4-bit values per element
    "F6_E2M3": (None, 6),
    "F6_E3M2": (None, 6),
}
#: safetensors dtype name -> torch dtype, for those this torch has
DTYPES: dict[str, torch.dtype] = {
    k: getattr(torch, name) for k, (name, _) in _FORMAT.items() if name and hasattr(torch, name)
}
# floating dtypes without NaN/Inf encodings
_ALWAYS_FINITE = {d for d in (getattr(torch, "float4_e2m1fn_x2", None),) if d is not None}
# dtypes whose isfinite() is trustworthy; the others (float8 variants: no kernel, or a wrong answer for
# float8_e8m0fnu's NaN) are checked through float32, in chunks
_NATIVE_ISFINITE = {
    torch.float16,
    torch.bfloat16,
    torch.float32,
    torch.float64,
    torch.complex64,
    torch.complex128,
}
_CHUNK = 1 << 22


class TensorSpec(NamedTuple):
    """One tensor as the header declares it. ``shape`` is the format's (for ``F4``: in 4-bit values)."""

    dtype: str
    shape: tuple[int, ...]
    begin: int
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def torch_shape(self) -> tuple[int, ...]:
        """The shape of the torch tensor (``F4``: two values per element along the last dimension)."""
        if self.dtype == "F4" and self.shape:
            return (*self.shape[:-1], self.shape[-1] // 2)
        return self.shape


def read_header(data: bytes | bytearray | memoryview, where: str) -> tuple[dict[str, TensorSpec], int]:
    """Parse and check the header of the safetensors file whose bytes are ``data``; no tensor is made.

    Returns ``(specs, data_start)``. Raises :class:`WeightsError` naming ``where`` for anything malformed.
    """
    if len(data) < 8:
        raise WeightsError(
            f"{where}: not a readable safetensors file ({len(data)} bytes; truncated or corrupt?)"
        )
    (n,) = struct.unpack("<Q", bytes(data[:8]))
    if n > MAX_HEADER_BYTES or 8 + n > len(data):
        raise WeightsError(
            f"{where}: not a readable safetensors file (header of {n:,} bytes in a file of {len(data):,}); "
            "truncated or corrupt?"
        )
    try:
        header = json.loads(bytes(data[8 : 8 + n]).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise WeightsError(f"{where}: not a readable safetensors file (header: {exc})") from None
    if not isinstance(header, dict):
        raise WeightsError(f"{where}: not a readable safetensors file (header is not a JSON object)")
    specs: dict[str, TensorSpec] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        specs[name] = _spec(name, entry, where)
    data_len = len(data) - 8 - n
    position = 0
    for name, s in sorted(specs.items(), key=lambda kv: (kv[1].begin, kv[1].end)):
        if s.begin != position:
            raise WeightsError(
                f"{where}: not a readable safetensors file (tensor {name!r} starts at byte {s.begin}, "
                f"expected {position}: gaps or overlaps)"
            )
        position = s.end
    if position != data_len:
        raise WeightsError(
            f"{where}: not a readable safetensors file (the header describes {position:,} bytes of data, the "
            f"file has {data_len:,}); truncated or corrupt?"
        )
    return specs, 8 + n


def _spec(name: str, entry: Any, where: str) -> TensorSpec:
    def bad(why: str) -> WeightsError:
        return WeightsError(f"{where}: not a readable safetensors file (tensor {name!r}: {why})")

    if not isinstance(entry, dict):
        raise bad("its header entry is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in _FORMAT:
        raise bad(f"unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise bad(f"shape {shape!r} is not a list of non-negative integers")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise bad(f"data_offsets {offsets!r} are not [begin, end]")
    bits = math.prod(shape) * _FORMAT[dtype][1]
    if bits % 8 or offsets[1] - offsets[0] != bits // 8:
        raise bad(f"{offsets[1] - offsets[0]} bytes of data for shape {shape} of {dtype}")
    if dtype == "F4" and shape and shape[-1] % 2:
        raise bad(f"F4 shape {shape} has an odd last dimension (two 4-bit values per byte)")
    return TensorSpec(dtype, tuple(shape), offsets[0], offsets[1])


def check_representable(specs: dict[str, TensorSpec], where: str) -> None:
    """Raise :class:`WeightsError` if a tensor's dtype has no torch counterpart here (``F6_*``)."""
    missing = sorted({s.dtype for s in specs.values() if s.dtype not in DTYPES})
    if missing:
        raise WeightsError(
            f"{where}: holds tensors of dtype {', '.join(missing)}, which this torch ({torch.__version__}) "
            "cannot represent; convert the file to a supported dtype (e.g. F16/BF16/F32)"
        )


def decode(data: bytes | bytearray, where: str) -> dict[str, Tensor]:
    """All tensors of the safetensors bytes ``data`` (checked with :func:`read_header` first)."""
    specs, start = read_header(data, where)
    check_representable(specs, where)
    buffer = data if isinstance(data, bytearray) else bytearray(data)  # writable: torch shares its memory
    out: dict[str, Tensor] = {}
    for name, s in specs.items():
        dtype = DTYPES[s.dtype]
        if s.end == s.begin:
            out[name] = torch.empty(s.torch_shape, dtype=dtype)
            continue
        raw = torch.frombuffer(buffer, dtype=torch.uint8, count=s.end - s.begin, offset=start + s.begin)
        t = raw.view(dtype).reshape(s.torch_shape)
        if sys.byteorder == "big" and t.element_size() > 1:  # the format is little-endian
            t = raw.reshape(-1, t.element_size()).flip(-1).reshape(-1).view(dtype).reshape(s.torch_shape)
        out[name] = t
    return out


def non_finite(t: Tensor) -> bool:
    """Whether ``t`` holds NaN or ±Inf; for every dtype (integers, bool: never; float8: through float32, chunk by
    chunk; float4: never, it has no such values)."""
    if not (t.is_floating_point() or t.is_complex()) or t.dtype in _ALWAYS_FINITE or t.numel() == 0:
        return False
    if t.dtype in _NATIVE_ISFINITE:
        return not bool(torch.isfinite(t).all())
    flat = t.reshape(-1)
    return any(
        not bool(torch.isfinite(flat[i : i + _CHUNK].to(torch.float32)).all())
        for i in range(0, flat.numel(), _CHUNK)
    )
