r"""USP-Gaussian's losses and image metrics.

One training step renders the ``V`` (13) virtual views of one training view, ``img`` ``[V, H, W, 3]``, and runs the
Recon-Net on the ``V`` spike windows, ``rec`` ``[V, H, W, 3]`` (the grey output repeated to 3 channels). With the
long-TFP target ``tfp97`` ``[H, W, 3]`` and the clip ``spike`` ``[T, H, W]`` (T = 177) the loss is

.. math::

    \mathcal L = \mathcal L_{3dgs} + \mathcal L_{scale} + \mathcal L_{spike} + \mathcal L_{joint}

(all weights 1):

* :math:`\mathcal L_{3dgs} = 0.8\,\|\bar{img} - \mathrm{TFP}_{97}\|_1 + 0.2\,(1 - \mathrm{SSIM}(\bar{img},
  \mathrm{TFP}_{97}))`, :math:`\bar{img}` = the mean of the virtual views (the re-blurred render);
* :math:`\mathcal L_{scale} = 0.1\,\mathrm{mean}_n(\max(s_{max}/s_{min}, 10) - 10)` over the Gaussians'
  scales, only on steps divisible by 10;
* :math:`\mathcal L_{spike}` (multi-window blur decomposition): with :math:`m = \lfloor V/2 \rfloor` and
  :math:`k = \lfloor V/4 \rfloor .. m`, views :math:`a = m-k .. b = m+k`, frames :math:`f_a = 40 + a\delta ..
  f_b = 40 + b\delta` (:math:`\delta = \lfloor 96/(V-1) \rfloor`, both ends inclusive):
  :math:`\frac{1}{|k|}\sum_k \|\mathrm{mean}(s_{f_a..f_b}) - \mathrm{mean}(rec_{a..b})\|_1` (means through
  cumulative sums, as the official code);
* :math:`\mathcal L_{joint} = \min(\|img - rec\|_1, \|\mathrm{flip}_t(img) - rec\|_1)` (the rendered sequence
  may run backwards in time relative to the spikes; gradients reach both branches' inputs through the minimum).

:math:`\|\cdot\|_1` is the mean absolute error. SSIM is pytorch_msssim's: an 11-tap Gaussian window
(:math:`\sigma` = 1.5, built in float32), applied separably (rows, then columns) without padding,
:math:`K = (0.01, 0.03)`, data range 1, the mean of the SSIM map per channel, then over channels and images.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor
from zoo_core.sdk import InputError

from .recon import EXPOSURE_SPAN, MARGIN

__all__ = [
    "joint_loss",
    "l1",
    "loss_3dgs",
    "psnr",
    "scale_regulariser",
    "spike_reblur_loss",
    "ssim",
]


def l1(a: Tensor, b: Tensor) -> Tensor:
    """Mean absolute error (broadcasting ``a`` and ``b``)."""
    return torch.abs(a - b).mean()


def _gauss_window(size: int, sigma: float) -> Tensor:
    coords = torch.arange(size, dtype=torch.float)
    coords -= size // 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g /= g.sum()
    return g.unsqueeze(0).unsqueeze(0)


def _filter(x: Tensor, win: Tensor) -> Tensor:
    C = x.shape[1]
    out = x
    for i, s in enumerate(x.shape[2:]):
        if s >= win.shape[-1]:
            out = F.conv2d(out, weight=win.transpose(2 + i, -1), stride=1, padding=0, groups=C)
        else:
            warnings.warn(
                f"ssim: image dimension {2 + i} of {tuple(x.shape)} is smaller than the {win.shape[-1]}-tap window; "
                "that dimension is not smoothed",
                stacklevel=3,
            )
    return out


def ssim(
    x: Tensor,
    y: Tensor,
    *,
    data_range: float = 1.0,
    win_size: int = 11,
    win_sigma: float = 1.5,
    K: tuple[float, float] = (0.01, 0.03),
) -> Tensor:
    r"""SSIM of images ``[N, C, H, W]`` (mean over the map, channels and images), as pytorch_msssim's ``SSIM``:

    .. math:: \mathrm{SSIM} = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}{(\mu_x^2 + \mu_y^2 + C_1)
              (\sigma_x^2 + \sigma_y^2 + C_2)}, \quad C_i = (K_i R)^2

    with Gaussian-weighted local statistics (valid positions only)."""
    if x.shape != y.shape or x.dim() != 4:
        raise InputError(
            f"ssim: expected two images [N, C, H, W] of one shape, got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    C = x.shape[1]
    win = _gauss_window(win_size, win_sigma).repeat([C, 1, 1, 1]).to(x.device, dtype=x.dtype)
    c1, c2 = (K[0] * data_range) ** 2, (K[1] * data_range) ** 2
    mu1, mu2 = _filter(x, win), _filter(y, win)
    mu1_sq, mu2_sq, mu1_mu2 = mu1.pow(2), mu2.pow(2), mu1 * mu2
    s1 = 1.0 * (_filter(x * x, win) - mu1_sq)
    s2 = 1.0 * (_filter(y * y, win) - mu2_sq)
    s12 = 1.0 * (_filter(x * y, win) - mu1_mu2)
    cs_map = (2 * s12 + c2) / (s1 + s2 + c2)
    ssim_map = ((2 * mu1_mu2 + c1) / (mu1_sq + mu2_sq + c1)) * cs_map
    return torch.flatten(ssim_map, 2).mean(-1).mean()


def _hwc(img: Tensor) -> Tensor:
    """``[H, W, C]`` -> ``[1, C, H, W]``."""
    return img.permute(2, 0, 1)[None, ...]


def loss_3dgs(rgb_blur: Tensor, target: Tensor, ssim_lambda: float = 0.2) -> Tensor:
    r""":math:`(1 - \lambda)\,\|a - b\|_1 + \lambda\,(1 - \mathrm{SSIM}(a, b))` of two ``[H, W, 3]`` images
    (:math:`\lambda` = 0.2): the re-blurred render against the long-TFP target."""
    if rgb_blur.dim() != 3 or rgb_blur.shape != target.shape:
        raise InputError(
            f"loss_3dgs: expected two [H, W, C] images of one shape, got {tuple(rgb_blur.shape)}, {tuple(target.shape)}"
        )
    ll1 = torch.abs(rgb_blur - target).mean()
    sim = 1 - ssim(_hwc(rgb_blur), _hwc(target))
    return (1 - ssim_lambda) * ll1 + ssim_lambda * sim


def scale_regulariser(log_scales: Tensor, step: int, max_ratio: float = 10.0, every: int = 10) -> Tensor:
    r""":math:`0.1\,\mathrm{mean}_n(\max(s_{max}/s_{min}, r) - r)` with :math:`s = e^{\text{log\_scales}}` and
    :math:`r` = 10, on steps with ``step % every == 0``; 0 otherwise."""
    if step % every != 0:
        return torch.tensor(0.0, dtype=log_scales.dtype, device=log_scales.device)
    s = torch.exp(log_scales)
    ratio = torch.maximum(s.amax(dim=-1) / s.amin(dim=-1), torch.tensor(max_ratio, dtype=s.dtype))
    return 0.1 * (ratio - max_ratio).mean()


def spike_reblur_loss(spike: Tensor, rec: Tensor, margin: int = MARGIN, span: int = EXPOSURE_SPAN) -> Tensor:
    r"""The multi-window blur-decomposition loss of the ``V`` Recon-Net images ``rec`` ``[V, H, W, C]`` against the
    spike clip ``spike`` ``[T, H, W]`` (module docstring; windows for V = 13: views 3..9 / frames 64..112,
    2..10 / 56..120, 1..11 / 48..128, 0..12 / 40..136)."""
    if spike.dim() != 3 or rec.dim() != 4 or rec.shape[1:3] != spike.shape[1:]:
        raise InputError(
            f"spike_reblur_loss: expected spike [T, H, W] and rec [V, H, W, C] of one image size, got "
            f"{tuple(spike.shape)}, {tuple(rec.shape)}"
        )
    V = rec.shape[0]
    if V < 2:
        raise InputError(f"spike_reblur_loss: needs at least 2 virtual views, got {V}")
    stride = span // (V - 1)
    s = spike[..., None].to(rec.dtype)
    s_cum = torch.cumsum(s, dim=0)
    r_cum = torch.cumsum(rec, dim=0)
    mid = V // 2
    total = rec.new_zeros(())
    n = 0
    for k in range(V // 4, V // 2 + 1):
        a, b = mid - k, mid + k
        fa, fb = margin + a * stride, margin + b * stride
        if fa < 1 or fb >= spike.shape[0]:
            raise InputError(
                f"spike_reblur_loss: frames {fa}..{fb} do not fit a clip of {spike.shape[0]} frames"
            )
        spike_blur = (s_cum[fb] - s_cum[fa - 1]) / (fb - fa + 1)
        if a == 0:
            reblur = r_cum[b] / (b + 1)
        else:
            reblur = (r_cum[b] - r_cum[a - 1]) / (b - a + 1)
        total = total + l1(spike_blur, reblur)
        n += 1
    return total / n


def joint_loss(img: Tensor, rec: Tensor, flip: bool = True) -> Tensor:
    r""":math:`\min(\|img - rec\|_1, \|\mathrm{flip}_t(img) - rec\|_1)` of two ``[V, H, W, C]`` sequences
    (``flip=False``: the first term only)."""
    if img.shape != rec.shape:
        raise InputError(
            f"joint_loss: expected two sequences of one shape, got {tuple(img.shape)}, {tuple(rec.shape)}"
        )
    forward = l1(img, rec)
    if not flip:
        return forward
    backward = l1(torch.flip(img, [0]), rec)
    return forward if not bool(backward < forward) else backward


def psnr(pred: Tensor, target: Tensor, data_range: float = 1.0) -> float:
    r""":math:`10 \log_{10}(R^2 / \mathrm{MSE})` over all elements, in float64 (``inf`` when equal)."""
    mse = float((pred.double() - target.double()).square().mean())
    return math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)
