r"""Shared pieces of ANN-to-SNN conversion: the QCFS activation, the conversion IF neuron, and helpers.

Conversion turns a trained ANN into an SNN by replacing every activation by a spiking neuron whose firing rate
approximates (or, under stated conditions, equals) the activation. The pieces here are common to the
conversion plugins (parallel conversion, LM-HT's hybrid pipeline) and to future ones:

:class:`QCFS`
    the quantization-clip-floor-shift activation of Bu et al. (ICLR 2022), the ANN activation that converts
    with (near) zero error: :math:`y = \lambda\,\mathrm{clip}(\lfloor x n / \lambda + \varphi \rfloor / n, 0, 1)`
    with a learnable clip :math:`\lambda`, ``n`` levels and shift :math:`\varphi = 1/2`; the floor passes
    gradients straight through.
:class:`ConversionIF` (registered as neuron ``if_conversion``)
    the IF neuron conversion uses: soft reset, initial membrane :math:`\rho\theta` (:math:`\rho = 1/2`), and
    spikes that carry their amplitude :math:`\theta` (the next layer's weights are used unchanged). It is the
    core :class:`~zoo_core.neurons.IF` (``v_reset=None``, ``v_init=rho*theta``, same ``lif_multistep`` kernel)
    with its output scaled by :math:`\theta`; :math:`\theta` may also be a per-channel tensor.
:class:`ConversionNeuron`
    base class of neurons that replace activations. Besides the zoo's multi-step layout ``[T, B, ...]``
    it accepts the *time-folded* layout ``[T*B, ...]`` (time the outer factor) that the official conversion
    code runs whole networks in, so a converted network keeps the ANN's module tree (and state-dict keys).
:func:`replace_modules`, :func:`wrap_stepwise`, :func:`find_qcfs`, :func:`fold_time` / :func:`unfold_time`
    module-surgery helpers: swap activations for neurons, wrap stateless layers per time step.

The learning-rule side of the contract is :class:`zoo_core.learning.ConversionRule`
(``convert(ann, calibration=None) -> snn`` and a ``record`` of what was done).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .errors import ConfigError, InputError
from .info import Paper
from .layers import StepWise
from .neurons.base import State, check_sequence
from .neurons.lif import IF

__all__ = [
    "QCFS",
    "QCFS_PAPER",
    "ConversionIF",
    "ConversionNeuron",
    "QCFSSite",
    "Replacement",
    "SeqStepWise",
    "find_qcfs",
    "floor_ste",
    "fold_time",
    "is_qcfs",
    "replace_modules",
    "unfold_time",
    "wrap_stepwise",
]

QCFS_PAPER = Paper(
    title="Optimal ANN-SNN Conversion for High-accuracy and Ultra-low-latency Spiking Neural Networks",
    authors=["Bu, Tong", "Fang, Wei", "Ding, Jianhao", "Dai, PengLin", "Yu, Zhaofei", "Huang, Tiejun"],
    venue="ICLR",
    year=2022,
    url="https://openreview.net/forum?id=7B3IJMM1k_M",
)


# ------------------------------------------------------------------------------------------------ QCFS
class _FloorSTE(torch.autograd.Function):
    """``floor`` forward, identity backward (straight-through estimator)."""

    @staticmethod
    def forward(x: Tensor) -> Tensor:
        return x.floor()

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[no-untyped-def]
        pass

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[no-untyped-def]
        return grad_out


def floor_ste(x: Tensor) -> Tensor:
    """:math:`\\lfloor x \\rfloor` with a straight-through (identity) gradient."""
    return _FloorSTE.apply(x)


class QCFS(nn.Module):
    r"""Quantization-clip-floor-shift activation (Bu et al., ICLR 2022).

    .. math::

        y = \lambda \cdot \mathrm{clip}\Big(\frac{\lfloor x\,n/\lambda + \varphi \rfloor}{n},\ 0,\ 1\Big)

    evaluated in exactly the official order of operations ``x / λ``, ``floor(· * n + φ) / n``, ``clamp(0, 1)``,
    ``* λ`` (so float64 results agree bit for bit with the official code). The floor's gradient is the
    identity (straight-through); the gradient reaches :math:`\lambda` through the division and the product.
    Outputs lie in :math:`\{0, \lambda/n, \dots, \lambda\}`. With an IF neuron of threshold :math:`\theta =
    \lambda`, initial membrane :math:`\theta/2` and ``T = n`` steps, a constant input gives exactly the same
    rate (:class:`ConversionIF`); with :math:`\varphi = 1/2` the expected conversion error is zero otherwise.

    Args:
        levels: quantization levels :math:`n` (the official argument ``t``; conversion sets it to the SNN's T).
        threshold: :math:`\lambda`. A number makes a learnable scalar parameter of shape ``[1]``; a tensor
            (e.g. per-channel maxima ``[C, 1, 1]`` in training-free conversion) is stored as a fixed buffer.
        shift: :math:`\varphi` (1/2 in QCFS; 0 gives the floor quantizer without shift).
        param_name: the state-dict name of :math:`\lambda`. The official codes differ: parallel conversion
            calls it ``up``, LM-HT calls it ``thresh``; pick the one whose checkpoints the model must load.
        learnable: for a number ``threshold``: whether :math:`\lambda` is trained.

    Attributes:
        threshold: :math:`\lambda` (the parameter or buffer registered under ``param_name``).
        levels, shift: as given (``t`` is an alias of ``levels``, as in the official code).
    """

    paper = QCFS_PAPER

    def __init__(
        self,
        levels: int = 4,
        threshold: float | Tensor = 8.0,
        shift: float = 0.5,
        param_name: str = "up",
        learnable: bool = True,
    ) -> None:
        super().__init__()
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ConfigError(f"QCFS: levels must be an integer >= 1, got {levels!r}")
        if not isinstance(shift, int | float) or not math.isfinite(shift):
            raise ConfigError(f"QCFS: shift must be a finite number, got {shift!r}")
        if not isinstance(param_name, str) or not param_name.isidentifier():
            raise ConfigError(f"QCFS: param_name must be a Python identifier, got {param_name!r}")
        self.levels = levels
        self.shift = float(shift)
        self.param_name = param_name
        if isinstance(threshold, Tensor):
            self.register_buffer(param_name, threshold.detach().clone())
        else:
            if not isinstance(threshold, int | float) or not math.isfinite(threshold):
                raise ConfigError(f"QCFS: threshold must be a finite number or a tensor, got {threshold!r}")
            self.register_parameter(
                param_name, nn.Parameter(torch.tensor([float(threshold)]), requires_grad=learnable)
            )

    @property
    def threshold(self) -> Tensor:
        return getattr(self, self.param_name)

    @property
    def t(self) -> int:
        """Alias of :attr:`levels` (the official attribute name)."""
        return self.levels

    @t.setter
    def t(self, value: int) -> None:
        self.levels = value

    def forward(self, x: Tensor) -> Tensor:
        lam = self.threshold
        x = x / lam
        x = floor_ste(x * self.levels + self.shift) / self.levels
        x = torch.clamp(x, 0, 1)
        return x * lam

    def extra_repr(self) -> str:
        lam = self.threshold.detach()
        lam_s = f"{float(lam):.4g}" if lam.numel() == 1 else f"tensor{tuple(lam.shape)}"
        return f"levels={self.levels}, {self.param_name}={lam_s}, shift={self.shift}"


@dataclass
class QCFSSite:
    """A QCFS-type activation found in a model (a :class:`QCFS`, or a duck-typed official module)."""

    name: str
    module: nn.Module
    threshold: Tensor
    levels: int


def is_qcfs(module: nn.Module) -> bool:
    """A QCFS activation: a :class:`QCFS`, or an official one (class name containing ``qcfs`` with a level
    attribute ``t`` and its clip named ``up`` or ``thresh``)."""
    if isinstance(module, QCFS):
        return True
    return (
        "qcfs" in type(module).__name__.lower()
        and isinstance(getattr(module, "t", None), int)
        and any(isinstance(getattr(module, n, None), Tensor) for n in ("up", "thresh"))
    )


def qcfs_threshold(module: nn.Module) -> Tensor:
    """:math:`\\lambda` of a QCFS-type module (see :func:`is_qcfs`)."""
    if isinstance(module, QCFS):
        return module.threshold
    for n in ("up", "thresh"):
        v = getattr(module, n, None)
        if isinstance(v, Tensor):
            return v
    raise ConfigError(f"{type(module).__name__} has no QCFS clip parameter ('up' or 'thresh')")


def find_qcfs(model: nn.Module) -> list[QCFSSite]:
    """Every QCFS-type activation in ``model`` (module order)."""
    return [
        QCFSSite(name, m, qcfs_threshold(m), int(m.t))
        for name, m in model.named_modules()
        if name and is_qcfs(m)
    ]


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
      feeds the next one the same scale as the ANN activation did (``zoo.profile`` therefore counts the
      layers they feed as MACs: their inputs hold values outside {0, 1}).
    * ``fold_T``: ``None`` (default) -> the zoo layout, input ``[T, B, ...]``; an int ``T`` -> the
      time-folded layout ``[T*B, ...]`` of the official conversion code (the whole network runs on ``T*B``
      samples with time the outer factor; the neuron unfolds, runs, folds back).
    """

    fold_T: int | None = None

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
    :math:`|H_t - \theta| < \theta/2` (the rectangular window of the conversion papers) and 0 elsewhere.

    Args:
        v_threshold: :math:`\theta`: a number, or a tensor broadcastable to one time step (e.g. per channel
            ``[C, 1, 1]``). Stored as the buffer ``v_threshold`` (shape ``[1]`` for a number, the state-dict
            entry of the official ``IFNeuron``).
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
        theta = torch.as_tensor(v_threshold, dtype=torch.get_default_dtype()).detach().clone()
        if theta.numel() == 0 or not bool(torch.isfinite(theta).all()):
            raise ConfigError(f"ConversionIF: v_threshold must be finite, got {v_threshold!r}")
        if not isinstance(init_mem, int | float) or isinstance(init_mem, bool) or not math.isfinite(init_mem):
            raise ConfigError(f"ConversionIF: init_mem must be a finite number, got {init_mem!r}")
        if fold_T is not None and (isinstance(fold_T, bool) or not isinstance(fold_T, int) or fold_T < 1):
            raise ConfigError(f"ConversionIF: fold_T must be None or an integer >= 1, got {fold_T!r}")
        scalar = theta.numel() == 1 and theta.dim() <= 1
        if alpha is None and surrogate == "rectangular":
            ref = float(theta.abs().mean()) if scalar or theta.numel() else 1.0
            alpha = 1.0 / ref if ref > 0 else 1.0
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
        self.init_mem = float(init_mem)
        self.fold_T = fold_T

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

    def initial_state(self, x_t: Tensor) -> State:
        th = self._theta()
        if isinstance(th, float):
            return {"v": torch.full_like(x_t, self.init_mem * th)}
        return {"v": torch.zeros_like(x_t) + self.init_mem * th.to(x_t.dtype)}

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        from .kernels import dispatch

        th = self._theta()
        per_channel = not isinstance(th, float)
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


# ------------------------------------------------------------------------------------------------ surgery
@dataclass
class Replacement:
    """One module swapped by :func:`replace_modules`."""

    name: str
    old: nn.Module
    new: nn.Module


def _set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, attr = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, attr, module)


