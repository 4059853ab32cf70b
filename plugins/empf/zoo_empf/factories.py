"""Registered model factories: ``empf_<arch>`` with the official constructor arguments (spec section d)."""

from __future__ import annotations

from .models import EMPFVGG, EMPFDigitsNet, EMPFResNet

__all__ = [
    "empf_digits",
    "empf_resnet18",
    "empf_resnet19",
    "empf_resnet34",
    "empf_vgg11",
    "empf_vgg13",
    "empf_vgg16",
    "empf_vgg19",
]


def _resnet(
    name: str,
    layers: tuple[int, ...],
    resnet19: bool,
    T: int,
    num_classes: int,
    use_ternary: bool,
    use_dvs: bool,
    use_eca: int,
    mem_bn: bool,
    parallel_mode: bool,
    mode: str,
    weight_mode: str,
    use_lif: str,
    in_chans: int,
    img_size: int,
    width_mult: float,
) -> EMPFResNet:
    return EMPFResNet(
        layers, T, num_classes, use_ternary, use_dvs, resnet19, use_eca, mem_bn, parallel_mode, mode,
        weight_mode, use_lif, in_chans, img_size, width_mult, name,
    )  # fmt: skip


def empf_resnet18(
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
) -> EMPFResNet:
    """EM-PF ResNet-18 (blocks 2-2-2-2); ``num_classes=1000`` selects the ImageNet stem (official rule)."""
    return _resnet("empf_resnet18", (2, 2, 2, 2), False, **locals())


def empf_resnet34(
    T: int = 4,
    num_classes: int = 1000,
    use_ternary: bool = True,
    use_dvs: bool = False,
    use_eca: int = 0,
    mem_bn: bool = False,
    parallel_mode: bool = False,
    mode: str = "vanilla",
    weight_mode: str = "compression",
    use_lif: str = "none",
    in_chans: int = 3,
    img_size: int = 224,
    width_mult: float = 1.0,
) -> EMPFResNet:
    """EM-PF ResNet-34 (blocks 3-4-6-3); ImageNet defaults (ternary weights, as main.py forces for ImageNet)."""
    return _resnet("empf_resnet34", (3, 4, 6, 3), False, **locals())


def empf_resnet19(
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
) -> EMPFResNet:
    """EM-PF ResNet-19 (no layer1; 128/256/512 x 3-3-2; head Linear(512,256) -> neuron -> Linear)."""
    return _resnet("empf_resnet19", (3, 3, 2), True, **locals())


def _vgg(arch: str, **kw: object) -> EMPFVGG:
    return EMPFVGG(arch, name=f"empf_{arch}", **kw)  # type: ignore[arg-type]


def empf_vgg11(
    T: int = 10,
    num_classes: int = 10,
    use_ternary: bool = False,
    use_dvs: bool = True,
    use_eca: int = 0,
    use_mem_bn: bool = False,
    mode: str = "vanilla",
    weight_mode: str = "compression",
    use_lif: str = "none",
    in_chans: int = 2,
    img_size: int = 48,
    width_mult: float = 1.0,
) -> EMPFVGG:
    """EM-PF VGG-11, the paper's "VGG-SNN" for CIFAR10-DVS (2 x 48 x 48 frames, T = 10)."""
    return _vgg("vgg11", **locals())


def empf_vgg13(
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
) -> EMPFVGG:
    """EM-PF VGG-13 (global pool before the classifier: runs on CIFAR 32x32)."""
    return _vgg("vgg13", **locals())


def empf_vgg16(
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
) -> EMPFVGG:
    """EM-PF VGG-16 (classifier sized from img_size; the official Linear(512) fits 16x16 inputs only)."""
    return _vgg("vgg16", **locals())


def empf_vgg19(
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
) -> EMPFVGG:
    """EM-PF VGG-19 (classifier sized from img_size; the official Linear(512) fits 16x16 inputs only)."""
    return _vgg("vgg19", **locals())


def empf_digits(
    T: int = 4,
    num_classes: int = 10,
    in_chans: int = 1,
    img_size: int = 8,
    channels: tuple[int, int, int] | list[int] = (32, 64, 64),
    mode: str = "vanilla",
    mem_bn: bool = False,
    use_ternary: bool = False,
) -> EMPFDigitsNet:
    """The spec's 8x8-digits demo CNN (h.8): one full-precision conv, two BinaryConvs, three EM-PF neurons."""
    return EMPFDigitsNet(T, num_classes, in_chans, img_size, channels, mode, mem_bn, use_ternary)
