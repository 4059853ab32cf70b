r"""``lif_multistep:triton``: fused multi-step IF/LIF forward and backward in Triton.

Same arguments, values and gradients as :func:`zoo_core.kernels.lif.lif_multistep_reference` (whose docstring
has the equations), for IF (``tau=None, k=None``) and LIF with a float ``tau`` (``decay_input`` on or off), hard
(float ``v_reset``) or soft (``v_reset=None``) reset, ``detach_reset`` on or off, any ``v_threshold`` and the
five built-in surrogates (``atan``, ``sigmoid``, ``rectangular``, ``triangular``, ``erf``) with their
``alpha``. Anything else (PLIF's tensor ``k``, plugin surrogates, integer or complex dtypes, mixed dtypes or
devices, empty tensors) is declined by :func:`supports`, so dispatch falls back to the reference.

Design (memory bound, so every byte counts): one program per block of neurons loops over ``T`` and keeps the
membrane potential in registers.

* forward reads :math:`X_t` and writes :math:`S_t` (and :math:`V_T` once); only when a gradient is needed it
  also writes the pre-spike membrane :math:`H_t`: 8 bytes per neuron-step in float32 for inference, 12 when
  training;
* backward reads :math:`\partial L/\partial S_t` and :math:`H_t` and writes :math:`\partial L/\partial X_t`
  (12 bytes per neuron-step), running the recurrence backwards in time; the surrogate derivative is computed
  in the kernel from :math:`H_t`:

  .. math::

      g^H_t &= g^S_t\,\sigma'(H_t - V_{th}) + g^V_t\,\partial V_t/\partial H_t \\
      \partial V_t/\partial H_t &= \begin{cases}
          (1 - S_t) + (V_r - H_t)\,\sigma' & \text{hard reset} \\
          1 - V_{th}\,\sigma' & \text{soft reset} \end{cases}
          \quad\text{(} 1 - S_t \text{ resp. } 1 \text{ with } \texttt{detach\_reset}\text{)} \\
      g^V_{t-1} &= g^H_t\,(1 - 1/\tau) \text{ (LIF) or } g^H_t \text{ (IF)}, \qquad
      g^X_t = g^H_t/\tau \text{ (LIF, decay\_input) or } g^H_t

  with :math:`g^V_T` the gradient flowing into the returned :math:`V_T`, and :math:`g^V_0` the gradient of
  ``v0``.

Arithmetic follows the reference operation by operation: float16/bfloat16 are loaded into float32 and every
intermediate is rounded back to the storage dtype (as PyTorch does with its float "opmath"; a scalar that is
added or subtracted is rounded to the storage dtype first, one that multiplies or divides is not), float64
computes in float64. A division by ``tau`` is a true division where the reference runs on the CPU and a
multiplication by the reciprocal on CUDA (what PyTorch's CUDA ``tensor / scalar`` does), so spikes agree
exactly. bfloat16 runs on CUDA only: Triton's interpreter truncates float32 to bfloat16 instead of rounding.

Triton is imported on first use only (registering this kernel costs nothing). On CUDA the kernels are
JIT-compiled; on the CPU they run only under Triton's interpreter, ``TRITON_INTERPRET=1``, read at call time.
"""

from __future__ import annotations

import math
import os
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from ..errors import InputError
from .surrogates import SURROGATE_GRADS

# Filled in by _load() on first use: the kernel bodies below resolve ``tl`` from this module's globals when
# Triton (or its interpreter) compiles them.
tl: Any = None

_SURROGATE_IDS = {"atan": 0, "sigmoid": 1, "rectangular": 2, "triangular": 3, "erf": 4}
_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_triton_error: str | None = None
_kernels: dict[bool, tuple[Any, Any]] = {}


def _interpret() -> bool:
    return os.environ.get("TRITON_INTERPRET", "") == "1"


def _triton() -> Any:
    """The ``triton`` module, or ``None`` when it cannot be imported (remembered)."""
    global _triton_error, tl
    if _triton_error is not None:
        return None
    try:
        # triton is optional and slow to import: only when the kernel first runs
        import triton
        import triton.language as language
    except Exception as exc:  # ImportError, or a broken install raising anything at import time
        _triton_error = f"{type(exc).__name__}: {exc}"
        return None
    tl = language
    return triton


