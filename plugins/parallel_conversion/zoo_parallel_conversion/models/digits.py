"""A small QCFS CNN for 8x8 digits: the family ``qcfs_cnn_digits`` (the ANN) and ``qcfs_cnn_digits_parallel``
(its parallel SNN, which carries the demo weights)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn
from zoo_core.sdk import ConfigError

from .base import QCFSNet

__all__ = ["QCFSDigitsCNN"]


class QCFSDigitsCNN(QCFSNet):
    """Small QCFS CNN for 8x8 digits: ``features`` = conv3x3-BN-act, conv3x3-BN-act-AvgPool2,
    conv3x3-BN-act-AvgPool2; ``classifier`` = Flatten -> Linear(4 C3, num_classes). Same modes and conversion
    as the CIFAR/ImageNet architectures.

    Args (keyword-only): ``T``, ``num_classes``, ``in_chans``, ``img_size``, ``channels`` (C1, C2, C3),
    ``up_init`` (initial QCFS clip), ``is_cab``, ``mode`` (:class:`~zoo_parallel_conversion.models.base.QCFSNet`).
    """

    head_name = "classifier"

    def __init__(
        self,
        *,
        T: int = 4,
        num_classes: int = 10,
        in_chans: int = 1,
        img_size: int = 8,
        channels: Sequence[int] = (16, 32, 32),
        up_init: float = 4.0,
        is_cab: bool = False,
        mode: str = "ann",
    ) -> None:
        super().__init__(
            T=T,
            num_classes=num_classes,
            in_chans=in_chans,
            img_size=img_size,
            is_cab=is_cab,
            mode=mode,
            up_init=up_init,
        )
        who = type(self).__name__
        if len(channels) != 3 or any(isinstance(c, bool) or int(c) < 1 for c in channels):
            raise ConfigError(f"{who}: channels must be three positive ints, got {channels!r}")
        if img_size < 4:
            raise ConfigError(f"{who}: img_size must be >= 4 (two 2x2 poolings), got {img_size}")
        c1, c2, c3 = (int(c) for c in channels)
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, c1, 3, padding=1, bias=False),
            nn.BatchNorm2d(c1),
            self.act(c1),
            nn.Conv2d(c1, c2, 3, padding=1, bias=False),
            nn.BatchNorm2d(c2),
            self.act(c2),
            nn.AvgPool2d(2),
            nn.Conv2d(c2, c3, 3, padding=1, bias=False),
            nn.BatchNorm2d(c3),
            self.act(c3),
            nn.AvgPool2d(2),
        )
        side = img_size // 4
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c3 * side * side, num_classes))

    def forward_net(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x))
