"""The QCFS architectures, each usable as the QCFS ANN or as its converted SNN (:mod:`.base`), one module per
family: :mod:`.vgg` (VGG-16), :mod:`.resnet` (ResNet-18/20/34), :mod:`.digits` (the digits demo CNN)."""

from .base import MODES, UP_INIT, QCFSNet, from_official, official_config
from .digits import QCFSDigitsCNN
from .resnet import QCFSResNet
from .vgg import QCFSVGG16

__all__ = [
    "MODES",
    "QCFSVGG16",
    "UP_INIT",
    "QCFSDigitsCNN",
    "QCFSNet",
    "QCFSResNet",
    "from_official",
    "official_config",
]
