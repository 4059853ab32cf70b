r"""``lif_multistep``: the multi-step IF/LIF/PLIF update, reference implementation.

For every time step :math:`t = 1..T`, element-wise (:math:`V_0` given, :math:`V_r` = ``v_reset``):

charge
    * IF (``tau is None and k is None``): :math:`H_t = V_{t-1} + X_t`
    * ``decay_input=True``:  :math:`H_t = V_{t-1} + (X_t - (V_{t-1} - V_r)) / \tau`
    * ``decay_input=False``: :math:`H_t = V_{t-1} - (V_{t-1} - V_r) / \tau + X_t`

    With a tensor ``k`` (PLIF, :math:`k = \mathrm{sigmoid}(w)`) the division by :math:`\tau` becomes a
    multiplication by :math:`k`. With :math:`V_r = 0` or soft reset the :math:`- V_r` term is dropped; the
    evaluation order follows SpikingJelly's so float64 results agree bit for bit.
fire
    :math:`S_t = \Theta(H_t - V_{th})`, :math:`\Theta(x) = [x \ge 0]`; backward uses the surrogate.
reset (:math:`\hat S_t` = ``S_t.detach()`` if ``detach_reset`` else :math:`S_t`)
    * hard (``v_reset`` a float): :math:`V_t = (1 - \hat S_t) H_t + \hat S_t V_r`
    * soft (``v_reset=None``):     :math:`V_t = H_t - \hat S_t V_{th}`

Returns ``(spikes [T, ...], v_T [...])``. Every alternate of this operation takes the same arguments and must
return the same values (and gradients w.r.t. ``x_seq`` and ``v0``). ``keep_state=False`` says the caller discards
:math:`V_T` (a neuron outside streaming mode): an alternate may then return ``None`` in its place and save writing
it (the reference returns it anyway).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

#: a surrogate spike function ``S = surrogate(H - V_th)`` (a :class:`zoo_core.neurons.surrogate.Surrogate`)
SpikeFn = Callable[[Tensor], Tensor]


def lif_charge(
    v: Tensor, x: Tensor, tau: float | None, k: Tensor | None, v_reset: float | None, decay_input: bool
) -> Tensor:
    """One charge step :math:`H_t` (see the module docstring)."""
    if k is None and tau is None:
        return v + x
    zero_reset = v_reset is None or v_reset == 0.0
    if k is not None:
        if decay_input:
            return v + (x - v) * k if zero_reset else v + (x - (v - v_reset)) * k
        return v - v * k + x if zero_reset else v - (v - v_reset) * k + x
    if decay_input:
        return v + (x - v) / tau if zero_reset else v + (x - (v - v_reset)) / tau
    return v * (1.0 - 1.0 / tau) + x if zero_reset else v - (v - v_reset) / tau + x


def lif_fire_reset(
    h: Tensor, v_threshold: float, v_reset: float | None, detach_reset: bool, surrogate: SpikeFn
) -> tuple[Tensor, Tensor]:
    """Fire and reset for one step: returns ``(S_t, V_t)``."""
    s = surrogate(h - v_threshold)
    sr = s.detach() if detach_reset else s
    if v_reset is None:
        v = h - sr * v_threshold
    else:
        v = (1.0 - sr) * h + sr * v_reset
    return s, v


def lif_multistep_reference(
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
    keep_state: bool = True,
) -> tuple[Tensor, Tensor]:
    """Plain PyTorch loop over ``x_seq.unbind(0)`` (faster backward than indexing ``x_seq[t]``)."""
    v = v0
    spikes = []
    for x in x_seq.unbind(0):
        h = lif_charge(v, x, tau, k, v_reset, decay_input)
        s, v = lif_fire_reset(h, v_threshold, v_reset, detach_reset, surrogate)
        spikes.append(s)
    return torch.stack(spikes), v
