"""Data sets by name or by folder: a registered data set, or a folder of images laid out one sub-folder per class.

``PATH/train/<class>/*.png`` and ``PATH/test/<class>/*.png`` (or just ``PATH/<class>/*.png``) become
``(image [C, H, W], label)`` samples through the model's declared preprocessing
(:class:`~zoo_core.data.preprocessing.ImagePreprocessing`: grey for ``in_chans=1``, RGB for 3; resize, centre
crop, interpolation, mean/std), the pipeline its weights were trained with. Registered data sets keep their own
transforms.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from ..errors import ConfigError
from ..plugins import create, entry, runtime
from .preprocessing import ImagePreprocessing

__all__ = ["image_folder", "load_dataset"]


def load_dataset(
    spec: str,
    split: str,
    in_chans: int = 1,
    img_size: Any = 8,
    seed: int = 0,
    preprocessing: Mapping[str, Any] | None = None,
    auto_augment: str | None = None,
) -> Dataset:
    """A registered data set (``digits``, a plugin's) or an image folder, for ``split``; ``seed`` goes to data
    sets that take one (their split). ``preprocessing`` (a model's declared preprocessing) applies to image
    folders only: a registered data set brings its own transforms. ``auto_augment`` (timm's policy string) makes
    an image folder's transform timm's training pipeline
    (:meth:`~zoo_core.data.preprocessing.ImagePreprocessing.train_transform`)."""
    if spec in runtime().registries["dataset"]:
        if auto_augment:
            raise ConfigError(
                f"auto_augment {auto_augment!r} applies to image folders (PIL images); the data set {spec!r} "
                "gives tensors: use --reprob, --mixup/--cutmix (or --dvs-augment for event frames) instead"
            )
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
    return image_folder(root, split, in_chans, img_size, preprocessing, auto_augment)


def image_folder(
    root: str | Path,
    split: str,
    in_chans: int,
    img_size: Any,
    preprocessing: Mapping[str, Any] | None = None,
    auto_augment: str | None = None,
) -> Dataset:
    """``root/split/<class>/*`` (or ``root/<class>/*``) as a torchvision ``ImageFolder`` whose transform is
    ``preprocessing`` for a model of ``in_chans`` channels and input size ``img_size`` (``None``: the image
    resized to ``img_size`` as ``[0, 1]`` floats)."""
    # torchvision loads only for image folders
    from torchvision import datasets

    pre = ImagePreprocessing.from_declared(preprocessing, in_chans, img_size, who=f"image folder {root}")
    root = Path(root)
    sub = root / split if (root / split).is_dir() else root
    transform = pre.train_transform(auto_augment) if auto_augment else pre.transform()
    return datasets.ImageFolder(str(sub), transform=transform)
