r"""The parallel spiking neurons of parallel conversion (Hao et al., ICML 2025) and the sequential reference.

Notation: ``T`` time steps, input current :math:`X[1..T]` (``[T, B, ...]``), its time mean
:math:`\bar m = \frac1T\sum_t X[t]`, threshold :math:`\theta`, initial membrane fraction :math:`\rho`.

:class:`ParallelIF` (official ``ParaInfNeuron``)
    all ``T`` steps at once, from :math:`\bar m` only. Step :math:`x = 1..T` fires (amplitude :math:`\theta`)
    iff

    .. math::  \frac{T}{x}\,\bar m + \frac{\rho\theta}{x} \;\ge\; \theta
               \quad\Longleftrightarrow\quad N \ge x,\qquad N = \Big\lfloor \frac{T\bar m}{\theta} + \rho \Big\rfloor,

    i.e. step ``x`` fires iff the spike count an IF neuron (initial membrane :math:`\rho\theta`, constant
    current :math:`\bar m`) reaches after ``T`` steps is at least ``x``. The per-step terms
    :math:`b_x = \rho\theta/x` are the "optimal shifts" (the QCFS shift 1/2 spread over the steps) and
    :math:`T/x` the posterior scale of the paper's matrix form. Consequences (tests in ``tests/``):
    the spike train is **sorted** (:math:`s_1 \ge s_2 \ge \dots \ge s_T`), and the time mean is
    :math:`\frac{\theta}{T}\mathrm{clip}(N, 0, T) = \mathrm{QCFS}_{\lambda=\theta,\,n=T}(\bar m)` for
    :math:`\rho = 1/2`: the parallel SNN of a QCFS ANN is **lossless** layer by layer.
    State-dict buffers as in the official code: ``TxT`` :math:`[T, 1] = T/x`, ``bias`` :math:`[T, 1] =
    \rho\theta/x`. The threshold itself is not a buffer there; it is restored from ``bias`` on loading
    (:math:`\theta = b_1/\rho`, exact for :math:`\rho = 1/2`).
:class:`ChannelwiseParallelIF` (official ``ParaInfNeuron_CW_ND``)
    the channel-wise neuron of distribution-aware conversion: per channel ``c`` a firing threshold
    ``pre_th`` :math:`=\lambda_c`, a spike amplitude ``post_th`` :math:`=\lambda_c + \varphi_c` and shifts
    ``bias`` :math:`= (\rho\lambda_c + T\psi_c)/x`; step ``x`` fires with amplitude :math:`\lambda_c+\varphi_c`
    iff :math:`\frac{T}{x}\bar m + \frac{\rho\lambda_c + T\psi_c}{x} \ge \lambda_c`, which for
    :math:`\lambda_c > 0` is :math:`\lfloor(\bar m + \psi_c)T/\lambda_c + \rho\rfloor \ge x`: the neuron equals
    the DA-QCFS activation (:class:`~zoo_parallel_conversion.calibration.DAQCFS`) exactly; for
    :math:`\lambda_c < 0` the division flips the inequality and the equality fails (:math:`\lambda_c = 0` is
    degenerate: both give :math:`\varphi_c` where :math:`\bar m + \psi_c > 0` and 0 where it is negative).
Sequential reference
    :class:`zoo_core.sdk.ConversionIF` (core neuron ``if_conversion``): the IF neuron run step by step
    with soft reset and initial membrane :math:`\rho\theta`. Its spike *count* for a constant current equals
    the parallel neuron's; the order differs (IF spreads its spikes over time, the parallel neuron fires
    first), and for time-varying input (every layer after the first) the counts differ too.

Both parallel neurons are non-causal (step 1 depends on the mean over all ``T`` steps): they refuse
streaming. The comparisons are computed as in the official code (same operations in the same order), so
float64 outputs agree bit for bit; unlike the official code they keep the input's dtype (the official
neurons return float32 always). Backward: the registered surrogate of the comparison (default rectangular,
window :math:`|a - \theta| < \theta/2`), so a parallel SNN can be fine-tuned.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from zoo_core.sdk import (
    BaseNeuron,
    ConfigError,
    ConversionIF,
    ConversionNeuron,
    InputError,
    State,
    check_number,
    check_positive_int,
    check_time_steps,
    resolve_surrogate,
)

__all__ = ["ChannelwiseParallelIF", "ParallelIF", "SequentialIF", "parallel_spike_count"]

#: the sequential IF reference (core neuron ``if_conversion``), re-exported for convenience
SequentialIF = ConversionIF


def _steps(T: int) -> Tensor:
    """``torch.arange(1, T + 1)`` (int64), as the official buffers are computed from it."""
    return torch.arange(1, T + 1)


def parallel_spike_count(
    mean_current: Tensor, theta: float | Tensor, T: int, init_mem: float = 0.5
) -> Tensor:
    r"""Closed form of the spike count: :math:`\mathrm{clip}(\lfloor T\bar m/\theta + \rho \rfloor, 0, T)`.

    Mathematically the number of steps :class:`ParallelIF` fires (and a sequential IF neuron with a
    constant current); used by the tests. Near a quantization boundary floating-point rounding may differ
    from the per-step comparison by one spike.
    """
    return torch.clamp(torch.floor(T * mean_current / theta + init_mem), 0, T)


def _fire(
    surrogate: nn.Module, a: Tensor, threshold: float | Tensor, amplitude: float | Tensor, dtype: torch.dtype
) -> Tensor:
    """``(a >= threshold) * amplitude`` in ``dtype``, as the official ``(a >= th).float() * amp``.

    With autograd the comparison goes through the surrogate of ``a - threshold`` (IEEE subtraction keeps the
    sign, so the forward values are identical); without, it is computed in place in the temporary ``a`` (one
    ``[T, ...]`` buffer instead of five: the parallel neuron is memory-bound).
    """
    if torch.is_grad_enabled() and a.requires_grad:
        return (surrogate(a - threshold) * amplitude).to(dtype)
    return a.ge_(threshold).mul_(amplitude).to(dtype)


class _ParallelBase(ConversionNeuron, BaseNeuron):
    causal = False

    def _set_surrogate(self, surrogate: str | nn.Module, alpha: float | None, scale: float) -> None:
        if alpha is None and surrogate == "rectangular":
            alpha = 1.0 / scale if scale > 0 and math.isfinite(scale) else 1.0
        self.surrogate = resolve_surrogate(surrogate, alpha, type(self).__name__)

    def initial_state(self, x_t: Tensor) -> State:
        return {}

    def _check_steps(self, x_seq: Tensor) -> None:
        if x_seq.shape[0] != self.T:
            raise InputError(
                f"{type(self).__name__}: built for T={self.T} time steps (its per-step buffers have T rows), "
                f"got an input with T={x_seq.shape[0]}"
            )


class ParallelIF(_ParallelBase):
    r"""Parallel spiking neuron with a scalar threshold (official ``ParaInfNeuron``); see the module docstring.

    Args:
        T: time steps (fixes the shape of the buffers ``TxT`` and ``bias``).
        v_threshold: :math:`\theta` (= the QCFS clip :math:`\lambda` in conversion); also the spike amplitude.
        init_mem: :math:`\rho` (0.5: the QCFS shift; makes the neuron lossless w.r.t. QCFS).
        folded: input/output in the time-folded layout ``[T*B, ...]`` (the official models run whole networks
            that way) instead of ``[T, B, ...]``.
        surrogate, alpha: surrogate of the comparison for the backward pass (``alpha=None`` with
            ``rectangular``: :math:`1/\theta`, so the window is :math:`|a - \theta| < \theta/2`).

    Example (``T=4``, :math:`\theta=1`, mean input 0.6): :math:`N = \lfloor 2.4 + 0.5\rfloor = 2`, spikes
    ``1, 1, 0, 0``; a sequential IF neuron fires ``1, 0, 1, 0`` (same count, other order).
    """

    def __init__(
        self,
        T: int = 4,
        v_threshold: float = 1.0,
        init_mem: float = 0.5,
        folded: bool = False,
        surrogate: str | nn.Module = "rectangular",
        alpha: float | None = None,
    ) -> None:
        super().__init__()
        self.T = check_time_steps(T, "ParallelIF")
        if isinstance(v_threshold, Tensor):
            v_threshold = float(v_threshold.detach().reshape(-1)[0])
        self.v_threshold = check_number(v_threshold, "v_threshold", "ParallelIF")
        self.init_mem = check_number(init_mem, "init_mem", "ParallelIF")
        self.fold_T = self.T if folded else None
        # exactly the official expressions (default dtype; .double() converts them like the official ones)
        self.register_buffer("TxT", T / _steps(T).unsqueeze(-1))
        self.register_buffer("bias", (self.init_mem * self.v_threshold) / _steps(T).unsqueeze(-1))
        self._set_surrogate(surrogate, alpha, abs(self.v_threshold))

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        self._check_steps(x_seq)
        T = self.T
        mean = x_seq.reshape(T, -1).mean(dim=0)  # official: x.view(T, -1).mean(dim=0)
        a = self.TxT * mean  # [T, N]: the T potentials, all at once
        a = a.add_(self.bias) if not a.requires_grad else a + self.bias
        spikes = _fire(self.surrogate, a, self.v_threshold, self.v_threshold, x_seq.dtype)
        return spikes.reshape(x_seq.shape), state

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        b = state_dict.get(prefix + "bias")
        if isinstance(b, Tensor) and b.numel() and self.init_mem != 0:
            self.v_threshold = float(b.reshape(-1)[0]) / self.init_mem

    def extra_repr(self) -> str:
        fold = ", folded" if self.fold_T is not None else ""
        return f"T={self.T}, v_threshold={self.v_threshold:.6g}, init_mem={self.init_mem}{fold}"


class ChannelwiseParallelIF(_ParallelBase):
    r"""Channel-wise parallel neuron of distribution-aware conversion (official ``ParaInfNeuron_CW_ND``).

    Buffers (official names and shapes for conv maps, ``ndim=3``): ``pre_th`` ``[C,1,1]`` (firing thresholds
    :math:`\lambda_c`), ``post_th`` ``[C,1,1]`` (spike amplitudes :math:`\lambda_c + \varphi_c`), ``TxT``
    ``[T,1,1,1,1]`` (:math:`T/x`), ``bias`` ``[T,1,C,1,1]`` (:math:`(\rho\lambda_c + T\psi_c)/x`).

    Args:
        T: time steps.
        pre_th: :math:`\lambda_c`: a tensor shaped like one sample's channel layout (``[C,1,1]`` for conv maps,
            ``[C]`` for features), or a number with ``channels`` (and ``ndim``).
        post_bias: :math:`\varphi_c` (amplitude shift, same shape; default 0).
        bias: :math:`\rho\lambda_c + T\psi_c` (default :math:`\lambda_c/2`: no input shift).
        channels, ndim: with a number ``pre_th``: channel count and per-sample rank (3 for ``[C, H, W]``).
        folded, surrogate, alpha: as for :class:`ParallelIF` (``alpha=None``: 1/mean :math:`|\lambda_c|`).
    """

    def __init__(
        self,
        T: int = 4,
        pre_th: float | Tensor = 1.0,
        post_bias: Tensor | None = None,
        bias: Tensor | None = None,
        channels: int | None = None,
        ndim: int = 3,
        folded: bool = False,
        surrogate: str | nn.Module = "rectangular",
        alpha: float | None = None,
    ) -> None:
        super().__init__()
        self.T = check_time_steps(T, "ChannelwiseParallelIF")
        if not isinstance(pre_th, Tensor):
            if channels is None:
                raise ConfigError(
                    "ChannelwiseParallelIF: give pre_th as a per-channel tensor, or a number with channels=C"
                )
            check_positive_int(channels, "channels", "ChannelwiseParallelIF")
            check_positive_int(ndim, "ndim", "ChannelwiseParallelIF")
            pre_th = float(pre_th) * torch.ones((channels,) + (1,) * (ndim - 1))
        pre_th = pre_th.detach().clone()
        if pre_th.dim() < 1 or any(s != 1 for s in pre_th.shape[1:]):
            raise ConfigError(
                f"ChannelwiseParallelIF: pre_th must be shaped [C, 1, ..., 1], got {tuple(pre_th.shape)}"
            )
        if post_bias is None:
            post_bias = torch.zeros_like(pre_th)
        if bias is None:
            bias = 0.5 * pre_th
        nd = pre_th.dim()
        self.register_buffer("pre_th", pre_th)
        self.register_buffer("post_th", pre_th + post_bias.detach().to(pre_th.dtype))
        steps = _steps(T).reshape((T,) + (1,) * (nd + 1))
        self.register_buffer("TxT", T / steps)
        self.register_buffer("bias", bias.detach() / steps)
        self.fold_T = self.T if folded else None
        self._set_surrogate(surrogate, alpha, float(pre_th.abs().mean()))

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        self._check_steps(x_seq)
        if x_seq.dim() != self.pre_th.dim() + 2:
            raise InputError(
                f"ChannelwiseParallelIF: expected [T, B] + {self.pre_th.dim()} per-sample dims (channels "
                f"first, {self.pre_th.shape[0]} of them), got shape {tuple(x_seq.shape)}"
            )
        a = self.TxT * x_seq.mean(dim=0)  # [T, B, C, ...]
        a = a.add_(self.bias) if not a.requires_grad else a + self.bias
        return _fire(self.surrogate, a, self.pre_th, self.post_th, x_seq.dtype), state

    @property
    def channels(self) -> int:
        return int(self.pre_th.shape[0])

    def extra_repr(self) -> str:
        fold = ", folded" if self.fold_T is not None else ""
        return f"T={self.T}, channels={self.channels}{fold}"
