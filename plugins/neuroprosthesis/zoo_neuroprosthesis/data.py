r"""The plugin's data sets: synthetic retinal ganglion cells for the encoders, digits as spikes for the decoder.

``retina_white_noise`` (task ``retina-encoding``)
    8x8 binary white noise (pixels :math:`\pm 0.5`, one frame per bin) seen by 2 simulated OFF cells. Each cell
    sums 4 rectified subunits; subunit :math:`j` is a Gaussian spatial filter (:math:`\sigma = 0.7` px) times
    the shared biphasic OFF temporal filter :func:`~zoo_neuroprosthesis.simulator.difference_of_gammas`:
    :math:`z = \sum_j \max(0, u_j)`; the rate is :math:`\mathrm{softplus}(2(\hat z - 0.5))` of the drive
    z-scored with the training sequence's mean and std, and the responses are Poisson counts of that rate.
    Sample :math:`n`: frames :math:`n .. n+T-1` (the window excludes the predicted bin) -> counts and true rates
    at bin :math:`n + T`.
``retina_snn``
    the same kind of samples from the authors' 3-layer spiking retina (:class:`RetinaSimulator`): 8x8 binary
    checkerboard, responses = spike counts of the two layer-2 LIF cells and the layer-3 cell per 40 ms frame
    (no true rate: the cells are spiking neurons).
``digits_spikes`` (task ``spike-image-decoding``)
    scikit-learn's 8x8 digits (the core's ``digits`` split) shown to a population of ``num_cells`` simulated
    linear-nonlinear cells with Gaussian receptive fields (random centres, :math:`\sigma` 1-2 px, ON or OFF):
    counts are Poisson with rate :math:`g\,\mathrm{softplus}(4 (\langle w, x \rangle - 0.1))`, gain :math:`g`
    = 10 (7.2 spikes per cell and image on average), min-max scaled per cell with the training split's extremes (as the SID code scales
    recorded counts);
    targets are the digits up-sampled bilinearly (half-pixel centres, as OpenCV's ``resize``) to
    ``img_size`` (32), in [0, 1], channels-last ``[S, S, 1]``.

Every split is a deterministic function of its arguments (``seed``); train and test draw different stimuli.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
import zoo_core as zoo
from torch import Tensor
from torch.utils.data import Dataset
from zoo_core.sdk import ConfigError, check_choice, check_positive, check_positive_int

from .simulator import RetinaSimulator, checkerboard, difference_of_gammas, temporal_filter

__all__ = ["DATASETS", "RetinaWindows", "SpikeImages", "digits_spikes", "retina_snn", "retina_white_noise"]

SPLITS = ("train", "test")


class RetinaWindows(Dataset):
    """Stimulus windows and the responses that follow them.

    Sample ``n``: ``x`` = frames ``n .. n+T-1`` as ``[H, W, T]`` (``layout="hwt"``, the Zheng models) or
    ``[T, H, W]`` (``"thw"``, deep-retina), ``y`` = response counts ``[cells]`` at frame ``n + T``, and, when the
    data have them, ``rate`` = the true rates ``[cells]`` there. Items are ``(x, y)`` or ``(x, y, rate)``.
    """

    def __init__(
        self,
        frames: Tensor,
        counts: Tensor,
        rates: Tensor | None,
        T: int,
        layout: str,
        config: dict[str, Any],
    ) -> None:
        self.frames, self.counts, self.rates = frames, counts, rates
        self.T = check_positive_int(T, "T", "RetinaWindows")
        self.layout = check_choice(layout, "layout", "RetinaWindows", ("hwt", "thw"))
        if frames.shape[0] != counts.shape[0] or frames.shape[0] <= T:
            raise ConfigError(
                f"RetinaWindows: {frames.shape[0]} frames and {counts.shape[0]} bins for T = {T}"
            )
        self.config = config

    @property
    def num_cells(self) -> int:
        return int(self.counts.shape[1])

    def __len__(self) -> int:
        return self.frames.shape[0] - self.T

    def window(self, idx: Tensor) -> Tensor:
        """The stimulus windows of the samples ``idx`` ``[n] -> [n, H, W, T]`` (or ``[n, T, H, W]``)."""
        x = self.frames[idx.view(-1, 1) + torch.arange(self.T)]  # [n, T, H, W]
        return x.permute(0, 2, 3, 1) if self.layout == "hwt" else x

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[Tensor, ...]]:
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        x, y = self.window(idx), self.counts[idx + self.T]
        if self.rates is None:
            return list(zip(x, y))
        return list(zip(x, y, self.rates[idx + self.T]))

    def __getitem__(self, n: int) -> tuple[Tensor, ...]:
        if not -len(self) <= n < len(self):
            raise IndexError(n)
        return self.__getitems__([n % len(self)])[0]


# ------------------------------------------------------------------------------------------------ white noise
#: subunit centres (row, column) of the two OFF cells: a 2x2 grid each, the cells overlapping by one row/column
OFF_CELL_SUBUNITS = (
    ((2.0, 2.0), (2.0, 3.5), (3.5, 2.0), (3.5, 3.5)),
    ((3.5, 3.5), (3.5, 5.0), (5.0, 3.5), (5.0, 5.0)),
)


def gaussian_masks(centres: Sequence[tuple[float, float]], size: int, sigma: float) -> Tensor:
    """Gaussian spatial filters ``[len(centres), size, size]`` (float64), each of unit sum."""
    r = torch.arange(size, dtype=torch.float64)
    out = []
    for cy, cx in centres:
        g = torch.exp(-((r.view(-1, 1) - cy) ** 2 + (r.view(1, -1) - cx) ** 2) / (2 * sigma**2))
        out.append(g / g.sum())
    return torch.stack(out)


def off_cell_drive(frames: Tensor, sigma: float = 0.7) -> Tensor:
    """The two OFF cells' drive ``z [N, 2]``: the sum of 4 rectified Gaussian-subunit responses each."""
    size = frames.shape[-1]
    g = difference_of_gammas()
    z = []
    for cell in OFF_CELL_SUBUNITS:
        spatial = torch.einsum("nhw,jhw->nj", frames.double(), gaussian_masks(cell, size, sigma))
        z.append(temporal_filter(spatial, g).clamp_min(0.0).sum(1))
    return torch.stack(z, 1)


