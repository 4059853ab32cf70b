r"""The official QCFS architectures (``vgg16_qcfs``, ``resnet20_qcfs``, ``resnet18_qcfs``, ``resnet34_qcfs``) and
a small digits CNN, each usable as the QCFS ANN or as its converted SNN.

One class per architecture, three modes (constructor argument ``mode``):

``"ann"`` (default)
    the QCFS ANN (activation :class:`zoo_core.sdk.QCFS` with ``T`` levels, clip ``up``), what is trained.
    A static image ``[B, C, H, W]`` runs once; frames ``[T', B, C, H, W]`` run per frame and the logits are
    averaged over time.
``"parallel"``
    the parallel SNN: every QCFS replaced by a :class:`~zoo_parallel_conversion.neurons.ParallelIF` (or, for
    ``is_cab=True`` conv layers, a :class:`~zoo_parallel_conversion.neurons.ChannelwiseParallelIF`). The image
    is repeated ``T`` times and the network runs on the time-folded batch ``[T*B, ...]`` like the official code;
    logits are the mean over ``T``.
``"if"``
    the sequential IF baseline (:class:`zoo_core.sdk.ConversionIF`, :math:`\theta = \lambda`,
    initial membrane :math:`\lambda/2`), same layout.

Usually one builds the ANN and converts it: ``zoo.create_learning_rule("parallel_conversion").convert(ann)``
returns this class in ``"parallel"`` mode with the thresholds of the ANN. Building ``mode="parallel"`` directly
gives the SNN's skeleton, into which SNN weights (e.g. a weight tag) load.

State-dict keys are the official ones (spec section f), so official checkpoints load as they are
(``zoo.from_official`` also accepts LM-HT's ``thresh`` naming); the converted SNN's keys are those of the
official converted model (``TxT``/``bias`` per ``ParaInfNeuron``; ``pre_th``/``post_th``/``TxT``/``bias`` per
``ParaInfNeuron_CW_ND``). Parameter counts equal the official builders' (spec section d; asserted in tests).
Zoo extensions: ``in_chans``, ``img_size`` (VGG: the classifier input is 512 x (img_size/32)^2, i.e. 512 on
CIFAR and 25088 at 224, the official ImageNet variant) and ``width_mult`` (scales every width; 1 = official)
for small test instances.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import (
    QCFS,
    VGG16_CFG,
    ConfigError,
    ConversionIF,
    InputError,
    QCFSBasicBlock,
    check_positive_int,
    check_time_steps,
    encode_image_input,
    init_qcfs_vgg,
    qcfs_resnet_stages,
    qcfs_vgg_groups,
    scaled_width,
)

from .calibration import DAQCFS
from .neurons import ChannelwiseParallelIF, ParallelIF

__all__ = [
    "MODES",
    "QCFSVGG16",
    "QCFSDigitsCNN",
    "QCFSNet",
    "QCFSResNet",
    "QCFSResNet20",
    "from_official",
    "official_config",
    "resnet18_qcfs",
    "resnet20_qcfs",
    "resnet34_qcfs",
    "vgg16_qcfs",
]

MODES = ("ann", "parallel", "if")
#: initial QCFS clip (official ``up=8.``)
UP_INIT = 8.0


class QCFSNet(nn.Module):
    """Base: mode handling, input encoding and the activation factory shared by the architectures."""

    zoo_family = "qcfs"

    def __init__(
        self,
        who: str,
        T: int,
        num_classes: int,
        in_chans: int,
        img_size: int,
        is_cab: bool,
        mode: str,
        up_init: float = UP_INIT,
    ) -> None:
        super().__init__()
        self._who = who
        self.T = check_time_steps(T, who)
        self.num_classes = check_positive_int(num_classes, "num_classes", who)
        self.in_chans = check_positive_int(in_chans, "in_chans", who)
        self.img_size = check_positive_int(img_size, "img_size", who)
        if mode not in MODES:
            raise ConfigError(f"{who}: mode must be one of {MODES}, got {mode!r}")
        self.mode = mode
        self.is_cab = bool(is_cab)
        self.up_init = float(up_init)

    # -- activations -------------------------------------------------------------------------------------
    def act(self, channels: int, conv: bool = True) -> nn.Module:
        """The activation of one layer for the current mode (``conv``: on [B, C, H, W] maps)."""
        T, cab = self.T, self.is_cab and conv
        if self.mode == "ann":
            if cab:
                return DAQCFS(channels, levels=T, threshold=self.up_init)
            return QCFS(levels=T, threshold=self.up_init, param_name="up")
        if self.mode == "if":
            return ConversionIF(self.up_init, init_mem=0.5, fold_T=T)
        if cab:
            return ChannelwiseParallelIF(T, pre_th=self.up_init, channels=channels, folded=True)
        return ParallelIF(T, v_threshold=self.up_init, init_mem=0.5, folded=True)

    # -- forward -------------------------------------------------------------------------------------------
    def forward_net(self, x: Tensor) -> Tensor:
        """The official network: ``[N, C, H, W] -> [N, num_classes]`` (N = B for the ANN, T*B for the SNN)."""
        raise NotImplementedError

    def forward_steps(self, x: Tensor) -> Tensor:
        """Per-step logits ``[T, B, num_classes]`` (the ANN: per frame)."""
        seq = encode_image_input(x, self.T, self.in_chans, self._who)
        if self.mode != "ann" and seq.shape[0] != self.T:
            raise InputError(
                f"{self._who}: this {self.mode} SNN runs T={self.T} time steps; got a sequence of "
                f"{seq.shape[0]} frames (build it with T={seq.shape[0]} or resample the frames)"
            )
        t, b = seq.shape[:2]
        return self.forward_net(seq.reshape(t * b, *seq.shape[2:])).view(t, b, -1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, num_classes]``: the mean over time of :meth:`forward_steps` (ANN, static input: one pass)."""
        if self.mode == "ann" and isinstance(x, Tensor) and x.dim() == 4:
            encode_image_input(x, 1, self.in_chans, self._who)  # validation only
            return self.forward_net(x)
        return self.forward_steps(x).mean(0)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, T={self.T}, is_cab={self.is_cab}"


