"""VGG-16 with QCFS (official ``models/VGG_QCFS.vgg16_qcfs``): the family ``vgg16_qcfs``."""

from __future__ import annotations

from torch import Tensor, nn
from zoo_core.sdk import VGG16_CFG, ConfigError, check_positive, init_qcfs_vgg, qcfs_vgg_groups, scaled_width

from .base import QCFSNet

__all__ = ["QCFSVGG16"]


class QCFSVGG16(QCFSNet):
    """VGG-16 with QCFS (official ``models/VGG_QCFS.vgg16_qcfs``), CIFAR layout by default.

    Five groups of conv3x3 (with bias) + BN + activation + Dropout, AvgPool 2x2 after each group; classifier
    Flatten -> Linear(512 s^2, 4096) -> act -> Dropout -> Linear(4096, 4096) -> act -> Dropout ->
    Linear(4096, num_classes), s = img_size / 32. Initialisation as the official builder (Kaiming normal
    fan-out for convs, BN weight 1 bias 0, linear biases 0).

    Args (keyword-only): ``T``, ``num_classes``, ``is_cab``, ``dropout`` as the official builder; zoo
    extensions ``in_chans``, ``img_size`` (the classifier input is 512 x (img_size/32)^2: 512 on CIFAR, 25088
    at 224, the official ImageNet variant), ``width_mult`` (scales every width; 1 = official) for small test
    instances, and ``mode`` (:class:`~zoo_parallel_conversion.models.base.QCFSNet`).
    """

    head_name = "classifier"

    def __init__(
        self,
        *,
        T: int = 4,
        num_classes: int = 10,
        is_cab: bool = False,
        dropout: float = 0.0,
        in_chans: int = 3,
        img_size: int = 32,
        width_mult: float = 1.0,
        mode: str = "ann",
    ) -> None:
        super().__init__(
            T=T, num_classes=num_classes, in_chans=in_chans, img_size=img_size, is_cab=is_cab, mode=mode
        )
        who = type(self).__name__
        if img_size < 32:
            raise ConfigError(f"{who}: img_size must be >= 32 (five 2x2 poolings), got {img_size}")
        self.width_mult = check_positive(width_mult, "width_mult", who)
        self.dropout = float(dropout)
        groups, c_in = qcfs_vgg_groups(VGG16_CFG, in_chans, self.act, dropout, width_mult)
        for i, group in enumerate(groups, 1):
            setattr(self, f"layer{i}", group)
        side = img_size // 32
        hidden = scaled_width(4096, width_mult)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * side * side, hidden),
            self.act(hidden, conv=False),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            self.act(hidden, conv=False),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        init_qcfs_vgg(self)

    def forward_net(self, x: Tensor) -> Tensor:
        out = self.layer1(x)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = self.layer5(out)
        return self.classifier(out)
