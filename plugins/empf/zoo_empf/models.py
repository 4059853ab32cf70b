r"""The official EM-PF / HD-LIF architectures with the official state-dict layout (spec sections d and f).

``empf_resnet18/19/34`` (official ``resnet.py``): pre-activation blocks with the neurons *inside* the block and a
real-valued residual stream,

.. math::

    \mathrm{out} = \mathrm{attn}_1(\mathrm{BN}_1(\mathrm{Q}_1(\mathrm{act}_1(x)))), \qquad
    y = \mathrm{attn}_2(\mathrm{BN}_2(\mathrm{Q}_2(\mathrm{act}_2(\mathrm{out})))) + \mathrm{shortcut}(x)

(``use_eca=2`` adds the inner residuals of the official code). ``act2`` is the parallel neuron when
``parallel_mode`` ("50 % parallel"). Stem: 7x7/2 conv + max-pool when ``num_classes == 1000`` (ImageNet), 3x3 on
2-channel frames with ``use_dvs``, else 3x3; no neuron after the stem; global average pool of the real-valued
stream -> ``fc``. ResNet-19: no ``layer1``, stages 128/256/512 x (3, 3, 2), head Linear(512, 256) -> neuron ->
Linear(256, classes).

``empf_vgg11/13/16/19`` (official ``vgg.py``): conv3x3 -> BN -> [ECA] -> neuron groups, AvgPool 2x2 ('M') or
global pool ('MM'); the first conv is full precision except on DVS input; ``classifier`` Linear.

``empf_digits``: the spec's demo CNN for 8x8 digits (h.8).

Zoo extensions (official values by default): ``in_chans``, ``img_size`` (the VGG classifier width follows it:
512 x 3 x 3 at the official 48x48 DVS input), ``width_mult``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, check_positive_int

from .base import USE_LIF, WEIGHT_MODES, ECAAttention, EMPFNet, choice, qconv, run_step
from .neurons import MODES

__all__ = [
    "EMPFVGG",
    "BasicBlock",
    "EMPFDigitsNet",
    "EMPFResNet",
    "from_official",
    "official_config",
]


def _width(c: int, mult: float) -> int:
    return max(1, round(c * mult))


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
        self.act1 = net.neuron(inplanes, False, use_lif=net.use_lif)
        self.act2 = net.neuron(planes, net.parallel_mode, use_lif=net.use_lif)
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
    """EM-PF ResNet-18/19/34 (official ``resnet.ResNet``); arguments as the official constructor (spec d)."""

    def __init__(
        self,
        layers: tuple[int, ...] = (2, 2, 2, 2),
        T: int = 4,
        num_classes: int = 100,
        use_ternary: bool = False,
        use_dvs: bool = False,
        use_resnet19: bool = False,
        use_eca: int = 0,
        mem_bn: bool = False,
        parallel_mode: bool = False,
        mode: str = "vanilla",
        weight_mode: str = "compression",
        use_lif: str = "none",
        in_chans: int = 3,
        img_size: int = 32,
        width_mult: float = 1.0,
        name: str = "empf_resnet18",
    ) -> None:
        super().__init__(name, T, num_classes, in_chans, img_size)
        self.check_dvs(use_dvs)
        self.use_ternary, self.use_dvs, self.use_resnet19 = (
            bool(use_ternary),
            bool(use_dvs),
            bool(use_resnet19),
        )
        self.use_eca = choice(use_eca, (0, 1, 2), "use_eca", name)
        self.mem_bn, self.parallel_mode = bool(mem_bn), bool(parallel_mode)
        self.mode = choice(mode, MODES, "mode", name)
        self.weight_mode = choice(weight_mode, WEIGHT_MODES, "weight_mode", name)
        self.use_lif = choice(use_lif, USE_LIF, "use_lif", name)
        if not (isinstance(width_mult, int | float) and width_mult > 0):
            raise ConfigError(f"{name}: width_mult must be > 0, got {width_mult!r}")
        w = [_width(c, width_mult) for c in (64, 128, 256, 512)]
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
            if len(layers) != 3:
                raise ConfigError(f"{name}: ResNet-19 takes 3 stage depths, got {layers!r}")
            self.layer1 = nn.Sequential()
            self.layer2 = self._make_layer(w[1], layers[0], 2 if self.use_dvs else 1)
            self.layer3 = self._make_layer(w[2], layers[1], 2)
            self.layer4 = self._make_layer(w[3], layers[2], 2)
            hidden = _width(256, width_mult)
            self.fc: nn.Module = nn.Sequential(
                nn.Linear(w[3], hidden),
                self.neuron(hidden, False, mem_bn=False, use_lif=self.use_lif),
                nn.Linear(hidden, num_classes),
            )
        else:
            if len(layers) != 4:
                raise ConfigError(f"{name}: ResNet-18/34 take 4 stage depths, got {layers!r}")
            self.layer1 = self._make_layer(w[0], layers[0], 1)
            self.layer2 = self._make_layer(w[1], layers[1], 2)
            self.layer3 = self._make_layer(w[2], layers[2], 2)
            self.layer4 = self._make_layer(w[3], layers[3], 2)
            self.fc = nn.Linear(w[3], num_classes)
        self.init_weights()

    def _make_layer(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        layers = [BasicBlock(self, self.inplanes, planes, stride)]
        self.inplanes = planes
        layers += [BasicBlock(self, planes, planes, 1) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _step(self, x_t: Tensor) -> Tensor:
        x = self.bn1(self.conv1(x_t))
        if self.use_maxpool:
            x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return run_step(self.fc, torch.flatten(self.avgpool(x), 1))


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
    """EM-PF VGG (official ``vgg.VGG``): groups ``layer1..5`` of conv -> BN -> [ECA] -> neuron and pools."""

    def __init__(
        self,
        arch: str = "vgg13",
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
        name: str = "empf_vgg13",
    ) -> None:
        super().__init__(name, T, num_classes, in_chans, img_size)
        self.check_dvs(use_dvs)
        cfg = VGG_CFG[choice(arch, tuple(VGG_CFG), "arch", name)]
        self.use_ternary, self.use_dvs, self.use_eca = bool(use_ternary), bool(use_dvs), int(use_eca)
        self.mem_bn = bool(use_mem_bn)
        self.mode = choice(mode, MODES, "mode", name)
        self.weight_mode = choice(weight_mode, WEIGHT_MODES, "weight_mode", name)
        self.use_lif = choice(use_lif, USE_LIF, "use_lif", name)
        if not (isinstance(width_mult, int | float) and width_mult > 0):
            raise ConfigError(f"{name}: width_mult must be > 0, got {width_mult!r}")
        self._c = self.in_chans
        self.layer1 = self._make_layers(cfg[0], width_mult, full_precision=not self.use_dvs)
        self.layer2 = self._make_layers(cfg[1], width_mult)
        self.layer3 = self._make_layers(cfg[2], width_mult)
        self.layer4 = self._make_layers(cfg[3], width_mult)
        self.layer5 = self._make_layers(cfg[4], width_mult)
        pools = sum(v == "M" for g in cfg for v in g)
        side = 1 if cfg[-1][-1] == "MM" else img_size // 2**pools
        if side < 1:
            raise ConfigError(f"{name}: img_size {img_size} is too small for {pools} 2x2 pools")
        self.classifier = nn.Linear(self._c * side * side, num_classes)
        self.init_weights(bn_and_linear=True)

    def _make_layers(self, cfg: list[Any], width_mult: float, full_precision: bool = False) -> nn.Sequential:
        layers: list[nn.Module] = []
        for v in cfg:
            if v == "M":
                layers.append(nn.AvgPool2d(2, 2))
            elif v == "MM":
                layers.append(nn.AdaptiveAvgPool2d(1))
            else:
                c = _width(v, width_mult)
                if full_precision:
                    layers.append(nn.Conv2d(self._c, c, 3, padding=1, bias=False))
                else:
                    layers.append(qconv(self._c, c, 3, 1, self.use_ternary, self.weight_mode))
                layers.append(nn.BatchNorm2d(c))
                if self.use_eca > 0:
                    layers.append(ECAAttention())
                layers.append(self.neuron(c, False, use_lif=self.use_lif))
                self._c = c
        return nn.Sequential(*layers)

    def _step(self, x_t: Tensor) -> Tensor:
        x = x_t
        for group in (self.layer1, self.layer2, self.layer3, self.layer4, self.layer5):
            x = run_step(group, x)
        return self.classifier(torch.flatten(x, 1))


class EMPFDigitsNet(EMPFNet):
    """The spec's digits demo (h.8): Conv3x3(1->c1, full precision) -> BN -> EM-PF -> BinaryConv3x3(c1->c2) -> BN
    -> EM-PF -> AvgPool2 -> BinaryConv3x3(c2->c3) -> BN -> EM-PF -> GAP -> Linear(c3, classes).

    Input pixels in [0, 1] are mapped to [-1, 1] inside (``2x - 1``), as in the spec's recipe."""

    def __init__(
        self,
        T: int = 4,
        num_classes: int = 10,
        in_chans: int = 1,
        img_size: int = 8,
        channels: tuple[int, int, int] | list[int] = (32, 64, 64),
        mode: str = "vanilla",
        mem_bn: bool = False,
        use_ternary: bool = False,
    ) -> None:
        super().__init__("empf_digits", T, num_classes, in_chans, img_size)
        if len(channels) != 3:
            raise ConfigError(f"empf_digits: channels must list 3 widths, got {channels!r}")
        c1, c2, c3 = (check_positive_int(c, "channels[i]", "empf_digits") for c in channels)
        self.mode, self.mem_bn = choice(mode, MODES, "mode", "empf_digits"), bool(mem_bn)
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

    def _step(self, x_t: Tensor) -> Tensor:
        return self.fc(torch.flatten(run_step(self.features, 2.0 * x_t - 1.0), 1))


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