# ------------------------------------------------------------------------------------------------ VGG-16


class QCFSVGG16(QCFSNet):
    """VGG-16 with QCFS (official ``models/VGG_QCFS.vgg16_qcfs``).

    Five groups of conv3x3 (with bias) + BN + activation + Dropout, AvgPool 2x2 after each group; classifier
    Flatten -> Linear(512 s^2, 4096) -> act -> Dropout -> Linear(4096, 4096) -> act -> Dropout ->
    Linear(4096, num_classes), s = img_size / 32. Initialisation as the official builder (Kaiming normal
    fan-out for convs, BN weight 1 bias 0, linear biases 0).
    """

    def __init__(
        self,
        T: int = 4,
        num_classes: int = 10,
        is_cab: bool = False,
        dropout: float = 0.0,
        in_chans: int = 3,
        img_size: int = 32,
        width_mult: float = 1.0,
        mode: str = "ann",
    ) -> None:
        super().__init__("vgg16_qcfs", T, num_classes, in_chans, img_size, is_cab, mode)
        if img_size < 32:
            raise ConfigError(f"vgg16_qcfs: img_size must be >= 32 (five 2x2 poolings), got {img_size}")
        if not width_mult > 0:
            raise ConfigError(f"vgg16_qcfs: width_mult must be > 0, got {width_mult!r}")
        self.width_mult = width_mult
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


