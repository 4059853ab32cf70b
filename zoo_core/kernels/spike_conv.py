r"""Spike-aware linear and convolution kernels: ``spike_linear`` and ``spike_conv2d``.

The reference of each operation is the dense op (``F.linear`` / ``F.conv2d``: oneDNN/MKL on the CPU); it runs
on any input. The alternate ``lut`` uses that the input is **binary** (spikes ``s in {0, 1}``): it packs the input
channels in groups of ``b`` bits and replaces the multiply-adds by additions of precomputed partial sums
(a look-up table, as in LUT-GEMM). Spikes of one amplitude ``a`` (``x = a s``, e.g. the ``theta``-high spikes
of a conversion IF neuron) take the same path, ``y = a (s W^T)``. For ``y = s W^T`` with ``W`` of shape
``[N, K]`` and groups ``g = 0 .. K/b - 1``::

    table[g, c, :] = sum_{j < b} bit_j(c) * W[:, g b + j]          c = 0 .. 2^b - 1   (built once per weight)
    code[m, g]     = sum_{j < b} s[m, g b + j] 2^j                 (the spikes of group g as one integer)
    y[m, :]        = sum_g table[g, code[m, g], :]                  (``F.embedding_bag(mode="sum")``)

so each output row costs ``K / b`` vector additions of length ``N`` instead of ``K`` multiply-adds, whatever
the firing rate. Every product ``s w`` with ``s in {0, 1}`` is exact; the sums are taken in another order than
the dense GEMM's, so the result equals the reference within float rounding (float32: a few ulp of the sum of
``|w|`` over the active inputs), not bit for bit. The table holds ``2^b / b`` times the weight's elements (32x for
``b = 8``, :data:`BITS`: 380 MB for the 1x1 convs of SpikingResformer-Ti with at least 256 outputs), is built on
the first call, cached on the weight tensor and rebuilt when the weight changes (its version counter moves).

The alternate ``gather`` sums only the weight columns of the active (nonzero) inputs, each scaled by its value
(``F.embedding_bag`` with per-sample weights over ``x.nonzero()``): any input, binary or graded, at a cost
proportional to the number of active inputs, so it only pays at low firing rates.

Convolutions reach the same kernels when they are a per-pixel linear map: a 1x1 convolution (any stride, no
padding, one group) and a ``k x k`` convolution with stride ``k`` and no padding (non-overlapping patches,
e.g. DSSA's patch embedding), after an im2col that is a strided view. 3x3 convolutions with padding (and grouped
ones) stay dense: ``tools/bench_spike_conv.py`` measured an im2col + table version 3-10x slower than oneDNN.

Both alternates are **inference only** (no autograd graph: they are never selected when the input or the weight
requires a gradient under ``torch.is_grad_enabled()``) and run on CPU float32/float64 input. ``lut`` takes spikes
``x in {0, a}`` (one amplitude ``a``; binary is ``a = 1``) and checks that itself, in the pass that packs the
input: anything else (multi-level graded spikes, real values, NaN) runs the dense reference. Automatic selection
(``prefer_*``) picks an alternate only where it measured faster than dense oneDNN: 1x1 convs and linears with
at least :data:`MIN_OUT_FEATURES` outputs, :data:`MIN_EXPANSION` times as many outputs as inputs and
:data:`MIN_ROWS` rows, ``gather`` up to a firing rate of
:data:`GATHER_MAX_RATE`, ``lut`` up to :data:`LUT_MAX_RATE` (the rate is counted per call, one pass). Force one
with ``kernel="lut"`` or ``ZOO_KERNELS="spike_linear=lut,spike_conv2d=gather"``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "BITS",
    "GATHER_MAX_RATE",
    "LUT_MAX_RATE",
    "MIN_EXPANSION",
    "MIN_OUT_FEATURES",
    "ConvGeometry",
    "conv2d_dense",
    "conv2d_gather",
    "conv2d_lut",
    "firing_rate",
    "is_binary",
    "linear_dense",
    "linear_gather",
    "linear_lut",
    "lut_table",
    "prefer_conv2d_gather",
    "prefer_conv2d_lut",
    "prefer_linear_gather",
    "prefer_linear_lut",
    "supports_conv2d",
    "supports_linear",
]

#: bits per look-up group (inputs summed by one table look-up); the table is ``2^b / b`` times the weight
BITS = 8
#: automatic selection thresholds (``tools/bench_spike_conv.py``): output features ``N``, and ``N / K`` (the
#: alternates measured faster only on expanding layers, e.g. the 1x1 ``C -> 4C`` convs of a spiking FFN)
MIN_OUT_FEATURES = 256
MIN_EXPANSION = 4
#: and on the rows ``M`` (pixels x batch): below it the table build and call overheads dominate
MIN_ROWS = 4096
#: automatic selection: ``lut`` up to this firing rate (at 0.5 it measured even with dense or slower), ``gather``
#: (cost proportional to the active inputs) up to this one, where it measured faster than ``lut``
LUT_MAX_RATE = 0.25
GATHER_MAX_RATE = 0.1
#: ``x * MAGIC >> 56`` gathers 8 bytes of 0/1 (little-endian int64) into one byte, byte j -> bit j
_MAGIC = 0x0102040810204080
_FLOATS = (torch.float32, torch.float64)


class ConvGeometry(NamedTuple):
    """The arguments of ``F.conv2d`` after the bias. Every ``spike_conv2d`` function (kernels, ``supports_*``,
    ``prefer_*``) is called as ``F.conv2d`` is, ``f(x, weight, bias, *geometry)``, with these positionally."""

    stride: int | tuple[int, int] = 1
    padding: int | tuple[int, int] | str = 0
    dilation: int | tuple[int, int] = 1
    groups: int = 1

    def per_pixel_linear(self, x: Tensor, weight: Tensor) -> bool:
        """The conv is a per-pixel linear map: 1x1 (any stride) or k x k with stride k, no padding, one group."""
        if x.dim() != 4 or weight.dim() != 4 or self.groups != 1 or isinstance(self.padding, str):
            return False
        if _pair(self.padding) != (0, 0) or _pair(self.dilation) != (1, 1):
            return False
        kh, kw = weight.shape[2], weight.shape[3]
        return (kh, kw) == (1, 1) or _pair(self.stride) == (kh, kw)


#: a geometry argument of ``spike_conv2d`` (:class:`ConvGeometry`'s fields)
_Geom = int | tuple[int, int] | str


# ------------------------------------------------------------------------------------------------ reference
def linear_dense(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """Reference ``spike_linear``: ``y = x W^T + b`` (``F.linear``), for any input."""
    return F.linear(x, weight, bias)


def conv2d_dense(x: Tensor, weight: Tensor, bias: Tensor | None = None, *geometry: _Geom) -> Tensor:
    """Reference ``spike_conv2d``: ``F.conv2d(x, weight, bias, *geometry)`` (:class:`ConvGeometry`), any input."""
    return F.conv2d(x, weight, bias, *geometry)  # F.conv2d's defaults are ConvGeometry's


# ------------------------------------------------------------------------------------------------ checks
def is_binary(x: Tensor) -> bool:
    """Whether every element of ``x`` is exactly 0 or 1 (NaN is not): ``0 <= x <= 1`` and as many nonzero
    elements as elements equal to 1."""
    if x.numel() == 0:
        return True
    lo, hi = torch.aminmax(x)
    if not (bool(lo >= 0) and bool(hi <= 1)):
        return False
    return int(torch.count_nonzero(x)) == int(torch.count_nonzero(x == 1))


def _spike_bytes(v: Tensor) -> tuple[Tensor, float] | None:
    """``(b, a)`` with ``v = a b``, ``b`` contiguous 0/1 uint8 of ``v``'s shape, if ``v`` (any strides) holds
    spikes of one amplitude ``a >= 0`` (``a = 1``: binary); else ``None``.

    ``aminmax`` gives ``0 <= v <= a = max v``; ``b = [v == a]`` is written in one pass; ``v`` is ``a b`` iff it has
    as many nonzero elements as ``b`` (no value strictly between 0 and ``a``).
    """
    lo, hi = torch.aminmax(v)
    if not bool(lo >= 0) or not bool(torch.isfinite(hi)):  # NaN fails the first
        return None
    amplitude = float(hi)
    if amplitude == 0:  # no spike at all
        return torch.zeros(v.shape, dtype=torch.uint8, device=v.device), 0.0
    b = torch.eq(v, hi, out=torch.empty(v.shape, dtype=torch.bool, device=v.device))
    if int(torch.count_nonzero(b)) != int(torch.count_nonzero(v)):
        return None
    return b.view(torch.uint8), amplitude


def _no_grad_needed(*tensors: Tensor | None) -> bool:
    return not torch.is_grad_enabled() or not any(t is not None and t.requires_grad for t in tensors)


def _linear_ok(x: Tensor, weight: Tensor, bias: Tensor | None) -> bool:
    return (
        x.dtype in _FLOATS
        and weight.dtype == x.dtype
        and x.device.type == "cpu"
        and weight.dim() == 2
        and x.dim() >= 1
        and x.shape[-1] == weight.shape[1]
        and weight.shape[1] % BITS == 0
        and _no_grad_needed(x, weight, bias)
    )


def supports_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> bool:
    """``lut`` can run ``spike_linear(x, weight, bias)``: CPU float32/64, no gradient needed, ``K % 8 == 0``.
    (The spikes are checked by the kernel itself, in the pass that packs the input: anything but ``{0, a}``
    runs the dense reference.)"""
    return _linear_ok(x, weight, bias)


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def supports_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, *geometry: _Geom) -> bool:
    """``lut`` can run this conv: a per-pixel linear map (module docstring) on CPU float input, no gradient
    needed (binarity is checked by the kernel, as for :func:`supports_linear`)."""
    if not ConvGeometry(*geometry).per_pixel_linear(x, weight):
        return False
    k = weight.shape[1] * weight.shape[2] * weight.shape[3]
    w2 = weight.reshape(weight.shape[0], k)
    return _linear_ok(x.new_empty(0, k), w2, bias)


def firing_rate(x: Tensor) -> float:
    """The fraction of nonzero elements of ``x`` (one pass)."""
    return int(torch.count_nonzero(x)) / max(1, x.numel())


def _wide(weight: Tensor, rows: int) -> bool:
    n, k = weight.shape[0], weight[0].numel()
    return n >= MIN_OUT_FEATURES and n >= MIN_EXPANSION * k and rows >= MIN_ROWS


def _conv_rows(x: Tensor, weight: Tensor, stride: int | tuple[int, int]) -> int | None:
    """im2col rows of a 1x1 conv; ``None`` for larger kernels (patch convs measured slower than dense)."""
    if weight.shape[2:] != (1, 1) or x.dim() != 4:
        return None
    sh, sw = _pair(stride)
    return x.shape[0] * ((x.shape[2] - 1) // sh + 1) * ((x.shape[3] - 1) // sw + 1)


def prefer_linear_lut(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> bool:
    """Automatic selection of ``lut``: a wide expanding layer, many rows, firing rate at most
    :data:`LUT_MAX_RATE`."""
    rows = x.numel() // max(1, x.shape[-1])
    return _wide(weight, rows) and firing_rate(x) <= LUT_MAX_RATE


def prefer_linear_gather(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> bool:
    """Automatic selection of ``gather``: a wide expanding layer, many rows, firing rate at most
    :data:`GATHER_MAX_RATE`."""
    rows = x.numel() // max(1, x.shape[-1])
    return _wide(weight, rows) and firing_rate(x) <= GATHER_MAX_RATE


def prefer_conv2d_lut(x: Tensor, weight: Tensor, bias: Tensor | None = None, *geometry: _Geom) -> bool:
    """:func:`prefer_linear_lut` for 1x1 convs on their im2col rows (larger kernels stay dense)."""
    rows = _conv_rows(x, weight, ConvGeometry(*geometry).stride)
    return rows is not None and _wide(weight, rows) and firing_rate(x) <= LUT_MAX_RATE


def prefer_conv2d_gather(x: Tensor, weight: Tensor, bias: Tensor | None = None, *geometry: _Geom) -> bool:
    """:func:`prefer_linear_gather` for 1x1 convs on their im2col rows (larger kernels stay dense)."""
    rows = _conv_rows(x, weight, ConvGeometry(*geometry).stride)
    return rows is not None and _wide(weight, rows) and firing_rate(x) <= GATHER_MAX_RATE


# ------------------------------------------------------------------------------------------------ the LUT
def _cached(weight: Tensor, tag: str, build: Callable[[Tensor], Tensor]) -> Tensor:
    """``build(weight)``, cached on ``weight`` until it changes (version counter, storage, dtype, shape).
    Inference tensors have no version counter: their tables are rebuilt on every call."""
    if weight.is_inference():
        with torch.no_grad():
            return build(weight.detach())
    key = (weight._version, weight.data_ptr(), weight.dtype, tuple(weight.shape))
    attr = f"_zoo_spike_{tag}"
    cached = getattr(weight, attr, None)
    if cached is not None and cached[0] == key:
        return cached[1]
    with torch.no_grad():
        table = build(weight.detach())
    with contextlib.suppress(AttributeError, RuntimeError):  # a tensor that takes no attributes
        setattr(weight, attr, (key, table))
    return table


def _build_lut(weight: Tensor) -> Tensor:
    n, k = weight.shape[0], weight[0].numel()
    codes = torch.arange(2**BITS, device=weight.device)
    combos = ((codes[:, None] >> torch.arange(BITS, device=weight.device)) & 1).to(weight.dtype)
    w = weight.reshape(n, k).t().reshape(k // BITS, BITS, n)
    return torch.matmul(combos, w).reshape(k // BITS * 2**BITS, n).contiguous()


def lut_table(weight: Tensor) -> Tensor:
    """The look-up table of ``weight`` ``[N, K]`` (a conv weight ``[N, C, kh, kw]`` is read as ``[N, C kh kw]``):
    ``[K/b * 2^b, N]``, row ``g 2^b + c`` = the sum of the columns ``g b + j`` of ``weight`` over the set bits
    ``j`` of ``c`` (``b`` = :data:`BITS`). Cached on ``weight`` until it changes."""
    return _cached(weight, "lut", _build_lut)


def _codes(s: Tensor) -> Tensor:
    """``[M, K]`` contiguous 0/1 bytes -> ``[M, K/8]`` int64 look-up rows ``g 256 + code``."""
    k = s.shape[1]
    packed = (s.view(torch.int64) * _MAGIC).bitwise_right_shift_(56).bitwise_and_(255)
    return packed.add_(torch.arange(0, k // 8 * 256, 256, device=s.device))


def _lut_rows(s: Tensor, weight: Tensor, bias: Tensor | None, amplitude: float = 1.0) -> Tensor:
    """``y = s W^T + b`` for 0/1 bytes ``s`` ``[M, K]`` through the table of ``weight`` (``[N, K]``, or a conv
    weight whose im2col order matches the columns of ``s``)."""
    y = F.embedding_bag(_codes(s), lut_table(weight), mode="sum")
    if amplitude not in (0.0, 1.0):
        y.mul_(amplitude)
    return y if bias is None else y.add_(bias)


def linear_lut(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``spike_linear`` for spikes ``x in {0, a}``: look-up-table sums (module docstring); equals
    :func:`linear_dense` within float rounding. Any other ``x`` (multi-level spikes, real values) runs
    :func:`linear_dense`.
    Inference only; dispatch checks :func:`supports_linear` first."""
    spikes = _spike_bytes(x.reshape(-1, x.shape[-1]))
    if spikes is None:
        return linear_dense(x, weight, bias)
    return _lut_rows(*spikes[:1], weight, bias, spikes[1]).view(*x.shape[:-1], weight.shape[0])


