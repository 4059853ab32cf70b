"""Minimal PNG reading and writing (8-bit grey / RGB / RGBA, not interlaced) with the standard library's zlib, so
the demo's pictures and the real recordings' ground-truth images need no imaging package."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import torch
from torch import Tensor
from zoo_core.sdk import InputError

__all__ = ["read_png", "write_png"]

_SIG = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 6: 4}


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_png(path: str | os.PathLike[str]) -> Tensor:
    """An 8-bit PNG as a uint8 tensor ``[H, W]`` (grey) or ``[H, W, C]`` (RGB, RGBA)."""
    data = Path(path).read_bytes()
    if data[:8] != _SIG:
        raise InputError(f"read_png: {path} is not a PNG file")
    i, idat, header = 8, [], None
    while i < len(data):
        (n,) = struct.unpack(">I", data[i : i + 4])
        kind, body = data[i + 4 : i + 8], data[i + 8 : i + 8 + n]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        i += 12 + n
    if header is None:
        raise InputError(f"read_png: {path} has no IHDR chunk")
    w, h, depth, ctype, _, _, interlace = header
    if depth != 8 or ctype not in _CHANNELS or interlace:
        raise InputError(
            f"read_png: {path}: only 8-bit grey/RGB/RGBA non-interlaced PNGs are supported "
            f"(bit depth {depth}, colour type {ctype}, interlace {interlace})"
        )
    ch = _CHANNELS[ctype]
    raw = zlib.decompress(b"".join(idat))
    stride = w * ch
    out = bytearray(h * stride)
    prev = bytearray(stride)
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - ch] if x >= ch else 0
            b = prev[x]
            c = prev[x - ch] if x >= ch else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 255
            elif f == 4:
                line[x] = (line[x] + _paeth(a, b, c)) & 255
            elif f != 0:
                raise InputError(f"read_png: {path}: unknown row filter {f}")
        out[y * stride : (y + 1) * stride] = line
        prev = line
    img = torch.frombuffer(out, dtype=torch.uint8).reshape(h, w, ch)
    return img[..., 0].clone() if ch == 1 else img.clone()


def write_png(path: str | os.PathLike[str], image: Tensor) -> Path:
    """Write ``image`` (``[H, W]`` grey or ``[H, W, 3]`` RGB; floats in [0, 1] are scaled by 255 and rounded,
    uint8 is written as is) as an 8-bit PNG."""
    img = image.detach().cpu()
    if img.is_floating_point():
        img = (img.clamp(0, 1) * 255).round().to(torch.uint8)
    if img.dtype != torch.uint8 or img.dim() not in (2, 3) or (img.dim() == 3 and img.shape[-1] != 3):
        raise InputError(
            f"write_png: expected [H, W] or [H, W, 3] (uint8 or floats in [0, 1]), got {tuple(img.shape)}"
        )
    h, w = img.shape[:2]
    ctype = 0 if img.dim() == 2 else 2
    rows = img.reshape(h, -1).numpy().tobytes()
    stride = len(rows) // h
    raw = b"".join(b"\x00" + rows[y * stride : (y + 1) * stride] for y in range(h))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    png = _SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    path = Path(path)
    path.write_bytes(png)
    return path
