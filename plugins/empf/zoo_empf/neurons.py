r"""EM-PF / HD-LIF neurons: floating-point ("multi-precision") spikes with a precise-positioning reset.

:class:`EMPFNeuron` (official ``OnlineNeuron``). Per time step :math:`t` (index into per-step parameters of
length ``T``), input current :math:`I_t`, :math:`\sigma` the logistic sigmoid:

.. math::

    u_t &= \lambda_t\,\mathrm{sg}(m_{t-1}) + I_t, \qquad \lambda_t = \sigma(\alpha_t),\ m_{-1} = 0
        \quad\text{(charge; sg = stop-gradient)} \\
    u_t &\leftarrow \sigma(r^{bn}_t)\,\mathrm{BN}_t(u_t) + \sigma(r^{mem}_t)\,u_t \quad\text{(optional mem-BN)} \\
    s_t &= \max(u_t - \theta_t, 0), \qquad \theta_t = \sigma(v^{th}_t) \quad\text{(fire: the surplus)} \\
    m_t &= u_t - s_t = \min(u_t, \theta_t) \quad\text{(reset: a firing neuron sits exactly at } \theta_t) \\
    y_t &= s_t \ \text{(vanilla)} \quad\text{or}\quad Q_4(s_t) = \mathrm{clamp}(\mathrm{round}(4 s_t), 0, 15)/4
        \ \text{(compression, straight-through)}

The spike is a ReLU of the membrane, so its derivative is exact (no surrogate), and with the membrane detached
between steps each step's gradient is self-contained: the basis of online training (:mod:`zoo_empf.online`).
Parallel mode: :math:`y_t = Q(\max(I_t - \sigma(v^{th}_0), 0))`, stateless; it always uses ``v_th[0]`` (the
official forward never advances its step counter there).

:class:`EMPFLIFNeuron` (official ``LIFNeuron``, the baseline): :math:`u_t = \sigma(\alpha_t) m_{t-1} + I_t`
(:math:`m_{t-1}` detached when ``online_training``), :math:`\theta_t = \sigma(v^{th}_t) + 1/2`,
:math:`s_t = H(u_t - \theta_t)\,\theta_t` with a triangle surrogate (width 1), soft reset :math:`m_t = u_t - s_t`.

Both are zoo multi-step neurons on ``[T, B, ...]``; the per-step parameter index is the position in the
sequence. In streaming mode (:func:`zoo_core.streaming`) the index carries across calls, which is how the
models run one time step at a time (``forward_step``) for the online rule.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from zoo_core.sdk import BaseNeuron, ConfigError, InputError, State, check_time_steps

__all__ = ["EMPFLIFNeuron", "EMPFNeuron", "FoldedEMPFNeuron", "MemBatchNorm", "quantize_4bit"]

MODES = ("vanilla", "compression")


class _Quant4(torch.autograd.Function):
    """:math:`Q_4(s) = \\mathrm{clamp}(\\mathrm{round}(4 s), 0, 15) / 4`; backward: identity (straight-through)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        return torch.clamp(torch.round(x * 4.0), 0.0, 15.0) / 4.0

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


def quantize_4bit(x: Tensor) -> Tensor:
    """4-bit spike values {0, 0.25, ..., 3.75} with a straight-through gradient."""
    return _Quant4.apply(x)


class _TriangleSpike(torch.autograd.Function):
    """Heaviside :math:`H(x) = [x \\ge 0]`; backward :math:`\\max(1 - |x|, 0)` (triangle of width 1)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return grad * (1.0 - x.abs()).clamp_min(0.0)


class MemBatchNorm(nn.BatchNorm2d):
    """``BatchNorm2d`` (same parameters and state-dict keys) that also accepts ``[B, C]`` / ``[B, C, L]``."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise InputError(
                f"MemBatchNorm: expected [B, C, ...] with C = {self.num_features}, got {input.dim()}-D"
            )


def _check_mode(mode: Any, who: str) -> str:
    if mode not in MODES:
        raise ConfigError(f"{who}: mode must be one of {MODES} (emitted spike precision), got {mode!r}")
    return mode


