r"""The official LM-HT architectures with the official state-dict layouts (spec sections d and f).

``lmht_resnet18`` / ``lmht_resnet34`` (official ``models/ResNet.py``, direct STBP training)
    stem conv (``conv1``, no bias) + ``bn1`` computed **once** on the image, repeated ``T`` times (times
    ``input_scale``), neuron ``sn1``; BasicBlocks ``layer1..4`` whose convs sit in SpikingJelly-style containers
    (``layer1.0.conv1.0.weight``, BN at ``.conv1.1``), neurons ``sn1``/``sn2``, downsample
    ``downsample.0.{0,1}``; global average pooling; ``fc.0`` (a per-step container). Every activation is an
    :class:`~zoo_lmht.neurons.LMHTNeuron` with :math:`\theta = 2/L`, initial membrane 0 (``replace_activation_by_LMHT``).
    ``use_imagenet=True``: 7x7 stride-2 stem and a 3x3 stride-2 max-pool (the official ImageNet variant).
    ``lmht_resnet18_dvs``: the official CIFAR10-DVS variant (frames averaged into one step, per-step stem).
``lmht_resnet19`` (official ``resnet19``: no ``layer1``, stages 128x3 / 256x3 / 512x2, fc 512 -> 256 -> neuron
    -> classes with keys ``fc.0.0`` / ``fc.1`` / ``fc.2.0``); ``lmht_resnet19_dvs``: the DVS stem and ``layer2``
    with stride 2 (official ``use_dvs=True``)
``lmht_ms_resnet18`` / ``lmht_ms_resnet34`` (official ``ms_resnet18/34``)
    the same module tree with pre-activation MSBlocks (no neuron after the residual sum, no stem neuron call:
    ``sn1`` stays in the state dict, frozen).
``lmht_resnet20`` (official ``ann_models/ResNet.py``, the hybrid-training backbone)
    ``mode="ann"``: the QCFS ANN (clip parameter ``thresh``, init 8, ``levels`` quantisation steps);
    ``mode="if"``: the converted IF SNN (:class:`zoo_core.sdk.ConversionIF`, :math:`\rho = 1/2`; the
    official pipeline evaluates it at ``T = 16``); ``mode="lmht"``: the LM-HT SNN of hybrid training
    (:math:`\rho = 1/2`, first neuron ``conv1.2`` has ``scale = L``). In the SNN modes every conv/BN/linear/pool is
    wrapped in a per-step container, so keys gain ``.0`` (``conv1.0.0.weight``, ``fc.0.weight``) as in the
    official converted model.

``lmht_vgg13`` (official ``models/VGG.py``, direct training; ImageNet-200 head by default)
    per-step (conv with bias + BN) -> neuron -> Dropout groups, AvgPool, global pool; classifier neurons see
    ``[T, B, N]`` and use ``mask_linear`` along time only (the released code mis-broadcasts there, spec i).
``lmht_cifarnet`` (official ``models/VGG.py`` ``cifarnet``, the same class with groups ``[128] [256,M] [512,M]
    [1024] [512]`` and classifier 512*8*8 -> 1024 -> neuron -> 512 -> neuron -> classes)
``lmht_vgg16`` / ``lmht_vgg13_hybrid`` (official ``ann_models/VGG.py``, the other hybrid-training backbones)
    same four modes as ``lmht_resnet20``; the first neuron is ``layer1.2``.

All models: ``mode="inference"`` builds the skeleton of the reparameterised model (``T' = L T`` steps of
:class:`~zoo_lmht.neurons.LMHTInferenceNeuron`, stem scale restored) into which a reparameterised state dict
loads; :func:`zoo_lmht.reparam.reparameterize` produces it from a trained model. A model returns the mean over
time of the per-step logits (:meth:`forward_steps` gives the official ``[T, B, classes]`` output).
Zoo extensions: ``in_chans``, ``width_mult`` (1 = official), ``img_size`` (only used for the declared input size).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from zoo_core.sdk import (
    QCFS,
    VGG13_CFG,
    VGG16_CFG,
    ConfigError,
    ConversionIF,
    InputError,
    SeqStepWise,
    check_positive_int,
    check_time_steps,
    encode_image_input,
    init_qcfs_vgg,
    qcfs_resnet_stages,
    qcfs_vgg_groups,
    scaled_width,
    wrap_stepwise,
)

from .neurons import LMHTInferenceNeuron, LMHTNeuron

__all__ = [
    "LMHTVGG13",
    "LMHTVGG16",
    "LMHTDigitsCNN",
    "LMHTNet",
    "LMHTResNet",
    "LMHTResNet20",
    "from_official",
    "lmht_cifarnet",
    "lmht_cnn_digits",
    "lmht_ms_resnet18",
    "lmht_ms_resnet34",
    "lmht_resnet18",
    "lmht_resnet18_dvs",
    "lmht_resnet19",
    "lmht_resnet19_dvs",
    "lmht_resnet20",
    "lmht_resnet34",
    "lmht_vgg13",
    "lmht_vgg13_hybrid",
    "lmht_vgg16",
    "official_config",
]


_NO_DVS_REPARAM = (
    "no reparameterisation for the DVS variants: their stem neuron turns one averaged input step into T steps "
    "(weights 2 sigma(M) / 1), which the inference neuron's block-constant 2 sigma(M) / (L T) mixing reproduces "
    "only when T = L, and the official main.py stem fix (bn1.bias) fails on the per-step bn1 container"
)


class LMHTNet(nn.Module):
    """Shared: configuration checks, the neuron factory, readout."""

    zoo_family = "lmht"
    modes: tuple[str, ...] = ("lmht", "inference")

    def __init__(
        self, who: str, T: int, L: int, num_classes: int, in_chans: int, img_size: int, mode: str
    ) -> None:
        super().__init__()
        self._who = who
        if mode not in self.modes:
            raise ConfigError(f"{who}: mode must be one of {self.modes}, got {mode!r}")
        self.mode = mode
        self.T_train = check_time_steps(T, who)
        self.L = check_positive_int(L, "L", who)
        self.T = self.L * self.T_train if mode == "inference" else self.T_train
        self.num_classes = check_positive_int(num_classes, "num_classes", who)
        self.in_chans = check_positive_int(in_chans, "in_chans", who)
        self.img_size = check_positive_int(img_size, "img_size", who)

    def neuron(self, v_threshold: float | None, init_mem: float, rank: int = 5) -> nn.Module:
        if self.mode == "inference":
            th = 2.0 / self.L if v_threshold is None else v_threshold
            return LMHTInferenceNeuron(self.L, self.L * self.T_train, th, 0.0)
        # conv neurons see [T, B, C, H, W] and use `mask`; `mask_linear` is kept (state-dict layout) but frozen,
        # as it never receives a gradient in the official code either. Classifier neurons (rank 3) use
        # `mask_linear`, indexed along time only (the official code mis-broadcasts there, spec section i).
        return LMHTNeuron(self.L, self.T_train, v_threshold, init_mem, input_rank=rank)

    def forward_steps(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, num_classes]``: the mean over the ``T`` steps of :meth:`forward_steps`."""
        return self.forward_steps(x).mean(0)

    def _sequence(self, x: Tensor) -> Tensor:
        seq = encode_image_input(x, self.T, self.in_chans, self._who)
        if seq.shape[0] != self.T:
            raise InputError(
                f"{self._who}: this SNN runs T={self.T} time steps (its neurons mix all steps); got a sequence "
                f"of {seq.shape[0]} frames"
            )
        return seq

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, T={self.T}, L={self.L}"


