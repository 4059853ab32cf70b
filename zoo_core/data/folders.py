"""Data sets by name or by folder: a registered data set, or a folder of images laid out one sub-folder per class.

``PATH/train/<class>/*.png`` and ``PATH/test/<class>/*.png`` (or just ``PATH/<class>/*.png``) become
``(image [C, H, W] in [0, 1], label)`` samples resized to the model's ``img_size`` (grey for ``in_chans=1``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ..errors import ConfigError
from ..plugins import create, entry, runtime

__all__ = ["image_folder", "load_dataset"]


def load_dataset(spec: str, split: str, in_chans: int = 1, img_size: int = 8, seed: int = 0) -> Dataset:
    """A registered data set (``digits``, a plugin's) or an image folder, for ``split``; ``seed`` goes to data
    sets that take one (their split)."""
    if spec in runtime().registries["dataset"]:
        kwargs: dict[str, Any] = {"split": split}
        if "seed" in entry("dataset", spec).info.defaults:
            kwargs["seed"] = seed
        return create("dataset", spec, **kwargs)
    root = Path(spec)
    if not root.is_dir():
        known = ", ".join(runtime().registries["dataset"].names())
        raise ConfigError(
            f"data set {spec!r}: not a registered data set ({known}) and not a folder of images"
        )
    return image_folder(root, split, in_chans, img_size)


def image_folder(root: str | Path, split: str, in_chans: int, img_size: int) -> Dataset:
    """``root/split/<class>/*`` (or ``root/<class>/*``) as a torchvision ``ImageFolder`` of [0, 1] tensors."""
    from torchvision import datasets, transforms  # torchvision loads only for image folders

    root = Path(root)
    sub = root / split if (root / split).is_dir() else root
    tf = [transforms.Resize((img_size, img_size))]
    if in_chans == 1:
        tf.append(transforms.Grayscale(1))
    tf.append(transforms.ToTensor())
    return datasets.ImageFolder(str(sub), transform=transforms.Compose(tf))
