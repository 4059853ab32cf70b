r"""LM-HT ResNets for direct STBP training (official ``models/ResNet.py``), official state-dict layouts.

One class, :class:`LMHTResNet`, builds every variant (registered in :mod:`zoo_lmht.plugin`):

``lmht_resnet18`` / ``lmht_resnet34`` (``blocks`` [2, 2, 2, 2] / [3, 4, 6, 3])
    stem conv (``conv1``, no bias) + ``bn1`` computed **once** on the image, repeated ``T`` times (times
    ``input_scale``), neuron ``sn1``; BasicBlocks ``layer1..4`` whose convs sit in SpikingJelly-style containers
    (``layer1.0.conv1.0.weight``, BN at ``.conv1.1``), neurons ``sn1``/``sn2``, downsample
    ``downsample.0.{0,1}``; global average pooling; ``fc.0`` (a per-step container). Every activation is an
    :class:`~zoo_lmht.neurons.LMHTNeuron` with :math:`\theta = 2/L`, initial membrane 0 (``replace_activation_by_LMHT``).
    ``use_imagenet=True``: 7x7 stride-2 stem and a 3x3 stride-2 max-pool (the official ImageNet variant).
``lmht_resnet19`` (``blocks`` [3, 3, 2]; official ``resnet19(use_resnet19=True)``)
    no ``layer1``, stages 128x3 / 256x3 / 512x2, fc 512 -> 256 -> neuron -> classes with keys ``fc.0.0`` /
    ``fc.1`` / ``fc.2.0``. Its fc neuron sees ``[T, B, 256]`` and mixes along time only (the released
    ``mask_linear`` shape cannot run it).
``lmht_resnet18_dvs`` / ``lmht_resnet19_dvs`` (``use_dvs=True``, official CIFAR10-DVS variants)
    input ``[T', B, 2, 48, 48]`` event frames (time first, the zoo layout; the official loader gives
    ``[B, T', ...]``), averaged over ``T'`` into one step before the per-step stem ``conv1.0`` / ``bn1.0``;
    ``sn1`` expands it to ``T`` steps. ResNet-19: ``layer2`` with stride 2 (stride 1 in the static ResNet-19).
``lmht_ms_resnet18`` / ``lmht_ms_resnet34`` (``ms_block=True``, official ``ms_resnet18/34``)
    the same module tree with pre-activation MSBlocks (no neuron after the residual sum, no stem neuron call:
    ``sn1`` stays in the state dict, frozen). ``lmht_ms_resnet34`` is the paper's ImageNet-1k model.

Zoo extensions: ``in_chans``, ``width_mult`` (1 = official), ``img_size`` (only used for the declared input size).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo_core.sdk import ConfigError, SeqStepWise, check_positive, check_positive_int, scaled_width

from .base import LMHTNet

__all__ = ["BasicBlock", "LMHTResNet", "MSBlock"]

_NO_DVS_REPARAM = (
    "no reparameterisation for the DVS variants: their stem neuron turns one averaged input step into T steps "
    "(weights 2 sigma(M) / 1), which the inference neuron's block-constant 2 sigma(M) / (L T) mixing reproduces "
    "only when T = L, and the official main.py stem fix (bn1.bias) fails on the per-step bn1 container"
)


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
    """LM-HT ResNet (official ``models.ResNet.ResNet`` with BasicBlocks, after ``replace_activation_by_LMHT``).

    Args (keyword-only):
        T, L, num_classes, in_chans, img_size, mode: see :class:`~zoo_lmht.base.LMHTNet`.
        use_imagenet: 7x7 stride-2 stem + 3x3 stride-2 max-pool (official ImageNet stem) instead of the 3x3 one.
        width_mult: channel multiplier (1 = official widths 64/128/256/512).
        blocks: BasicBlocks per stage; 4 stages (ResNet-18/34) or 3 (ResNet-19: no ``layer1``, fc
            512 -> 256 -> neuron -> classes).
        ms_block: pre-activation MSBlocks (MS-ResNet; the stem neuron exists but is never called).
        use_dvs: the official CIFAR10-DVS stem (event frames averaged into one step, per-step ``conv1``/``bn1``).
    """

    head_name = "fc"

    def __init__(
        self,
        *,
        T: int = 2,
        L: int = 2,
        num_classes: int = 100,
        use_imagenet: bool = False,
        in_chans: int = 3,
        img_size: int = 32,
        width_mult: float = 1.0,
        mode: str = "lmht",
        blocks: tuple[int, ...] | list[int] = (2, 2, 2, 2),
        ms_block: bool = False,
        use_dvs: bool = False,
    ) -> None:
        super().__init__(T=T, L=L, num_classes=num_classes, in_chans=in_chans, img_size=img_size, mode=mode)
        who = type(self).__name__
        self.ms_block = bool(ms_block)
        self.use_dvs = bool(use_dvs)
        if self.use_dvs and mode == "inference":
            raise ConfigError(f"{who}: {_NO_DVS_REPARAM}")
        self.width_mult = check_positive(width_mult, "width_mult", who)
        if len(blocks) not in (3, 4):
            raise ConfigError(
                f"{who}: blocks must give 4 stage depths (ResNet-18/34) or 3 (ResNet-19), got {blocks!r}"
            )
        blocks = [check_positive_int(n, "blocks", who) for n in blocks]
        self.use_imagenet = bool(use_imagenet)
        if self.use_imagenet and self.use_dvs:
            raise ConfigError(f"{who}: use_imagenet and use_dvs are different stems; choose one")
        self.input_scale = 1.0
        widths = [scaled_width(w, self.width_mult) for w in (64, 128, 256, 512)]
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
            hidden = scaled_width(256, self.width_mult)
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
            seq = self.encode(x, 1).mean(0, keepdim=True)
            h = self.sn1(self.bn1(self.conv1(seq)))
        elif isinstance(x, Tensor) and x.dim() == 4:
            self.encode(x)  # validation
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
