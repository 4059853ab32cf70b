r"""The metrics of the two tasks, computed in float64.

Retina encoding (predicted rates :math:`\hat r` and recorded responses :math:`r`, ``[N, cells]``, per cell over
the :math:`N` time bins, then averaged over cells):

* CC: Pearson's :math:`\rho_c = \frac{\sum_n (\hat r_{nc} - \bar{\hat r}_c)(r_{nc} - \bar r_c)}
  {\sqrt{\sum_n (\hat r_{nc} - \bar{\hat r}_c)^2 \sum_n (r_{nc} - \bar r_c)^2}}` (``scipy.stats.pearsonr``
  of the official test code; a cell whose prediction or response is constant has no CC and is left out);
* population CC: Pearson of the population-mean rates :math:`\frac{1}{C}\sum_c \hat r_{nc}` and
  :math:`\frac{1}{C}\sum_c r_{nc}`;
* FEV (fraction of explained variance): :math:`1 - \mathrm{MSE}_c / \mathrm{Var}_c(r)` (population variance);
* RMSE: :math:`\sqrt{\mathrm{MSE}_c}`;
* Poisson loss (Keras ``poisson``): :math:`\mathrm{mean}(\hat r - r \ln(\hat r + 10^{-7}))`, minimised at
  :math:`\hat r = r` (its derivative is :math:`1 - r / (\hat r + 10^{-7})`).

:func:`cc_yan2020` is the variant of Yan et al. 2020's code, *not* Pearson (0.01 added to every deviation,
clipped to [-1, 1]); the zoo reports exact Pearson.

Spike-image decoding (per image, then averaged over images, as the SID code's scikit-image < 0.19 calls on float
images): MSE = mean squared error over pixels; PSNR = :math:`10 \log_{10}(1 / \mathrm{MSE})` (data range 1: the
true images are in [0, 1]); SSIM: :func:`ssim` (7x7 uniform window, sample covariance, data range 2 = the float
dtype range, no clipping of the prediction, mean over channels).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from zoo_core.sdk import InputError

__all__ = [
    "POISSON_EPSILON",
    "cc_per_cell",
    "cc_yan2020",
    "fev",
    "image_metrics",
    "pearson",
    "poisson_loss",
    "population_cc",
    "retina_metrics",
    "rmse",
    "ssim",
]

#: Keras' epsilon in the Poisson loss
POISSON_EPSILON = 1e-7


def _pair(pred: Tensor, target: Tensor, who: str) -> tuple[Tensor, Tensor]:
    pred, target = torch.as_tensor(pred).double(), torch.as_tensor(target).double()
    if pred.shape != target.shape or pred.dim() != 2:
        raise InputError(
            f"{who}: needs predictions and responses of the same shape [N, cells], got {tuple(pred.shape)} "
            f"and {tuple(target.shape)}"
        )
    return pred, target


def pearson(x: Tensor, y: Tensor) -> Tensor:
    """Pearson correlation along dim 0 (``[N, ...]`` -> ``[...]``); NaN where either series is constant."""
    xm, ym = x - x.mean(0), y - y.mean(0)
    den = (xm.square().sum(0) * ym.square().sum(0)).sqrt()
    return torch.where(den > 0, (xm * ym).sum(0) / den.clamp_min(1e-300), torch.full_like(den, math.nan))


def cc_per_cell(pred: Tensor, target: Tensor) -> Tensor:
    """``[cells]``: Pearson's CC of each cell's predicted and recorded rates over time (NaN if constant)."""
    return pearson(*_pair(pred, target, "cc_per_cell"))


def population_cc(pred: Tensor, target: Tensor) -> float:
    """Pearson's CC of the population-mean rate."""
    p, t = _pair(pred, target, "population_cc")
    return float(pearson(p.mean(1), t.mean(1)))


def fev(pred: Tensor, target: Tensor) -> Tensor:
    """``[cells]``: fraction of explained variance ``1 - MSE / Var(target)`` (population variance)."""
    p, t = _pair(pred, target, "fev")
    return 1.0 - (p - t).square().mean(0) / t.var(0, correction=0)


def rmse(pred: Tensor, target: Tensor) -> Tensor:
    """``[cells]``: root mean squared error over time."""
    p, t = _pair(pred, target, "rmse")
    return (p - t).square().mean(0).sqrt()


def poisson_loss(pred: Tensor, target: Tensor) -> Tensor:
    r"""Keras' Poisson loss :math:`\mathrm{mean}(\hat r - r \ln(\hat r + 10^{-7}))` (differentiable; any shape)."""
    return (pred - target * torch.log(pred + POISSON_EPSILON)).mean()