@functools.lru_cache(maxsize=4)
def _white_noise(n: int, T: int, seed: int, size: int) -> tuple[Tensor, Tensor]:
    frames = checkerboard(n + T, size, seed)
    return frames, off_cell_drive(frames)


def retina_white_noise(
    split: str = "train",
    seed: int = 0,
    T: int = 20,
    layout: str = "hwt",
    n_train: int = 20_000,
    n_test: int = 4_000,
) -> RetinaWindows:
    """Two simulated OFF cells under 8x8 binary white noise (Poisson counts and true rates; module docstring)."""
    check_choice(split, "split", "retina_white_noise", SPLITS)
    for name, v in (("T", T), ("n_train", n_train), ("n_test", n_test)):
        check_positive_int(v, name, "retina_white_noise")
    # the z-score comes from the training sequence, so a split's rates do not depend on its own statistics
    train_frames, train_z = _white_noise(n_train, T, 2 * seed, 8)
    mean, std = train_z.mean(0), train_z.std(0)
    if split == "train":
        frames, z = train_frames, train_z
    else:
        frames, z = _white_noise(n_test, T, 2 * seed + 1, 8)
    rates = F.softplus(2.0 * ((z - mean) / std - 0.5))
    g = torch.Generator().manual_seed(1000 + 2 * seed + (split == "test"))
    counts = torch.poisson(rates, generator=g)
    config = {"split": split, "seed": seed, "T": T, "layout": layout, "n_train": n_train, "n_test": n_test}
    return RetinaWindows(frames.float(), counts.float(), rates.float(), T, layout, config)


# ------------------------------------------------------------------------------------------------ simulator data
@functools.lru_cache(maxsize=4)
def _simulated(n: int, seed: int) -> tuple[Tensor, Tensor]:
    frames = checkerboard(n, 8, seed)
    out = RetinaSimulator()(frames, seed=seed)
    return frames, torch.cat([out["layer2"], out["layer3"]], 1)


def retina_snn(
    split: str = "train",
    seed: int = 0,
    T: int = 20,
    layout: str = "hwt",
    n_train: int = 6_000,
    n_test: int = 1_500,
) -> RetinaWindows:
    """The authors' 3-layer spiking retina under an 8x8 checkerboard: counts of the two layer-2 LIF cells and the
    layer-3 cell per 40 ms frame (module docstring; simulated at 1 ms, a few seconds per thousand frames)."""
    check_choice(split, "split", "retina_snn", SPLITS)
    for name, v in (("T", T), ("n_train", n_train), ("n_test", n_test)):
        check_positive_int(v, name, "retina_snn")
    n = (n_train if split == "train" else n_test) + T
    frames, counts = _simulated(n, 2 * seed + (split == "test"))
    config = {"split": split, "seed": seed, "T": T, "layout": layout, "n_train": n_train, "n_test": n_test}
    return RetinaWindows(frames.float(), counts.float(), None, T, layout, config)


