r"""The QCFS activation of ANN-to-SNN conversion (Bu et al., ICLR 2022) and how to find it in a model.

:class:`QCFS`
    the quantization-clip-floor-shift activation, the ANN activation that converts with (near) zero error:
    :math:`y = \lambda\,\mathrm{clip}(\lfloor x n / \lambda + \varphi \rfloor / n, 0, 1)` with a learnable clip
    :math:`\lambda`, ``n`` levels and shift :math:`\varphi = 1/2`; the floor passes gradients straight through.
:func:`find_qcfs`, :func:`is_qcfs`, :func:`qcfs_threshold`
    locate QCFS-type activations (this one, or an official module duck-typed by its attributes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..neurons.conversion import QCFS_PAPER

__all__ = ["QCFS", "QCFSSite", "find_qcfs", "floor_ste", "is_qcfs", "qcfs_threshold"]


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