class _PerStepNeuron(BaseNeuron):
    """Shared: per-step parameter index ``t`` (carried across calls in streaming mode) and its checks."""

    def __init__(self, T: int) -> None:
        super().__init__()
        self.T = check_time_steps(T, type(self).__name__)
        self._t = 0

    def reset(self) -> None:
        super().reset()
        self._t = 0

    def _start(self, x_seq: Tensor) -> int:
        """Index of the first step of ``x_seq``; advances the stored index when streaming."""
        t0 = self._t if (self.streaming and self.state) else 0
        if t0 + x_seq.shape[0] > self.T:
            raise InputError(
                f"{type(self).__name__}: has per-step parameters for T={self.T} steps but was asked to run steps "
                f"{t0}..{t0 + x_seq.shape[0] - 1}; feed at most T steps per sequence (zoo.reset(model) between "
                "sequences) or build it with a larger T"
            )
        if self.streaming:
            self._t = t0 + x_seq.shape[0]
        return t0


class EMPFNeuron(_PerStepNeuron):
    r"""The EM-PF / HD-LIF neuron (official ``OnlineNeuron``; equations in the module docstring).

    Args:
        T: number of time steps (length of the per-step parameters ``v_th``, ``alpha``, ...).
        mem_bn: membrane-potential BatchNorm (one ``BatchNorm2d(num_features)`` per step, mixed by learnable
            ratios); in eval mode it is an affine map, see :meth:`fold_mem_bn`.
        num_features: channels of the membrane (only used with ``mem_bn``).
        parallel_mode: stateless shifted ReLU using ``v_th[0]`` at every step (no ``alpha``).
        mode: ``"vanilla"`` (real-valued spikes) or ``"compression"`` (4-bit spikes, :func:`quantize_4bit`).

    All parameters start at 0, so :math:`\theta = \lambda = 1/2` at initialisation.
    """

    @property
    def spike_kind(self) -> str:  # type: ignore[override]
        """``compression``: 4-bit spikes (16 levels, graded events); ``vanilla``: real-valued spikes."""
        return "graded" if self.mode == "compression" else "real"

    def __init__(
        self,
        T: int = 4,
        mem_bn: bool = False,
        num_features: int = 128,
        parallel_mode: bool = False,
        mode: str = "vanilla",
    ) -> None:
        super().__init__(T)
        who = type(self).__name__
        self.mem_bn = bool(mem_bn) and not parallel_mode  # official: parallel neurons have no membrane
        self.parallel_mode = bool(parallel_mode)
        self.mode = _check_mode(mode, who)
        self.v_th = nn.Parameter(torch.zeros(self.T))
        if not self.parallel_mode:
            self.alpha = nn.Parameter(torch.zeros(self.T))
            if self.mem_bn:
                if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
                    raise ConfigError(f"{who}: num_features must be a positive int, got {num_features!r}")
                self.bn_ratio = nn.Parameter(torch.zeros(self.T))
                self.mem_ratio = nn.Parameter(torch.zeros(self.T))
                self.bn = nn.ModuleList(MemBatchNorm(num_features) for _ in range(self.T))

    def _emit(self, s: Tensor) -> Tensor:
        return quantize_4bit(s) if self.mode == "compression" else s

    def initial_state(self, x_t: Tensor) -> State:
        return {} if self.parallel_mode else {"v": torch.zeros_like(x_t)}

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        if self.parallel_mode:
            return self._emit(F.relu(x_seq - torch.sigmoid(self.v_th[0]))), state
        t0 = self._start(x_seq)
        m = state["v"]
        out = []
        for i, x_t in enumerate(x_seq.unbind(0)):
            t = t0 + i
            u = torch.sigmoid(self.alpha[t]) * m.detach() + x_t
            if self.mem_bn:
                u = torch.sigmoid(self.bn_ratio[t]) * self.bn[t](u) + torch.sigmoid(self.mem_ratio[t]) * u
            s = F.relu(u - torch.sigmoid(self.v_th[t]))
            # the membrane only ever enters the next step detached: keep it out of the graph
            m = (u - s).detach()
            out.append(self._emit(s))
        return torch.stack(out), {"v": m}

    def fold_mem_bn(self) -> FoldedEMPFNeuron:
        r"""The eval-mode neuron with mem-BN folded into per-channel decay, input gain and shift.

        With running statistics, :math:`\mathrm{BN}_t(u) = a_t u + b_t` per channel, so
        :math:`u \leftarrow c_1 u + c_0` with :math:`c_1 = \sigma(r^{bn}_t) a_t + \sigma(r^{mem}_t)`,
        :math:`c_0 = \sigma(r^{bn}_t) b_t`; substituting :math:`u = \lambda_t m + I`:
        :math:`u = (c_1\lambda_t)\, m + c_1 I + c_0`.
        """
        if self.parallel_mode:
            raise ConfigError("EMPFNeuron.fold_mem_bn: a parallel neuron has no membrane to fold")
        with torch.no_grad():
            lam = torch.sigmoid(self.alpha)
            if self.mem_bn:
                a = torch.stack([bn.weight / torch.sqrt(bn.running_var + bn.eps) for bn in self.bn])
                b = torch.stack([bn.bias for bn in self.bn]) - a * torch.stack(
                    [bn.running_mean for bn in self.bn]
                )
                rb, rm = torch.sigmoid(self.bn_ratio)[:, None], torch.sigmoid(self.mem_ratio)[:, None]
                c1, c0 = rb * a + rm, rb * b
            else:
                c1, c0 = torch.ones_like(lam)[:, None], torch.zeros_like(lam)[:, None]
            return FoldedEMPFNeuron(c1 * lam[:, None], c1, c0, torch.sigmoid(self.v_th), self.mode)

    def extra_repr(self) -> str:
        return f"T={self.T}, mem_bn={self.mem_bn}, parallel_mode={self.parallel_mode}, mode={self.mode!r}"