# ------------------------------------------------------------------------------------------------ ResNet-18/34
class BasicBlock(nn.Module):
    """Official spiking ``BasicBlock``: ``conv1`` (conv3x3+BN) -> ``sn1`` -> ``conv2`` (conv3x3+BN) (+ identity or
    ``downsample``) -> ``sn2``, stateless layers per step (``SeqToANNContainer`` layout)."""

    expansion = 1

    def __init__(self, net: LMHTNet, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = SeqStepWise(
            nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(planes)
        )
        self.sn1 = net.neuron(None, 0.0)
        self.conv2 = SeqStepWise(nn.Conv2d(planes, planes, 3, padding=1, bias=False), nn.BatchNorm2d(planes))
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                SeqStepWise(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))
            )
        self.sn2 = net.neuron(None, 0.0)

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.sn1(self.conv1(x))
        return self.sn2(self.conv2(out) + identity)


class MSBlock(BasicBlock):
    """Official ``MSBlock`` (MS-ResNet, pre-activation): ``conv1(sn1(x))`` -> ``conv2(sn2(.))`` + identity (or
    ``downsample(x)`` on the block input, i.e. on membrane-potential-like values); no neuron after the sum.
    Same modules and keys as :class:`BasicBlock`."""

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv1(self.sn1(x))
        return self.conv2(self.sn2(out)) + identity


