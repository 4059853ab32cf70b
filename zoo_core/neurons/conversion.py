r"""The neuron of ANN-to-SNN conversion and the time-folded layout of official conversion code.

:class:`ConversionIF` (registered as neuron ``if_conversion``)
    the IF neuron conversion uses: soft reset, initial membrane :math:`\rho\theta` (:math:`\rho = 1/2`), and
    spikes that carry their amplitude :math:`\theta` (the next layer's weights are used unchanged). It is the
    core :class:`~zoo_core.neurons.IF` (``v_reset=None``, ``v_init=rho*theta``, same ``lif_multistep`` kernel)
    with its output scaled by :math:`\theta`; :math:`\theta` may also be a per-channel tensor.
:class:`ConversionNeuron`
    base class of neurons that replace activations. Besides the zoo's multi-step layout ``[T, B, ...]``
    it accepts the *time-folded* layout ``[T*B, ...]`` (time the outer factor) that the official conversion
    code runs whole networks in, so a converted network keeps the ANN's module tree (and state-dict keys).
:func:`fold_time` / :func:`unfold_time`
    the two layouts.

The QCFS activation and the module surgery that turns an ANN into an SNN are in :mod:`zoo_core.layers.qcfs`
and :mod:`zoo_core.layers.surgery`; the learning-rule contract in :class:`zoo_core.learning.ConversionRule`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError, InputError
from ..info import Paper
from ..kernels import dispatch
from .base import State, check_sequence
from .lif import IF

__all__ = [
    "QCFS_PAPER",
    "ConversionIF",
    "ConversionNeuron",
    "check_conversion_input",
    "fold_time",
    "unfold_time",
]

QCFS_PAPER = Paper(
    title="Optimal ANN-SNN Conversion for High-accuracy and Ultra-low-latency Spiking Neural Networks",
    authors=["Bu, Tong", "Fang, Wei", "Ding, Jianhao", "Dai, PengLin", "Yu, Zhaofei", "Huang, Tiejun"],
    venue="ICLR",
    year=2022,
    url="https://openreview.net/forum?id=7B3IJMM1k_M",
)


# ------------------------------------------------------------------------------------------------ layouts
def fold_time(x: Tensor) -> Tensor:
    """``[T, B, ...] -> [T*B, ...]`` (time the outer factor), the layout official conversion code runs in."""
    return x.flatten(0, 1)


def unfold_time(x: Tensor, T: int, who: str = "unfold_time") -> Tensor:
    """``[T*B, ...] -> [T, B, ...]``; raises :class:`InputError` if the batch is not a multiple of ``T``."""
    if x.dim() < 1 or x.shape[0] % T != 0 or x.shape[0] == 0:
        raise InputError(
            f"{who}: a time-folded input [T*B, ...] needs a first dimension that is a positive multiple of "
            f"T={T}, got shape {tuple(x.shape)}"
        )
    return x.unflatten(0, (T, x.shape[0] // T))


# ------------------------------------------------------------------------------------------------ neurons
class ConversionNeuron(nn.Module):
    """Mixin for neurons that replace ANN activations (use it with :class:`~zoo_core.neurons.BaseNeuron`).

    * Spikes carry an amplitude (the threshold :math:`\\theta`, possibly per channel), so a converted layer
      feeds the next one the same scale as the ANN activation did. The spikes are ``spike_kind = "graded"``:
      ``zoo.profile`` counts each non-zero one as an event (SOPs of its fan-out), as for a deployment that folds
      the amplitude into the next layer's weights.
    * ``fold_T``: ``None`` (default) -> the zoo layout, input ``[T, B, ...]``; an int ``T`` -> the
      time-folded layout ``[T*B, ...]`` of the official conversion code (the whole network runs on ``T*B``
      samples with time the outer factor; the neuron unfolds, runs, folds back).
    """

    fold_T: int | None = None
    spike_kind: str = "graded"

    def forward(self, x: Tensor) -> Tensor:
        if self.fold_T is None:
            return super().forward(x)  # type: ignore[misc]
        if not isinstance(x, Tensor):
            raise InputError(f"{type(self).__name__}: expected a tensor, got {type(x).__name__}")
        return fold_time(super().forward(unfold_time(x, self.fold_T, type(self).__name__)))  # type: ignore[misc]


class ConversionIF(ConversionNeuron, IF):
    r"""Integrate-and-fire neuron for ANN-to-SNN conversion (soft reset, initial membrane
    :math:`\rho\theta`, spikes of amplitude :math:`\theta`).

    Multi-step on ``[T, B, ...]`` (or the folded ``[T*B, ...]`` with ``fold_T=T``), per element:

    .. math::

        V_0 = \rho\theta, \qquad H_t = V_{t-1} + X_t, \qquad
        S_t = \theta\,\Theta(H_t - \theta), \qquad V_t = H_t - S_t

    which is :class:`~zoo_core.neurons.IF` with ``v_reset=None`` (reset by subtraction) and
    ``v_init = rho*theta``, its 0/1 spikes multiplied by :math:`\theta` (same ``lif_multistep`` kernel). This
    is the neuron of QCFS conversion (Bu et al. 2022; ``modules.IFNeuron`` in the LM-HT and parallel-conversion
    code, which build it with ``init_mem = 0.5``). For a constant input :math:`x` over ``T = n`` steps,
    :math:`\frac1T\sum_t S_t = \mathrm{QCFS}_{\lambda=\theta, n}(x)` exactly; for time-varying input
    (deeper layers) only approximately.

    Backward: the surrogate is applied to :math:`H_t - \theta`. The default ``rectangular`` surrogate with
    ``alpha=None`` uses :math:`\alpha = 1/\theta`, so :math:`\partial S_t/\partial H_t = 1` on
    :math:`|H_t - \theta| < \theta/2` (the rectangular window of the conversion papers) and 0 elsewhere. It
    follows the threshold the neuron holds at each call, as the official ``IFNeuron``'s window does: a loaded
    state dict or an edited buffer moves the window with it (a per-channel threshold: :math:`\alpha` from the
    mean :math:`|\theta|`).

    Args:
        v_threshold: :math:`\theta`: a number, or a tensor broadcastable to one time step (e.g. per channel
            ``[C, 1, 1]``). Stored as the buffer ``v_threshold`` (shape ``[1]`` for a number, the state-dict
            entry of the official ``IFNeuron``), in the default dtype for a number and in the tensor's own
            floating dtype for a tensor. A number is also kept exactly: casting the neuron to float64 (built
            under float32, then ``.double()``) restores it in the buffer, not its float32 rounding, as the
            official ``IFNeuron`` keeps its Python float; a loaded state dict's value replaces the number.
        init_mem: :math:`\rho`, the initial membrane as a fraction of the threshold (0.5 in conversion).
        fold_T: ``None`` for ``[T, B, ...]`` input; ``T`` for the time-folded ``[T*B, ...]`` layout.
        surrogate, alpha: registered surrogate name (or module) and its sharpness (see above for ``None``).
        detach_reset, kernel: as for :class:`~zoo_core.neurons.IF` (a per-channel threshold always uses the
            reference kernel).
    """

    paper = QCFS_PAPER

    def __init__(
        self,
        v_threshold: float | Tensor = 1.0,
        init_mem: float = 0.5,
        fold_T: int | None = None,
        surrogate: str | nn.Module = "rectangular",
        alpha: float | None = None,
        detach_reset: bool = False,
        kernel: str | None = None,
    ) -> None:
        number = not isinstance(v_threshold, Tensor)
        keep = not number and v_threshold.is_floating_point()  # a float tensor keeps its dtype (as official)
        dtype = v_threshold.dtype if keep else torch.get_default_dtype()  # type: ignore[union-attr]
        theta = torch.as_tensor(v_threshold, dtype=dtype).detach().clone()
        if theta.numel() == 0 or not bool(torch.isfinite(theta).all()):
            raise ConfigError(f"ConversionIF: v_threshold must be finite, got {v_threshold!r}")
        if not isinstance(init_mem, int | float) or isinstance(init_mem, bool) or not math.isfinite(init_mem):
            raise ConfigError(f"ConversionIF: init_mem must be a finite number, got {init_mem!r}")
        if fold_T is not None and (isinstance(fold_T, bool) or not isinstance(fold_T, int) or fold_T < 1):
            raise ConfigError(f"ConversionIF: fold_T must be None or an integer >= 1, got {fold_T!r}")
        scalar = theta.numel() == 1 and theta.dim() <= 1
        auto_alpha = alpha is None and surrogate == "rectangular"
        if auto_alpha:
            alpha = _window_alpha(theta)
        IF.__init__(
            self,
            v_threshold=float(theta.reshape(-1)[0]) if scalar else 1.0,
            v_reset=None,
            detach_reset=detach_reset,
            surrogate=surrogate,
            alpha=alpha,
            kernel=kernel,
        )
        del self.v_threshold  # the float attribute of IF: here a buffer (saved with the model)
        self.register_buffer("v_threshold", theta.reshape(1) if scalar else theta)
        # the exact number (the buffer may hold it rounded to float32): restored by a cast to float64 (_apply)
        self._exact_threshold: float | None = (
            float(torch.as_tensor(v_threshold, dtype=torch.float64, device="cpu").reshape(-1)[0])
            if number and scalar
            else None
        )
        self.init_mem = float(init_mem)
        self.fold_T = fold_T
        self._auto_alpha = auto_alpha  # alpha = 1/theta, refreshed from the threshold at every call

    @property
    def v_init(self) -> None:  # type: ignore[override]
        return (
            None  # the initial state is rho * theta (a tensor for a per-channel threshold); see initial_state
        )

    @v_init.setter
    def v_init(self, value: Any) -> None:
        pass

    def _theta(self) -> Tensor | float:
        th = self.v_threshold
        return float(th) if th.numel() == 1 else th

    def _apply(self, fn: Any, *args: Any, **kwargs: Any) -> ConversionIF:
        """``Module._apply`` (``.to``, ``.double()``, ...); a float64 threshold that holds the constructor's
        number rounded to float32 (built under the default float32 dtype, then ``.double()``) gets the exact
        number back, as the official ``IFNeuron`` keeps its Python float."""
        super()._apply(fn, *args, **kwargs)
        th, exact = self.v_threshold, getattr(self, "_exact_threshold", None)  # None: pickled by older code
        if (
            exact is not None
            and th.dtype == torch.float64
            and not th.is_meta
            and float(th) == _round_float32(exact)
        ):
            self._buffers["v_threshold"] = torch.full_like(th, exact)  # a new tensor, as Module._apply makes
        return self

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        if prefix + "v_threshold" in state_dict:
            self._exact_threshold = None  # the loaded value is the threshold from now on
        super()._load_from_state_dict(state_dict, prefix, *args)

    def initial_state(self, x_t: Tensor) -> State:
        th = self._theta()
        if isinstance(th, float):
            return {"v": torch.full_like(x_t, self.init_mem * th)}
        return {"v": torch.zeros_like(x_t) + self.init_mem * th.to(x_t.dtype)}

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        th = self._theta()
        per_channel = not isinstance(th, float)
        if getattr(self, "_auto_alpha", False):  # absent: pickled by older code
            self.surrogate.alpha = _window_alpha(th)
        spikes, v = dispatch(
            "lif_multistep",
            x_seq,
            state["v"],
            kernel="reference" if per_channel and self.kernel is None else self.kernel,
            v_threshold=th.to(x_seq.dtype) if per_channel else th,
            v_reset=None,
            detach_reset=self.detach_reset,
            surrogate=self.surrogate,
            **self._charge_kwargs(),
        )
        return spikes * (th.to(x_seq.dtype) if per_channel else th), {"v": v}

    def extra_repr(self) -> str:
        th = self.v_threshold
        th_s = f"{float(th):.4g}" if th.numel() == 1 else f"tensor{tuple(th.shape)}"
        fold = "" if self.fold_T is None else f", fold_T={self.fold_T}"
        return f"v_threshold={th_s}, init_mem={self.init_mem}, soft reset{fold}"


def _window_alpha(theta: Tensor | float) -> float:
    """:math:`\alpha = 1/|\theta|` of the rectangular window :math:`|H - \theta| < \theta/2` (the mean
    :math:`|\theta|` of a per-channel threshold; 1 for a zero threshold)."""
    ref = abs(theta) if isinstance(theta, float) else float(theta.detach().abs().mean())
    return 1.0 / ref if ref > 0 else 1.0


def _round_float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (as a buffer made under the default float32 dtype holds it)."""
    return float(torch.tensor(value, dtype=torch.float32, device="cpu"))


def check_conversion_input(x: Tensor, T: int, who: str) -> Tensor:
    """Validate a sequence for a converted network: ``[T, B, ...]`` with the network's ``T``."""
    check_sequence(x, who)
    if x.shape[0] != T:
        raise InputError(f"{who}: this network was converted for T={T} time steps, got T={x.shape[0]}")
    return x