def replace_modules(
    model: nn.Module,
    predicate: Callable[[str, nn.Module], bool],
    factory: Callable[[str, nn.Module], nn.Module | None],
) -> list[Replacement]:
    """Replace, in place, every submodule for which ``predicate(name, module)`` holds by
    ``factory(name, module)`` (``None`` keeps it). Matches are collected first (module order) and a matched
    module's children are not visited. Returns what was replaced; the swapped-in module sits at the same
    attribute, so state-dict keys of everything else are unchanged.

    Example: ``replace_modules(ann, lambda n, m: isinstance(m, nn.ReLU), lambda n, m: QCFS(levels=4))``.
    """
    matches: list[tuple[str, nn.Module]] = []
    skip: list[str] = []
    for name, m in model.named_modules():
        if not name or any(name.startswith(s + ".") for s in skip):
            continue
        if predicate(name, m):
            matches.append((name, m))
            skip.append(name)
    done = []
    for name, m in matches:
        new = factory(name, m)
        if new is None or new is m:
            continue
        _set_submodule(model, name, new)
        done.append(Replacement(name, m, new))
    return done


#: layers without time dynamics that :func:`wrap_stepwise` wraps by default
STATELESS_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Linear,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.Flatten,
    nn.Dropout,
)


class SeqStepWise(nn.Sequential):
    """:class:`~zoo_core.layers.StepWise` with the state-dict layout of SpikingJelly's ``SeqToANNContainer``
    (0.0.0.0.14, an ``nn.Sequential``): the wrapped layer's keys gain ``.0`` (``conv1.0.weight`` ->
    ``conv1.0.0.weight``), which is how the official LM-HT checkpoints of converted models are laid out."""

    def forward(self, x: Tensor) -> Tensor:
        t, b = x.shape[:2]
        return super().forward(x.flatten(0, 1)).unflatten(0, (t, b))