def cc_yan2020(pred: Tensor, target: Tensor) -> Tensor:
    r"""``[cells]``: the "cc" of Yan et al. 2020's code, :math:`\sum x_m y_m / \sqrt{\sum (x_m + 0.01)^2
    \sum (y_m + 0.01)^2}` clipped to [-1, 1] (:math:`x_m, y_m` the deviations from the means). Not Pearson."""
    p, t = _pair(pred, target, "cc_yan2020")
    xm, ym = p - p.mean(0), t - t.mean(0)
    r = (xm * ym).sum(0) / ((xm + 0.01).square().sum(0) * (ym + 0.01).square().sum(0)).sqrt()
    return r.clamp(-1.0, 1.0)


def _nanmean(x: Tensor) -> float:
    ok = ~torch.isnan(x)
    return float(x[ok].mean()) if bool(ok.any()) else math.nan


def retina_metrics(pred: Tensor, target: Tensor) -> dict[str, float]:
    """``cc`` (mean over cells with a defined CC), ``cc_population``, ``fev``, ``rmse`` (means over cells) and
    ``poisson_loss`` of predicted vs recorded rates ``[N, cells]``."""
    p, t = _pair(pred, target, "retina_metrics")
    return {
        "cc": _nanmean(pearson(p, t)),
        "cc_population": float(pearson(p.mean(1), t.mean(1))),
        "fev": _nanmean(fev(p, t)),
        "rmse": float(rmse(p, t).mean()),
        "poisson_loss": float(poisson_loss(p, t)),
    }


# ------------------------------------------------------------------------------------------------ images
def ssim(x: Tensor, y: Tensor, win_size: int = 7, data_range: float = 2.0) -> Tensor:
    r"""``[N]``: SSIM of images ``x`` (the true ones) and ``y`` ``[N, H, W, C]``, as scikit-image's
    ``compare_ssim(x, y, multichannel=True)`` (< 0.19) on float images.

    Per channel, with the means :math:`\mu`, sample variances and covariance (factor :math:`n / (n - 1)`,
    :math:`n` = 49) over a 7x7 window, :math:`C_1 = (0.01 R)^2`, :math:`C_2 = (0.03 R)^2`, :math:`R` = 2:

    .. math:: \mathrm{SSIM} = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
              {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)},

    averaged over the window positions fully inside the image, then over channels. No clipping.
    """
    x, y = torch.as_tensor(x).double(), torch.as_tensor(y).double()
    if x.shape != y.shape or x.dim() != 4:
        raise InputError(
            f"ssim: needs two [N, H, W, C] image batches of one shape, got {x.shape} and {y.shape}"
        )
    n, h, w, c = x.shape
    if h < win_size or w < win_size:
        raise InputError(f"ssim: images of {h}x{w} are smaller than the {win_size}x{win_size} window")
    a = x.permute(0, 3, 1, 2).reshape(n * c, 1, h, w)
    b = y.permute(0, 3, 1, 2).reshape(n * c, 1, h, w)

    def filt(z: Tensor) -> Tensor:
        return F.avg_pool2d(z, win_size, stride=1)

    cov = win_size**2 / (win_size**2 - 1)
    ua, ub = filt(a), filt(b)
    va = cov * (filt(a * a) - ua * ua)
    vb = cov * (filt(b * b) - ub * ub)
    vab = cov * (filt(a * b) - ua * ub)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ua * ub + c1) * (2 * vab + c2)) / ((ua * ua + ub * ub + c1) * (va + vb + c2))
    return s.mean((1, 2, 3)).view(n, c).mean(1)


def image_metrics(pred: Tensor, target: Tensor) -> dict[str, Tensor]:
    """Per-image ``mse``, ``psnr`` (data range 1) and ``ssim`` ``[N]`` of ``pred`` vs the true ``target``
    ``[N, H, W, C]``."""
    p, t = torch.as_tensor(pred).double(), torch.as_tensor(target).double()
    if p.shape != t.shape or p.dim() != 4:
        raise InputError(
            f"image_metrics: needs [N, H, W, C] batches of one shape, got {p.shape} and {t.shape}"
        )
    mse = (p - t).square().mean((1, 2, 3))
    psnr = torch.where(mse > 0, 10 * torch.log10(1.0 / mse.clamp_min(1e-300)), torch.full_like(mse, math.inf))
    return {"mse": mse, "psnr": psnr, "ssim": ssim(t, p)}