# ------------------------------------------------------------------------------------------------ digits
class SpikeImages(Dataset):
    """``(scaled spike counts [cells], image [S, S, 1])`` pairs; ``mean_image`` is the training split's mean
    image (the mean-image baseline) and ``counts`` the unscaled counts."""

    def __init__(
        self, spikes: Tensor, images: Tensor, counts: Tensor, mean_image: Tensor, config: dict
    ) -> None:
        self.spikes, self.images, self.counts, self.mean_image, self.config = (
            spikes,
            images,
            counts,
            mean_image,
            config,
        )

    def __len__(self) -> int:
        return self.spikes.shape[0]

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        return self.spikes[i], self.images[i]


def digit_population(num_cells: int, seed: int) -> tuple[Tensor, Tensor]:
    """Receptive fields ``[cells, 8, 8]`` (signed Gaussians of unit L1 norm) and the rate function's offset."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(num_cells, 2, generator=g, dtype=torch.float64) * 7.0
    sigma = 1.0 + torch.rand(num_cells, generator=g, dtype=torch.float64)
    sign = torch.where(torch.rand(num_cells, generator=g) < 0.5, -1.0, 1.0).double()
    r = torch.arange(8, dtype=torch.float64)
    d2 = (r.view(1, -1, 1) - centres[:, 0].view(-1, 1, 1)) ** 2 + (
        r.view(1, 1, -1) - centres[:, 1].view(-1, 1, 1)
    ) ** 2
    rf = torch.exp(-d2 / (2 * sigma.view(-1, 1, 1) ** 2))
    rf = sign.view(-1, 1, 1) * rf / rf.sum((1, 2), keepdim=True)
    return rf, torch.full((num_cells,), 0.1, dtype=torch.float64)


def upsample(images: Tensor, size: int) -> Tensor:
    """Bilinear resize ``[N, 1, 8, 8] -> [N, size, size, 1]`` with half-pixel centres (OpenCV's ``resize``)."""
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False).permute(0, 2, 3, 1)


def digits_spikes(
    split: str = "train", seed: int = 0, num_cells: int = 90, img_size: int = 32, gain: float = 10.0
) -> SpikeImages:
    """scikit-learn digits encoded by a simulated population of LN cells (Poisson counts) -> up-sampled digits."""
    check_choice(split, "split", "digits_spikes", SPLITS)
    check_positive(gain, "gain", "digits_spikes")
    check_positive_int(num_cells, "num_cells", "digits_spikes")
    check_positive_int(img_size, "img_size", "digits_spikes")
    rf, offset = digit_population(num_cells, seed)

    def encode(part: str) -> tuple[Tensor, Tensor]:
        x = zoo.create_dataset("digits", split=part, seed=seed).tensors[0].double()  # [N, 1, 8, 8] in [0, 1]
        rate = gain * F.softplus(4.0 * (torch.einsum("nhw,chw->nc", x[:, 0], rf) - offset))
        g = torch.Generator().manual_seed(7919 * (seed + 1) + (part == "test"))
        return x, torch.poisson(rate, generator=g)

    train_x, train_counts = encode("train")
    lo, hi = train_counts.min(0).values, train_counts.max(0).values
    x, counts = (train_x, train_counts) if split == "train" else encode("test")
    scaled = (counts - lo) / torch.where(
        hi > lo, hi - lo, torch.ones_like(hi)
    )  # MinMaxScaler fitted on train
    images = upsample(x, img_size).float()
    mean_image = upsample(train_x, img_size).mean(0).float()
    config = {"split": split, "seed": seed, "num_cells": num_cells, "img_size": img_size, "gain": gain}
    return SpikeImages(scaled.float(), images, counts.float(), mean_image, config)


#: (name, factory, task, defaults, title) of every data set this plugin registers
DATASETS = (
    (
        "retina_white_noise",
        retina_white_noise,
        "retina-encoding",
        {"split": "train", "seed": 0, "T": 20, "layout": "hwt", "n_train": 20_000, "n_test": 4_000},
        "2 simulated OFF cells under 8x8 binary white noise (Poisson counts)",
    ),
    (
        "retina_snn",
        retina_snn,
        "retina-encoding",
        {"split": "train", "seed": 0, "T": 20, "layout": "hwt", "n_train": 6_000, "n_test": 1_500},
        "3-layer spiking retina model (subunits, alpha synapses, LIF) under an 8x8 checkerboard",
    ),
    (
        "digits_spikes",
        digits_spikes,
        "spike-image-decoding",
        {"split": "train", "seed": 0, "num_cells": 90, "img_size": 32, "gain": 10.0},
        "scikit-learn 8x8 digits encoded by 90 simulated LN cells (Poisson counts)",
    ),
)
