"""The zoo-core plugin ``spikingresformer``: SpikingResformer (Shi, Hao, Yu, CVPR 2024).

Registers the six official variants ``spikingresformer_{ti,s,m,l,cifar,dvsg}`` (official names, constructor
arguments ``T``, ``num_classes``, ``img_size`` plus the zoo's ``in_chans``; defaults = the paper's main setting),
the zoo's small digits configuration ``spikingresformer_digits`` with its demo weights, the official-checkpoint
mapping (identity: same keys and shapes) and the profiler's counting rules for the multi-step convs and the
spiking matrix products of DSSA. The neurons are the core's LIF/PLIF, configured as the official ones.

Kept light at import time: model code is imported inside the hooks.
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import Paper, WeightInfo, hookimpl

#: The zoo-core plugin API this plugin is written against.
ZOO_API_VERSION = "1.1"

PAPER = Paper(
    title="SpikingResformer: Bridging ResNet and Vision Transformer in Spiking Neural Networks",
    authors=["Shi, Xinyu", "Hao, Zecheng", "Yu, Zhaofei"],
    venue="CVPR",
    year=2024,
    url="https://arxiv.org/abs/2403.14302",
    bibtex="""@inproceedings{shi2024spikingresformer,
  title = {{SpikingResformer}: Bridging {ResNet} and Vision Transformer in Spiking Neural Networks},
  author = {Shi, Xinyu and Hao, Zecheng and Yu, Zhaofei},
  booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  year = {2024},
  eprint = {2403.14302},
  archivePrefix = {arXiv},
  url = {https://arxiv.org/abs/2403.14302}
}""",
)

_IMAGENET = {"T": 4, "num_classes": 1000, "img_size": 224, "in_chans": 3}
_IMAGENET_PRE = {
    "input": "[B, 3, H, W] RGB in [0, 1], normalised with the ImageNet mean/std (timm eval transform, "
    "bicubic, crop_pct 0.95)",
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}
_TIME_FIRST = (
    "; 5-D input is time-first [T, B, C, H, W] (the official code takes [B, T, C, H, W]); the output is the "
    "mean over T of the per-step logits (forward(x, per_step=True): [T, B, K])"
)

#: name -> (defaults, test_config, preprocessing, description). test_config: the conformance kit's CPU-sized
#: instance. Keep the last stage's attention maps big enough (img_size 48: 9 x 9 per head and step) that no head
#: stays silent on the kit's first training batch: a head whose batch firing rate is exactly 0 leaves its
#: firing-rate buffer at 0 and, as in the official code, makes that forward's scale infinite (NaN gradients).
MODELS: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any], str]] = {
    "spikingresformer_ti": (
        _IMAGENET,
        {"img_size": 48, "T": 2},
        _IMAGENET_PRE,
        "SpikingResformer-Ti (ImageNet): planes 64/192/384, heads 1/3/6, 11.18 M parameters "
        "(11.14 M without BN affine)",
    ),
    "spikingresformer_s": (
        _IMAGENET,
        {"img_size": 48, "T": 2},
        _IMAGENET_PRE,
        "SpikingResformer-S (ImageNet): planes 64/256/512, heads 1/4/8, 17.81 M parameters",
    ),
    "spikingresformer_m": (
        _IMAGENET,
        {"img_size": 48, "T": 2},
        _IMAGENET_PRE,
        "SpikingResformer-M (ImageNet): planes 64/384/768, heads 1/6/12, 35.60 M parameters "
        "(35.52 M without BN affine)",
    ),
    "spikingresformer_l": (
        _IMAGENET,
        {"img_size": 48, "T": 2},
        _IMAGENET_PRE,
        "SpikingResformer-L (ImageNet): planes 128/512/1024, heads 2/8/16, 60.38 M parameters",
    ),
    "spikingresformer_cifar": (
        {"T": 4, "num_classes": 10, "img_size": 32, "in_chans": 3},
        {"img_size": 16, "T": 2},
        {
            "input": "[B, 3, 32, 32] RGB in [0, 1], normalised with the CIFAR-10 mean/std (CIFAR-100 and "
            "CIFAR10-DVS settings: see the plugin README)",
            "mean": [0.4914, 0.4822, 0.4465],
            "std": [0.2023, 0.1994, 0.2010],
        },
        "SpikingResformer-Ti* for CIFAR-10/100 (T=4, 32x32) and CIFAR10-DVS (T=16, 64x64): Conv3x3 stem, "
        "planes 64/192/384, heads 1/3/6",
    ),
    "spikingresformer_dvsg": (
        {"T": 16, "num_classes": 11, "img_size": 64, "in_chans": 3},
        {"img_size": 16, "T": 2},
        {
            "input": "DVS128 Gesture event frames [T, B, 3, 64, 64] (time first): the two polarity counts "
            "per frame (SpikingJelly frames_number=T, split_by='number', resized to 64) and their sum"
        },
        "SpikingResformer for DVS128 Gesture: Conv3x3 stem, planes 32/96/192, heads 1/3/6, group size 32, "
        "PLIF neurons",
    ),
    "spikingresformer_digits": (
        {"T": 4, "num_classes": 10, "img_size": 8, "in_chans": 1},
        {},
        {
            "input": "[B, 1, 8, 8] in [0, 1] (digits: pixel value / 16); the model standardises it inside "
            "with the digits training mean/std (input_mean, input_std)"
        },
        "The zoo's small SpikingResformer for 8x8 digits (not an official variant): Conv3x3 stem (1 -> 16), "
        "planes 16/32/64, one (DSSA, GWFFN) pair per stage, heads 1/2/4, patch sizes 2/2/1, group size 16, "
        "158,064 parameters; output: mean over T of the logits",
    ),
}

#: demo weights, trained by the command in their card (tools/train.py); the folder ships in model_cards/
DIGITS_T4 = WeightInfo(
    tag="digits_t4",
    source="model_cards/spikingresformer_digits.digits_t4",
    sha256={"model.safetensors": "4657c62e5d0be1b785e71d39273f3883c9baa80278a123df93db7d8f2ec7e6f2"},
    dataset="digits",
    metrics={"accuracy": 0.9861111111111112},
    config={
        "T": 4,
        "num_classes": 10,
        "img_size": 8,
        "in_chans": 1,
        "input_mean": 0.30538339,
        "input_std": 0.37611917,
    },
)


@hookimpl
def register_models(register: Any) -> None:
    from . import model as m
    from .official import from_official, official_config

    for name, (defaults, test_config, pre, description) in MODELS.items():
        defaults = dict(defaults)
        weights: dict[str, WeightInfo] = {}
        if name == "spikingresformer_digits":
            defaults.update(input_mean=m.DIGITS_INPUT_MEAN, input_std=m.DIGITS_INPUT_STD)
            weights["digits_t4"] = DIGITS_T4
        official = name != "spikingresformer_digits"
        register(
            name,
            getattr(m, name),
            paper=PAPER,
            family="spikingresformer",
            task="image-classification",
            defaults=defaults,
            test_config=test_config,
            preprocessing=pre,
            weights=weights,
            description=description + (_TIME_FIRST if official else ""),
            **({"from_official": from_official, "official_config": official_config} if official else {}),
        )


@hookimpl
def register_counting_rules(register: Any) -> None:
    from .energy import count_matmul, count_seq_conv
    from .layers import SeqConv2d, SpikingMatmul

    register("spikingresformer_seq_conv", count_seq_conv, module_type=SeqConv2d)
    register("spikingresformer_matmul", count_matmul, module_type=SpikingMatmul)
