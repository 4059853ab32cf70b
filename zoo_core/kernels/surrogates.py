r"""Surrogate derivatives: the closed-form :math:`\sigma'_\alpha(x)` of the built-in surrogate spike functions.

The kernels use them directly (fused backward passes); :mod:`zoo_core.neurons.surrogate` wraps each in a module.

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
from torch import Tensor

__all__ = ["SURROGATE_GRADS", "atan_grad", "erf_grad", "rectangular_grad", "sigmoid_grad", "triangular_grad"]


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
