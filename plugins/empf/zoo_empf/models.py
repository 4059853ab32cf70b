r"""The official EM-PF / HD-LIF architectures with the official state-dict layout (same keys, same order).

Two families, each one class with keyword-only arguments (the registered variants are tables in
:mod:`zoo_empf.plugin`), and the digits demo:

:class:`EMPFResNet` (``empf_resnet18/19/34``, official ``resnet.py``): pre-activation blocks with the neurons
*inside* the block and a real-valued residual stream,

.. math::

    \mathrm{out} = \mathrm{attn}_1(\mathrm{BN}_1(\mathrm{Q}_1(\mathrm{act}_1(x)))), \qquad
    y = \mathrm{attn}_2(\mathrm{BN}_2(\mathrm{Q}_2(\mathrm{act}_2(\mathrm{out})))) + \mathrm{shortcut}(x)

(``use_eca=2`` adds the inner residuals of the official code). ``act2`` is the parallel neuron when
``parallel_mode`` ("50 % parallel"). Stem: 7x7/2 conv + max-pool when ``num_classes == 1000`` (ImageNet), 3x3 on
2-channel frames with ``use_dvs``, else 3x3; no neuron after the stem; global average pool of the real-valued
stream -> ``fc``. ResNet-19 (``use_resnet19``, 3 stage depths): no ``layer1``, stages 128/256/512, head
Linear(512, 256) -> neuron -> Linear(256, classes).

:class:`EMPFVGG` (``empf_vgg11/13/16/19``, official ``vgg.py``): conv3x3 -> BN -> [ECA] -> neuron groups,
AvgPool 2x2 ('M') or global pool ('MM'); the first conv is full precision except on DVS input; ``classifier``
Linear.

:class:`EMPFDigitsNet` (``empf_digits``): a small CNN for 8x8 digits, the plugin's CPU demo.

Zoo extensions (official values by default): ``in_chans``, ``img_size`` (the VGG classifier width follows it:
512 x 3 x 3 at the official 48x48 DVS input), ``width_mult``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, check_choice, check_positive_int

from .base import ECAAttention, EMPFNet, qconv, run_step, scaled
from .neurons import MODES

__all__ = [
    "EMPFVGG",
    "VGG_CFG",
    "BasicBlock",
    "EMPFDigitsNet",
    "EMPFResNet",
    "from_official",
    "official_config",
]


class BasicBlock(nn.Module):
    """Official ``BasicBlock`` (module order = official state-dict order: conv1, attn1, conv2, attn2,
    downsample, act1, act2)."""

    def __init__(self, net: EMPFResNet, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        q = (net.use_ternary, net.weight_mode)
        self.conv1 = nn.Sequential(qconv(inplanes, planes, 3, stride, *q), nn.BatchNorm2d(planes))
        self.attn1 = ECAAttention() if net.use_eca > 0 else nn.Identity()
        self.conv2 = nn.Sequential(qconv(planes, planes, 3, 1, *q), nn.BatchNorm2d(planes))
        self.attn2 = ECAAttention() if net.use_eca > 0 else nn.Identity()
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(qconv(inplanes, planes, 1, stride, *q), nn.BatchNorm2d(planes))
        self.act1 = net.neuron(inplanes, False)
        self.act2 = net.neuron(planes, net.parallel_mode)
        self.inner_residual = net.use_eca == 2
        self.same_width = inplanes == planes

    def forward(self, x: Tensor) -> Tensor:
        """One time step ``[B, C, H, W]`` (neurons in streaming mode)."""
        identity = x if self.downsample is None else self.downsample(x)
        branch = self.conv1(run_step(self.act1, x))
        out = self.attn1(x + branch if self.inner_residual and self.same_width else branch)
        branch = self.conv2(run_step(self.act2, out))
        return self.attn2(out + branch if self.inner_residual else branch) + identity


class EMPFResNet(EMPFNet):
    """EM-PF ResNet (official ``resnet.ResNet``; module docstring).

    Args (keyword-only; the defaults are ResNet-18 on CIFAR-100):
        T: time steps (length of the neurons' per-step parameters).
        num_classes: classes; ``1000`` selects the ImageNet stem (7x7/2 conv + max-pool), as the official code.
        use_ternary: 1.5-bit (TWN) instead of 1-bit convs.
        use_dvs: 2-channel event frames (needs ``in_chans=2``; no max-pool; ResNet-19 strides its first stage).
        use_eca: 0 none, 1 ECA after each branch, 2 ECA plus the inner residuals.
        mem_bn: membrane-potential BatchNorm in the block neurons.
        parallel_mode: ``act2`` of every block is the stateless parallel neuron.
        mode: ``"vanilla"`` real-valued or ``"compression"`` 4-bit spikes.
        weight_mode: ``"compression"`` quantised convs or ``"vanilla"`` full-precision ones.
        use_lif: ``"none"`` (EM-PF neurons) or the LIF baseline ``"vanilla"``/``"online"``/``"online-learnable"``.
        in_chans, img_size: input channels and size (``img_size`` is informational: global pooling).
        width_mult: multiplies every width (1 = official).
        layers: blocks per stage (4 depths; 3 with ``use_resnet19``).
        use_resnet19: the ResNet-19 layout (no ``layer1``, two-layer head).
    """

    head_name = "fc"

    def __init__(
        self,
        *,
        T: int = 4,
        num_classes: int = 100,
        use_ternary: bool = False,
        use_dvs: bool = False,
        use_eca: int = 0,
        mem_bn: bool = False,
        parallel_mode: bool = False,
        mode: str = "vanilla",
        weight_mode: str = "compression",
        use_lif: str = "none",
        in_chans: int = 3,
        img_size: int = 32,
        width_mult: float = 1.0,
        layers: Sequence[int] = (2, 2, 2, 2),
        use_resnet19: bool = False,
    ) -> None:
        super().__init__(T=T, num_classes=num_classes, in_chans=in_chans, img_size=img_size)
        self.set_options(
            use_ternary=use_ternary, use_dvs=use_dvs, use_eca=use_eca, mem_bn=mem_bn,
            parallel_mode=parallel_mode, mode=mode, weight_mode=weight_mode, use_lif=use_lif,
            width_mult=width_mult,
        )  # fmt: skip
        who = type(self).__name__
        self.use_resnet19 = bool(use_resnet19)
        depths = 3 if self.use_resnet19 else 4
        if len(layers) != depths:
            raise ConfigError(
                f"{who}: {'ResNet-19' if self.use_resnet19 else 'ResNet-18/34'} takes {depths} stage depths "
                f"(layers), got {layers!r}"
            )
        blocks = [check_positive_int(n, "layers[i]", who) for n in layers]
        w = [scaled(c, self.width_mult) for c in (64, 128, 256, 512)]
        self.inplanes = w[0]
        if num_classes == 1000:  # official: the ImageNet stem is chosen by the class count
            self.conv1 = nn.Conv2d(self.in_chans, w[0], 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(self.in_chans, w[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(w[0])
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.use_maxpool = not self.use_dvs and num_classes >= 200
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        if self.use_resnet19:
            self.layer1 = nn.Sequential()
            self.layer2 = self._make_layer(w[1], blocks[0], 2 if self.use_dvs else 1)
            self.layer3 = self._make_layer(w[2], blocks[1], 2)
            self.layer4 = self._make_layer(w[3], blocks[2], 2)
            hidden = scaled(256, self.width_mult)
            self.fc: nn.Module = nn.Sequential(
                nn.Linear(w[3], hidden),
                self.neuron(hidden, False, mem_bn=False),
                nn.Linear(hidden, num_classes),
            )
        else:
            self.layer1 = self._make_layer(w[0], blocks[0], 1)
            self.layer2 = self._make_layer(w[1], blocks[1], 2)
            self.layer3 = self._make_layer(w[2], blocks[2], 2)
            self.layer4 = self._make_layer(w[3], blocks[3], 2)
            self.fc = nn.Linear(w[3], num_classes)
        self.init_weights()

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(self, self.inplanes, planes, stride)]
        self.inplanes = planes
        layers += [BasicBlock(self, planes, planes, 1) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def step_features(self, x_t: Tensor) -> Tensor:
        x = self.bn1(self.conv1(x_t))
        if self.use_maxpool:
            x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


#: the official ``vgg.cfg``: five groups of conv widths, 'M' = AvgPool 2x2, 'MM' = global average pool
VGG_CFG: dict[str, list[list[Any]]] = {
    "vgg11": [[64], [128, "M"], [256, 256, "M"], [512, 512, "M"], [512, 512, "M"]],
    "vgg13": [[64], [64, "M", 128, 128, "M"], [256, 256, "M"], [512, 512, 512, "M"], [512, "MM"]],
    "vgg16": [
        [64],
        [64, "M", 128, 128, "M"],
        [256, 256, 256, "M"],
        [512, 512, 512, "M"],
        [512, 512, 512, "M"],
    ],
    "vgg19": [
        [64],
        [64, "M", 128, 128, "M"],
        [256, 256, 256, 256, "M"],
        [512, 512, 512, 512, "M"],
        [512, 512, 512, 512, "M"],
    ],
}


class EMPFVGG(EMPFNet):
    """EM-PF VGG (official ``vgg.VGG``): groups ``layer1..5`` of conv -> BN -> [ECA] -> neuron and pools.

    Args (keyword-only; the defaults are VGG-13 on CIFAR-100): as :class:`EMPFResNet` (``use_mem_bn`` is the
    official VGG name of ``mem_bn``; no parallel mode), and ``arch``: ``"vgg11"``, ``"vgg13"``, ``"vgg16"`` or
    ``"vgg19"`` (:data:`VGG_CFG`). ``img_size`` sizes the classifier after the 2x2 pools (``"vgg13"`` ends in a
    global pool).
    """

    head_name = "classifier"

    def __init__(
        self,
        *,
        T: int = 4,
        num_classes: int = 100,
        use_ternary: bool = False,
        use_dvs: bool = False,
        use_eca: int = 0,
        use_mem_bn: bool = False,
        mode: str = "vanilla",
        weight_mode: str = "compression",
        use_lif: str = "none",
        in_chans: int = 3,
        img_size: int = 32,
        width_mult: float = 1.0,
        arch: str = "vgg13",
    ) -> None:
        super().__init__(T=T, num_classes=num_classes, in_chans=in_chans, img_size=img_size)
        self.set_options(
            use_ternary=use_ternary, use_dvs=use_dvs, use_eca=use_eca, mem_bn=use_mem_bn, parallel_mode=False,
            mode=mode, weight_mode=weight_mode, use_lif=use_lif, width_mult=width_mult,
        )  # fmt: skip
        who = type(self).__name__
        cfg = VGG_CFG[check_choice(arch, "arch", who, VGG_CFG)]
        self.arch = arch
        self._c = self.in_chans
        self.layer1 = self._make_layers(cfg[0], full_precision=not self.use_dvs)
        self.layer2 = self._make_layers(cfg[1])
        self.layer3 = self._make_layers(cfg[2])
        self.layer4 = self._make_layers(cfg[3])
        self.layer5 = self._make_layers(cfg[4])
        pools = sum(v == "M" for g in cfg for v in g)
        if cfg[-1][-1] == "MM":
            side = 1
        else:
            side = check_positive_int(img_size, "img_size", who) // 2**pools
        if side < 1:
            raise ConfigError(f"{who}: img_size {img_size} is too small for {pools} 2x2 pools")
        self.classifier = nn.Linear(self._c * side * side, num_classes)
        self.init_weights(bn_and_linear=True)

    def _make_layers(self, cfg: list[Any], full_precision: bool = False) -> nn.Sequential:
        layers: list[nn.Module] = []
        for v in cfg:
            if v == "M":
                layers.append(nn.AvgPool2d(2, 2))
            elif v == "MM":
                layers.append(nn.AdaptiveAvgPool2d(1))
            else:
                c = scaled(v, self.width_mult)
                if full_precision:
                    layers.append(nn.Conv2d(self._c, c, 3, padding=1, bias=False))
                else:
                    layers.append(qconv(self._c, c, 3, 1, self.use_ternary, self.weight_mode))
                layers.append(nn.BatchNorm2d(c))
                if self.use_eca > 0:
                    layers.append(ECAAttention())
                layers.append(self.neuron(c, False))
                self._c = c
        return nn.Sequential(*layers)

    def step_features(self, x_t: Tensor) -> Tensor:
        x = x_t
        for group in (self.layer1, self.layer2, self.layer3, self.layer4, self.layer5):
            x = run_step(group, x)
        return torch.flatten(x, 1)


class EMPFDigitsNet(EMPFNet):
    """The digits demo: Conv3x3(1->c1, full precision) -> BN -> EM-PF -> BinaryConv3x3(c1->c2) -> BN -> EM-PF
    -> AvgPool2 -> BinaryConv3x3(c2->c3) -> BN -> EM-PF -> GAP -> Linear(c3, classes).

    Input pixels in [0, 1] are mapped to [-1, 1] inside (``2x - 1``), the range the demo recipe trains on.

    Args (keyword-only): ``T``, ``num_classes``, ``in_chans``, ``img_size`` (informational: global pooling),
    ``channels`` (the three widths), ``mode``, ``mem_bn``, ``use_ternary`` (as :class:`EMPFResNet`).
    """

    head_name = "fc"

    def __init__(
        self,
        *,
        T: int = 4,
        num_classes: int = 10,
        in_chans: int = 1,
        img_size: int = 8,
        channels: Sequence[int] = (32, 64, 64),
        mode: str = "vanilla",
        mem_bn: bool = False,
        use_ternary: bool = False,
    ) -> None:
        super().__init__(T=T, num_classes=num_classes, in_chans=in_chans, img_size=img_size)
        who = type(self).__name__
        self.mode, self.mem_bn, self.use_lif = check_choice(mode, "mode", who, MODES), bool(mem_bn), "none"
        if len(channels) != 3:
            raise ConfigError(f"{who}: channels must list 3 widths, got {channels!r}")
        c1, c2, c3 = (check_positive_int(c, "channels[i]", who) for c in channels)
        q = (bool(use_ternary), "compression")
        self.features = nn.Sequential(
            nn.Conv2d(self.in_chans, c1, 3, padding=1, bias=False),
            nn.BatchNorm2d(c1),
            self.neuron(c1),
            qconv(c1, c2, 3, 1, *q),
            nn.BatchNorm2d(c2),
            self.neuron(c2),
            nn.AvgPool2d(2),
            qconv(c2, c3, 3, 1, *q),
            nn.BatchNorm2d(c3),
            self.neuron(c3),
            nn.AdaptiveAvgPool2d(1),
        )
        self.fc = nn.Linear(c3, num_classes)
        self.init_weights()

    def step_features(self, x_t: Tensor) -> Tensor:
        return torch.flatten(run_step(self.features, 2.0 * x_t - 1.0), 1)


# ------------------------------------------------------------------------------------------------ official weights
def from_official(state_dict: dict[str, Any]) -> dict[str, Tensor]:
    """Official checkpoint (already unwrapped from ``{'model': ...}`` by ``zoo.from_official``) -> zoo layout.

    The layouts are identical (same module names and order, ``weight_clip_val`` buffers included), so this
    checks and copies. Deploy-folded weights (after the official ``reset_BConv``) load as well: both quantisers
    are idempotent.
    """
    out: dict[str, Tensor] = {}
    for k, v in state_dict.items():
        if not isinstance(v, Tensor):
            raise ConfigError(f"empf from_official: entry {k!r} is {type(v).__name__}, expected a tensor")
        out[k] = v
    return out


def official_config(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Constructor overrides implied by an official state dict: T, num_classes, use_ternary, mem_bn, use_eca,
    parallel_mode, use_dvs. (``mode`` = 4-bit spikes leaves no trace in the weights.)"""
    sd = state_dict
    cfg: dict[str, Any] = {}
    vth = [v for k, v in sd.items() if k.endswith(".v_th")]
    if vth:
        cfg["T"] = int(vth[0].shape[0])
    for head in ("fc.weight", "fc.2.weight", "classifier.weight"):
        if head in sd:
            cfg["num_classes"] = int(sd[head].shape[0])
    cfg["use_ternary"] = any(k.endswith("weight_clip_val") for k in sd)
    is_vgg = "classifier.weight" in sd
    cfg["use_mem_bn" if is_vgg else "mem_bn"] = any(k.endswith(".bn_ratio") for k in sd)
    cfg["use_eca"] = int(any(k.endswith(".conv.weight") and sd[k].dim() == 3 for k in sd))
    if not is_vgg:
        acts2 = [k[: -len(".v_th")] for k in sd if k.endswith("act2.v_th")]
        cfg["parallel_mode"] = bool(acts2) and all(f"{a}.alpha" not in sd for a in acts2)
    stem = sd.get("layer1.0.weight" if is_vgg else "conv1.weight")
    if stem is not None:
        cfg["in_chans"] = int(stem.shape[1])
        cfg["use_dvs"] = cfg["in_chans"] == 2
    return cfg
