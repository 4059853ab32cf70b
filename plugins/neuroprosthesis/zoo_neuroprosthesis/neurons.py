r"""The plugin's neurons: the rate models' output nonlinearity and the spiking retina simulator's synapse and LIF.

``parametric_softplus``
    ParametricSoftplus (PSP), the output "neuron" of the CNN/CRNN retina encoders:
    :math:`y = \alpha\,\mathrm{softplus}(\beta x) = \alpha \ln(1 + e^{\beta x})`, element-wise, with learnable
    :math:`\alpha, \beta` of the per-sample input shape (one pair per cell), initialised to 0.2 and 5.0 (so
    :math:`y(0) = 0.2 \ln 2`, :math:`y'(0) = \alpha\beta/2 = 0.5`, :math:`y \to \alpha\beta x = x` for large
    :math:`x`). Stateless.
``retina_alpha_synapse``
    The alpha-function synapse of the authors' 3-layer spiking retina model: input spikes (counts per step)
    :math:`s_t` to current

    .. math:: I_t = 2a\,I_{t-1} - a^2 I_{t-2} + (\Delta t/\tau)^2 s_{t-2}, \qquad a = 1 - \Delta t / \tau,

    whose impulse response is :math:`(\Delta t/\tau)^2 (k + 1) a^k` at lag :math:`k + 2` (unit area; with
    :math:`\Delta t = 1` ms, :math:`\tau = 10` ms: 0.01 at lag 2, peak 0.0387 at lags 10 and 11).
``retina_lif``
    The simulator's leaky integrate-and-fire cell, input current :math:`I_t`, starting at rest :math:`V = V_e`:

    .. math::
        V_t = V_{t-1} + \frac{\Delta t}{\tau_m}\left(-(V_{t-1} - V_e) + R_m I_t\right), \qquad
        S_t = [V_t \ge V_{th}], \qquad V_t \leftarrow V_{reset} \text{ if } S_t,

    (the reset happens in the step of the spike). With a constant current it settles at :math:`V_e + R_m I`,
    so it fires iff :math:`V_e + R_m I \ge V_{th}`. The authors' membrane noise
    :math:`\frac{\Delta t}{\tau_m} \sigma \xi_t` is the same as a current :math:`\sigma \xi_t / R_m` added to
    the input; the simulator (:mod:`zoo_neuroprosthesis.simulator`) adds it, so this neuron is deterministic.
    Backward: the zoo's surrogate gradient of :math:`(V_t - V_{th}) / (V_{th} - V_e)` (the simulator does not
    train; the surrogate only makes the cell usable in trained networks).

Defaults are the authors' (``demo.m``): :math:`\Delta t` = 1 ms, :math:`\tau` = 10 ms, :math:`\tau_m` = 10 ms,
:math:`R_m = 1`, :math:`V_e = -0.070`, :math:`V_{th} = -0.040`, :math:`V_{reset} = -0.075`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from zoo_core.sdk import BaseNeuron, ConfigError, InputError, State, check_positive, resolve_surrogate

__all__ = ["AlphaSynapse", "ParametricSoftplus", "RetinaLIF"]


def _finite(value: object, name: str, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{who}: {name} must be a finite number, got {value!r}")
    return float(value)


class ParametricSoftplus(BaseNeuron):
    r"""ParametricSoftplus :math:`y = \alpha\,\mathrm{softplus}(\beta x)`, learnable per element of ``shape``.

    Models call :meth:`activate` on ``[B, *shape]``; as a registered neuron it maps ``[T, B, *shape]`` step by
    step (stateless). ``softplus`` is PyTorch's (exact to 2.1e-9 above :math:`\beta x = 20`, where it returns
    its input).

    Args:
        shape: the per-sample input shape (``(num_cells,)`` in the encoders); ``()`` for one scalar pair.
        alpha_init: initial :math:`\alpha` (0.2).
        beta_init: initial :math:`\beta` (5.0).
    """

    spike_kind = "real"  # firing rates, not spikes

    def __init__(
        self, shape: int | Sequence[int] = (), alpha_init: float = 0.2, beta_init: float = 5.0
    ) -> None:
        super().__init__()
        dims = (shape,) if isinstance(shape, int) else tuple(shape)
        if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in dims):
            raise ConfigError(f"parametric_softplus: shape must be positive ints, got {shape!r}")
        self.shape = dims
        self.alpha = nn.Parameter(torch.full(dims, _finite(alpha_init, "alpha_init", "parametric_softplus")))
        self.beta = nn.Parameter(torch.full(dims, _finite(beta_init, "beta_init", "parametric_softplus")))

    def activate(self, x: Tensor) -> Tensor:
        """``alpha * softplus(beta * x)`` on ``[..., *shape]`` (no time axis)."""
        if self.shape and tuple(x.shape[-len(self.shape) :]) != self.shape:
            raise InputError(
                f"parametric_softplus: input {tuple(x.shape)} does not end in its shape {self.shape}"
            )
        return F.softplus(self.beta * x) * self.alpha

    def initial_state(self, x_t: Tensor) -> State:
        return {}

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        return self.activate(x_seq), state

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class AlphaSynapse(BaseNeuron):
    r"""Alpha-function synapse: spikes ``[T, B, ...]`` to current ``[T, B, ...]`` (see the module docstring).

    State: the current of the two previous steps and the input of the two previous steps (``i1, i2, s1, s2``).

    Args:
        tau: synaptic time constant (ms, 10).
        dt: time step (ms, 1).
    """

    spike_kind = "real"  # a synaptic current

    def __init__(self, tau: float = 10.0, dt: float = 1.0) -> None:
        super().__init__()
        self.tau = check_positive(_finite(tau, "tau", "retina_alpha_synapse"), "tau", "retina_alpha_synapse")
        self.dt = check_positive(_finite(dt, "dt", "retina_alpha_synapse"), "dt", "retina_alpha_synapse")
        if self.dt >= self.tau:
            raise ConfigError(f"retina_alpha_synapse: dt ({dt}) must be below tau ({tau})")

    @property
    def decay(self) -> float:
        """:math:`a = 1 - \\Delta t / \\tau`."""
        return 1.0 - self.dt / self.tau

    def initial_state(self, x_t: Tensor) -> State:
        z = torch.zeros_like(x_t)
        return {"i1": z, "i2": z, "s1": z, "s2": z}

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        a, gain = self.decay, (self.dt / self.tau) ** 2
        i1, i2, s1, s2 = state["i1"], state["i2"], state["s1"], state["s2"]
        out = []
        for s in x_seq.unbind(0):
            i = 2 * a * i1 - a * a * i2 + gain * s2
            out.append(i)
            i1, i2, s1, s2 = i, i1, s, s1
        return torch.stack(out), {"i1": i1, "i2": i2, "s1": s1, "s2": s2}

    def extra_repr(self) -> str:
        return f"tau={self.tau}, dt={self.dt}"


class RetinaLIF(BaseNeuron):
    r"""The retina simulator's LIF cell: current ``[T, B, ...]`` to spikes ``[T, B, ...]`` (module docstring).

    Args:
        v_rest: :math:`V_e`, the resting (and initial) potential (V).
        v_threshold: :math:`V_{th}` (V).
        v_reset: :math:`V_{reset}` after a spike (V).
        tau_m: membrane time constant (ms).
        r_m: membrane resistance :math:`R_m`.
        dt: time step (ms).
        surrogate: a registered surrogate (``zoo.list_surrogates()``) or module, for the backward pass only.
        alpha: the surrogate's sharpness (``None``: its default).
    """

    def __init__(
        self,
        v_rest: float = -0.070,
        v_threshold: float = -0.040,
        v_reset: float = -0.075,
        tau_m: float = 10.0,
        r_m: float = 1.0,
        dt: float = 1.0,
        surrogate: str | nn.Module = "atan",
        alpha: float | None = None,
    ) -> None:
        super().__init__()
        who = "retina_lif"
        self.v_rest = _finite(v_rest, "v_rest", who)
        self.v_threshold = _finite(v_threshold, "v_threshold", who)
        self.v_reset = _finite(v_reset, "v_reset", who)
        self.tau_m = check_positive(_finite(tau_m, "tau_m", who), "tau_m", who)
        self.r_m = check_positive(_finite(r_m, "r_m", who), "r_m", who)
        self.dt = check_positive(_finite(dt, "dt", who), "dt", who)
        if not self.v_threshold > self.v_rest:
            raise ConfigError(f"{who}: v_threshold ({v_threshold}) must be above v_rest ({v_rest})")
        if not self.v_reset < self.v_threshold:
            raise ConfigError(f"{who}: v_reset ({v_reset}) must be below v_threshold ({v_threshold})")
        if self.dt > self.tau_m:
            raise ConfigError(f"{who}: dt ({dt}) must not exceed tau_m ({tau_m}) (the Euler step diverges)")
        self.surrogate = resolve_surrogate(surrogate, alpha, who)

    def initial_state(self, x_t: Tensor) -> State:
        return {"v": torch.full_like(x_t, self.v_rest)}

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        k = self.dt / self.tau_m
        gap = self.v_threshold - self.v_rest
        v = state["v"]
        drive = k * (self.v_rest + self.r_m * x_seq)  # V_t = (1 - k) V_{t-1} + k (V_e + R_m I_t)
        out = []
        if torch.is_grad_enabled() and (x_seq.requires_grad or v.requires_grad):
            for d in drive.unbind(0):
                v = (1 - k) * v + d
                s = self.surrogate((v - self.v_threshold) / gap)
                v = v + s * (self.v_reset - v)  # hard reset in the step of the spike
                out.append(s)
        else:  # data generation: the same arithmetic without autograd bookkeeping
            for d in drive.unbind(0):
                v = (1 - k) * v + d
                s = v >= self.v_threshold
                v = torch.where(s, self.v_reset, v)
                out.append(s.to(x_seq.dtype))
        return torch.stack(out), {"v": v}

    def extra_repr(self) -> str:
        return (
            f"v_rest={self.v_rest}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
            f"tau_m={self.tau_m}, r_m={self.r_m}, dt={self.dt}"
        )
