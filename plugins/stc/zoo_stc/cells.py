r"""Single-step spiking cells of the STC paper and of the baselines its official code compares against.

Every cell advances one frame step. Its synaptic front end (``conv_x``) is the same for all neurons::

    I = GN_g( Conv_x(x) )          KxK conv (stride 1, padding K//2, no bias), then GroupNorm(g groups, affine)

and its state is a dict of ``[B, C, H, W]`` tensors: ``h`` (membrane after the step's reset), ``s`` (the
step's spikes, which the next step reads as the autapse input ``g``) and, for the two-compartment neurons, ``d``.
All states start at zero. Spikes are :math:`S(x) = H(x)` with :math:`H(0) = 1` and the sigmoid surrogate
derivative :math:`\alpha\,\sigma(\alpha x)(1-\sigma(\alpha x))`, :math:`\alpha = 4`; threshold
:math:`V_{th} = 1`. The STC modulators (autapse) are

.. math::

    A_h = \tanh(\mathrm{GN}_g(\mathrm{GConv}_h(g))), \qquad A_v = \tanh(\mathrm{GN}_g(\mathrm{GConv}_v(g)))

with grouped KxK convolutions (``groups = g``, no bias). The updates (``sig`` = logistic sigmoid, parameters are
scalars initialised to 0) are given in each class's docstring. Parameter names and their order are the official
ones, so a cell's ``state_dict`` keys equal the official cell's (scalars first, e.g. ``t_m``, then
``conv_x.{0,1}.*``, ``conv_h.{0,1}.*``, ``conv_v.{0,1}.*``).

:data:`CELLS` maps each cell key, which is also the cell's registered neuron name (``stc_lif``, ...,
``stc_baseline_glif``), to its class.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import zoo_core as zoo
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, check_positive_int

State = dict[str, Tensor]

__all__ = [
    "CELLS",
    "GLIFCell",
    "LIFCell",
    "LMHCell",
    "PLIFCell",
    "STCLIFCell",
    "STCLMHCell",
    "STCPLIFCell",
    "SpikingCell",
    "TCLIFCell",
]


def _gn_conv(cin: int, cout: int, k: int, groups: int, conv_groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=1, padding=k // 2, bias=False, groups=conv_groups),
        nn.GroupNorm(groups, cout),
    )


def _scalar(trainable: bool = True) -> nn.Parameter:
    return nn.Parameter(torch.zeros(1), requires_grad=trainable)


class SpikingCell(nn.Module):
    """Base: the ``conv_x`` front end, the spike function and the state layout.

    Args:
        in_channels: channels of the cell input ``x``; ``None`` builds the cell without ``conv_x`` (it is then
            driven by a synaptic current directly, see :meth:`update`, as the registered neurons are).
        channels: hidden channels ``C`` (a multiple of ``groups``).
        kernel_size: ``K`` of every convolution (official: 5).
        groups: GroupNorm groups and modulator conv groups (official: 16, hard-coded there).
        gradient_detach: detach the autapse input ``g`` before the STC modulators (gradients only).
        v_threshold: ``V_th`` (official 1.0).
        alpha: sharpness of the sigmoid surrogate (official: SpikingJelly's default 4.0).
    """

    state_names: tuple[str, ...] = ("h", "s")
    has_modulators = False

    def __init__(
        self,
        in_channels: int | None,
        channels: int,
        *,
        kernel_size: int = 5,
        groups: int = 16,
        gradient_detach: bool = False,
        v_threshold: float = 1.0,
        alpha: float = 4.0,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        for name, v in (("channels", channels), ("kernel_size", kernel_size), ("groups", groups)):
            check_positive_int(v, name, who)
        if channels % groups:
            raise ConfigError(
                f"{who}: channels ({channels}) must be a multiple of groups ({groups}) "
                "(GroupNorm and the grouped modulator convolutions)"
            )
        if kernel_size % 2 == 0:
            raise ConfigError(
                f"{who}: kernel_size must be odd (padding K//2 keeps the size), got {kernel_size}"
            )
        self.channels, self.kernel_size, self.groups = channels, kernel_size, groups
        self.gradient_detach = bool(gradient_detach)
        self.v_threshold = float(v_threshold)
        self.fire = zoo.create_surrogate("sigmoid", alpha=alpha)
        self._build_scalars()
        if in_channels is not None:
            self.conv_x = _gn_conv(in_channels, channels, kernel_size, groups)
        if self.has_modulators:
            self.conv_h = _gn_conv(channels, channels, kernel_size, groups, conv_groups=groups)
            self.conv_v = _gn_conv(channels, channels, kernel_size, groups, conv_groups=groups)

    def _build_scalars(self) -> None:
        """Create the neuron's scalar parameters (official order: before the convolutions)."""

    def initial_state(self, ref: Tensor) -> State:
        """Zero state shaped like ``ref`` (``[B, C, H, W]``)."""
        return {k: torch.zeros_like(ref) for k in self.state_names}

    def modulators(self, g: Tensor) -> tuple[Tensor, Tensor]:
        """``(A_h, A_v)`` from the previous spikes ``g`` (``g`` detached first if ``gradient_detach``)."""
        if self.gradient_detach:
            g = g.detach()
        return torch.tanh(self.conv_h(g)), torch.tanh(self.conv_v(g))

    def update(self, current: Tensor, state: State) -> State:
        """Advance ``state`` by one step driven by the synaptic current ``I`` (``[B, C, H, W]``)."""
        raise NotImplementedError

    def forward(self, x: Tensor, state: State) -> State:
        """One step from the cell input ``x``: ``update(GN(Conv_x(x)), state)``; the spikes are ``state['s']``."""
        return self.update(self.conv_x(x), state)


# --------------------------------------------------------------------------------------------- baselines
class LIFCell(SpikingCell):
    r"""LIF baseline, fixed :math:`\tau = 2`: :math:`m = h/\tau + (1 - 1/\tau) I`, :math:`s' = S(m - V_{th})`,
    :math:`h' = m - s'` (soft reset, not detached)."""

    tau = 2.0

    def update(self, current: Tensor, state: State) -> State:
        k = 1.0 / self.tau
        m = state["h"] * k + current * (1 - k)
        s = self.fire(m - self.v_threshold)
        return {"h": m - s, "s": s}


class PLIFCell(SpikingCell):
    r"""PLIF baseline *as in the official code*: :math:`m = \mathrm{sig}(w) h + (1 - w) I`.

    The input factor is :math:`1 - w`, not :math:`1 - \mathrm{sig}(w)` (an official quirk kept for parity:
    at init it is 1, not 0.5); ``fixed=True`` uses :math:`1 - \mathrm{sig}(w)` (the PLIF paper's neuron).
    """

    def __init__(self, *args: Any, fixed: bool = False, **kwargs: Any) -> None:
        self.fixed = bool(fixed)
        super().__init__(*args, **kwargs)

    def _build_scalars(self) -> None:
        self.t_m = _scalar()

    def update(self, current: Tensor, state: State) -> State:
        k = self.t_m.sigmoid()
        m = state["h"] * k + current * ((1 - k) if self.fixed else (1 - self.t_m))
        s = self.fire(m - self.v_threshold)
        return {"h": m - s, "s": s}


class TCLIFCell(SpikingCell):
    r"""TC-LIF baseline (two compartments) as in the official code, with ``g`` = previous spikes (detached)::

        d' = d - sig(s_u) h + I - t_m g          (t_m used raw, not through a sigmoid)
        h' = h + sig(s_p) d' - g                 (the reset of the previous spike)
        s' = S(h' - V_th)

    ``d_u`` and ``d_p`` exist (official state dict) but are unused; they are frozen (``requires_grad=False``).
    """

    state_names = ("h", "d", "s")

    def _build_scalars(self) -> None:
        self.t_m, self.s_u, self.s_p = _scalar(), _scalar(), _scalar()
        self.d_u, self.d_p = _scalar(False), _scalar(False)

    def update(self, current: Tensor, state: State) -> State:
        h, g = state["h"], state["s"].detach()
        d = state["d"] - h * self.s_u.sigmoid() + current - self.t_m * g
        h = h + d * self.s_p.sigmoid() - g
        return {"h": h, "d": d, "s": self.fire(h - self.v_threshold)}


class LMHCell(SpikingCell):
    r"""LM-H baseline (learnable multi-hierarchical; dendrite ``d`` and soma ``h``)::

        d' = (sig(d_u) - 1/2) d + (sig(s_u) - 1/2) h + I
        m  = (sig(d_p) + 1/2) d' + (sig(s_p) + 1/2) h
        s' = S(m - V_th),   h' = m - stopgrad(s')

    ``t_m`` is in the official state dict but unused (frozen here).
    """

    state_names = ("h", "d", "s")

    def _build_scalars(self) -> None:
        self.t_m = _scalar(False)
        self.s_u, self.s_p, self.d_u, self.d_p = _scalar(), _scalar(), _scalar(), _scalar()

    def _lmh(self, current: Tensor, h_mem: Tensor, state: State) -> State:
        h = state["h"]
        d = state["d"] * (self.d_u.sigmoid() - 0.5) + h * (self.s_u.sigmoid() - 0.5) + current
        m = d * (self.d_p.sigmoid() + 0.5) + h_mem * (self.s_p.sigmoid() + 0.5)
        s = self.fire(m - self.v_threshold)
        return {"h": m - s.detach(), "d": d, "s": s}

    def update(self, current: Tensor, state: State) -> State:
        return self._lmh(current, state["h"], state)


class _RectSpike(torch.autograd.Function):
    """GLIF's spike: forward ``x > 0`` (strict), backward ``grad * [|x| < 1/2]``."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * (x.abs() < 0.5).to(grad.dtype)


def _logit(p: float) -> float:
    return -math.log(1 / p - 1)


class GLIFCell(SpikingCell):
    r"""GLIF baseline (channel-wise gated LIF, static soft gates) as in the official code.

    Per channel, with gates :math:`a, b, c` = detached sigmoids of fixed logits and learnable
    :math:`\tau, V, \lambda, \kappa, V_r` (stored as logits, used through a sigmoid), ``o`` = previous spikes::

        I1 = I (1 - b (1 - kappa))
        u' = (1 - a (1 - tau)) u (1 - c o) - (1 - a) lambda + I1 - (1 - c) V_r o
        o' = [u' - V > 0]   (strict; rectangular surrogate |x| < 1/2)

    Initial values: gates from 0.6, 0.8, 0.6 (logit((g - 0.5)/2 + 0.5)), tau 0.25, V 0.5, lambda 0.0625,
    kappa 0.5, V_r 0.5. The gates never get gradients (frozen). State: ``h`` = u, ``s`` = o.
    """

    def _build_scalars(self) -> None:
        c = self.channels
        # the official cell keeps these in a child module named ``glif`` (keys ``glif.alpha`` ...)
        self.glif = p = nn.Module()
        for name, g in (("alpha", 0.6), ("beta", 0.8), ("gamma", 0.6)):
            setattr(
                p, name, nn.Parameter(torch.full((c,), _logit((g - 0.5) * 0.5 + 0.5)), requires_grad=False)
            )
        for name, v in (("tau", 0.25), ("Vth", 0.5), ("leak", 0.5 / 8), ("reVth", 0.5)):
            setattr(p, name, nn.Parameter(torch.full((c,), _logit(v))))
        p.conduct = nn.Parameter(torch.full((1, c), _logit(0.5)))

    def update(self, current: Tensor, state: State) -> State:
        p = self.glif

        def ch(v: Tensor) -> Tensor:
            return v.view(1, -1, *([1] * (current.dim() - 2)))

        a, b, c = (ch(v.detach().sigmoid()) for v in (p.alpha, p.beta, p.gamma))
        tau, vth, leak, revth = (ch(v.sigmoid()) for v in (p.tau, p.Vth, p.leak, p.reVth))
        conduct = ch(p.conduct[0].sigmoid())
        u, o = state["h"], state["s"]
        i1 = current * (1 - b * (1 - conduct))
        u = (1 - a * (1 - tau)) * u * (1 - c * o) - (1 - a) * leak + i1 - (1 - c) * revth * o
        return {"h": u, "s": _RectSpike.apply(u - vth)}


# ------------------------------------------------------------------------------------------- STC neurons
class STCLIFCell(SpikingCell):
    r"""STC-LIF: :math:`m = h (1 + A_h) + I (1 + A_v)`, :math:`s' = S(m - V_{th})`, :math:`h' = m - s'`.

    No fixed leak: the retained fraction of ``h`` is :math:`1 + A_h \in (0, 2)`, learned and input dependent.
    """

    has_modulators = True

    def update(self, current: Tensor, state: State) -> State:
        a_h, a_v = self.modulators(state["s"])
        m = state["h"] * (1 + a_h) + current * (1 + a_v)
        s = self.fire(m - self.v_threshold)
        return {"h": m - s, "s": s}


class STCPLIFCell(SpikingCell):
    r"""STC-PLIF: :math:`m = k h (1 + A_h) + (1 - k) I (1 + A_v)`, :math:`k = \mathrm{sig}(w)` (``t_m``, init 0)."""

    has_modulators = True

    def _build_scalars(self) -> None:
        self.t_m = _scalar()

    def update(self, current: Tensor, state: State) -> State:
        a_h, a_v = self.modulators(state["s"])
        k = self.t_m.sigmoid()
        m = state["h"] * (1 + a_h) * k + current * (1 + a_v) * (1 - k)
        s = self.fire(m - self.v_threshold)
        return {"h": m - s, "s": s}


class STCLMHCell(LMHCell):
    r"""STC-LM-H: LM-H with :math:`I \to I(1 + A_v)` and, in the soma term only, :math:`h \to h(1 + A_h)`::

    d' = (sig(d_u) - 1/2) d + (sig(s_u) - 1/2) h + I (1 + A_v)        (the old h)
    m  = (sig(d_p) + 1/2) d' + (sig(s_p) + 1/2) h (1 + A_h)
    s' = S(m - V_th),   h' = m - stopgrad(s')
    """

    has_modulators = True

    def update(self, current: Tensor, state: State) -> State:
        a_h, a_v = self.modulators(state["s"])
        return self._lmh(current * (1 + a_v), state["h"] * (1 + a_h), state)


#: cell key (= registered neuron name) -> cell class; the models are ``spiking_predictor_<key>_<dataset>``
CELLS: dict[str, type[SpikingCell]] = {
    "stc_baseline_lif": LIFCell,
    "stc_baseline_plif": PLIFCell,
    "stc_baseline_tclif": TCLIFCell,
    "stc_baseline_lmh": LMHCell,
    "stc_baseline_glif": GLIFCell,
    "stc_lif": STCLIFCell,
    "stc_plif": STCPLIFCell,
    "stc_lmh": STCLMHCell,
}
