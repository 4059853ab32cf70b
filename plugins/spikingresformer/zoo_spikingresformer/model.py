r"""SpikingResformer (Shi, Hao, Yu, CVPR 2024): the one class of the family (its registered variants are the table
``VARIANTS`` of :mod:`zoo_spikingresformer.plugin`).

Layout (all tensors ``[T, B, C, H, W]``)::

    input -> [standardise (digits configuration only)] -> stem (prologue) -> stage 1: [DSSA, GWFFN]
          -> stage 2: [Downsample, (DSSA, GWFFN) x 2] -> stage 3: [Downsample, (DSSA, GWFFN) x 3]
          -> AdaptiveAvgPool(1) per step -> flatten -> Linear(bias=False) -> per-step logits [T, B, K]
          -> mean over T -> [B, K]

Calling convention: a static image ``[B, C, H, W]`` is repeated T times (direct coding); a 5-D input is
**time-first** ``[T, B, C, H, W]`` (the zoo's convention; the official code takes ``[B, T, C, H, W]`` there:
use ``x.transpose(0, 1)``). ``forward(x)`` returns ``[B, K]`` (the official model returns the per-step
``[T, B, K]`` and its training/eval code takes ``.mean(0)``); ``forward(x, per_step=True)`` and
:meth:`SpikingResformer.forward_steps` return ``[T, B, K]``. timm's head API: ``forward_features`` (stem and
stages, before pooling), ``forward_head`` (pooling, head, mean over T), ``get_classifier``, ``reset_classifier``.

The module tree mirrors the official one, so the state dict has the official key names, order and shapes and
official checkpoints load as they are.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from zoo_core.sdk import (
    ConfigError,
    InputError,
    SpikingClassifier,
    StepWise,
    check_choice,
    check_positive,
    check_positive_int,
)

from .blocks import GWFFN, DownsampleLayer, conv3x3_stem, imagenet_stem
from .dssa import DSSA, ZERO_RATE_MESSAGE, FiringRateWarning

__all__ = ["SpikingResformer"]


class SpikingResformer(SpikingClassifier):
    """SpikingResformer classifier (see the module docstring for the layout and calling convention).

    Keyword-only arguments; the defaults are SpikingResformer-Ti on ImageNet (the official ``spikingresformer_ti``
    at T = 4); the registered variants are the table ``VARIANTS`` of :mod:`zoo_spikingresformer.plugin`.

    Args:
        T: time steps a static image is repeated for.
        num_classes: classes of the bias-free linear head.
        img_size: input height = width. The DSSA lengths ``M = (size_at_stage // p)^2`` are computed from it at
            construction (ImageNet stem: ``img_size // 4``, then ``// 2`` per stage), as in the official code;
            the input must have this size.
        in_chans: input channels.
        depths: (DSSA, GWFFN) pairs per stage; stages after the first start with a :class:`DownsampleLayer`
            (the official ``layers`` lists: ``[["DSSA", "GWFFN"] * d for d in depths]``).
        planes: channels per stage.
        num_heads: DSSA heads per stage.
        patch_sizes: DSSA patch size per stage.
        stem: ``"imagenet"`` (Conv7x7 s2 + BN + MaxPool, /4) or ``"conv3x3"`` (Conv3x3 s1 + BN).
        group_size: channels per group of the GWFFN grouped conv.
        neuron: ``"lif"`` or ``"plif"`` (core neurons with the official settings).
        input_mean, input_std: if given, the input is standardised ``(x - mean) / std`` first (a fixed
            preprocessing step with no state; used by the digits configuration only).
    """

    head_name = "classifier"

    def __init__(
        self,
        *,
        T: int = 4,
        num_classes: int = 1000,
        img_size: int = 224,
        in_chans: int = 3,
        depths: Sequence[int] = (1, 2, 3),
        planes: Sequence[int] = (64, 192, 384),
        num_heads: Sequence[int] = (1, 3, 6),
        patch_sizes: Sequence[int] = (4, 2, 1),
        stem: str = "imagenet",
        group_size: int = 64,
        neuron: str = "lif",
        input_mean: float | None = None,
        input_std: float | None = None,
    ) -> None:
        who = type(self).__name__
        check_positive_int(img_size, "img_size", who)
        super().__init__(T=T, num_classes=num_classes, in_chans=in_chans, img_size=img_size)
        if not len(planes) == len(depths) == len(num_heads) == len(patch_sizes) >= 1:
            raise ConfigError(f"{who}: depths, planes, num_heads and patch_sizes need one entry per stage")
        for d in depths:
            check_positive_int(d, "depths entries", who)
        if (input_mean is None) != (input_std is None):
            raise ConfigError(f"{who}: give both input_mean and input_std (> 0), or neither")
        check_positive(input_std, "input_std", who, allow_none=True)
        self.input_mean = None if input_mean is None else float(input_mean)
        self.input_std = None if input_std is None else float(input_std)
        check_choice(stem, "stem", who, ("imagenet", "conv3x3"))

        # stem first: same construction (and RNG) order as the official model
        if stem == "imagenet":
            self.prologue = imagenet_stem(in_chans, planes[0])
            size = img_size // 4
        else:
            self.prologue = conv3x3_stem(in_chans, planes[0])
            size = img_size

        self.layers = nn.Sequential()
        for idx, (depth, dim, heads, patch) in enumerate(zip(depths, planes, num_heads, patch_sizes)):
            stage = nn.Sequential()
            if idx != 0:
                stage.append(DownsampleLayer(planes[idx - 1], dim, stride=2, neuron=neuron))
                size = size // 2
            length = (size // patch) ** 2
            if length < 1:
                raise ConfigError(
                    f"{who}: img_size {img_size} is too small: stage {idx + 1} has feature maps of "
                    f"{size}x{size}, smaller than its DSSA patch size {patch}"
                )
            for _ in range(depth):
                stage.append(DSSA(dim, heads, length, patch, neuron=neuron))
                stage.append(GWFFN(dim, group_size=group_size, neuron=neuron))
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
                f"{type(self).__name__}: {len(zero)} of {len(blocks)} DSSA blocks ({', '.join(zero[:3])}"
                f"{', ...' if len(zero) > 3 else ''}): {ZERO_RATE_MESSAGE}",
                FiringRateWarning,
                stacklevel=3,
            )

    def encode(self, x: Tensor, T: int | None = None) -> Tensor:
        """Validate the input and return it as ``[T, B, C, H, W]`` (static images repeated T times),
        standardised first where the model has ``input_mean`` / ``input_std``."""
        x = super().encode(x, T)
        if x.shape[-1] != self.img_size or x.shape[-2] != self.img_size:
            raise InputError(
                f"{type(self).__name__}: built for {self.img_size}x{self.img_size} inputs (the DSSA scales use the "
                f"patch counts of that size), got {x.shape[-2]}x{x.shape[-1]}; rebuild the model with "
                f"img_size={x.shape[-1]} to run at another resolution"
            )
        if self.input_mean is not None:
            x = (x - self.input_mean) / self.input_std
        return x

    def forward_features(self, x: Tensor) -> Tensor:
        """Stem and stages: ``[T, B, planes[-1], H', W']`` (real-valued, before pooling; timm's
        ``forward_features``)."""
        if not self.training:
            self._check_rates()
        return self.layers(self.prologue(self.encode(x)))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Pooling and the head on :meth:`forward_features`: logits ``[B, num_classes]``, the mean over T
        (``pre_logits=True``: the pooled per-step features ``[T, B, planes[-1]]``)."""
        x = torch.flatten(self.avgpool(x), 2)
        return x if pre_logits else self.classifier(x).mean(0)

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
