r"""Training-time augmentation: per-sample transforms of a training set, and batch mixing (mixup / cutmix).

What the papers' recipes use, through timm where timm has it (the ``timm`` extra: ``pip install
"zoo-core[timm]"``):

* **AutoAugment / RandAugment** (``auto_augment``, timm's policy strings such as ``rand-m9-mstd0.5-inc1`` or
  ``original``): PIL-image policies, so they apply to image folders, inside the folder's training transform
  (:meth:`zoo_core.data.preprocessing.ImagePreprocessing.train_transform`).
* **Random erasing** (``reprob``): timm's ``RandomErasing`` (one constant-filled rectangle per sample with
  probability ``reprob``) on each ``[C, H, W]`` training sample.
* **Mixup / CutMix** (``mixup``, ``cutmix``: the Beta-distribution alphas): timm's ``Mixup`` on each training
  batch, in batch mode (one :math:`\lambda` per batch, mixing a batch with its reverse; with both on, one of the
  two per batch with probability ``switch_prob`` for CutMix), the targets becoming the mixed one-hot vectors
  :math:`\lambda e_{y_i} + (1 - \lambda) e_{y_{B-1-i}}`. Label smoothing stays the learning rule's.
* **DVS augmentation** (:class:`DVSAugment`, SpikingResformer's recipe for event data): the same geometric
  change for every frame of a sample.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import ConfigError

__all__ = ["Augmented", "DVSAugment", "mixing", "random_erasing", "require_timm"]


def require_timm(what: str) -> Any:
    """The ``timm.data`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import timm.data  # optional: the augmentations of the papers' recipes come from timm
    except ImportError:
        raise ConfigError(
            f'{what} uses timm\'s data pipeline; install it with pip install "zoo-core[timm]" (or pip install timm)'
        ) from None
    return timm.data


class Augmented(Dataset):
    """``data`` with ``transform`` applied to the input of every ``(x, y)`` item (the training split only); keeps
    the data set's ``collate_fn``."""

    def __init__(self, data: Dataset, transform: Callable[[Tensor], Tensor]) -> None:
        self.data = data
        self.transform = transform
        self.collate_fn = getattr(data, "collate_fn", None)

    def __len__(self) -> int:
        return len(self.data)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Tensor, Any]:
        x, y = self.data[index]
        # a copy: some transforms (timm's random erasing) write in place, and data sets may hand out views of
        # their stored (or cached) tensors
        return self.transform(x.clone() if isinstance(x, Tensor) else x), y


def random_erasing(probability: float) -> Callable[[Tensor], Tensor]:
    """timm's ``RandomErasing`` (constant fill, one rectangle of 2-33 % of the area, aspect 0.3-3.3) applied with
    ``probability`` to a ``[C, H, W]`` sample."""
    require_timm("random erasing (--reprob)")
    from timm.data.random_erasing import RandomErasing  # timm is there: require_timm checked

    return RandomErasing(probability=probability, mode="const", device="cpu")


def mixing(
    mixup: float, cutmix: float, num_classes: int, prob: float = 1.0, switch_prob: float = 0.5
) -> Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """timm's ``Mixup`` in batch mode (see the module docstring): ``(x, y) -> (mixed x, soft targets)``; batches
    must have an even size (the training loader drops a last odd batch)."""
    timm_data = require_timm("mixup / cutmix")
    return timm_data.Mixup(  # type: ignore[no-any-return]
        mixup_alpha=mixup,
        cutmix_alpha=cutmix,
        prob=prob,
        switch_prob=switch_prob,
        mode="batch",
        label_smoothing=0.0,
        num_classes=num_classes,
    )


class DVSAugment:
    r"""SpikingResformer's augmentation of event frames ``[T, C, H, W]``: every frame of a sample gets the same
    change. A horizontal flip with probability 1/2, then one of three operations, chosen uniformly:

    * **roll**: a circular shift by :math:`(d_y, d_x)`, each uniform in :math:`\{-l, ..., l\}` with
      :math:`l = \lfloor H/3 \rfloor`;
    * **rotation**: by an angle uniform in :math:`[-30°, 30°]` about the centre (nearest neighbour, zero fill);
    * **cutout**: zero a rectangle of :math:`2\lfloor\lfloor H/3\rfloor/2\rfloor \times
      2\lfloor\lfloor W/3\rfloor/2\rfloor` pixels centred on a uniform random pixel, clipped at the borders.

    (The official code draws these with Python's and NumPy's generators; this one draws from torch's, so
    ``torch.manual_seed`` makes a run repeatable.)
    """

    OPS = ("roll", "rotate", "cutout")

    def __init__(self, fraction: float = 1 / 3, degrees: float = 30.0) -> None:
        self.fraction = fraction
        self.degrees = degrees

    def __call__(self, frames: Tensor) -> Tensor:
        if frames.dim() != 4:
            raise ConfigError(
                f"DVS augmentation takes event frames [T, C, H, W], got shape {tuple(frames.shape)}"
            )
        if float(torch.rand(())) < 0.5:
            frames = frames.flip(-1)
        op = self.OPS[int(torch.randint(len(self.OPS), ()))]
        return getattr(self, op)(frames)

    def roll(self, frames: Tensor) -> Tensor:
        h = frames.shape[-2]
        limit = int(h * self.fraction)
        dy, dx = (int(v) for v in torch.randint(-limit, limit + 1, (2,)))
        return torch.roll(frames, shifts=(dy, dx), dims=(-2, -1))

    def rotate(self, frames: Tensor) -> Tensor:
        from torchvision.transforms.functional import InterpolationMode, rotate  # torchvision: only to rotate

        angle = float(torch.empty(()).uniform_(-self.degrees, self.degrees))
        t, c, h, w = frames.shape
        out = rotate(frames.reshape(t * c, h, w), angle, interpolation=InterpolationMode.NEAREST, fill=0.0)
        return out.reshape(t, c, h, w)

    def cutout(self, frames: Tensor) -> Tensor:
        h, w = frames.shape[-2:]
        half_h, half_w = int(self.fraction * h) // 2, int(self.fraction * w) // 2
        y, x = int(torch.randint(h, ())), int(torch.randint(w, ()))
        mask = torch.ones(h, w, dtype=frames.dtype)
        mask[max(0, y - half_h) : min(h, y + half_h), max(0, x - half_w) : min(w, x + half_w)] = 0
        return frames * mask

    def __repr__(self) -> str:
        return f"DVSAugment(fraction={self.fraction:.4g}, degrees={self.degrees:g})"