class FoldedEMPFNeuron(_PerStepNeuron):
    r"""Inference-only EM-PF neuron with per-channel constants (from :meth:`EMPFNeuron.fold_mem_bn`):
    :math:`u_t = d_t \odot m_{t-1} + g_t \odot I_t + c_t`, then fire and reset as :class:`EMPFNeuron`.

    Buffers ``decay``, ``gain``, ``shift`` are ``[T, C]`` (``C = 1`` broadcasts), ``theta`` is ``[T]``;
    channels are dimension 1 of a step ``[B, C, ...]``.
    """

    spike_kind = EMPFNeuron.spike_kind

    def __init__(
        self, decay: Tensor, gain: Tensor, shift: Tensor, theta: Tensor, mode: str = "vanilla"
    ) -> None:
        super().__init__(int(theta.shape[0]))
        self.mode = _check_mode(mode, type(self).__name__)
        self.register_buffer("decay", decay.detach().clone())
        self.register_buffer("gain", gain.detach().clone())
        self.register_buffer("shift", shift.detach().clone())
        self.register_buffer("theta", theta.detach().clone())

    def initial_state(self, x_t: Tensor) -> State:
        return {"v": torch.zeros_like(x_t)}

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        t0 = self._start(x_seq)
        m, out = state["v"], []
        shape = (1, -1) + (1,) * (x_seq.dim() - 3)  # per-channel constants over a step [B, C, ...]
        for i, x_t in enumerate(x_seq.unbind(0)):
            t = t0 + i
            u = self.decay[t].view(shape) * m + self.gain[t].view(shape) * x_t + self.shift[t].view(shape)
            s = F.relu(u - self.theta[t])
            m = u - s
            out.append(quantize_4bit(s) if self.mode == "compression" else s)
        return torch.stack(out), {"v": m}


class EMPFLIFNeuron(_PerStepNeuron):
    r"""The LIF baseline of the paper (official ``LIFNeuron``).

    Args:
        T: number of time steps (length of ``alpha`` and ``v_th``).
        online_training: detach the membrane between steps (truncated, online gradient); ``False`` = BPTT.
        is_learnable: train ``alpha`` and ``v_th`` (frozen at 0 otherwise: decay 1/2, threshold 1).
    """

    def __init__(self, T: int = 4, online_training: bool = True, is_learnable: bool = False) -> None:
        super().__init__(T)
        self.online_training = bool(online_training)
        self.alpha = nn.Parameter(torch.zeros(self.T), requires_grad=bool(is_learnable))
        self.v_th = nn.Parameter(torch.zeros(self.T), requires_grad=bool(is_learnable))

    def initial_state(self, x_t: Tensor) -> State:
        return {"v": torch.zeros_like(x_t)}

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        t0 = self._start(x_seq)
        m, out = state["v"], []
        for i, x_t in enumerate(x_seq.unbind(0)):
            t = t0 + i
            u = torch.sigmoid(self.alpha[t]) * (m.detach() if self.online_training else m) + x_t
            theta = torch.sigmoid(self.v_th[t]) + 0.5
            s = _TriangleSpike.apply(u - theta) * theta
            m = u - s
            out.append(s)
        return torch.stack(out), {"v": m.detach() if self.online_training else m}

    def extra_repr(self) -> str:
        return f"T={self.T}, online_training={self.online_training}"
