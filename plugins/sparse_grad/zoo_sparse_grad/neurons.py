r"""The LIF/IF neuron of Liu et al. (ICML 2024) with switchable surrogate gradients and a rate-based (BPTR) mode.

Multi-step on ``[T, B, ...]``, from rest at every call. Per time step (mode ``"bptt"``), element-wise:

.. math::

    m_t = \tau\, m_{t-1} + x_t \ (m_0 = 0), \qquad s_t = H(m_t - \theta) \ (H(0) = 1), \qquad
    m_t \leftarrow (1 - s_t)\, m_t \ \text{(hard reset, not detached)}

With the paper's default :math:`\tau = 1` it is an IF neuron. The backward pass replaces :math:`H'(u)` by a
surrogate with parameter :math:`g` (``gama``):

==========  =================================================  ==========================
``zif``     :math:`\frac{1}{g^2}\max(g - |u|, 0)` (triangle)   training default, g = 1
``sig``     :math:`g\,\sigma(gu)(1 - \sigma(gu))`               attack setting, g = 4
``atan``    :math:`\frac{g/2}{1 + (\pi g u / 2)^2}`             attack setting, g = 2
==========  =================================================  ==========================

Mode ``"bptr"`` (rate-based back-propagation, an attack gradient): the same IF forward with threshold 1 and
strict comparison :math:`s_t = [m_t > 1]`, but the backward ignores the dynamics: every step's input receives
:math:`\partial L/\partial s_t \cdot \rho(\bar x)` with :math:`\bar x = \frac1T\sum_t x_t` and

.. math::

    \rho(\bar x) = [1 - \tau \le \bar x \le 2]\,\frac{1 - 0.2 + 0.2\tau}{\tau + 1}
                 + [0 \le \bar x \le 1 - \tau]\cdot 0.2

(with :math:`\tau = 1`: 0.5 on [0, 2], 0.7 exactly at 0, 0 elsewhere). Spikes keep the input's dtype.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from zoo_core.sdk import (
    BaseNeuron,
    ConfigError,
    InputError,
    State,
    check_choice,
    check_number,
    check_positive,
)


def zif_grad(u: Tensor, g: float) -> Tensor:
    """Triangle surrogate ``(1/g^2) * max(g - |u|, 0)``."""
    return (g - u.abs()).clamp_min(0) / (g * g)


def sig_grad(u: Tensor, g: float) -> Tensor:
    """Sigmoid surrogate ``g * s * (1 - s)``, ``s = sigmoid(g u)``."""
    s = torch.sigmoid(g * u)
    return g * s * (1 - s)


def atan_grad(u: Tensor, g: float) -> Tensor:
    """Arctangent surrogate ``(g/2) / (1 + (pi g u / 2)^2)``."""
    return (g / 2) / (1 + (math.pi / 2 * g * u).square())


SURROGATES = {"zif": zif_grad, "sig": sig_grad, "atan": atan_grad}
MODES = ("bptt", "bptr")


class SpikeFn(torch.autograd.Function):
    """Heaviside ``H(u) = [u >= 0]`` forward (input dtype), ``grad * surrogate(u, g)`` backward."""

    @staticmethod
    def forward(ctx, u: Tensor, g: float, surrogate: str) -> Tensor:  # type: ignore[no-untyped-def]
        ctx.save_for_backward(u)
        ctx.g, ctx.surrogate = g, surrogate
        return (u >= 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[no-untyped-def]
        (u,) = ctx.saved_tensors
        return grad_out * SURROGATES[ctx.surrogate](u, ctx.g), None, None


def bptr_grad(x_mean: Tensor, tau: float) -> Tensor:
    """The BPTR input-gradient factor :math:`\\rho(\\bar x)` (module docstring)."""
    dt = x_mean.dtype
    inner = ((x_mean >= 1 - tau) & (x_mean <= 2)).to(dt) * ((1 - 0.2 + 0.2 * tau) / (tau + 1))
    return inner + ((x_mean <= 1 - tau) & (x_mean >= 0)).to(dt) * 0.2


class RateBP(torch.autograd.Function):
    """IF forward with threshold 1 (strict) and hard reset; rate-based backward ``grad_t * rho(mean_t x)``."""

    @staticmethod
    def forward(ctx, x: Tensor, tau: float) -> Tensor:  # type: ignore[no-untyped-def]
        mem = torch.zeros_like(x[0])
        out = []
        for x_t in x:
            mem = mem * tau + x_t
            s = (mem > 1.0).to(x.dtype)
            mem = (1 - s) * mem
            out.append(s)
        ctx.save_for_backward(x.mean(0, keepdim=True))
        ctx.tau = tau
        return torch.stack(out)

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[no-untyped-def]
        (x_mean,) = ctx.saved_tensors
        return grad_out * bptr_grad(x_mean, ctx.tau), None


class SparseGradLIF(BaseNeuron):
    """``LIFSpike`` of the official code as a zoo neuron (equations in the module docstring).

    Args:
        thresh: firing threshold :math:`\\theta` (``bptr`` mode requires 1.0, as the official rate rule).
        tau: membrane decay :math:`\\tau` (1.0: IF, the paper's setting).
        surrogate: ``"zif"``, ``"sig"`` or ``"atan"``.
        gama: surrogate parameter :math:`g` (official name ``gama``).
        mode: ``"bptt"`` (surrogate BPTT) or ``"bptr"`` (rate-based backward; whole sequence only).
    """

    def __init__(
        self,
        thresh: float = 1.0,
        tau: float = 1.0,
        surrogate: str = "zif",
        gama: float = 1.0,
        mode: str = "bptt",
    ) -> None:
        super().__init__()
        self.thresh = check_number(thresh, "thresh", "SparseGradLIF")
        self.tau = check_number(tau, "tau", "SparseGradLIF")
        if self.tau < 0:
            raise ConfigError(f"SparseGradLIF: tau must be >= 0, got {tau!r}")
        self.set_surrogate(surrogate, gama)
        self.set_mode(mode)

    def set_surrogate(self, surrogate: str, gama: float | None = None) -> None:
        self.surrogate = check_choice(surrogate, "surrogate", "SparseGradLIF", sorted(SURROGATES))
        if gama is not None:
            self.gama = check_positive(gama, "gama", "SparseGradLIF")

    def set_mode(self, mode: str) -> None:
        check_choice(mode, "mode", "SparseGradLIF", MODES)
        if mode == "bptr" and self.thresh != 1.0:
            raise ConfigError(
                f"SparseGradLIF: mode 'bptr' fires at a fixed threshold 1.0 (official rate rule); thresh is "
                f"{self.thresh}"
            )
        self.mode = mode

    @property
    def causal(self) -> bool:  # type: ignore[override]
        """BPTT mode is causal; BPTR's backward needs the time-mean of the whole sequence."""
        return self.mode == "bptt"

    def initial_state(self, x_t: Tensor) -> State:
        return {"v": torch.zeros_like(x_t)}

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        if self.mode == "bptr":
            if self.streaming:
                raise InputError(
                    "SparseGradLIF: mode 'bptr' needs the whole sequence in one call (its backward uses the "
                    "time-mean input); streaming is only supported in mode 'bptt'"
                )
            out = RateBP.apply(x_seq, self.tau)
            return out, {"v": torch.zeros_like(x_seq[0])}  # final membrane not exposed by the rate rule
        mem = state["v"]
        out = []
        for x_t in x_seq:
            mem = mem * self.tau + x_t
            s = SpikeFn.apply(mem - self.thresh, self.gama, self.surrogate)
            mem = (1 - s) * mem
            out.append(s)
        return torch.stack(out), {"v": mem}

    def extra_repr(self) -> str:
        return (
            f"thresh={self.thresh}, tau={self.tau}, surrogate={self.surrogate!r}, gama={self.gama}, "
            f"mode={self.mode!r}"
        )