def _patches(x: Tensor, weight: Tensor, stride: int | tuple[int, int]) -> tuple[Tensor, int, int]:
    """The im2col of a per-pixel-linear conv as a strided view ``[B, H', W', C (, kh, kw)]`` (the order of
    ``weight.reshape(N, -1)``), and ``H', W'``."""
    _, _, h, w = x.shape
    kh, kw = weight.shape[2], weight.shape[3]
    if (kh, kw) == (1, 1):
        sh, sw = _pair(stride)
        return x[:, :, ::sh, ::sw].permute(0, 2, 3, 1), (h - 1) // sh + 1, (w - 1) // sw + 1
    ho, wo = h // kh, w // kw
    xs = x[:, :, : ho * kh, : wo * kw].unflatten(3, (wo, kw)).unflatten(2, (ho, kh))
    return xs.permute(0, 2, 4, 1, 3, 5), ho, wo


def conv2d_lut(x: Tensor, weight: Tensor, bias: Tensor | None = None, *geometry: _Geom) -> Tensor:
    """``spike_conv2d`` for spikes ``x in {0, a}`` and a per-pixel-linear conv (1x1, or k x k with stride k):
    the im2col is a strided view, cast to bytes in one pass, then the table sums of :func:`linear_lut`. The
    output ``[B, N, H', W']`` has the reference's shape and values (within float rounding) in channels-last
    memory layout (``.contiguous()`` gives NCHW). Any other ``x`` runs :func:`conv2d_dense`."""
    patches, ho, wo = _patches(x, weight, ConvGeometry(*geometry).stride)
    spikes = _spike_bytes(patches)
    if spikes is None:
        return conv2d_dense(x, weight, bias, *geometry)
    n = weight.shape[0]
    y = _lut_rows(spikes[0].view(-1, weight[0].numel()), weight, bias, spikes[1])
    return y.view(x.shape[0], ho, wo, n).permute(0, 3, 1, 2)