def available() -> bool:
    """Triton imports and there is a device to run it on (CUDA, or the CPU under ``TRITON_INTERPRET=1``)."""
    if not (_interpret() or torch.cuda.is_available()):
        return False
    return _triton() is not None


def prefer(x_seq: Tensor, v0: Tensor, **kw: Any) -> bool:
    """Automatic selection: CUDA only. The interpreter is a test tool, far slower than the reference; it runs
    only when forced (``kernel="triton"`` or ``ZOO_KERNELS=lif_multistep=triton``)."""
    return x_seq.device.type == "cuda" and not _interpret()


def _finite_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def supports(x_seq: Tensor, v0: Tensor, **kw: Any) -> bool:
    """Whether this kernel computes exactly what the reference would for these arguments."""
    if not isinstance(x_seq, Tensor) or not isinstance(v0, Tensor):
        return False
    if x_seq.dtype not in _DTYPES or v0.dtype != x_seq.dtype or v0.device != x_seq.device:
        return False
    if x_seq.dim() < 1 or x_seq.shape[0] < 1 or x_seq.shape[1:] != v0.shape or v0.numel() == 0:
        return False
    if x_seq.device.type == "cuda":
        interpreted = _interpret()
    elif x_seq.device.type == "cpu" and _interpret():
        interpreted = True
    else:
        return False
    if interpreted and x_seq.dtype == torch.bfloat16:
        # the interpreter truncates float32 -> bfloat16 instead of rounding to nearest: results would differ
        return False
    if kw.get("k") is not None:  # PLIF: tensor k (learnable time constant)
        return False
    tau = kw.get("tau", 2.0)
    if tau is not None and not (_finite_number(tau) and tau != 0):
        return False
    v_reset = kw.get("v_reset", 0.0)
    if v_reset is not None and not _finite_number(v_reset):
        return False
    if not _finite_number(kw.get("v_threshold", 1.0)):
        return False
    sur = kw.get("surrogate")
    name = getattr(sur, "name", None)
    if name not in _SURROGATE_IDS or name not in SURROGATE_GRADS:
        return False
    # a subclass that keeps a built-in name but changes the derivative is a custom surrogate
    if getattr(type(sur), "grad", None) is not SURROGATE_GRADS[name][0]:
        return False
    alpha = getattr(sur, "alpha", None)
    return _finite_number(alpha) and alpha > 0


# ------------------------------------------------------------------------------------------------ kernels
# Plain functions, wrapped by _load() in triton's JITFunction (CUDA) or InterpretedFunction (interpreter).
# Every intermediate is rounded to the storage dtype SD (a no-op for float32/float64) to mirror PyTorch.


def _lif_fwd_kernel(
    X,
    V0,
    S,
    H,
    VT,
    N,
    T,
    MODE: tl.constexpr,  # 0: IF, 1: LIF decay_input, 2: LIF without decay_input
    HARD: tl.constexpr,
    ZERO_RESET: tl.constexpr,  # soft reset or v_reset == 0: the reference drops the "- v_reset" terms
    DIV: tl.constexpr,  # divide by TAU (CPU reference) or multiply by INV_TAU (CUDA reference)
    TAU: tl.constexpr,
    INV_TAU: tl.constexpr,
    KEEP: tl.constexpr,  # 1 - 1/tau
    VTH: tl.constexpr,
    VR: tl.constexpr,
    VTH_S: tl.constexpr,  # VTH and VR rounded to the storage dtype (PyTorch's tensor +- scalar does that)
    VR_S: tl.constexpr,
    STORE_H: tl.constexpr,
    CT: tl.constexpr,  # compute dtype: float32, or float64 for float64 tensors
    BLOCK: tl.constexpr,
):
    SD = X.dtype.element_ty
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    v = tl.load(V0 + offs, mask=mask, other=0).to(CT)
    off = offs
    for _ in range(T):
        x = tl.load(X + off, mask=mask, other=0).to(CT)
        if MODE == 0:
            h = (v + x).to(SD).to(CT)
        elif MODE == 1:
            if ZERO_RESET:
                d = (x - v).to(SD).to(CT)
            else:
                d = (x - (v - VR_S).to(SD).to(CT)).to(SD).to(CT)
            if DIV:
                d = (d / TAU).to(SD).to(CT)
            else:
                d = (d * INV_TAU).to(SD).to(CT)
            h = (v + d).to(SD).to(CT)
        else:
            if ZERO_RESET:
                h = ((v * KEEP).to(SD).to(CT) + x).to(SD).to(CT)
            else:
                d = (v - VR_S).to(SD).to(CT)
                if DIV:
                    d = (d / TAU).to(SD).to(CT)
                else:
                    d = (d * INV_TAU).to(SD).to(CT)
                h = ((v - d).to(SD).to(CT) + x).to(SD).to(CT)
        z = (h - VTH_S).to(SD).to(CT)
        s = (z >= 0).to(CT)
        tl.store(S + off, s.to(SD), mask=mask)
        if STORE_H:
            tl.store(H + off, h.to(SD), mask=mask)
        if HARD:
            v = (((1.0 - s) * h).to(SD).to(CT) + (s * VR).to(SD).to(CT)).to(SD).to(CT)
        else:
            v = (h - (s * VTH).to(SD).to(CT)).to(SD).to(CT)
        off += N
    tl.store(VT + offs, v.to(SD), mask=mask)