# ------------------------------------------------------------------------------------------------ ResNets
class QCFSResNet(QCFSNet):
    """ResNet with QCFS (official ``models/ResNet_QCFS.ResNet``: ResNet-18/34).

    3x3 stem conv (no bias) + BN + act with **no max-pool** (CIFAR-style, also for ImageNet, as released),
    stages ``conv2_x``..``conv5_x`` of BasicBlocks with widths 64/128/256/512 and strides 1/2/2/2, global
    average pooling, ``fc``. PyTorch's default initialisation (the official builder sets none).
    """

    widths: tuple[int, ...] = (64, 128, 256, 512)
    stage_names: tuple[str, ...] = ("conv2_x", "conv3_x", "conv4_x", "conv5_x")

    def __init__(
        self,
        blocks: tuple[int, ...] | list[int] = (2, 2, 2, 2),
        T: int = 4,
        num_classes: int = 1000,
        is_cab: bool = False,
        in_chans: int = 3,
        img_size: int = 224,
        width_mult: float = 1.0,
        mode: str = "ann",
        name: str = "resnet_qcfs",
    ) -> None:
        super().__init__(name, T, num_classes, in_chans, img_size, is_cab, mode)
        if not width_mult > 0:
            raise ConfigError(f"{name}: width_mult must be > 0, got {width_mult!r}")
        if len(blocks) != len(self.widths) or any(int(b) < 1 for b in blocks):
            raise ConfigError(f"{name}: blocks must list {len(self.widths)} positive counts, got {blocks!r}")
        self.width_mult = width_mult
        widths = [scaled_width(w, width_mult) for w in self.widths]
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_chans, widths[0], kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            self.act(widths[0]),
        )
        for stage, layer in zip(self.stage_names, qcfs_resnet_stages(self.act, widths[0], widths, blocks)):
            setattr(self, stage, layer)
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1] * QCFSBasicBlock.expansion, num_classes)

    def forward_net(self, x: Tensor) -> Tensor:
        out = self.conv1(x)
        for stage in self.stage_names:
            out = getattr(self, stage)(out)
        out = self.avg_pool(out)
        out = torch.flatten(out, 1)
        return self.fc(out)


class QCFSResNet20(QCFSResNet):
    """ResNet-20 with QCFS for CIFAR (official ``ResNet4Cifar``): stem 3->16, stages ``conv2_x``..``conv4_x``
    of three BasicBlocks each with widths 16/32/64 and strides 1/2/2, global average pooling, ``fc``."""

    widths = (16, 32, 64)
    stage_names = ("conv2_x", "conv3_x", "conv4_x")


def vgg16_qcfs(
    T: int = 4,
    num_classes: int = 10,
    is_cab: bool = False,
    dropout: float = 0.0,
    in_chans: int = 3,
    img_size: int = 32,
    width_mult: float = 1.0,
    mode: str = "ann",
) -> QCFSVGG16:
    """VGG-16 with QCFS (Hao et al. 2025 / Bu et al. 2022), CIFAR layout by default."""
    return QCFSVGG16(T, num_classes, is_cab, dropout, in_chans, img_size, width_mult, mode)


def resnet20_qcfs(
    T: int = 8,
    num_classes: int = 100,
    is_cab: bool = False,
    in_chans: int = 3,
    img_size: int = 32,
    width_mult: float = 1.0,
    mode: str = "ann",
) -> QCFSResNet20:
    """ResNet-20 with QCFS for CIFAR."""
    return QCFSResNet20(
        (3, 3, 3), T, num_classes, is_cab, in_chans, img_size, width_mult, mode, name="resnet20_qcfs"
    )


def resnet18_qcfs(
    T: int = 4,
    num_classes: int = 100,
    is_cab: bool = False,
    in_chans: int = 3,
    img_size: int = 32,
    width_mult: float = 1.0,
    mode: str = "ann",
) -> QCFSResNet:
    """ResNet-18 with QCFS (CIFAR-style stem; defined but not wired into the official main.py)."""
    return QCFSResNet(
        (2, 2, 2, 2), T, num_classes, is_cab, in_chans, img_size, width_mult, mode, name="resnet18_qcfs"
    )