# ------------------------------------------------------------------------------------------------ gather
def _gather_rows(rows: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``y[m] = sum_{k: rows[m, k] != 0} rows[m, k] W[:, k] + b``: only the active inputs' weight columns."""
    m = rows.shape[0]
    r, c = rows.nonzero(as_tuple=True)  # row-major, so r is sorted
    offsets = torch.searchsorted(r, torch.arange(m, device=rows.device))
    wt = _cached(weight, "cols", lambda w: w.reshape(w.shape[0], -1).t().contiguous())
    y = F.embedding_bag(c, wt, offsets, mode="sum", per_sample_weights=rows[r, c])
    return y if bias is None else y.add_(bias)


def linear_gather(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``spike_linear`` as a sum over the active inputs only (any values: binary or graded spikes); cost
    proportional to the number of nonzero inputs. Equals :func:`linear_dense` within float rounding."""
    y = _gather_rows(x.reshape(-1, x.shape[-1]), weight, bias)
    return y.view(*x.shape[:-1], weight.shape[0])


def conv2d_gather(x: Tensor, weight: Tensor, bias: Tensor | None = None, *geometry: _Geom) -> Tensor:
    """``spike_conv2d`` (per-pixel-linear convs) as :func:`linear_gather` on the im2col rows; output in
    channels-last memory layout like :func:`conv2d_lut`."""
    patches, ho, wo = _patches(x, weight, ConvGeometry(*geometry).stride)
    y = _gather_rows(patches.reshape(-1, weight[0].numel()), weight, bias)
    return y.view(x.shape[0], ho, wo, weight.shape[0]).permute(0, 3, 1, 2)


def registrations() -> list[tuple[str, str, Callable[..., Tensor], dict[str, Any]]]:
    """``(op, impl, fn, keywords of register)`` for the kernel registry (registered by :mod:`zoo_core.builtins`)."""
    out: list[tuple[str, str, Callable[..., Tensor], dict[str, Any]]] = []
    for op, dense, supports, lut, prefer_lut, gather, prefer_gather in (
        (
            "spike_linear",
            linear_dense,
            supports_linear,
            linear_lut,
            prefer_linear_lut,
            linear_gather,
            prefer_linear_gather,
        ),
        (
            "spike_conv2d",
            conv2d_dense,
            supports_conv2d,
            conv2d_lut,
            prefer_conv2d_lut,
            conv2d_gather,
            prefer_conv2d_gather,
        ),
    ):
        what = op.split("_")[1]
        out += [
            (op, "dense", dense, {"reference": True, "description": f"dense {what} (oneDNN/MKL on the CPU)"}),
            (
                op,
                "lut",
                lut,
                {
                    "devices": ("cpu",),
                    "priority": 5,
                    "supports": supports,
                    "prefer": prefer_lut,
                    "description": "spikes of one amplitude: bit-packed look-up-table sums (inference only; other "
                    "input runs dense)",
                },
            ),
            (
                op,
                "gather",
                gather,
                {
                    "devices": ("cpu",),
                    "priority": 6,
                    "supports": supports,
                    "prefer": prefer_gather,
                    "description": "sum over the active inputs' weight columns, binary or graded spikes (inference "
                    "only)",
                },
            ),
        ]
    return out
