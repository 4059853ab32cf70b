"""The SNNs of Liu et al. (ICML 2024): VGG-11 and WRN-16-4 with the official state-dict layout, and a digits MLP.

Every model takes images ``[B, C, H, W]`` in [0, 1] (or frames ``[T, B, C, H, W]``), normalises them inside
(per-channel mean/std: the constants are constructor arguments, not state), repeats a static image ``T`` times
(direct coding) and returns the mean over time of the logits ``[B, classes]``. Layers run on the time-merged
batch ``[T*B, ...]`` (time-major, so BatchNorm sees all ``T*B`` samples as in the official code); the neurons
see ``[T, B, ...]``. Each family is one class with keyword-only arguments (the paper's setting as defaults),
built on :class:`zoo_core.sdk.SpikingClassifier` (timm's head API: ``forward_features`` gives the per-step
features ``[T, B, ...]`` the classifier receives, ``forward_head`` the mean logits).

Gradient settings (the :mod:`zoo_core.tasks.attacks` protocol): ``bptt:zif:1`` (training default), ``bptt:sig:4``,
``bptt:atan:2`` and ``bptr:zif:1``, the four ``(mode, gama, surrogate)`` settings of the official
``val_ensemble``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import BaseNeuron, ConfigError, SpikingClassifier, check_positive, check_positive_int

from .neurons import SparseGradLIF

# the official decimals (data_loaders.py); a model holds them as official_constants() makes them (float32-rounded
# under the default float32 dtype, as the official TensorNormalization's torch.tensor)
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)


def official_constants(values: Sequence[float] | Tensor) -> tuple[float, ...]:
    """Normalisation constants as the official ``TensorNormalization`` holds them: a sequence of numbers becomes
    ``torch.tensor(values)`` in the default dtype (float32 by default: 0.4914 -> 0.49140000343322754), a tensor
    keeps its own dtype; returned as exact Python floats of those values."""
    t = values if isinstance(values, Tensor) else torch.tensor([float(v) for v in values], device="cpu")
    return tuple(float(v) for v in t.detach().cpu().reshape(-1).tolist())  # on CPU also under a meta device


#: setting name -> (mode, gama, surrogate), in the order of the official ``val_ensemble``
GRADIENT_SETTINGS: dict[str, tuple[str, float, str]] = {
    "bptt:zif:1": ("bptt", 1.0, "zif"),
    "bptt:sig:4": ("bptt", 4.0, "sig"),
    "bptt:atan:2": ("bptt", 2.0, "atan"),
    "bptr:zif:1": ("bptr", 1.0, "zif"),
}

#: official VGG-11 stages (channels of Conv3x3+BN+LIF units; "A" = AvgPool2d(2))
VGG11_CFG: list[list[int | str]] = [[64, "A"], [128, 256, "A"], [512, 512, 512, "A"], [512, 512], []]


def merged(module: nn.Module, x: Tensor) -> Tensor:
    """Apply a stateless layer to ``[T, B, ...]`` as one ``[T*B, ...]`` batch (time-major)."""
    t = x.shape[0]
    return module(x.flatten(0, 1)).unflatten(0, (t, -1))


class TimeSequential(nn.Sequential):
    """``nn.Sequential`` on ``[T, B, ...]``: neurons see the sequence, other layers the merged batch.

    Being a plain ``Sequential`` subclass, its state-dict keys are the official ones (indices count neurons and
    pools too).
    """

    def forward(self, x: Tensor) -> Tensor:
        for m in self:
            x = m(x) if isinstance(m, BaseNeuron) else merged(m, x)
        return x


class ConvexCombination(nn.Module):
    """``c_0 a + c_1 b`` with a learnable, unconstrained ``comb`` initialised to (1/2, 1/2)."""

    def __init__(self, n: int = 2):
        super().__init__()
        self.comb = nn.Parameter(torch.ones(n) / n)

    def forward(self, *args: Tensor) -> Tensor:
        out = args[0] * self.comb[0]
        for i in range(1, len(args)):
            out = out + args[i] * self.comb[i]
        return out


class SNNClassifier(SpikingClassifier):
    """Shared input handling (validation, normalisation, direct coding), the head API on ``[T, B, ...]``
    features and the gradient-setting protocol.

    A subclass implements :meth:`forward_features` (normalised, time-repeated input -> the per-step features
    ``[T, B, ...]`` its head ``head_name`` receives); by default the head runs on the time-merged batch.
    """

    def __init__(
        self,
        *,
        T: int,
        num_classes: int,
        in_chans: int,
        img_size: int,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        super().__init__(T=T, num_classes=num_classes, in_chans=in_chans, img_size=img_size)
        mean, std = official_constants(mean), official_constants(std)
        if len(mean) not in (1, in_chans) or len(std) != len(mean) or min(std) <= 0:
            raise ConfigError(
                f"{type(self).__name__}: mean/std need 1 or in_chans={in_chans} values each and std > 0, got "
                f"{mean}, {std}"
            )
        # not in the official state dict: Python floats (not buffers) holding the official TensorNormalization's
        # values, torch.tensor(mean) made in the default dtype at construction (float32-rounded under the usual
        # float32 default) and left unchanged by .double(), as the official plain-attribute tensors are
        self.norm_mean, self.norm_std = mean, std

    def encode(self, x: Tensor, T: int | None = None) -> Tensor:
        """``[B,C,H,W]`` or ``[T,B,C,H,W]`` in [0,1] -> normalised sequence ``[T, B, C, H, W]``."""
        seq = super().encode(x, T)
        mean = torch.tensor(self.norm_mean, dtype=seq.dtype, device=seq.device).view(-1, 1, 1)
        std = torch.tensor(self.norm_std, dtype=seq.dtype, device=seq.device).view(-1, 1, 1)
        return (seq - mean) / std

    def forward_features(self, x: Tensor) -> Tensor:
        """The per-step features ``[T, B, ...]`` the head receives."""
        raise NotImplementedError

    def head_steps(self, features: Tensor) -> Tensor:
        """The head on per-step features: ``[T, B, ...] -> [T, B, num_classes]`` (on the merged batch)."""
        return merged(self.head_module(), features)

    def forward_steps(self, x: Tensor) -> Tensor:
        """Per-step logits ``[T, B, num_classes]`` (the model's output is their mean over time)."""
        return self.head_steps(self.forward_features(x))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Logits ``[B, num_classes]`` from :meth:`forward_features` (``pre_logits``: the features)."""
        return x if pre_logits else self.head_steps(x).mean(0)

    # -- gradient-setting protocol (zoo_core.tasks.attacks) -----------------------------------------------------
    def spiking_layers(self) -> list[SparseGradLIF]:
        return [m for m in self.modules() if isinstance(m, SparseGradLIF)]

    def gradient_settings(self) -> list[str]:
        return list(GRADIENT_SETTINGS)

    def set_gradient_setting(self, name: str) -> None:
        if name not in GRADIENT_SETTINGS:
            raise ConfigError(
                f"{type(self).__name__}: unknown gradient setting {name!r}; offered: {list(GRADIENT_SETTINGS)}"
            )
        self.set_attack_mode(GRADIENT_SETTINGS[name])

    def get_gradient_setting(self) -> str:
        n = self.spiking_layers()[0]
        key = (n.mode, n.gama, n.surrogate)
        for name, value in GRADIENT_SETTINGS.items():
            if value == key:
                return name
        return f"{n.mode}:{n.surrogate}:{n.gama:g}"

    def set_attack_mode(self, mode: tuple[str, float, str]) -> None:
        """The official ``set_attack_mode((mode, gama, surrogate))`` on every spiking layer."""
        for n in self.spiking_layers():
            n.set_surrogate(mode[2], mode[1])
            n.set_mode(mode[0])


def _init_official(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)


class SparseGradVGG(SNNClassifier):
    """The official VGG-11 SNN (``VGG('vgg11', ...)``; not torchvision's VGG-11 layout).

    Stages of Conv3x3(bias) -> BN -> LIF, AvgPool2d(2) after stages 1-3; classifier Flatten -> Linear(512*16,
    4096) -> LIF -> Linear(4096, 4096) -> LIF -> Linear(4096, classes). ``width_mult`` scales channels and the
    hidden width (1.0: the paper's model; smaller for tests). ``mean``/``std``: the official CIFAR-10
    normalisation, applied inside.
    """

    head_name = "classifier"

    def __init__(
        self,
        *,
        T: int = 8,
        num_classes: int = 10,
        in_chans: int = 3,
        img_size: int = 32,
        tau: float = 1.0,
        width_mult: float = 1.0,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
    ):
        super().__init__(
            T=T, num_classes=num_classes, in_chans=in_chans, img_size=img_size, mean=mean, std=std
        )
        who = type(self).__name__
        if img_size % 8:
            raise ConfigError(f"{who}: img_size must be a positive multiple of 8 (3 pools), got {img_size}")
        check_positive(width_mult, "width_mult", who)
        c_in = in_chans
        for i, stage in enumerate(VGG11_CFG, start=1):
            layers: list[nn.Module] = []
            for v in stage:
                if v == "A":
                    layers.append(nn.AvgPool2d(2))
                else:
                    c = max(1, round(int(v) * width_mult))
                    layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), SparseGradLIF(tau=tau)]
                    c_in = c
            setattr(self, f"layer{i}", TimeSequential(*layers))
        hidden = max(1, round(4096 * width_mult))
        self.classifier = TimeSequential(
            nn.Flatten(),
            nn.Linear(c_in * (img_size // 8) ** 2, hidden),
            SparseGradLIF(tau=tau),
            nn.Linear(hidden, hidden),
            SparseGradLIF(tau=tau),
            nn.Linear(hidden, num_classes),
        )
        _init_official(self)

    def forward_features(self, x: Tensor) -> Tensor:
        out = self.encode(x)
        for i in range(1, 6):
            out = getattr(self, f"layer{i}")(out)
        return out

    def head_steps(self, features: Tensor) -> Tensor:
        return self.classifier(features)  # a TimeSequential: takes [T, B, ...]


class WideBlock(nn.Module):
    """Pre-activation block: ``y = c0 * x + c1 * Conv2(LIF2(BN2(Conv1(LIF1(BN1(x))))))``; if the width changes,
    ``x`` is replaced by ``ShortcutConv1x1(LIF1(BN1(x)))``."""

    def __init__(self, in_planes: int, out_planes: int, stride: int, tau: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.act1 = SparseGradLIF(tau=tau)
        self.conv1 = nn.Conv2d(in_planes, out_planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.act2 = SparseGradLIF(tau=tau)
        self.conv2 = nn.Conv2d(out_planes, out_planes, 3, 1, 1, bias=False)
        self.equal = in_planes == out_planes
        self.convShortcut = None if self.equal else nn.Conv2d(in_planes, out_planes, 1, stride, 0, bias=False)
        self.convex = ConvexCombination(2)

    def forward(self, x: Tensor) -> Tensor:
        a = self.act1(merged(self.bn1, x))
        out = self.act2(merged(self.bn2, merged(self.conv1, a)))
        out = merged(self.conv2, out)
        return self.convex(x if self.convShortcut is None else merged(self.convShortcut, a), out)


class SparseGradWRN(SNNClassifier):
    """The official WRN-16-4 SNN: stem Conv3x3(3->16), three groups of pre-activation blocks (64/128/256
    channels, strides 1/2/2), BN -> LIF -> global average pool -> Linear. ``depth``, ``widen_factor`` and
    ``stem_width`` build smaller test models (the defaults are the paper's); ``mean``/``std``: the official
    CIFAR-10 normalisation, applied inside."""

    head_name = "fc"

    def __init__(
        self,
        *,
        T: int = 8,
        num_classes: int = 10,
        in_chans: int = 3,
        img_size: int = 32,
        tau: float = 1.0,
        depth: int = 16,
        widen_factor: int = 4,
        stem_width: int = 16,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
    ):
        super().__init__(
            T=T, num_classes=num_classes, in_chans=in_chans, img_size=img_size, mean=mean, std=std
        )
        who = type(self).__name__
        if (depth - 4) % 6 or depth < 10:
            raise ConfigError(f"{who}: depth must be 6n + 4 with n >= 1 (16: WRN-16), got {depth}")
        if img_size % 4:
            raise ConfigError(f"{who}: img_size must be a positive multiple of 4, got {img_size}")
        check_positive_int(widen_factor, "widen_factor", who)
        check_positive_int(stem_width, "stem_width", who)
        n = (depth - 4) // 6
        ch = [
            stem_width,
            stem_width * widen_factor,
            2 * stem_width * widen_factor,
            4 * stem_width * widen_factor,
        ]
        self.conv1 = nn.Conv2d(in_chans, ch[0], 3, 1, 1, bias=False)
        for g, stride in enumerate((1, 2, 2), start=1):
            blocks = [
                WideBlock(ch[g - 1] if b == 0 else ch[g], ch[g], stride if b == 0 else 1, tau)
                for b in range(n)
            ]
            setattr(self, f"block{g}", nn.Sequential(*blocks))
        self.bn1 = nn.BatchNorm2d(ch[3])
        self.act = SparseGradLIF(tau=tau)
        self.fc = nn.Linear(ch[3], num_classes)
        _init_official(self)

    def forward_features(self, x: Tensor) -> Tensor:
        out = merged(self.conv1, self.encode(x))
        out = self.block3(self.block2(self.block1(out)))
        out = self.act(merged(self.bn1, out))
        return out.mean(dim=(-2, -1))  # = the official avg_pool2d(8) on the 8x8 map of a 32x32 input


class SparseGradMLP(SNNClassifier):
    """The digits demo: normalise ``(x - 0.5) / 0.5``, repeat T, Linear(64, 256) -> BN1d -> LIF (IF, zif) ->
    Linear(256, 10), mean over T."""

    head_name = "fc2"

    def __init__(
        self,
        *,
        T: int = 4,
        num_classes: int = 10,
        in_chans: int = 1,
        img_size: int = 8,
        hidden: int = 256,
        tau: float = 1.0,
        mean: Sequence[float] = (0.5,),
        std: Sequence[float] = (0.5,),
    ):
        super().__init__(
            T=T, num_classes=num_classes, in_chans=in_chans, img_size=img_size, mean=mean, std=std
        )
        check_positive_int(hidden, "hidden", type(self).__name__)
        self.fc1 = nn.Linear(in_chans * img_size * img_size, hidden)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.act1 = SparseGradLIF(tau=tau)
        self.fc2 = nn.Linear(hidden, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        seq = self.encode(x).flatten(2)
        return self.act1(merged(self.bn1, merged(self.fc1, seq)))


# ------------------------------------------------------------------------------------------------ official
def from_official(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Official checkpoints (``model.state_dict()`` of ``VGG`` / ``WideResNet``) already use this layout.

    The neurons and the normalisation hold no state, so the mapping is the identity; the loader checks every
    key and shape. Only tensors are kept.
    """
    return {k: v for k, v in state_dict.items() if isinstance(v, Tensor)}


def official_config(state_dict: dict[str, Any]) -> dict[str, Any]:
    """``num_classes`` read from the last layer of an official checkpoint."""
    for key in ("classifier.5.weight", "fc.weight"):
        if key in state_dict:
            return {"num_classes": int(state_dict[key].shape[0])}
    return {}