class LMHTResNet(LMHTNet):
    """LM-HT ResNet (official ``models.ResNet.ResNet`` with BasicBlocks, after ``replace_activation_by_LMHT``)."""

    def __init__(
        self,
        blocks: tuple[int, ...] = (2, 2, 2, 2),
        T: int = 2,
        L: int = 2,
        num_classes: int = 100,
        use_imagenet: bool = False,
        in_chans: int = 3,
        img_size: int = 32,
        width_mult: float = 1.0,
        mode: str = "lmht",
        name: str = "lmht_resnet18",
        ms_block: bool = False,
        use_dvs: bool = False,
    ) -> None:
        super().__init__(name, T, L, num_classes, in_chans, img_size, mode)
        self.ms_block = bool(ms_block)
        self.use_dvs = bool(use_dvs)
        if self.use_dvs and mode == "inference":
            raise ConfigError(f"{name}: {_NO_DVS_REPARAM}")
        if not width_mult > 0:
            raise ConfigError(f"{name}: width_mult must be > 0, got {width_mult!r}")
        self.use_imagenet = bool(use_imagenet)
        self.width_mult = width_mult
        self.input_scale = 1.0
        widths = [scaled_width(w, width_mult) for w in (64, 128, 256, 512)]
        self.inplanes = widths[0]
        self.conv1: nn.Module
        self.bn1: nn.Module
        if self.use_imagenet:
            self.conv1 = nn.Conv2d(in_chans, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
        elif self.use_dvs:  # official: per-step containers (keys conv1.0.weight, bn1.0.*)
            self.conv1 = SeqStepWise(nn.Conv2d(in_chans, widths[0], kernel_size=3, padding=1, bias=False))
            self.bn1 = SeqStepWise(nn.BatchNorm2d(widths[0]))
        else:
            self.conv1 = nn.Conv2d(in_chans, widths[0], kernel_size=3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
        self.sn1 = self.neuron(None, 0.0)
        if self.ms_block:
            # MS-ResNet: the stem neuron exists (official state dict) but is never called; freeze it
            self.sn1.requires_grad_(False)
        elif mode == "inference":
            self.sn1.scale = 1.0 / self.L
        if self.ms_block and mode == "inference":
            self.input_scale = 1.0 / self.L
        self.maxpool = SeqStepWise(nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        self.avgpool = SeqStepWise(nn.AdaptiveAvgPool2d((1, 1)))
        self.resnet19 = len(blocks) == 3
        if (
            self.resnet19
        ):  # official use_resnet19=True: no layer1, 128/256/512 stages, fc 512 -> 256 -> neuron
            self.layer1 = nn.Sequential()
            self.layer2 = self._make_layer(widths[1], blocks[0], 2 if self.use_dvs else 1)
            self.layer3 = self._make_layer(widths[2], blocks[1], 2)
            self.layer4 = self._make_layer(widths[3], blocks[2], 2)
            hidden = scaled_width(256, width_mult)
            self.fc: nn.Module = nn.Sequential(
                SeqStepWise(nn.Linear(widths[3], hidden)),
                self.neuron(None, 0.0, 3),
                SeqStepWise(nn.Linear(hidden, num_classes)),
            )
        else:
            self.layer1 = self._make_layer(widths[0], blocks[0], 1)
            self.layer2 = self._make_layer(widths[1], blocks[1], 2)
            self.layer3 = self._make_layer(widths[2], blocks[2], 2)
            self.layer4 = self._make_layer(widths[3], blocks[3], 2)
            self.fc = SeqStepWise(nn.Linear(widths[3], num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, n: int, stride: int) -> nn.Sequential:
        block = MSBlock if self.ms_block else BasicBlock
        layers = [block(self, self.inplanes, planes, stride)]
        self.inplanes = planes
        layers += [block(self, planes, planes) for _ in range(1, n)]
        return nn.Sequential(*layers)

    @property
    def reparameterizable(self) -> bool:
        return not self.use_dvs

    reparameterize_refusal = _NO_DVS_REPARAM

    def stem_sites(self) -> tuple[list[nn.Module], list[str]]:
        """Layers whose bias (BN: and running mean) the reparameterisation restores, and the neurons fed by
        the repeated stem (see :func:`zoo_lmht.reparam.reparameterize`). MS-ResNet: no stem neuron; the
        official fix sets ``input_scale = 1/L`` instead (see :meth:`after_reparameterize`)."""
        bn = self.bn1[0] if isinstance(self.bn1, SeqStepWise) else self.bn1
        return [bn], [] if self.ms_block else ["sn1"]

    def after_reparameterize(self, L: int) -> None:
        if self.ms_block:
            self.input_scale = self.input_scale / L

    def forward_steps(self, x: Tensor) -> Tensor:
        """Per-step logits ``[T, B, num_classes]`` (official output)."""
        if self.use_dvs:
            # official DVS path: the frames are averaged into one step; the stem neuron's T x T mixing turns it
            # into T steps (no input_scale, no repetition)
            seq = encode_image_input(x, 1, self.in_chans, self._who).mean(0, keepdim=True)
            h = self.sn1(self.bn1(self.conv1(seq)))
        elif isinstance(x, Tensor) and x.dim() == 4:
            encode_image_input(x, self.T, self.in_chans, self._who)  # validation
            h = self.bn1(self.conv1(x)).unsqueeze(0) * self.input_scale
            h = h.repeat(self.T, 1, 1, 1, 1)
        else:
            seq = self._sequence(x)
            t, b = seq.shape[:2]
            h = self.bn1(self.conv1(seq.flatten(0, 1))).unflatten(0, (t, b)) * self.input_scale
        if not self.ms_block and not self.use_dvs:
            h = self.sn1(h)
        if self.use_imagenet:
            h = self.maxpool(h)
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        h = torch.flatten(self.avgpool(h), 2)
        return self.fc(h)


def lmht_resnet18(
    T: int = 2,
    L: int = 2,
    num_classes: int = 100,
    use_imagenet: bool = False,
    in_chans: int = 3,
    img_size: int = 32,
    width_mult: float = 1.0,
    mode: str = "lmht",
) -> LMHTResNet:
    """LM-HT ResNet-18 (CIFAR 3x3 stem; ``use_imagenet=True``: 7x7 stem + max-pool)."""
    return LMHTResNet(
        (2, 2, 2, 2), T, L, num_classes, use_imagenet, in_chans, img_size, width_mult, mode, "lmht_resnet18"
    )


def lmht_resnet18_dvs(
    T: int = 2,
    L: int = 2,
    num_classes: int = 10,
    in_chans: int = 2,
    img_size: int = 48,
    width_mult: float = 1.0,
    mode: str = "lmht",
) -> LMHTResNet:
    """LM-HT ResNet-18 for CIFAR10-DVS (official ``resnet18(use_dvs=True)``): input ``[T', B, 2, 48, 48]`` event
    frames (time first, the zoo layout; the official loader gives ``[B, T', ...]``), averaged over ``T'`` into
    one step before the per-step stem ``conv1.0`` / ``bn1.0``; ``sn1`` expands it to ``T`` steps."""
    return LMHTResNet(
        (2, 2, 2, 2),
        T,
        L,
        num_classes,
        False,
        in_chans,
        img_size,
        width_mult,
        mode,
        "lmht_resnet18_dvs",
        False,
        True,
    )


def lmht_resnet34(
    T: int = 2,
    L: int = 2,
    num_classes: int = 1000,
    use_imagenet: bool = True,
    in_chans: int = 3,
    img_size: int = 224,
    width_mult: float = 1.0,
    mode: str = "lmht",
) -> LMHTResNet:
    """LM-HT ResNet-34 (ImageNet layout by default)."""
    return LMHTResNet(
        (3, 4, 6, 3), T, L, num_classes, use_imagenet, in_chans, img_size, width_mult, mode, "lmht_resnet34"
    )


def lmht_ms_resnet18(
    T: int = 2,
    L: int = 2,
    num_classes: int = 100,
    use_imagenet: bool = False,
    in_chans: int = 3,
    img_size: int = 32,
    width_mult: float = 1.0,
    mode: str = "lmht",
) -> LMHTResNet:
    """LM-HT MS-ResNet-18 (official ``ms_resnet18``: pre-activation MSBlocks, no stem neuron)."""
    return LMHTResNet(
        (2, 2, 2, 2),
        T,
        L,
        num_classes,
        use_imagenet,
        in_chans,
        img_size,
        width_mult,
        mode,
        "lmht_ms_resnet18",
        True,
    )


def lmht_ms_resnet34(
    T: int = 2,
    L: int = 2,
    num_classes: int = 1000,
    use_imagenet: bool = True,
    in_chans: int = 3,
    img_size: int = 224,
    width_mult: float = 1.0,
    mode: str = "lmht",
) -> LMHTResNet:
    """LM-HT MS-ResNet-34 (official ``ms_resnet34``; the paper's ImageNet-1k model, 70.90 % at L = 2, T = 2)."""
    return LMHTResNet(
        (3, 4, 6, 3),
        T,
        L,
        num_classes,
        use_imagenet,
        in_chans,
        img_size,
        width_mult,
        mode,
        "lmht_ms_resnet34",
        True,
    )


def lmht_resnet19(
    T: int = 2,
    L: int = 2,
    num_classes: int = 100,
    in_chans: int = 3,
    img_size: int = 32,
    width_mult: float = 1.0,
    mode: str = "lmht",
) -> LMHTResNet:
    """LM-HT ResNet-19 (official ``resnet19(use_resnet19=True)``; the paper's CIFAR headline model). Its fc
    neuron sees ``[T, B, 256]``: mixed along time only here (the released code cannot run it, spec i)."""
    return LMHTResNet(
        (3, 3, 2), T, L, num_classes, False, in_chans, img_size, width_mult, mode, "lmht_resnet19"
    )


def lmht_resnet19_dvs(
    T: int = 2,
    L: int = 2,
    num_classes: int = 10,
    in_chans: int = 2,
    img_size: int = 48,
    width_mult: float = 1.0,
    mode: str = "lmht",
) -> LMHTResNet:
    """LM-HT ResNet-19 for CIFAR10-DVS (official ``resnet19(use_resnet19=True, use_dvs=True)``): the DVS stem of
    :func:`lmht_resnet18_dvs` (frames averaged into one step, per-step ``conv1.0`` / ``bn1.0``, ``sn1`` expands to
    ``T`` steps) and ``layer2`` with stride 2 (stride 1 in the static ResNet-19)."""
    return LMHTResNet(
        (3, 3, 2),
        T,
        L,
        num_classes,
        False,
        in_chans,
        img_size,
        width_mult,
        mode,
        "lmht_resnet19_dvs",
        False,
        True,
    )


# ------------------------------------------------------------------------------------------------ ResNet-20
class LMHTHybridNet(LMHTNet):
    """Base of the hybrid-training backbones (official ``ann_models``): one module tree, four modes.

    ``ann``: QCFS activations (clip ``thresh``); ``if``: :class:`~zoo_core.sdk.ConversionIF`
    (:math:`\\rho = 1/2`); ``lmht``: :class:`~zoo_lmht.neurons.LMHTNeuron` (:math:`\\rho = 1/2`, first neuron
    ``scale = L``); ``inference``: the reparameterised skeleton. In the SNN modes every stateless layer is
    wrapped per step (keys gain ``.0``) exactly as ``replace_layer_by_snn_layer`` does."""

    modes = ("ann", "if", "lmht", "inference")
    first_neuron = ""

    def _setup(self, levels: int, thresh: float) -> None:
        self.levels = check_positive_int(levels, "levels", self._who)
        self.thresh = float(thresh)

    def _act(self, rank: int = 5) -> nn.Module:
        if self.mode == "ann":
            return QCFS(levels=self.levels, threshold=self.thresh, param_name="thresh")
        if self.mode == "if":
            return ConversionIF(self.thresh, init_mem=0.5)
        return self.neuron(self.thresh, 0.5, rank)

    def neuron_rank(self, name: str) -> int:
        """Rank of the input the activation at ``name`` sees in the SNN (classifier: ``[T, B, N]``)."""
        return 3 if name.startswith("classifier") else 5

    def _finish(self) -> None:
        if self.mode != "ann":
            wrap_stepwise(self, wrapper=SeqStepWise)
        first = self.get_submodule(self.first_neuron)
        if self.mode == "lmht":
            first.scale = float(self.L)
        elif self.mode == "inference":
            first.scale = 1.0

    def forward_net(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward_steps(self, x: Tensor) -> Tensor:
        """Per-step logits ``[T, B, num_classes]`` (ANN: per frame)."""
        if self.mode == "ann":
            seq = encode_image_input(x, 1, self.in_chans, self._who)
            t, b = seq.shape[:2]
            return self.forward_net(seq.flatten(0, 1)).unflatten(0, (t, b))
        return self.forward_net(self._sequence(x))

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "ann" and isinstance(x, Tensor) and x.dim() == 4:
            encode_image_input(x, 1, self.in_chans, self._who)
            return self.forward_net(x)
        return self.forward_steps(x).mean(0)


def _unwrap(m: nn.Module) -> nn.Module:
    return m[0] if isinstance(m, SeqStepWise) else m


class LMHTResNet20(LMHTHybridNet):
    """ResNet-20 of the hybrid pipeline (official ``ann_models.ResNet.resnet20`` = ``ResNet4Cifar``)."""

    first_neuron = "conv1.2"

    def __init__(
        self,
        T: int = 2,
        L: int = 2,
        num_classes: int = 100,
        levels: int = 8,
        thresh: float = 8.0,
        in_chans: int = 3,
        img_size: int = 32,
        width_mult: float = 1.0,
        mode: str = "lmht",
    ) -> None:
        super().__init__("lmht_resnet20", T, L, num_classes, in_chans, img_size, mode)
        self._setup(levels, thresh)
        self.width_mult = width_mult
        widths = [scaled_width(w, width_mult) for w in (16, 32, 64)]
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_chans, widths[0], kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            self._act(),
        )
        # the QCFS-code stages (zoo_core.models.qcfs), every activation built by this mode's factory
        stages = qcfs_resnet_stages(lambda _c: self._act(), widths[0], widths, (3, 3, 3))
        self.conv2_x, self.conv3_x, self.conv4_x = stages
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[2], num_classes)
        self._finish()

    def stem_sites(self) -> tuple[list[nn.Module], list[str]]:
        return [_unwrap(self.conv1[1])], ["conv1.2"]

    def forward_net(self, x: Tensor) -> Tensor:
        out = self.conv4_x(self.conv3_x(self.conv2_x(self.conv1(x))))
        out = self.avg_pool(out)
        return self.fc(torch.flatten(out, out.dim() - 3))


VGG_CFG = {
    "vgg13": ([64, 64, "M"], [128, 128, "M"], [256, 256, "M"], [512, 512, 512, "M"], [512, "MM"]),
    "cifarnet": ([128], [256, "M"], [512, "M"], [1024], [512]),
}
#: the hybrid (ann_models) VGG-13 is the QCFS-code VGG-13 (zoo_core.models.qcfs.VGG13_CFG), not the direct one


class LMHTVGG16(LMHTHybridNet):
    """VGG-16 of the hybrid pipeline (official ``ann_models.VGG.vgg16``): groups of conv3x3 (bias) + BN + act +
    Dropout, AvgPool 2x2 after each group; classifier (CIFAR) Dropout -> Linear(512, 4096) -> act -> Dropout ->
    Linear(4096, 4096) -> act -> Dropout -> Linear(4096, classes); ``num_classes=200``: Linear(2048, 4096)
    first (no leading Dropout); ``1000``: Linear(25088, 4096) first. Official initialisation."""

    first_neuron = "layer1.2"

    def __init__(
        self,
        T: int = 2,
        L: int = 2,
        num_classes: int = 100,
        levels: int = 8,
        thresh: float = 8.0,
        dropout: float = 0.0,
        in_chans: int = 3,
        img_size: int = 32,
        width_mult: float = 1.0,
        mode: str = "lmht",
        cfg: tuple[list[Any], ...] = VGG16_CFG,
        name: str = "lmht_vgg16",
    ) -> None:
        super().__init__(name, T, L, num_classes, in_chans, img_size, mode)
        self._setup(levels, thresh)
        self.width_mult = width_mult
        groups, c_in = qcfs_vgg_groups(cfg, in_chans, lambda _c: self._act(), dropout, width_mult)
        for i, group in enumerate(groups, 1):
            setattr(self, f"layer{i}", group)
        h = scaled_width(4096, width_mult)
        lead: list[nn.Module] = []
        if num_classes == 1000:
            feat = c_in * 7 * 7
        elif num_classes == 200:
            feat = c_in * 2 * 2
        else:
            feat, lead = c_in, [nn.Dropout(dropout)]
        self.classifier = nn.Sequential(
            *lead,
            nn.Linear(feat, h),
            self._act(3),
            nn.Dropout(dropout),
            nn.Linear(h, h),
            self._act(3),
            nn.Dropout(dropout),
            nn.Linear(h, num_classes),
        )
        init_qcfs_vgg(self)
        self._finish()

    def stem_sites(self) -> tuple[list[nn.Module], list[str]]:
        return [_unwrap(self.layer1[0]), _unwrap(self.layer1[1])], ["layer1.2"]

    def forward_net(self, x: Tensor) -> Tensor:
        out = self.layer5(self.layer4(self.layer3(self.layer2(self.layer1(x)))))
        return self.classifier(torch.flatten(out, out.dim() - 3))


class LMHTVGG13(LMHTNet):
    """LM-HT VGG-13 for direct training (official ``models.VGG.vgg13``): groups ``[64,64,M] [128,128,M]
    [256,256,M] [512,512,512,M] [512,MM]`` of per-step (conv3x3 with bias + BN) -> neuron -> Dropout, ``M`` =
    AvgPool 2x2, ``MM`` = global average pooling; classifier ``num_classes=200`` (ImageNet-200): one Linear(512,
    200) (keys ``classifier.0.*``); ``1000``: Linear(25088, 4096) first (as released; it does not fit the
    pooled 512 features); otherwise Linear(512, 4096) -> neuron -> Dropout -> Linear(4096, 4096) -> neuron ->
    Dropout -> Linear(4096, classes). The image is repeated ``T`` times before the first conv. The classifier
    neurons see ``[T, B, 4096]`` and mix along time only (the released code mis-broadcasts there).
    ``cfg="cifarnet"`` builds the official CIFARNet of the same class (see :func:`lmht_cifarnet`)."""

    def __init__(
        self,
        T: int = 2,
        L: int = 2,
        num_classes: int = 200,
        dropout: float = 0.0,
        in_chans: int = 3,
        img_size: int = 64,
        width_mult: float = 1.0,
        mode: str = "lmht",
        cfg: str = "vgg13",
        name: str = "lmht_vgg13",
    ) -> None:
        super().__init__(name, T, L, num_classes, in_chans, img_size, mode)
        self.width_mult = width_mult
        c_in = in_chans
        for i, group in enumerate(VGG_CFG[cfg], 1):
            layers: list[nn.Module] = []
            for v in group:
                if v == "M":
                    layers.append(SeqStepWise(nn.AvgPool2d(kernel_size=2, stride=2)))
                elif v == "MM":
                    layers.append(SeqStepWise(nn.AdaptiveAvgPool2d((1, 1))))
                else:
                    c = scaled_width(int(v), width_mult)
                    layers += [
                        SeqStepWise(nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c)),
                        self.neuron(None, 0.0),
                        SeqStepWise(nn.Dropout(dropout)),
                    ]
                    c_in = c
            setattr(self, f"layer{i}", nn.Sequential(*layers))
        h = scaled_width(4096, width_mult)
        if cfg == "cifarnet":  # official: 512*8*8 -> 1024 -> 512 -> classes (two AvgPools: img_size / 4)
            if img_size % 4:
                raise ConfigError(f"{name}: img_size must be a multiple of 4, got {img_size}")
            h1, h2 = scaled_width(1024, width_mult), scaled_width(512, width_mult)
            self.classifier: nn.Module = nn.Sequential(
                SeqStepWise(nn.Linear(c_in * (img_size // 4) ** 2, h1)),
                self.neuron(None, 0.0, 3),
                SeqStepWise(nn.Dropout(dropout)),
                SeqStepWise(nn.Linear(h1, h2)),
                self.neuron(None, 0.0, 3),
                SeqStepWise(nn.Dropout(dropout)),
                SeqStepWise(nn.Linear(h2, num_classes)),
            )
        elif num_classes == 200:
            self.classifier = SeqStepWise(nn.Linear(c_in, num_classes))
        else:
            feat = c_in * 7 * 7 if num_classes == 1000 else c_in
            self.classifier = nn.Sequential(
                SeqStepWise(nn.Linear(feat, h)),
                self.neuron(None, 0.0, 3),
                SeqStepWise(nn.Dropout(dropout)),
                SeqStepWise(nn.Linear(h, h)),
                self.neuron(None, 0.0, 3),
                SeqStepWise(nn.Dropout(dropout)),
                SeqStepWise(nn.Linear(h, num_classes)),
            )
        init_qcfs_vgg(self)
        if mode == "inference":
            self.layer1[1].scale = 1.0 / self.L

    def stem_sites(self) -> tuple[list[nn.Module], list[str]]:
        """Official ``main.py``: ``layer1[0][0].bias``, ``layer1[0][1].bias`` / ``running_mean`` times L,
        ``layer1[1].scale = 1/L``."""
        return [self.layer1[0][0], self.layer1[0][1]], ["layer1.1"]

    def forward_steps(self, x: Tensor) -> Tensor:
        out = self._sequence(x)
        out = self.layer5(self.layer4(self.layer3(self.layer2(self.layer1(out)))))
        return self.classifier(torch.flatten(out, 2))


def lmht_resnet20(
    T: int = 2,
    L: int = 2,
    num_classes: int = 100,
    levels: int = 8,
    thresh: float = 8.0,
    in_chans: int = 3,
    img_size: int = 32,
    width_mult: float = 1.0,
    mode: str = "lmht",
) -> LMHTResNet20:
    """ResNet-20 (CIFAR) of LM-HT hybrid training: QCFS ANN (``mode="ann"``), IF SNN, or LM-HT SNN."""
    return LMHTResNet20(T, L, num_classes, levels, thresh, in_chans, img_size, width_mult, mode)


def lmht_vgg16(
    T: int = 2,
    L: int = 2,
    num_classes: int = 100,
    levels: int = 8,
    thresh: float = 8.0,
    dropout: float = 0.0,
    in_chans: int = 3,
    img_size: int = 32,
    width_mult: float = 1.0,
    mode: str = "lmht",
) -> LMHTVGG16:
    """VGG-16 (CIFAR) of LM-HT hybrid training: QCFS ANN (``mode="ann"``), IF SNN, or LM-HT SNN."""
    return LMHTVGG16(T, L, num_classes, levels, thresh, dropout, in_chans, img_size, width_mult, mode)


def lmht_vgg13_hybrid(
    T: int = 2,
    L: int = 2,
    num_classes: int = 100,
    levels: int = 8,
    thresh: float = 8.0,
    dropout: float = 0.0,
    in_chans: int = 3,
    img_size: int = 32,
    width_mult: float = 1.0,
    mode: str = "lmht",
) -> LMHTVGG16:
    """VGG-13 of the hybrid pipeline (official ``ann_models.VGG.vgg13``: groups ``[64,64,M] [128,128,M]
    [256,256,M] [512,512,M] [512,512,M]``, otherwise as ``lmht_vgg16``)."""
    return LMHTVGG16(
        T,
        L,
        num_classes,
        levels,
        thresh,
        dropout,
        in_chans,
        img_size,
        width_mult,
        mode,
        VGG13_CFG,
        "lmht_vgg13_hybrid",
    )


def lmht_vgg13(
    T: int = 2,
    L: int = 2,
    num_classes: int = 200,
    dropout: float = 0.0,
    in_chans: int = 3,
    img_size: int = 64,
    width_mult: float = 1.0,
    mode: str = "lmht",
) -> LMHTVGG13:
    """LM-HT VGG-13 for direct training (ImageNet-200 head by default, the paper's setting)."""
    return LMHTVGG13(T, L, num_classes, dropout, in_chans, img_size, width_mult, mode)


def lmht_cifarnet(
    T: int = 2,
    L: int = 2,
    num_classes: int = 10,
    dropout: float = 0.0,
    in_chans: int = 3,
    img_size: int = 32,
    width_mult: float = 1.0,
    mode: str = "lmht",
) -> LMHTVGG13:
    """LM-HT CIFARNet (official ``models.VGG.cifarnet``): groups ``[128] [256,M] [512,M] [1024] [512]`` of
    per-step (conv3x3 with bias + BN) -> neuron -> Dropout (``M`` = AvgPool 2x2), classifier Linear(512*8*8,
    1024) -> neuron -> Dropout -> Linear(1024, 512) -> neuron -> Dropout -> Linear(512, classes) (keys
    ``classifier.{0,3,6}.0``, neurons ``classifier.{1,4}``, mixing along time only). 45,007,882 + 70 parameters
    for CIFAR-10 at T = 2."""
    return LMHTVGG13(
        T, L, num_classes, dropout, in_chans, img_size, width_mult, mode, "cifarnet", "lmht_cifarnet"
    )


class LMHTDigitsCNN(LMHTNet):
    """Small LM-HT CNN for 8x8 digits (spec section h8, the demo): per-step conv3x3(1->c1)+BN -> LM-HT ->
    AvgPool2 -> conv3x3(c1->c2)+BN -> LM-HT -> AvgPool2 -> Linear(4 c2, classes); the image is repeated
    ``T`` times before the first conv; direct-training neurons (theta = 2/L, v0 = 0)."""

    def __init__(
        self,
        T: int = 2,
        L: int = 2,
        num_classes: int = 10,
        in_chans: int = 1,
        img_size: int = 8,
        channels: tuple[int, int] | list[int] = (16, 32),
        mode: str = "lmht",
    ) -> None:
        super().__init__("lmht_cnn_digits", T, L, num_classes, in_chans, img_size, mode)
        if len(channels) != 2 or any(isinstance(c, bool) or int(c) < 1 for c in channels):
            raise ConfigError(f"lmht_cnn_digits: channels must be two positive ints, got {channels!r}")
        if img_size < 4 or img_size % 4:
            raise ConfigError(f"lmht_cnn_digits: img_size must be a multiple of 4, got {img_size}")
        c1, c2 = (int(c) for c in channels)
        self.features = nn.Sequential(
            SeqStepWise(nn.Conv2d(in_chans, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1)),
            self.neuron(None, 0.0),
            SeqStepWise(nn.AvgPool2d(2)),
            SeqStepWise(nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2)),
            self.neuron(None, 0.0),
            SeqStepWise(nn.AvgPool2d(2)),
        )
        side = img_size // 4
        self.classifier = SeqStepWise(nn.Flatten(), nn.Linear(c2 * side * side, num_classes))
        if mode == "inference":
            self.features[1].scale = 1.0 / self.L

    def stem_sites(self) -> tuple[list[nn.Module], list[str]]:
        return [self.features[0][1]], ["features.1"]

    def forward_steps(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(self._sequence(x)))


def lmht_cnn_digits(
    T: int = 2,
    L: int = 2,
    num_classes: int = 10,
    in_chans: int = 1,
    img_size: int = 8,
    channels: tuple[int, int] | list[int] = (16, 32),
    mode: str = "lmht",
) -> LMHTDigitsCNN:
    """Small LM-HT CNN for 8x8 digits (the demo of spec section h8)."""
    return LMHTDigitsCNN(T, L, num_classes, in_chans, img_size, channels, mode)


# ------------------------------------------------------------------------------------------------ official
def from_official(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Official checkpoint -> zoo layout (the core has already unwrapped ``{"model": ...}`` / ``module.``).

    The layouts are identical (spec section f) except the ``*.core`` parameters the official forward registers
    (an alias of ``*.mask`` when 6-D, else of ``*.mask_linear``): dropped when that mask is present, otherwise
    (a checkpoint that lost it) renamed to it."""
    out: dict[str, Tensor] = {}
    for k, v in state_dict.items():
        if k.endswith(".core") or k == "core":
            target = k[: -len("core")] + ("mask" if v.dim() == 6 else "mask_linear")
            if target in state_dict:
                continue
            k = target
        out[k] = v
    return out


def official_config(state_dict: dict[str, Tensor]) -> dict[str, Any]:
    """Constructor overrides implied by an official state dict: ``num_classes``, ``in_chans``, ``T`` (from a
    mask), ``mode`` (``ann`` for QCFS ``thresh`` keys, ``inference`` for reparameterised ``alpha`` [L T], ``if``
    for IF neurons' ``v_threshold`` without ``alpha``) and,
    for the ResNet-18/34 stem, ``use_imagenet`` (7x7 stem)."""
    from zoo_core.sdk import unwrap_state_dict

    sd = unwrap_state_dict(state_dict)
    cfg: dict[str, Any] = {}
    heads = (
        "fc.0.weight",
        "fc.weight",
        "classifier.6.0.weight",
        "classifier.0.weight",
        "classifier.7.weight",
    )
    head = next((k for k in heads if k in sd), None)
    if head is not None:
        cfg["num_classes"] = int(sd[head].shape[0])
    stems = ("conv1.weight", "conv1.0.0.weight", "conv1.0.weight", "layer1.0.0.weight", "layer1.0.weight")
    stem = next((k for k in stems if k in sd), None)
    if stem is not None:
        cfg["in_chans"] = int(sd[stem].shape[1])
    if "conv1.weight" in sd:
        cfg["use_imagenet"] = int(sd["conv1.weight"].shape[-1]) == 7
    if any(k.endswith(".thresh") for k in sd):
        cfg["mode"] = "ann"
    mask = next((v for k, v in sd.items() if k.endswith(".mask")), None)
    alpha = next((v for k, v in sd.items() if k.endswith(".alpha")), None)
    if alpha is not None and alpha.numel() > 1:
        cfg["mode"] = "inference"  # T = L * T_train: pass T (training steps) and L yourself
    elif mask is not None:
        cfg["T"] = int(mask.shape[0])
        if "conv1.0.0.weight" in sd:
            cfg["mode"] = "lmht"
    elif any(k.endswith(".v_threshold") for k in sd):
        cfg["mode"] = "if"  # the IF stage of hybrid training (IFNeuron: v_threshold only); T is not stored
    return cfg
