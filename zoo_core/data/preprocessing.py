"""A model's declared image preprocessing, as one object: the zoo's own transform and timm's data config.

Every model registers ``preprocessing`` (``zoo_core.sdk.PRESETS`` and plugin overrides; recorded in each weight
folder's ``config.json``): how a raw image becomes the input its weights were trained on. The keys read here:

``resize``
    the shorter side an image is resized to before the centre crop (ImageNet: 256). Without it the image is
    resized straight to the model's input size (the whole image, aspect ratio not kept: "squash").
``crop``
    the side of the centre crop (ImageNet: 224); it is the model's input size (``img_size``). A model built
    with another ``img_size`` keeps the declared crop fraction ``crop / resize`` (as timm does).
``crop_pct``
    timm's name for ``crop / resize``; optional, and if given it must agree with ``resize`` and ``crop``.
``interpolation``
    ``bilinear`` (the default), ``bicubic``, ``nearest``, ``box``, ``hamming`` or ``lanczos``.
``mean``, ``std``
    per-channel normalisation ``(x - mean) / std`` of the ``[0, 1]`` image; absent: the model takes the
    ``[0, 1]`` image as it is (a model that normalises inside declares no ``mean``/``std``).

:class:`ImagePreprocessing` turns this into the evaluation pipeline the zoo applies to image folders
(:meth:`~ImagePreprocessing.transform`, torchvision) and into timm's data config
(:meth:`~ImagePreprocessing.timm_data_config`), so that ``timm.data.create_transform(**resolve_data_config(
model=m))`` is the same pipeline. :func:`timm_pretrained_cfg` is what a model's ``pretrained_cfg`` and the
``pretrained_cfg`` of ``config.json`` hold. Nothing here imports timm.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..plugins import entry
from .augment import require_timm

__all__ = [
    "INTERPOLATIONS",
    "TIMM_PREFIX",
    "ConvertMode",
    "ImagePreprocessing",
    "attach_pretrained_cfg",
    "model_preprocessing",
    "takes_images",
    "timm_pretrained_cfg",
]

#: interpolation names torchvision and timm both know
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")
#: zoo models are registered in timm as ``zoo_<name>`` (``zoo_core.timm_interop``)
TIMM_PREFIX = "zoo_"
#: larger sizes are a broken declaration, not an image pipeline
_MAX_SIDE = 16384


def _side(value: Any, key: str, who: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= _MAX_SIDE:
        raise ConfigError(
            f"{who}: preprocessing {key!r} must be an integer in [1, {_MAX_SIDE}], got {value!r}"
        )
    return value


def _size(img_size: Any, who: str) -> tuple[int, int]:
    if isinstance(img_size, list | tuple) and len(img_size) == 2:
        return _side(img_size[0], "img_size", who), _side(img_size[1], "img_size", who)
    side = _side(img_size, "img_size", who)
    return side, side


def _crop_pct(crop: int, resize: int, declared: Any, who: str) -> float:
    """A crop fraction ``p`` with ``floor(crop / p) == resize`` (timm computes the resize that way)."""
    if declared is not None:
        if isinstance(declared, bool) or not isinstance(declared, int | float) or not 0 < declared <= 1:
            raise ConfigError(f"{who}: preprocessing 'crop_pct' must be in (0, 1], got {declared!r}")
        if math.floor(crop / declared) != resize:
            raise ConfigError(
                f"{who}: preprocessing crop_pct={declared} disagrees with crop={crop} and resize={resize} "
                f"(floor(crop / crop_pct) = {math.floor(crop / declared)}); give crop_pct = crop / resize"
            )
        return float(declared)
    for p in (crop / resize, round(crop / resize, 4), crop / (resize + 0.5)):
        if math.floor(crop / p) == resize:
            return p
    raise ConfigError(f"{who}: no crop fraction gives resize {resize} from crop {crop}")  # pragma: no cover


def _channels(values: Any, key: str, in_chans: int, who: str) -> tuple[float, ...]:
    if (
        not isinstance(values, Sequence)
        or isinstance(values, str)
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    ):
        raise ConfigError(f"{who}: preprocessing {key!r} must be a list of numbers, got {values!r}")
    out = tuple(float(v) for v in values)
    if len(out) == 1 and in_chans > 1:
        out = out * in_chans
    if len(out) != in_chans or not all(math.isfinite(v) for v in out):
        raise ConfigError(
            f"{who}: preprocessing {key!r} needs {in_chans} finite values (one per input channel), got {values!r}"
        )
    return out


@dataclass(frozen=True)
class ImagePreprocessing:
    """How a raw image becomes a model's input: resize (or not), centre crop, interpolation, normalisation.

    Attributes:
        in_chans: channels of the input (1: the image is converted to grey, 3: to RGB).
        size: ``(height, width)`` of the input.
        resize: the shorter side before the centre crop, or ``None`` to resize straight to ``size``.
        crop_pct: ``size / resize`` as timm computes the resize from it (``1.0`` without ``resize``).
        interpolation: one of :data:`INTERPOLATIONS`.
        mean: per-channel mean, or ``None`` (``[0, 1]`` input, no normalisation).
        std: per-channel standard deviation (with ``mean``), or ``None``.
    """

    in_chans: int
    size: tuple[int, int]
    resize: int | None = None
    crop_pct: float = 1.0
    interpolation: str = "bilinear"
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    @classmethod
    def from_declared(
        cls, preprocessing: Mapping[str, Any] | None, in_chans: int, img_size: Any, who: str = "model"
    ) -> ImagePreprocessing:
        """Read a declared ``preprocessing`` dict (see the module docstring) for a model built with ``in_chans``
        and ``img_size``; a malformed or inconsistent declaration is a :class:`ConfigError` naming the key."""
        pre = dict(preprocessing or {})
        chans = _side(in_chans, "in_chans", who)
        size = _size(img_size, who)
        interpolation = pre.get("interpolation", "bilinear")
        if interpolation not in INTERPOLATIONS:
            raise ConfigError(
                f"{who}: preprocessing interpolation {interpolation!r} is not one of {', '.join(INTERPOLATIONS)}"
            )
        if ("mean" in pre) != ("std" in pre):
            raise ConfigError(
                f"{who}: preprocessing declares {'mean' if 'mean' in pre else 'std'} without the other"
            )
        mean = std = None
        if "mean" in pre:
            mean = _channels(pre["mean"], "mean", chans, who)
            std = _channels(pre["std"], "std", chans, who)
            if min(std) <= 0:
                raise ConfigError(f"{who}: preprocessing 'std' must be > 0, got {pre['std']!r}")
        resize, crop_pct = None, 1.0
        if pre.get("resize") is not None:
            declared_resize = _side(pre["resize"], "resize", who)
            crop = _side(pre.get("crop", size[0]), "crop", who)
            if crop > declared_resize:
                raise ConfigError(f"{who}: preprocessing crop {crop} is larger than resize {declared_resize}")
            if size[0] != size[1]:
                raise ConfigError(
                    f"{who}: a resize + centre crop needs a square input, the model takes {size[0]}x{size[1]}"
                )
            crop_pct = _crop_pct(crop, declared_resize, pre.get("crop_pct"), who)
            # the declared crop fraction holds for another input size too (timm: floor(size / crop_pct))
            resize = declared_resize if size[0] == crop else math.floor(size[0] / crop_pct)
        elif pre.get("crop") is not None and _side(pre["crop"], "crop", who) not in size:
            raise ConfigError(f"{who}: preprocessing declares crop {pre['crop']} without a resize")
        return cls(chans, size, resize, crop_pct, interpolation, mean, std)

    def transform(self) -> Any:
        """The torchvision pipeline for a PIL image: convert to grey (1 channel) or RGB (3), resize, centre
        crop, to a ``[C, H, W]`` float tensor in ``[0, 1]``, normalise. Equal to timm's eval transform of
        :meth:`timm_data_config` for an image of the right mode."""
        # torchvision loads only where images are read
        from torchvision import transforms
        from torchvision.transforms import InterpolationMode

        if self.in_chans not in (1, 3):
            raise ConfigError(
                f"images become 1- (grey) or 3-channel (RGB) inputs; this model takes in_chans={self.in_chans} "
                "(event frames or another modality): use its registered data set"
            )
        mode = InterpolationMode(self.interpolation)
        ops: list[Any] = [ConvertMode("L" if self.in_chans == 1 else "RGB")]
        if self.resize is None:
            ops.append(transforms.Resize(self.size, interpolation=mode))  # squash: the whole image
        else:
            ops += [transforms.Resize(self.resize, interpolation=mode), transforms.CenterCrop(self.size)]
        ops.append(transforms.ToTensor())
        if self.mean is not None:
            ops.append(transforms.Normalize(self.mean, self.std))
        return transforms.Compose(ops)

    def train_transform(self, auto_augment: str | None = None, hflip: float = 0.5) -> Any:
        """timm's training pipeline for this model (``timm.data.create_transform(is_training=True)``): a random
        resized crop (scale 0.08-1, as timm's default) to the input size with this interpolation, a horizontal
        flip with probability ``hflip``, the ``auto_augment`` policy (timm's strings: ``rand-m9-mstd0.5-inc1``,
        ``original``, ...), to tensor, normalise; after the conversion to grey or RGB."""
        from torchvision import transforms  # torchvision loads only where images are read

        timm_data = require_timm("training augmentation of image folders")
        cfg = self.timm_data_config()
        train = timm_data.create_transform(
            input_size=cfg["input_size"],
            is_training=True,
            hflip=hflip,
            auto_augment=auto_augment,
            interpolation=cfg["interpolation"],
            mean=cfg["mean"],
            std=cfg["std"],
            re_prob=0.0,  # random erasing is applied to the tensors of every data set (zoo_core.data.augment)
        )
        return transforms.Compose([ConvertMode("L" if self.in_chans == 1 else "RGB"), train])

    def timm_data_config(self) -> dict[str, Any]:
        """timm's data config (``input_size``, ``interpolation``, ``mean``, ``std``, ``crop_pct``, ``crop_mode``):
        ``timm.data.create_transform(**cfg)`` is :meth:`transform` (without the mode conversion). No
        normalisation is mean 0, std 1."""
        return {
            "input_size": (self.in_chans, *self.size),
            "interpolation": self.interpolation,
            "mean": self.mean if self.mean is not None else (0.0,) * self.in_chans,
            "std": self.std if self.std is not None else (1.0,) * self.in_chans,
            "crop_pct": self.crop_pct,
            "crop_mode": "squash" if self.resize is None else "center",
        }


class ConvertMode:
    """Convert a PIL image to ``mode`` (``"L"``, ``"RGB"``); a plain class so data loader workers can pickle it."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __call__(self, img: Any) -> Any:
        return img if img.mode == self.mode else img.convert(self.mode)

    def __repr__(self) -> str:
        return f"ConvertMode({self.mode!r})"


def takes_images(name: str) -> bool:
    """Whether model ``name`` takes images: its defaults declare ``in_chans`` and ``img_size`` (spike clips, text
    features and other inputs do not)."""
    d = entry("model", name).info.defaults  # type: ignore[attr-defined]
    return d.get("in_chans") is not None and d.get("img_size") is not None


def model_preprocessing(name: str, args: Mapping[str, Any] | None = None) -> ImagePreprocessing:
    """The registered preprocessing of model ``name`` for a model built with ``args`` (its ``zoo_args``; default:
    the registered defaults)."""
    info = entry("model", name).info
    cfg = {**info.defaults, **(args or {})}  # type: ignore[attr-defined]
    if cfg.get("in_chans") is None or cfg.get("img_size") is None:
        raise ConfigError(f"model {name!r} declares no in_chans and img_size: its input is not an image")
    return ImagePreprocessing.from_declared(
        info.preprocessing,
        cfg["in_chans"],
        cfg["img_size"],
        who=f"model {name!r}",  # type: ignore[attr-defined]
    )


def timm_pretrained_cfg(
    name: str, args: Mapping[str, Any] | None = None, tag: str | None = None, strict: bool = True
) -> dict[str, Any]:
    """timm's ``pretrained_cfg`` for model ``name`` built with ``args`` (weights of ``tag``): the architecture
    (``zoo_<name>``), the tag, the classes and, for image inputs, the data config of
    :meth:`ImagePreprocessing.timm_data_config`. JSON-friendly (lists, not tuples); no weight source.

    A declared preprocessing that does not fit the model as built (e.g. three means for ``in_chans=1``) is a
    :class:`ConfigError`; with ``strict=False`` the data config is left out instead."""
    info = entry("model", name).info
    cfg = {**info.defaults, **(args or {})}  # type: ignore[attr-defined]
    out: dict[str, Any] = {"architecture": TIMM_PREFIX + name, "tag": tag}
    if isinstance(cfg.get("num_classes"), int):
        out["num_classes"] = cfg["num_classes"]
    if cfg.get("in_chans") is not None and cfg.get("img_size") is not None:
        try:
            data = model_preprocessing(name, cfg).timm_data_config()
        except ConfigError:
            if strict:
                raise
            data = {}
        out.update({k: list(v) if isinstance(v, tuple) else v for k, v in data.items()})
    out["license"] = "mit"
    return out


def attach_pretrained_cfg(model: Any, tag: str | None = None) -> Any:
    """Give a model built by the zoo (``zoo_name``, ``zoo_args``) timm's ``pretrained_cfg`` (and its older alias
    ``default_cfg``) from its registered preprocessing, so ``timm.data.resolve_data_config(model=model)`` gives
    the pipeline its weights were trained with; a model whose input is not an image is returned unchanged."""
    name, args = getattr(model, "zoo_name", None), getattr(model, "zoo_args", None)
    if name is None or args is None:
        return model
    cfg = {**entry("model", name).info.defaults, **args}  # type: ignore[attr-defined]
    if cfg.get("in_chans") is None or cfg.get("img_size") is None:
        return model
    try:
        pc = timm_pretrained_cfg(name, args, tag)
    except (
        ConfigError
    ):  # a malformed declaration surfaces where it is used (image folders, timm registration)
        return model
    model.pretrained_cfg = model.default_cfg = {
        k: tuple(v) if isinstance(v, list) else v for k, v in pc.items() if v is not None
    }
    return model