def wrap_stepwise(
    model: nn.Module,
    predicate: Callable[[str, nn.Module], bool] | None = None,
    wrapper: Callable[[nn.Module], nn.Module] = StepWise,
) -> list[Replacement]:
    """Wrap stateless layers so they run per time step (``[T, B, ...] -> [T*B, ...]`` around each), in place,
    so an ANN's layers run on a multi-step ``[T, B, ...]`` tensor between neurons (SpikingJelly's
    ``SeqToANNContainer``). ``wrapper``: :class:`~zoo_core.layers.StepWise` (keys gain ``.module``) or
    :class:`SeqStepWise` (keys gain ``.0``, SpikingJelly's layout). Default predicate: instances of
    :data:`STATELESS_LAYERS`. Layers already inside a wrapper are left alone.
    """
    pred = predicate or (lambda n, m: isinstance(m, STATELESS_LAYERS))
    wrappers = (StepWise, SeqStepWise)
    # an existing wrapper matches (so its contents are skipped) and is kept as it is
    return replace_modules(
        model,
        lambda n, m: isinstance(m, wrappers) or pred(n, m),
        lambda n, m: None if isinstance(m, wrappers) else wrapper(m),
    )


def check_conversion_input(x: Tensor, T: int, who: str) -> Tensor:
    """Validate a sequence for a converted network: ``[T, B, ...]`` with the network's ``T``."""
    check_sequence(x, who)
    if x.shape[0] != T:
        raise InputError(f"{who}: this network was converted for T={T} time steps, got T={x.shape[0]}")
    return x