def _lif_bwd_kernel(
    GS,
    GVT,
    H,
    GX,
    GV0,
    N,
    T,
    LAST,  # (T - 1) * N, the offset of the last step, computed on the host (T == 1 makes T a constexpr)
    MODE: tl.constexpr,
    HARD: tl.constexpr,
    DETACH: tl.constexpr,
    DIV: tl.constexpr,
    TAU: tl.constexpr,
    INV_TAU: tl.constexpr,
    KEEP: tl.constexpr,
    VTH: tl.constexpr,
    VR: tl.constexpr,
    VTH_S: tl.constexpr,
    SG: tl.constexpr,  # surrogate id (see _SURROGATE_IDS)
    A0: tl.constexpr,  # surrogate constants, see _surrogate_constants()
    A1: tl.constexpr,
    CT: tl.constexpr,
    BLOCK: tl.constexpr,
):
    SD = H.dtype.element_ty
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < N
    gv = tl.load(GVT + offs, mask=mask, other=0).to(CT)
    off = offs + LAST
    for _ in range(T):
        h = tl.load(H + off, mask=mask, other=0).to(CT)
        gs = tl.load(GS + off, mask=mask, other=0).to(CT)
        z = (h - VTH_S).to(SD).to(CT)
        if SG == 0:  # atan: (alpha/2) / (1 + (pi/2 alpha z)^2)
            u = A1 * z
            sg = A0 / (1.0 + u * u)
        elif SG == 1:  # sigmoid: alpha s (1 - s), s = sigmoid(alpha z)
            sig = 1.0 / (1.0 + tl.exp(-(A0 * z)))
            sg = A0 * sig * (1.0 - sig)
        elif SG == 2:  # rectangular: alpha [|z| < 1/(2 alpha)]
            sg = (tl.abs(z) < A1).to(CT) * A0
        elif SG == 3:  # triangular: max(0, alpha - alpha^2 |z|)
            sg = tl.maximum(A0 - A1 * tl.abs(z), 0.0)
        else:  # erf (Gaussian): alpha/sqrt(pi) exp(-(alpha z)^2)
            u = A1 * z
            sg = A0 * tl.exp(-(u * u))
        if HARD:
            s = (z >= 0).to(CT)
            if DETACH:
                dvdh = 1.0 - s
            else:
                dvdh = (1.0 - s) + (VR - h) * sg
            gh = gs * sg + gv * dvdh
        else:
            if DETACH:
                gh = gs * sg + gv
            else:
                gh = gs * sg + gv * (1.0 - VTH * sg)
        if MODE == 0:
            gx = gh
            gv = gh
        elif MODE == 1:
            if DIV:
                gx = gh / TAU
            else:
                gx = gh * INV_TAU
            gv = gh - gx
        else:
            gx = gh
            gv = gh * KEEP
        tl.store(GX + off, gx.to(SD), mask=mask)
        off -= N
    tl.store(GV0 + offs, gv.to(SD), mask=mask)


