r"""Surrogate gradients: Heaviside forward, a smooth derivative backward.

A spiking neuron fires :math:`S = \Theta(x)` with :math:`x = H - V_{th}` and :math:`\Theta(x) = 1` iff
:math:`x \ge 0` (so a membrane exactly at threshold fires). :math:`\Theta` has no useful derivative; a surrogate
replaces it in the backward pass by :math:`\sigma'_\alpha(x)`, the derivative of a smooth step with sharpness
:math:`\alpha`:

==============  ==============================================================  =========================
name            :math:`\sigma'_\alpha(x)`                                        default :math:`\alpha`
==============  ==============================================================  =========================
``atan``        :math:`\frac{\alpha/2}{1 + (\frac{\pi}{2}\alpha x)^2}`              2 (SpikingJelly ATan)
``sigmoid``     :math:`\alpha\,s(1-s),\ s = \mathrm{sigmoid}(\alpha x)`             4 (SpikingJelly Sigmoid)
``rectangular`` :math:`\alpha\,[\,|x| < \frac{1}{2\alpha}\,]`                       1 (unit area box)
``triangular``  :math:`\max(0,\ \alpha - \alpha^2 |x|)`                             1 (unit area triangle)
``erf``         :math:`\frac{\alpha}{\sqrt{\pi}} e^{-\alpha^2 x^2}` (Gaussian)      2 (SpikingJelly Erf)
==============  ==============================================================  =========================

Every derivative integrates to 1 over the real line, so larger :math:`\alpha` means a sharper, taller bump.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn


def atan_grad(x: Tensor, alpha: float) -> Tensor:
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * x).square())


def sigmoid_grad(x: Tensor, alpha: float) -> Tensor:
    s = torch.sigmoid(alpha * x)
    return alpha * s * (1 - s)


def rectangular_grad(x: Tensor, alpha: float) -> Tensor:
    return alpha * (x.abs() < 1 / (2 * alpha)).to(x.dtype)


def triangular_grad(x: Tensor, alpha: float) -> Tensor:
    return (alpha - alpha * alpha * x.abs()).clamp_min(0)


def erf_grad(x: Tensor, alpha: float) -> Tensor:
    return (alpha / math.sqrt(math.pi)) * torch.exp(-(alpha * x).square())


#: name -> (derivative, default alpha). Kernels look surrogates up here by name.
SURROGATE_GRADS: dict[str, tuple[Callable[[Tensor, float], Tensor], float]] = {
    "atan": (atan_grad, 2.0),
    "sigmoid": (sigmoid_grad, 4.0),
    "rectangular": (rectangular_grad, 1.0),
    "triangular": (triangular_grad, 1.0),
    "erf": (erf_grad, 2.0),
}


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
            raise ValueError(
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
