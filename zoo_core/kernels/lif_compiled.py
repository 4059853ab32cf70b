r"""``lif_multistep:compiled``: the IF/LIF loop through ``torch.compile`` (a real speed path on CPU).

Inductor fuses a loop over ``x_seq.unbind(0)`` into one vectorised pass over the neurons that keeps the
membrane potential in registers across all ``T`` steps. For IF/LIF with a float ``tau`` and a built-in
surrogate the autograd graph is hand-written (:class:`_LIFCompiledFn`) so that memory traffic is minimal:

* forward reads :math:`X` and writes :math:`S` (8 bytes per neuron-step in float32) and saves nothing new
  for backward: it keeps references to ``x_seq`` and ``v0``, which exist anyway;
* backward is a second compiled loop that recomputes :math:`H_t` from ``x_seq`` and ``v0`` in registers, then
  runs the recurrence backwards in time (equations in :mod:`zoo_core.kernels.lif_triton`): it reads
  :math:`X` and :math:`\partial L/\partial S` and writes :math:`\partial L/\partial X` (12 bytes).

That is 20 bytes per neuron-step for forward+backward, with two output allocations (spikes, input
gradient) instead of the reference's per-step temporaries; storing :math:`H_t` would cost 4 more bytes and a
third allocation. PLIF (a tensor ``k`` that needs its own gradient), mixed dtypes or a broadcast ``v0`` use
``torch.compile`` of the reference loop instead, with AOTAutograd deriving the backward.

Each function is traced once per input shape and configuration (``dynamic=False``) with
``emulate_precision_casts`` so float16/bfloat16 round after every operation as eager PyTorch does. Automatic
selection only picks this implementation for tensors large enough to amortise compilation
(``ZOO_COMPILE_MIN_NUMEL`` elements, default 2**18); a neuron built with ``kernel="compiled"`` uses it for any
size. If compilation fails (no C++ compiler, an unsupported platform) the call falls back to the reference and
the failure is remembered for the rest of the process.
"""

from __future__ import annotations

import os
import shutil
import types
import warnings
from typing import Any

import torch
from torch import Tensor

from .lif import lif_charge, lif_multistep_reference
from .surrogates import SURROGATE_GRADS

_compiled: dict[str, Any] = {}
_broken: str | None = None


def available() -> bool:
    if _broken is not None or os.environ.get("ZOO_NO_COMPILE", "") not in ("", "0"):
        return False
    return (
        shutil.which("g++") is not None or shutil.which("c++") is not None or shutil.which("cl") is not None
    )


def supports(x_seq: Tensor, v0: Tensor, **kw: Any) -> bool:
    # custom (plugin) surrogates may hold Python state dynamo cannot trace; built-ins are plain functions
    sur = kw.get("surrogate")
    return getattr(sur, "name", None) in SURROGATE_GRADS and x_seq.device.type == "cpu"


def prefer(x_seq: Tensor, v0: Tensor, **kw: Any) -> bool:
    return v0.numel() >= int(os.environ.get("ZOO_COMPILE_MIN_NUMEL", 2**18))


# ----------------------------------------------------------------------------------- traced loop bodies
def _fire_reset(h: Tensor, v_threshold: float, v_reset: float | None) -> tuple[Tensor, Tensor]:
    """Heaviside fire and reset, operation for operation as the reference's forward."""
    s = (h - v_threshold >= 0).to(h.dtype)
    v = h - s * v_threshold if v_reset is None else (1.0 - s) * h + s * v_reset
    return s, v


def _lif_forward(
    x_seq: Tensor, v0: Tensor, tau: float | None, v_threshold: float, v_reset: float | None, decay_input: bool
) -> tuple[Tensor, Tensor]:
    v = v0
    spikes = []
    for x in x_seq.unbind(0):
        h = lif_charge(v, x, tau, None, v_reset, decay_input)
        s, v = _fire_reset(h, v_threshold, v_reset)
        spikes.append(s)
    return torch.stack(spikes), v


def _lif_backward(
    x_seq: Tensor,
    v0: Tensor,
    grad_s: Tensor,
    grad_v: Tensor,
    tau: float | None,
    v_threshold: float,
    v_reset: float | None,
    decay_input: bool,
    detach_reset: bool,
    surrogate: str,
    alpha: float,
) -> tuple[Tensor, Tensor]:
    derivative = SURROGATE_GRADS[surrogate][0]
    # recompute the pre-spike membrane H_t (cheaper than storing it: no extra write, read nor allocation)
    v = v0
    hs = []
    for x in x_seq.unbind(0):
        h = lif_charge(v, x, tau, None, v_reset, decay_input)
        hs.append(h)
        _, v = _fire_reset(h, v_threshold, v_reset)
    # backwards in time
    gv = grad_v
    gxs: list[Tensor] = []
    for h, gs in zip(reversed(hs), reversed(grad_s.unbind(0))):
        z = h - v_threshold
        sg = derivative(z, alpha)
        if v_reset is None:
            dv_dh = 1.0 if detach_reset else 1.0 - v_threshold * sg
        else:
            dv_dh = 1.0 - (z >= 0).to(h.dtype)
            if not detach_reset:
                dv_dh = dv_dh + (v_reset - h) * sg
        gh = gs * sg + gv * dv_dh
        if tau is None:  # IF: H = V + X
            gx, gv = gh, gh
        elif decay_input:  # H = V + (X - (V - V_r)) / tau
            gx = gh / tau
            gv = gh - gx
        else:  # H = V - (V - V_r) / tau + X
            gx = gh
            gv = gh * (1.0 - 1.0 / tau) if (v_reset is None or v_reset == 0.0) else gh - gh / tau
        gxs.append(gx)
    gxs.reverse()
    return torch.stack(gxs), gv