def _load(interpret: bool) -> tuple[Any, Any]:
    """The (forward, backward) kernels for the interpreter or the compiler (decided per call, not at import)."""
    ks = _kernels.get(interpret)
    if ks is None:
        if _triton() is None:
            raise RuntimeError(f"lif_multistep:triton: triton cannot be imported ({_triton_error})")
        if interpret:
            from triton.runtime.interpreter import InterpretedFunction as wrap  # (triton, lazily)
        else:
            from triton.runtime.jit import JITFunction as wrap  # (triton, lazily)
        ks = _kernels[interpret] = (wrap(_lif_fwd_kernel), wrap(_lif_bwd_kernel))
    return ks


# ---------------------------------------------------------------------------------------------- host side
class _Config(NamedTuple):
    mode: int
    hard: bool
    zero_reset: bool
    div: bool
    tau: float
    inv_tau: float
    keep: float
    vth: float
    vr: float
    vth_s: float
    vr_s: float
    detach: bool
    sg: int
    a: tuple[float, float]


def _surrogate_constants(name: str, alpha: float) -> tuple[float, float]:
    if name == "atan":
        return (alpha / 2, math.pi / 2 * alpha)
    if name == "sigmoid":
        return (alpha, 0.0)
    if name == "rectangular":
        return (alpha, 1 / (2 * alpha))
    if name == "triangular":
        return (alpha, alpha * alpha)
    return (alpha / math.sqrt(math.pi), alpha)  # erf


def _config(x: Tensor, kw: dict[str, Any]) -> _Config:
    tau = kw["tau"]
    v_reset = kw["v_reset"]
    sur = kw["surrogate"]
    vth = float(kw["v_threshold"])
    vr = 0.0 if v_reset is None else float(v_reset)
    mode = 0 if tau is None else (1 if kw["decay_input"] else 2)
    tau_f = 1.0 if tau is None else float(tau)
    if x.dtype == torch.float64:
        inv_tau = 1.0 / tau_f
    else:  # PyTorch's CUDA tensor / scalar: multiply by the reciprocal computed in float32 ("opmath")
        inv_tau = float(np.float32(1.0) / np.float32(tau_f))
    return _Config(
        mode=mode,
        hard=v_reset is not None,
        zero_reset=v_reset is None or v_reset == 0.0,
        div=x.device.type != "cuda",
        tau=tau_f,
        inv_tau=inv_tau,
        keep=1.0 - 1.0 / tau_f,
        vth=vth,
        vr=vr,
        vth_s=float(torch.tensor(vth, dtype=torch.float64).to(x.dtype)),
        vr_s=float(torch.tensor(vr, dtype=torch.float64).to(x.dtype)),
        detach=bool(kw["detach_reset"]),
        sg=_SURROGATE_IDS[sur.name],
        a=_surrogate_constants(sur.name, float(sur.alpha)),
    )


def _launch_args(x: Tensor, n: int) -> tuple[bool, int, dict[str, Any]]:
    interpret = _interpret() or x.device.type != "cuda"
    if interpret:  # numpy runs a whole block at once: fewer, larger programs are faster
        block = min(max(_next_pow2(n), 16), 1 << 14)
        return interpret, block, {}
    return interpret, 1024, {"num_warps": 4, "enable_fp_fusion": False}


