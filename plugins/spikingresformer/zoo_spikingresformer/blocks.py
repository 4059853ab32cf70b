r"""The other SpikingResformer blocks: group-wise spiking FFN, downsampling layer and the stems.

All work on ``[T, B, C, H, W]``; every sub-block starts with a neuron and adds to the real-valued residual
stream (the stem has no neuron)::

    GWFFN:       U = BN(Conv1x1_{C->4C}(LIF(X)))                                       (up)
                 G = BN(GroupConv3x3_{4C->4C, groups 4C/g}(LIF(U))) + U                (conv.0, inner shortcut)
                 out = BN(Conv1x1_{4C->C}(LIF(G))) + X                                 (down)
    Downsample:  out = BN(Conv3x3_{stride 2}(LIF(X)))                                  (no shortcut)
    ImageNet stem:  Conv7x7 stride 2 pad 3 -> BN -> MaxPool 3x3 stride 2 pad 1        (/4, no neuron)
    conv3x3 stem:   Conv3x3 stride 1 pad 1 -> BN                                       (CIFAR / DVS / digits)
"""

from __future__ import annotations

from torch import Tensor, nn
from zoo_core.sdk import ConfigError, StepWise

from .layers import BN, Conv1x1, Conv3x3, SeqConv2d, make_neuron

__all__ = ["GWFFN", "DownsampleLayer", "conv3x3_stem", "imagenet_stem"]


class GWFFN(nn.Module):
    """Group-wise spiking feed-forward network (``GWSFFN``), residual included.

    Args:
        in_channels: ``C``.
        num_conv: grouped 3x3 convs in the middle (1 in every official model).
        ratio: expansion (inner channels ``ratio * C``; 4 in every official model).
        group_size: channels per group of the grouped conv (64, or 32 for DVS-Gesture); groups = inner / g.
        neuron: ``"lif"`` or ``"plif"``.
    """

    def __init__(
        self, in_channels: int, num_conv: int = 1, ratio: int = 4, group_size: int = 64, neuron: str = "lif"
    ) -> None:
        super().__init__()
        inner = in_channels * ratio
        if group_size < 1 or inner % group_size:
            raise ConfigError(
                f"GWFFN: inner channels {inner} (= {ratio} x {in_channels}) must be divisible by "
                f"group_size {group_size}"
            )
        self.up = nn.Sequential(make_neuron(neuron), Conv1x1(in_channels, inner), BN(inner))
        self.conv = nn.ModuleList(
            nn.Sequential(make_neuron(neuron), Conv3x3(inner, inner, groups=inner // group_size), BN(inner))
            for _ in range(num_conv)
        )
        self.down = nn.Sequential(make_neuron(neuron), Conv1x1(inner, in_channels), BN(in_channels))

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x
        x = self.up(x)
        inner_shortcut = x
        for block in self.conv:
            x = block(x)
        x = x + inner_shortcut
        x = self.down(x)
        return x + shortcut


class DownsampleLayer(nn.Module):
    """``BN(Conv3x3_{stride}(LIF(X)))``: the first module of stages 2 and 3 (no shortcut)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2, neuron: str = "lif") -> None:
        super().__init__()
        # construction order = official (conv, norm, activation): same key order, same RNG use
        self.conv = Conv3x3(in_channels, out_channels, stride=stride)
        self.norm = BN(out_channels)
        self.activation = make_neuron(neuron)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(self.activation(x)))


def imagenet_stem(in_chans: int, dim: int) -> nn.Sequential:
    """Conv 7x7 stride 2 pad 3 -> BN -> MaxPool 3x3 stride 2 pad 1 (no neuron; 224 -> 56)."""
    return nn.Sequential(
        SeqConv2d(in_chans, dim, 7, 2, 3),
        BN(dim),
        StepWise(nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
    )


def conv3x3_stem(in_chans: int, dim: int) -> nn.Sequential:
    """Conv 3x3 stride 1 pad 1 -> BN (the CIFAR / DVS stems; no neuron, no downsampling)."""
    return nn.Sequential(SeqConv2d(in_chans, dim, 3, 1, 1), BN(dim))
