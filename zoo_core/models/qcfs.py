r"""Backbones of the QCFS family of ANN-to-SNN conversion, shared by the conversion plugins.

QCFS (Bu et al., *Optimal ANN-SNN Conversion for High-accuracy and Ultra-low-latency Spiking Neural Networks*,
ICLR 2022) released CIFAR ResNets and VGGs whose module trees were carried over verbatim by later conversion
work (Parallel Conversion, ICML 2025; LM-HT's hybrid training, NeurIPS 2024), so their checkpoints share key
names. The pieces here build exactly those trees; each takes an **activation factory**
``act(channels) -> nn.Module``, so one tree is the QCFS ANN, an IF SNN or any other converted SNN depending on
what the factory returns (the factory is called in construction order, once per activation site).

* :class:`QCFSBasicBlock` -- ``residual_function`` (conv3x3-BN-act-conv3x3-BN, no biases) + ``shortcut``
  (identity, or conv1x1-BN when the shape changes), then the activation ``relu``:
  :math:`y = \mathrm{act}(F(x) + S(x))`.
* :func:`qcfs_resnet_stages` -- the stages of BasicBlocks (first block strided).
* :func:`qcfs_vgg_groups` -- the VGG feature groups: per width ``v`` conv3x3 (with bias) + BN + act + Dropout,
  ``"M"`` = AvgPool 2x2 (the QCFS VGGs average-pool instead of max-pool).
* :func:`init_qcfs_vgg` -- the official VGG initialisation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from torch import Tensor, nn

__all__ = [
    "VGG13_CFG",
    "VGG16_CFG",
    "ActFactory",
    "QCFSBasicBlock",
    "init_qcfs_vgg",
    "qcfs_resnet_stages",
    "qcfs_vgg_groups",
    "scaled_width",
]

#: ``act(channels) -> nn.Module``: the activation placed at one site of the network
ActFactory = Callable[[int], nn.Module]

#: VGG-16 feature groups of the QCFS code (``"M"``: 2x2 average pooling)
VGG16_CFG: tuple[list[Any], ...] = (
    [64, 64, "M"],
    [128, 128, "M"],
    [256, 256, 256, "M"],
    [512, 512, 512, "M"],
    [512, 512, 512, "M"],
)
#: VGG-13 feature groups of the QCFS-style code (LM-HT ``ann_models.VGG.vgg13``)
VGG13_CFG: tuple[list[Any], ...] = (
    [64, 64, "M"],
    [128, 128, "M"],
    [256, 256, "M"],
    [512, 512, "M"],
    [512, 512, "M"],
)


def scaled_width(channels: int, mult: float) -> int:
    """``round(channels * mult)``, at least 1 (``mult = 1`` is the official width)."""
    return max(1, round(channels * mult))


class QCFSBasicBlock(nn.Module):
    r"""The QCFS-code BasicBlock: :math:`y = \mathrm{act}(\mathrm{BN}(W_2 * \mathrm{act}(\mathrm{BN}(W_1 * x)))
    + S(x))` with keys ``residual_function.{0,1,2,3,4}``, ``shortcut.{0,1}`` and ``relu``."""

    expansion = 1

    def __init__(self, act: ActFactory, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.residual_function = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
            act(out_channels),
            nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.shortcut = nn.Sequential()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )
        self.relu = act(out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.residual_function(x) + self.shortcut(x))


def qcfs_resnet_stages(
    act: ActFactory, in_channels: int, widths: Sequence[int], blocks: Sequence[int]
) -> list[nn.Sequential]:
    """One ``nn.Sequential`` of :class:`QCFSBasicBlock` per stage; stage ``i`` has ``blocks[i]`` blocks of
    width ``widths[i]``, the first with stride 1 for stage 0 and 2 afterwards."""
    stages = []
    for i, (w, n) in enumerate(zip(widths, blocks)):
        layers = []
        for s in [1 if i == 0 else 2] + [1] * (int(n) - 1):
            layers.append(QCFSBasicBlock(act, in_channels, w, s))
            in_channels = w * QCFSBasicBlock.expansion
        stages.append(nn.Sequential(*layers))
    return stages


def qcfs_vgg_groups(
    cfg: Sequence[Sequence[Any]],
    in_chans: int,
    act: ActFactory,
    dropout: float = 0.0,
    width_mult: float = 1.0,
) -> tuple[list[nn.Sequential], int]:
    """The VGG feature groups (``layer1`` ... ``layerN``) and the channel count they end with.

    Per width ``v``: ``Conv2d(c, v, 3, padding=1)`` (with bias), ``BatchNorm2d(v)``, ``act(v)``,
    ``Dropout(dropout)``; ``"M"``: ``AvgPool2d(2, 2)``."""
    groups, c_in = [], in_chans
    for group in cfg:
        layers: list[nn.Module] = []
        for v in group:
            if v == "M":
                layers.append(nn.AvgPool2d(kernel_size=2, stride=2))
                continue
            c = scaled_width(int(v), width_mult)
            layers += [
                nn.Conv2d(c_in, c, kernel_size=3, padding=1),
                nn.BatchNorm2d(c),
                act(c),
                nn.Dropout(dropout),
            ]
            c_in = c
        groups.append(nn.Sequential(*layers))
    return groups, c_in


def init_qcfs_vgg(model: nn.Module) -> None:
    """The official VGG initialisation: Kaiming-normal (fan-out, ReLU gain) conv weights, BN weight 1 and bias
    0, linear biases 0 (conv biases and linear weights keep PyTorch's defaults)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, val=1)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