def _next_pow2(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


def _compute_dtype(x: Tensor) -> Any:
    return tl.float64 if x.dtype == torch.float64 else tl.float32


def _forward(x_seq: Tensor, v0: Tensor, c: _Config, store_h: bool) -> tuple[Tensor, Tensor, Tensor | None]:
    T = x_seq.shape[0]
    x = x_seq.contiguous()
    v = v0.contiguous()
    n = v.numel()
    s = torch.empty_like(x)
    vt = torch.empty_like(v)
    h = torch.empty_like(x) if store_h else s  # H unused (and never written) when store_h is False
    interpret, block, opts = _launch_args(x, n)
    fwd, _ = _load(interpret)
    grid = (_cdiv(n, block),)
    with torch.cuda.device(x.device) if x.device.type == "cuda" else _nullcontext():
        fwd[grid](
            x,
            v,
            s,
            h,
            vt,
            n,
            T,
            MODE=c.mode,
            HARD=c.hard,
            ZERO_RESET=c.zero_reset,
            DIV=c.div,
            TAU=c.tau,
            INV_TAU=c.inv_tau,
            KEEP=c.keep,
            VTH=c.vth,
            VR=c.vr,
            VTH_S=c.vth_s,
            VR_S=c.vr_s,
            STORE_H=store_h,
            CT=_compute_dtype(x),
            BLOCK=block,
            **opts,
        )
    return s, vt, (h if store_h else None)


def _backward(gs: Tensor, gvt: Tensor, h: Tensor, c: _Config) -> tuple[Tensor, Tensor]:
    T = h.shape[0]
    n = h[0].numel()
    gs = gs.to(h.dtype).contiguous()
    gvt = gvt.to(h.dtype).contiguous()
    gx = torch.empty_like(h)
    gv0 = torch.empty_like(gvt)
    interpret, block, opts = _launch_args(h, n)
    _, bwd = _load(interpret)
    grid = (_cdiv(n, block),)
    with torch.cuda.device(h.device) if h.device.type == "cuda" else _nullcontext():
        bwd[grid](
            gs,
            gvt,
            h,
            gx,
            gv0,
            n,
            T,
            (T - 1) * n,
            MODE=c.mode,
            HARD=c.hard,
            DETACH=c.detach,
            DIV=c.div,
            TAU=c.tau,
            INV_TAU=c.inv_tau,
            KEEP=c.keep,
            VTH=c.vth,
            VR=c.vr,
            VTH_S=c.vth_s,
            SG=c.sg,
            A0=c.a[0],
            A1=c.a[1],
            CT=_compute_dtype(h),
            BLOCK=block,
            **opts,
        )
    return gx, gv0


def _cdiv(n: int, block: int) -> int:
    return (n + block - 1) // block


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


class _LIFMultistep(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x_seq: Tensor, v0: Tensor, c: _Config) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        s, vt, h = _forward(x_seq, v0, c, store_h=True)
        ctx.save_for_backward(h)
        ctx.cfg = c
        return s, vt

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_s: Tensor, grad_vt: Tensor) -> tuple[Tensor | None, Tensor | None, None]:  # type: ignore[override]
        (h,) = ctx.saved_tensors
        gx, gv0 = _backward(grad_s, grad_vt, h, ctx.cfg)
        return (
            gx.view(h.shape) if ctx.needs_input_grad[0] else None,
            gv0 if ctx.needs_input_grad[1] else None,
            None,
        )


def lif_multistep_triton(
    x_seq: Tensor,
    v0: Tensor,
    *,
    tau: float | None = 2.0,
    k: Tensor | None = None,
    v_threshold: float = 1.0,
    v_reset: float | None = 0.0,
    decay_input: bool = True,
    detach_reset: bool = False,
    surrogate: Any,
    keep_state: bool = True,  # returns v_T either way
) -> tuple[Tensor, Tensor]:
    """Fused Triton version of :func:`~zoo_core.kernels.lif.lif_multistep_reference` (same arguments)."""
    kw = {
        "tau": tau,
        "k": k,
        "v_threshold": v_threshold,
        "v_reset": v_reset,
        "decay_input": decay_input,
        "detach_reset": detach_reset,
        "surrogate": surrogate,
    }
    if not supports(x_seq, v0, **kw):
        raise InputError(
            "lif_multistep:triton does not support this call (it takes IF/LIF with a float tau, a built-in "
            "surrogate, float16/bfloat16/float32/float64 tensors of one dtype and device, v0 shaped like "
            "x_seq[0], on CUDA or on the CPU under TRITON_INTERPRET=1); use the reference"
        )
    c = _config(x_seq, kw)
    if torch.is_grad_enabled() and (x_seq.requires_grad or v0.requires_grad):
        return _LIFMultistep.apply(x_seq, v0, c)
    s, vt, _ = _forward(x_seq, v0, c, store_h=False)
    return s, vt
