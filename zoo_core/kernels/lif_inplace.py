r"""``lif_multistep:inplace``: the reference loop for inference, without its allocations.

Under ``torch.no_grad()`` (or with no input requiring a gradient) nothing needs the per-step intermediates, so
this loop writes every step into buffers allocated once (the charge :math:`H_t`, one scratch tensor, a boolean
mask) and the spikes straight into the output ``[T, ...]`` instead of stacking ``T`` fresh tensors. Each step
performs the reference's floating-point operations in the reference's order (:func:`zoo_core.kernels.lif.
lif_charge` and :func:`~zoo_core.kernels.lif.lif_fire_reset`), only with ``out=`` and in-place variants, so
spikes and :math:`V_T` are bit-identical to the reference in every dtype. Fresh large allocations are what
make the eager loop slow on a CPU (page faults), so this is the default inference path when the compiled loop
does not pay (``tools/bench_neurons.py`` / ``tools/bench_models.py`` measure it).

It never runs a call that needs gradients: automatic selection skips it there and the reference runs.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .lif import SpikeFn


def supports(x_seq: Tensor, v0: Tensor, **kw: object) -> bool:
    """Inference calls (nothing requires grad, or grad mode off) with ``v0`` shaped like one step of ``x_seq``."""
    k = kw.get("k")
    if torch.is_grad_enabled() and (
        x_seq.requires_grad or v0.requires_grad or (isinstance(k, Tensor) and k.requires_grad)
    ):
        return False
    return (
        v0.shape == x_seq.shape[1:]
        and v0.dtype == x_seq.dtype
        and v0.device == x_seq.device
        and x_seq.is_floating_point()
        and not isinstance(kw.get("v_threshold"), Tensor)
        and (not isinstance(k, Tensor) or k.dtype == x_seq.dtype)  # no type promotion inside the buffers
    )


def prefer(x_seq: Tensor, v0: Tensor, **kw: object) -> bool:
    return True


def _charge(
    h: Tensor, tmp: Tensor, v: Tensor, x: Tensor, tau: float | None, k: Tensor | None, v_reset: float | None,
    decay_input: bool,
) -> None:  # fmt: skip
    """``h = lif_charge(v, x, ...)``, operation for operation (``tmp`` is scratch)."""
    if k is None and tau is None:
        torch.add(v, x, out=h)
        return
    zero_reset = v_reset is None or v_reset == 0.0
    if k is not None:
        if decay_input:  # v + (x - v) * k   |   v + (x - (v - v_reset)) * k
            if zero_reset:
                torch.sub(x, v, out=tmp)
            else:
                torch.sub(v, v_reset, out=tmp)
                torch.sub(x, tmp, out=tmp)
            tmp.mul_(k)
            torch.add(v, tmp, out=h)
        else:  # v - v * k + x   |   v - (v - v_reset) * k + x
            if zero_reset:
                torch.mul(v, k, out=tmp)
            else:
                torch.sub(v, v_reset, out=tmp)
                tmp.mul_(k)
            torch.sub(v, tmp, out=h)
            h.add_(x)
        return
    if decay_input:  # v + (x - v) / tau   |   v + (x - (v - v_reset)) / tau
        if zero_reset:
            torch.sub(x, v, out=tmp)
        else:
            torch.sub(v, v_reset, out=tmp)
            torch.sub(x, tmp, out=tmp)
        tmp.div_(tau)
        torch.add(v, tmp, out=h)
    elif zero_reset:  # v * (1 - 1/tau) + x
        torch.mul(v, 1.0 - 1.0 / tau, out=h)
        h.add_(x)
    else:  # v - (v - v_reset) / tau + x
        torch.sub(v, v_reset, out=tmp)
        tmp.div_(tau)
        torch.sub(v, tmp, out=h)
        h.add_(x)


@torch.no_grad()
def lif_multistep_inplace(
    x_seq: Tensor,
    v0: Tensor,
    *,
    tau: float | None = 2.0,
    k: Tensor | None = None,
    v_threshold: float = 1.0,
    v_reset: float | None = 0.0,
    decay_input: bool = True,
    detach_reset: bool = False,
    surrogate: SpikeFn,
    keep_state: bool = True,  # returns v_T either way
) -> tuple[Tensor, Tensor]:
    """:func:`~zoo_core.kernels.lif.lif_multistep_reference` for inference (no autograd graph), bit-identical.

    ``detach_reset`` and ``surrogate`` only matter for gradients; the forward fires by :math:`H_t - V_{th} \\ge 0`
    as every surrogate's forward does."""
    out = torch.empty_like(x_seq)
    v = v0.clone()
    h = torch.empty_like(v)
    tmp = torch.empty_like(v)
    fired = torch.empty(v.shape, dtype=torch.bool, device=v.device)
    for t, x in enumerate(x_seq.unbind(0)):
        _charge(h, tmp, v, x, tau, k, v_reset, decay_input)
        torch.sub(h, v_threshold, out=tmp)
        torch.ge(tmp, 0, out=fired)
        s = out[t]
        s.copy_(fired)
        if v_reset is None:  # v = h - s * v_th
            torch.mul(s, v_threshold, out=tmp)
            torch.sub(h, tmp, out=v)
        else:  # v = (1 - s) * h + s * v_reset; 1 - s is -s + 1 exactly for s in {0, 1}
            torch.neg(s, out=tmp)
            tmp.add_(1.0)
            tmp.mul_(h)
            torch.mul(s, v_reset, out=v)
            torch.add(tmp, v, out=v)
    return out, v


__all__ = ["lif_multistep_inplace", "prefer", "supports"]