def resnet34_qcfs(
    T: int = 8,
    num_classes: int = 1000,
    is_cab: bool = False,
    in_chans: int = 3,
    img_size: int = 224,
    width_mult: float = 1.0,
    mode: str = "ann",
) -> QCFSResNet:
    """ResNet-34 with QCFS for ImageNet (CIFAR-style 3x3 stem without max-pool, as released)."""
    return QCFSResNet(
        (3, 4, 6, 3), T, num_classes, is_cab, in_chans, img_size, width_mult, mode, name="resnet34_qcfs"
    )


# ------------------------------------------------------------------------------------------------ digits CNN
class QCFSDigitsCNN(QCFSNet):
    """Small QCFS CNN for 8x8 digits (the spec's demo, narrower): ``features`` = conv3x3-BN-act,
    conv3x3-BN-act-AvgPool2, conv3x3-BN-act-AvgPool2; ``classifier`` = Flatten -> Linear(4 C3, num_classes).
    Same modes and conversion as the CIFAR/ImageNet architectures."""

    def __init__(
        self,
        T: int = 4,
        num_classes: int = 10,
        in_chans: int = 1,
        img_size: int = 8,
        channels: tuple[int, ...] | list[int] = (16, 32, 32),
        up_init: float = 4.0,
        is_cab: bool = False,
        mode: str = "ann",
    ) -> None:
        super().__init__("qcfs_cnn_digits", T, num_classes, in_chans, img_size, is_cab, mode, up_init)
        if len(channels) != 3 or any(isinstance(c, bool) or int(c) < 1 for c in channels):
            raise ConfigError(f"qcfs_cnn_digits: channels must be three positive ints, got {channels!r}")
        if img_size < 4:
            raise ConfigError(f"qcfs_cnn_digits: img_size must be >= 4 (two 2x2 poolings), got {img_size}")
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


# ------------------------------------------------------------------------------------------------ official
def from_official(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Official checkpoint -> zoo layout (the core has already unwrapped ``{"model": ...}`` and ``module.``).

    The layouts are identical (spec section f); this only renames LM-HT's QCFS clip ``*.thresh`` to ``*.up``
    so the hybrid-training ANN checkpoints (same architecture) load too.
    """
    out = {}
    for k, v in state_dict.items():
        if k.endswith(".thresh") and k[: -len(".thresh")] + ".up" not in state_dict:
            k = k[: -len(".thresh")] + ".up"
        out[k] = v
    return out


def official_config(state_dict: dict[str, Tensor]) -> dict[str, Any]:
    """Constructor overrides implied by an official state dict: ``num_classes``, ``in_chans``, ``is_cab``
    (``rec_*`` buffers present) and, for VGG-16, ``img_size`` (classifier input 512 -> 32, 25088 -> 224).
    ``T`` is not stored in official checkpoints; pass it yourself. A wrapped checkpoint (``{"model": ...}``,
    ``module.`` prefixes) is unwrapped first."""
    from zoo_core.sdk import unwrap_state_dict

    state_dict = unwrap_state_dict(state_dict)
    cfg: dict[str, Any] = {"is_cab": any(k.endswith("rec_in_mean") for k in state_dict)}
    head = next((k for k in ("fc.weight", "classifier.7.weight") if k in state_dict), None)
    if head is not None:
        cfg["num_classes"] = int(state_dict[head].shape[0])
    stem = next((k for k in ("conv1.0.weight", "layer1.0.weight") if k in state_dict), None)
    if stem is not None:
        cfg["in_chans"] = int(state_dict[stem].shape[1])
    if "classifier.1.weight" in state_dict and "layer5.0.weight" in state_dict:
        c5 = int(state_dict["layer5.0.weight"].shape[0])
        side = round((int(state_dict["classifier.1.weight"].shape[1]) / c5) ** 0.5)
        cfg["img_size"] = 32 * max(1, side)
    return cfg
