r"""Surrogate spike functions: Heaviside forward, a smooth derivative backward (one module per function).

The derivatives and their defaults are listed in :mod:`zoo_core.kernels.surrogates`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..kernels.surrogates import SURROGATE_GRADS


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward (``x >= 0``), ``grad * derivative(x, alpha)`` backward."""

    @staticmethod
    def forward(x: Tensor, alpha: float, derivative: Callable[[Tensor, float], Tensor]) -> Tensor:
        return (x >= 0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):  # type: ignore[no-untyped-def]
        x, alpha, derivative = inputs
        ctx.save_for_backward(x)
        ctx.alpha, ctx.derivative = alpha, derivative

    @staticmethod
    def backward(ctx, grad_out: Tensor):  # type: ignore[no-untyped-def]
        (x,) = ctx.saved_tensors
        return grad_out * ctx.derivative(x, ctx.alpha), None, None


class Surrogate(nn.Module):
    """A surrogate spike function: ``S = surrogate(H - v_th)``.

    Args:
        alpha: sharpness :math:`\\alpha` of the derivative (see the module docstring); ``None`` takes the
            function's default.
    """

    name: str = ""
    default_alpha: float = 1.0

    def __init__(self, alpha: float | None = None):
        super().__init__()
        self.alpha = float(self.default_alpha if alpha is None else alpha)
        if not math.isfinite(self.alpha) or self.alpha <= 0:
            raise ConfigError(
                f"surrogate {self.name!r}: alpha must be a positive finite number, got {alpha!r}"
            )

    @staticmethod
    def grad(x: Tensor, alpha: float) -> Tensor:
        """Subclasses define the derivative :math:`\\sigma'_\\alpha(x)` here."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return _SpikeFunction.apply(x, self.alpha, type(self).grad)

    def derivative(self, x: Tensor) -> Tensor:
        """The analytic surrogate derivative :math:`\\sigma'_\\alpha(x)` used in the backward pass."""
        return type(self).grad(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


def _make(name: str, doc: str) -> type[Surrogate]:
    grad, default_alpha = SURROGATE_GRADS[name]
    attrs = {"name": name, "default_alpha": default_alpha, "grad": staticmethod(grad), "__doc__": doc}
    cls = type(name.capitalize(), (Surrogate,), attrs)
    cls.__module__ = __name__
    return cls


ATan = _make("atan", "Arctangent surrogate: derivative (alpha/2) / (1 + (pi/2 * alpha * x)^2).")
Sigmoid = _make("sigmoid", "Sigmoid surrogate: derivative alpha * s * (1 - s), s = sigmoid(alpha * x).")
Rectangular = _make("rectangular", "Rectangular surrogate: derivative alpha on |x| < 1/(2 alpha), else 0.")
Triangular = _make("triangular", "Triangular surrogate: derivative max(0, alpha - alpha^2 |x|).")
Erf = _make("erf", "Gaussian (erf) surrogate: derivative alpha/sqrt(pi) * exp(-(alpha x)^2).")

SURROGATES: dict[str, type[Surrogate]] = {c.name: c for c in (ATan, Sigmoid, Rectangular, Triangular, Erf)}
