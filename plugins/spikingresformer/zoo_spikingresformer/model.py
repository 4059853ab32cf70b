r"""SpikingResformer (Shi, Hao, Yu, CVPR 2024) and its variants.

Layout (all tensors ``[T, B, C, H, W]``)::

    input -> [standardise (digits configuration only)] -> stem (prologue) -> stage 1: [DSSA, GWFFN]
          -> stage 2: [Downsample, (DSSA, GWFFN) x 2] -> stage 3: [Downsample, (DSSA, GWFFN) x 3]
          -> AdaptiveAvgPool(1) per step -> flatten -> Linear(bias=False) -> per-step logits [T, B, K]
          -> mean over T -> [B, K]

Calling convention: a static image ``[B, C, H, W]`` is repeated T times (direct coding); a 5-D input is
**time-first** ``[T, B, C, H, W]`` (the zoo's convention; the official code takes ``[B, T, C, H, W]`` there:
use ``x.transpose(0, 1)``). ``forward(x)`` returns ``[B, K]`` (the official model returns the per-step
``[T, B, K]`` and its training/eval code takes ``.mean(0)``); ``forward(x, per_step=True)`` and
:meth:`SpikingResformer.forward_steps` return ``[T, B, K]``.

The module tree mirrors the official one, so the state dict has the official key names, order and shapes and
official checkpoints load as they are.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, InputError, StepWise, check_time_steps, encode_image_input

from .blocks import GWFFN, DownsampleLayer, conv3x3_stem, imagenet_stem
from .dssa import DSSA, ZERO_RATE_MESSAGE, FiringRateWarning

__all__ = [
    "DIGITS_INPUT_MEAN",
    "DIGITS_INPUT_STD",
    "OFFICIAL_LAYERS",
    "VARIANTS",
    "SpikingResformer",
    "spikingresformer_cifar",
    "spikingresformer_digits",
    "spikingresformer_dvsg",
    "spikingresformer_l",
    "spikingresformer_m",
    "spikingresformer_s",
    "spikingresformer_ti",
]

#: block types per stage in every official variant
OFFICIAL_LAYERS: tuple[tuple[str, ...], ...] = (
    ("DSSA", "GWFFN") * 1,
    ("DSSA", "GWFFN") * 2,
    ("DSSA", "GWFFN") * 3,
)

#: architecture of each registered variant (everything but T, num_classes, img_size, in_chans)
VARIANTS: dict[str, dict] = {
    "ti": {"planes": (64, 192, 384), "num_heads": (1, 3, 6), "stem": "imagenet"},
    "s": {"planes": (64, 256, 512), "num_heads": (1, 4, 8), "stem": "imagenet"},
    "m": {"planes": (64, 384, 768), "num_heads": (1, 6, 12), "stem": "imagenet"},
    "l": {"planes": (128, 512, 1024), "num_heads": (2, 8, 16), "stem": "imagenet"},
    "cifar": {"planes": (64, 192, 384), "num_heads": (1, 3, 6), "stem": "conv3x3"},
    "dvsg": {
        "planes": (32, 96, 192),
        "num_heads": (1, 3, 6),
        "stem": "conv3x3",
        "group_size": 32,
        "neuron": "plif",
    },
    # the zoo's small configuration for scikit-learn's 8x8 digits (spec h.10), not an official variant
    "digits": {
        "layers": (("DSSA", "GWFFN"),) * 3,
        "planes": (16, 32, 64),
        "num_heads": (1, 2, 4),
        "patch_sizes": (2, 2, 1),
        "stem": "conv3x3",
        "group_size": 16,
    },
}

#: mean and standard deviation (population) of all pixels of the digits training split (pixel / 16,
#: stratified 80/20 split, seed 0), used by ``spikingresformer_digits`` to standardise its input
DIGITS_INPUT_MEAN = 0.30538339
DIGITS_INPUT_STD = 0.37611917


def _pos_int(who: str, arg: str, v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ConfigError(f"{who}: {arg} must be a positive integer, got {v!r}")
    return v


class SpikingResformer(nn.Module):
    """SpikingResformer classifier (see the module docstring for the layout and calling convention).

    Args:
        layers: block names per stage (``"DSSA"`` / ``"GWFFN"``); stages after the first start with a
            :class:`DownsampleLayer`.
        planes: channels per stage.
        num_heads: DSSA heads per stage.
        patch_sizes: DSSA patch size per stage.
        img_size: input height = width. The DSSA lengths ``M = (size_at_stage // p)^2`` are computed from it at
            construction (ImageNet stem: ``img_size // 4``, then ``// 2`` per stage), as in the official code;
            the input must have this size.
        T: time steps a static image is repeated for.
        in_chans: input channels.
        num_classes: classes of the bias-free linear head.
        stem: ``"imagenet"`` (Conv7x7 s2 + BN + MaxPool, /4) or ``"conv3x3"`` (Conv3x3 s1 + BN).
        group_size: channels per group of the GWFFN grouped conv.
        neuron: ``"lif"`` or ``"plif"`` (core neurons with the official settings).
        input_mean, input_std: if given, the input is standardised ``(x - mean) / std`` first (a fixed
            preprocessing step with no state; used by the digits configuration only).
        name: model name used in error messages.
    """

    def __init__(
        self,
        layers: Sequence[Sequence[str]],
        planes: Sequence[int],
        num_heads: Sequence[int],
        patch_sizes: Sequence[int],
        img_size: int = 224,
        T: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        stem: str = "imagenet",
        group_size: int = 64,
        neuron: str = "lif",
        input_mean: float | None = None,
        input_std: float | None = None,
        name: str = "SpikingResformer",
    ) -> None:
        super().__init__()
        who = name
        self.T = check_time_steps(T, who)
        img_size = _pos_int(who, "img_size", img_size)
        self.in_chans = _pos_int(who, "in_chans", in_chans)
        self.num_classes = _pos_int(who, "num_classes", num_classes)
        self.img_size = img_size
        self.name = name
        if not len(planes) == len(layers) == len(num_heads) == len(patch_sizes) >= 1:
            raise ConfigError(f"{who}: layers, planes, num_heads and patch_sizes need one entry per stage")
        if (input_mean is None) != (input_std is None) or (input_std is not None and not input_std > 0):
            raise ConfigError(f"{who}: give both input_mean and input_std (> 0), or neither")
        self.input_mean = None if input_mean is None else float(input_mean)
        self.input_std = None if input_std is None else float(input_std)

        # stem first: same construction (and RNG) order as the official model
        if stem == "imagenet":
            self.prologue = imagenet_stem(in_chans, planes[0])
            size = img_size // 4
        elif stem == "conv3x3":
            self.prologue = conv3x3_stem(in_chans, planes[0])
            size = img_size
        else:
            raise ConfigError(f"{who}: stem must be 'imagenet' or 'conv3x3', got {stem!r}")

        self.layers = nn.Sequential()
        for idx, (blocks, dim, heads, patch) in enumerate(zip(layers, planes, num_heads, patch_sizes)):
            stage = nn.Sequential()
            if idx != 0:
                stage.append(DownsampleLayer(planes[idx - 1], dim, stride=2, neuron=neuron))
                size = size // 2
            length = (size // patch) ** 2
            for block in blocks:
                if block == "DSSA":
                    if length < 1:
                        raise ConfigError(
                            f"{who}: img_size {img_size} is too small: stage {idx + 1} has feature maps of "
                            f"{size}x{size}, smaller than its DSSA patch size {patch}"
                        )
                    stage.append(DSSA(dim, heads, length, patch, neuron=neuron))
                elif block == "GWFFN":
                    stage.append(GWFFN(dim, group_size=group_size, neuron=neuron))
                else:
                    raise ConfigError(f"{who}: unknown block {block!r} (expected 'DSSA' or 'GWFFN')")
            self.layers.append(stage)

        self.avgpool = StepWise(nn.AdaptiveAvgPool2d((1, 1)))
        self.classifier = nn.Linear(planes[-1], num_classes, bias=False)
        self.zero_rate_warned = False
        self.init_weight()

    def init_weight(self) -> None:
        """Official initialisation: conv/linear weights truncated normal (std 0.02), BN weight 1, bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Linear | nn.Conv2d):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def dssa_modules(self) -> list[DSSA]:
        return [m for m in self.modules() if isinstance(m, DSSA)]

    def _check_rates(self) -> None:
        if self.zero_rate_warned:
            return
        blocks = self.dssa_modules()
        zero = [n for n, m in self.named_modules() if isinstance(m, DSSA) and m.has_zero_rates()]
        if zero:  # the model reports for all of its DSSA blocks, once
            for m in blocks:
                m.zero_rate_warned = True
            self.zero_rate_warned = True
            warnings.warn(
                f"{self.name}: {len(zero)} of {len(blocks)} DSSA blocks ({', '.join(zero[:3])}"
                f"{', ...' if len(zero) > 3 else ''}): {ZERO_RATE_MESSAGE}",
                FiringRateWarning,
                stacklevel=3,
            )

    def encode(self, x: Tensor) -> Tensor:
        """Validate the input and return it as ``[T, B, C, H, W]`` (static images repeated T times)."""
        x = encode_image_input(x, self.T, self.in_chans, self.name)
        if x.shape[-1] != self.img_size or x.shape[-2] != self.img_size:
            raise InputError(
                f"{self.name}: built for {self.img_size}x{self.img_size} inputs (the DSSA scales use the "
                f"patch counts of that size), got {x.shape[-2]}x{x.shape[-1]}; rebuild the model with "
                f"img_size={x.shape[-1]} to run at another resolution"
            )
        if self.input_mean is not None:
            x = (x - self.input_mean) / self.input_std
        return x

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem and stages: ``[T, B, planes[-1], H', W']`` (real-valued, before pooling)."""
        if not self.training:
            self._check_rates()
        return self.layers(self.prologue(self.encode(x)))

    def forward_steps(self, x: Tensor) -> Tensor:
        """Per-step logits ``[T, B, num_classes]`` (what the official model returns)."""
        x = self.avgpool(self.forward_features(x))
        return self.classifier(torch.flatten(x, 2))

    def forward(self, x: Tensor, per_step: bool = False) -> Tensor:
        """Logits ``[B, num_classes]``, the mean over T; ``per_step=True``: ``[T, B, num_classes]``."""
        out = self.forward_steps(x)
        return out if per_step else out.mean(0)

    def no_weight_decay(self) -> set[str]:
        """PLIF time-constant parameters (excluded from weight decay by the official training code)."""
        return {n for n, p in self.named_parameters() if n.endswith(".w") and p.dim() == 0}


def _build(
    variant: str, T: int, num_classes: int, img_size: int, in_chans: int, **extra: object
) -> SpikingResformer:
    cfg = dict(VARIANTS[variant])
    return SpikingResformer(
        cfg.pop("layers", OFFICIAL_LAYERS),
        cfg.pop("planes"),
        cfg.pop("num_heads"),
        cfg.pop("patch_sizes", (4, 2, 1)),
        img_size=img_size,
        T=T,
        in_chans=in_chans,
        num_classes=num_classes,
        name=f"spikingresformer_{variant}",
        **cfg,
        **extra,
    )


def spikingresformer_ti(
    T: int = 4, num_classes: int = 1000, img_size: int = 224, in_chans: int = 3
) -> SpikingResformer:
    """SpikingResformer-Ti (ImageNet): planes 64/192/384, heads 1/3/6, 11.18 M parameters (11.14 M w/o BN affine)."""
    return _build("ti", T, num_classes, img_size, in_chans)


def spikingresformer_s(
    T: int = 4, num_classes: int = 1000, img_size: int = 224, in_chans: int = 3
) -> SpikingResformer:
    """SpikingResformer-S (ImageNet): planes 64/256/512, heads 1/4/8."""
    return _build("s", T, num_classes, img_size, in_chans)


def spikingresformer_m(
    T: int = 4, num_classes: int = 1000, img_size: int = 224, in_chans: int = 3
) -> SpikingResformer:
    """SpikingResformer-M (ImageNet): planes 64/384/768, heads 1/6/12."""
    return _build("m", T, num_classes, img_size, in_chans)


def spikingresformer_l(
    T: int = 4, num_classes: int = 1000, img_size: int = 224, in_chans: int = 3
) -> SpikingResformer:
    """SpikingResformer-L (ImageNet): planes 128/512/1024, heads 2/8/16."""
    return _build("l", T, num_classes, img_size, in_chans)


def spikingresformer_cifar(
    T: int = 4, num_classes: int = 10, img_size: int = 32, in_chans: int = 3
) -> SpikingResformer:
    """SpikingResformer-Ti* (CIFAR, CIFAR10-DVS): Conv3x3 stem (3 -> 64), planes 64/192/384, heads 1/3/6."""
    return _build("cifar", T, num_classes, img_size, in_chans)


def spikingresformer_dvsg(
    T: int = 16, num_classes: int = 11, img_size: int = 64, in_chans: int = 3
) -> SpikingResformer:
    """SpikingResformer for DVS128 Gesture: Conv3x3 stem (3 -> 32), planes 32/96/192, group size 32, PLIF."""
    return _build("dvsg", T, num_classes, img_size, in_chans)


def spikingresformer_digits(
    T: int = 4,
    num_classes: int = 10,
    img_size: int = 8,
    in_chans: int = 1,
    input_mean: float | None = DIGITS_INPUT_MEAN,
    input_std: float | None = DIGITS_INPUT_STD,
) -> SpikingResformer:
    """The zoo's small configuration for 8x8 digits (not an official variant): Conv3x3 stem (1 -> 16), planes
    16/32/64, one (DSSA, GWFFN) pair per stage (no repeats), heads 1/2/4, patch sizes 2/2/1 (DSSA lengths
    16/4/4), group size 16, LIF; inputs standardised with the digits training mean/std. 158,064 parameters."""
    return _build("digits", T, num_classes, img_size, in_chans, input_mean=input_mean, input_std=input_std)
