"""ResNets with QCFS (official ``models/ResNet_QCFS``): the family ``resnet18_qcfs``, ``resnet20_qcfs``,
``resnet34_qcfs``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, QCFSBasicBlock, check_positive, qcfs_resnet_stages, scaled_width

from .base import QCFSNet

__all__ = ["QCFSResNet"]


class QCFSResNet(QCFSNet):
    """ResNet with QCFS: official ``ResNet`` (ResNet-18/34) and ``ResNet4Cifar`` (ResNet-20).

    3x3 stem conv (no bias) + BN + act with **no max-pool** (CIFAR-style, also for ImageNet, as released),
    stages ``conv2_x``, ``conv3_x``, ... of BasicBlocks (``blocks[i]`` blocks of width ``widths[i]``, the first
    block of every stage but the first with stride 2), global average pooling, ``fc``. PyTorch's default
    initialisation (the official builders set none).

    Args (keyword-only): ``blocks`` and ``widths`` (ResNet-18: 2/2/2/2 blocks of 64/128/256/512; ResNet-34:
    3/4/6/3; ResNet-20: 3/3/3 blocks of 16/32/64), ``T``, ``num_classes``, ``is_cab`` as the official builders;
    zoo extensions ``in_chans``, ``img_size``, ``width_mult`` (scales every width; 1 = official) and ``mode``
    (:class:`~zoo_parallel_conversion.models.base.QCFSNet`).
    """

    head_name = "fc"

    def __init__(
        self,
        *,
        blocks: Sequence[int] = (2, 2, 2, 2),
        widths: Sequence[int] = (64, 128, 256, 512),
        T: int = 4,
        num_classes: int = 100,
        is_cab: bool = False,
        in_chans: int = 3,
        img_size: int = 32,
        width_mult: float = 1.0,
        mode: str = "ann",
    ) -> None:
        super().__init__(
            T=T, num_classes=num_classes, in_chans=in_chans, img_size=img_size, is_cab=is_cab, mode=mode
        )
        who = type(self).__name__
        self.width_mult = check_positive(width_mult, "width_mult", who)
        if len(blocks) != len(widths) or any(int(b) < 1 for b in blocks) or any(int(w) < 1 for w in widths):
            raise ConfigError(
                f"{who}: blocks and widths must list positive counts, one per stage, got {blocks!r} and "
                f"{widths!r}"
            )
        self.stage_names = tuple(f"conv{i + 2}_x" for i in range(len(blocks)))
        widths = [scaled_width(int(w), width_mult) for w in widths]
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_chans, widths[0], kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            self.act(widths[0]),
        )
        for stage, layer in zip(self.stage_names, qcfs_resnet_stages(self.act, widths[0], widths, blocks)):
            setattr(self, stage, layer)
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1] * QCFSBasicBlock.expansion, num_classes)

    @property
    def feature_info(self) -> list[dict[str, Any]]:
        """The stages, timm's way (``features_only=True`` through ``zoo.register_with_timm()``): ``conv2_x``
        at the input resolution (no max-pool), each later stage halving it; ``[N, C_i, H_i, W_i]`` maps with
        ``N = B`` (ANN, static image) or ``T*B`` (time folded)."""
        out = []
        for i, stage in enumerate(self.stage_names):
            convs = [m for m in getattr(self, stage).modules() if isinstance(m, nn.Conv2d)]
            out.append({"module": stage, "num_chs": convs[-1].out_channels, "reduction": 2**i})
        return out

    def forward_net(self, x: Tensor) -> Tensor:
        out = self.conv1(x)
        for stage in self.stage_names:
            out = getattr(self, stage)(out)
        out = self.avg_pool(out)
        out = torch.flatten(out, 1)
        return self.fc(out)