_TARGETS = {"fwd": _lif_forward, "bwd": _lif_backward, "ref": lif_multistep_reference}


def _get(name: str, key: tuple) -> Any:
    """The compiled ``name`` function for one call signature ``key`` (shapes, dtypes, configuration).

    Every key gets its own copy of the function's code object and so its own dynamo cache: a model with many
    neuron layers of different shapes never runs into dynamo's recompile limit (after which it would silently
    fall back to eager execution), and each call checks one set of guards only.
    """
    fn = _compiled.get((name, key))
    if fn is None:
        target = _TARGETS[name]
        fresh = types.FunctionType(
            target.__code__.replace(), target.__globals__, target.__name__, target.__defaults__
        )
        fresh.__kwdefaults__ = target.__kwdefaults__
        fn = _compiled[(name, key)] = torch.compile(
            fresh, dynamic=False, options={"emulate_precision_casts": True}
        )
    return fn


def _key(*tensors: Tensor) -> tuple:
    return tuple((tuple(t.shape), t.stride(), t.dtype) for t in tensors)


class _LIFCompiledFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x_seq: Tensor, v0: Tensor, cfg: tuple) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        tau, v_threshold, v_reset, decay_input, _, _, _ = cfg
        s, v = _get("fwd", (_key(x_seq, v0), cfg[:4]))(x_seq, v0, tau, v_threshold, v_reset, decay_input)
        ctx.save_for_backward(x_seq, v0)
        ctx.cfg = cfg
        return s, v

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_s: Tensor, grad_v: Tensor) -> tuple[Tensor | None, Tensor | None, None]:  # type: ignore[override]
        x_seq, v0 = ctx.saved_tensors
        try:
            fn = _get("bwd", (_key(x_seq, v0, grad_s, grad_v), ctx.cfg))
            gx, gv0 = fn(x_seq, v0, grad_s, grad_v, *ctx.cfg)
        except Exception as exc:  # the same loop, uncompiled
            _mark_broken(exc)
            gx, gv0 = _lif_backward(x_seq, v0, grad_s, grad_v, *ctx.cfg)
        return (gx if ctx.needs_input_grad[0] else None, gv0 if ctx.needs_input_grad[1] else None, None)


def _hand_written_backward_applies(x_seq: Tensor, v0: Tensor, kw: dict[str, Any]) -> bool:
    sur = kw.get("surrogate")
    name = getattr(sur, "name", None)
    return (
        kw.get("k") is None
        and name in SURROGATE_GRADS
        and getattr(type(sur), "grad", None) is SURROGATE_GRADS[name][0]
        and isinstance(getattr(sur, "alpha", None), float)
        and v0.shape == x_seq.shape[1:]
        and v0.dtype == x_seq.dtype
    )


def _run(x_seq: Tensor, v0: Tensor, kw: dict[str, Any]) -> tuple[Tensor, Tensor]:
    if not _hand_written_backward_applies(x_seq, v0, kw):
        key = (_key(x_seq, v0), tuple(sorted((k, v) for k, v in kw.items() if k not in ("k", "surrogate"))))
        sur = kw.get("surrogate")
        return _get("ref", (*key, type(sur), getattr(sur, "alpha", None)))(x_seq, v0, **kw)
    tau = kw.get("tau", 2.0)
    v_threshold = kw.get("v_threshold", 1.0)
    v_reset = kw.get("v_reset", 0.0)
    decay_input = kw.get("decay_input", True)
    tau = None if tau is None else float(tau)
    v_threshold = float(v_threshold)
    v_reset = None if v_reset is None else float(v_reset)
    if torch.is_grad_enabled() and (x_seq.requires_grad or v0.requires_grad):
        sur = kw["surrogate"]
        cfg = (tau, v_threshold, v_reset, bool(decay_input), bool(kw.get("detach_reset", False)))
        return _LIFCompiledFn.apply(x_seq, v0, (*cfg, sur.name, sur.alpha))
    with torch.no_grad():  # one traced graph for inference and training forward (grad mode is guarded)
        cfg = (tau, v_threshold, v_reset, bool(decay_input))
        return _get("fwd", (_key(x_seq, v0), cfg))(x_seq, v0, *cfg)


def _mark_broken(exc: Exception) -> None:
    global _broken
    if _broken is None:
        _broken = f"{type(exc).__name__}: {exc}"
        warnings.warn(
            f"lif_multistep:compiled is unavailable ({_broken[:200]}); using the reference loop",
            RuntimeWarning,
            stacklevel=3,
        )


def lif_multistep_compiled(x_seq: Tensor, v0: Tensor, **kw: Any) -> tuple[Tensor, Tensor]:
    if _broken is None:
        try:
            return _run(x_seq, v0, kw)
        except Exception as exc:  # compilation is an optimisation: never let it break a forward pass
            _mark_broken(exc)
    return lif_multistep_reference(x_seq, v0, **kw)
