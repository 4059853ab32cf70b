"""The zoo-core plugin ``spikingresformer``: SpikingResformer (Shi, Hao, Yu, CVPR 2024).

Registers the family ``spikingresformer``: one class (:class:`zoo_spikingresformer.model.SpikingResformer`) and a
table of variants (:data:`zoo_spikingresformer.model.VARIANTS`): the six official ones
``spikingresformer_{ti,s,m,l,cifar,dvsg}`` (official names; defaults = the paper's main setting of each) and the
zoo's small digits configuration ``spikingresformer_digits`` with its demo weights; the official-checkpoint
mapping (identity: same keys and shapes) and the profiler's counting rules for the multi-step convs and the
spiking matrix products of DSSA. The neurons are the core's LIF/PLIF, configured as the official ones.

Kept light at import time: model code is imported inside the hooks.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from zoo_core.sdk import Paper, Variant, WeightInfo, hookimpl, preprocessing, register_variants

#: The zoo-core plugin API this plugin is written against.
ZOO_API_VERSION = "1.4"

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

_TIME_FIRST = (
    "; 5-D input is time-first [T, B, C, H, W] (the official code takes [B, T, C, H, W]); the output is the "
    "mean over T of the per-step logits (forward(x, per_step=True): [T, B, K])"
)
#: the official ImageNet evaluation transform (timm, crop_pct 0.95): bicubic resize to floor(224 / 0.95) = 235,
#: centre crop 224, ImageNet mean/std
_IMAGENET_PRE = preprocessing(
    "imagenet",
    input="[B, 3, 224, 224] RGB in [0, 1], normalised with the ImageNet mean/std (timm eval transform: bicubic "
    "resize 235, centre crop 224, crop_pct 0.95)",
    resize=235,
    interpolation="bicubic",
    crop_pct=0.95,
)
_CIFAR_PRE = preprocessing(
    "cifar10",
    input="[B, 3, 32, 32] RGB in [0, 1], normalised with the CIFAR-10 mean/std (CIFAR-100: the cifar100 "
    "preset's mean/std; CIFAR10-DVS: see the plugin README)",
)
_DVSG_PRE = {  # event frames: no image preset applies
    "input": "DVS128 Gesture event frames [T, B, 3, 64, 64] (time first): the two polarity counts per frame "
    "(SpikingJelly frames_number=T, split_by='number', resized to 64) and their sum"
}
_DIGITS_PRE = preprocessing(
    "digits",
    input="[B, 1, 8, 8] in [0, 1] (digits: pixel value / 16); the model standardises it inside with the digits "
    "training mean/std (input_mean, input_std)",
)
#: the conformance kit's CPU-sized instances. Keep the last stage's attention maps big enough (img_size 48: 9 x 9
#: per head and step) that no head stays silent on the kit's first training batch: a head whose batch firing
#: rate is exactly 0 leaves its firing-rate buffer at 0 and, as in the official code, makes that forward's scale
#: infinite (NaN gradients).
_KIT_IMAGENET = {"img_size": 48, "T": 2}
_KIT_SMALL = {"img_size": 16, "T": 2}

#: mean and standard deviation (population) of all pixels of the digits training split (pixel / 16,
#: stratified 80/20 split, seed 0), used by ``spikingresformer_digits`` to standardise its input
DIGITS_INPUT_MEAN = 0.30538339
DIGITS_INPUT_STD = 0.37611917


def _imagenet(description: str, **args: Any) -> Variant:
    """An ImageNet variant: the official evaluation transform and the kit's 48x48 instance."""
    return Variant(args=args, description=description, preprocessing=_IMAGENET_PRE, test_config=_KIT_IMAGENET)


#: the family: constructor arguments of each variant over the class defaults of
#: :class:`zoo_spikingresformer.model.SpikingResformer` (SpikingResformer-Ti on ImageNet, T = 4). Every official
#: variant has depths 1/2/3 and patch sizes 4/2/1; ``digits`` is the zoo's small configuration for
#: scikit-learn's 8x8 digits, not an official variant.
VARIANTS: dict[str, Variant] = {
    "spikingresformer_ti": _imagenet(
        "SpikingResformer-Ti (ImageNet): planes 64/192/384, heads 1/3/6, 11.18 M parameters (11.14 M without "
        "BN affine)"
    ),
    "spikingresformer_s": _imagenet(
        "SpikingResformer-S (ImageNet): planes 64/256/512, heads 1/4/8, 17.81 M parameters",
        planes=(64, 256, 512),
        num_heads=(1, 4, 8),
    ),
    "spikingresformer_m": _imagenet(
        "SpikingResformer-M (ImageNet): planes 64/384/768, heads 1/6/12, 35.60 M parameters (35.52 M without "
        "BN affine)",
        planes=(64, 384, 768),
        num_heads=(1, 6, 12),
    ),
    "spikingresformer_l": _imagenet(
        "SpikingResformer-L (ImageNet): planes 128/512/1024, heads 2/8/16, 60.38 M parameters",
        planes=(128, 512, 1024),
        num_heads=(2, 8, 16),
    ),
    "spikingresformer_cifar": Variant(
        args={"num_classes": 10, "img_size": 32, "stem": "conv3x3"},
        description="SpikingResformer-Ti* for CIFAR-10/100 (T=4, 32x32) and CIFAR10-DVS (T=16, 64x64): Conv3x3 "
        "stem, planes 64/192/384, heads 1/3/6",
        preprocessing=_CIFAR_PRE,
        test_config=_KIT_SMALL,
    ),
    "spikingresformer_dvsg": Variant(
        args={
            "T": 16,
            "num_classes": 11,
            "img_size": 64,
            "planes": (32, 96, 192),
            "stem": "conv3x3",
            "group_size": 32,
            "neuron": "plif",
        },
        description="SpikingResformer for DVS128 Gesture: Conv3x3 stem, planes 32/96/192, heads 1/3/6, group "
        "size 32, PLIF neurons",
        preprocessing=_DVSG_PRE,
        test_config=_KIT_SMALL,
    ),
    "spikingresformer_digits": Variant(
        args={
            "num_classes": 10,
            "img_size": 8,
            "in_chans": 1,
            "depths": (1, 1, 1),
            "planes": (16, 32, 64),
            "num_heads": (1, 2, 4),
            "patch_sizes": (2, 2, 1),
            "stem": "conv3x3",
            "group_size": 16,
            "input_mean": DIGITS_INPUT_MEAN,
            "input_std": DIGITS_INPUT_STD,
        },
        description="The zoo's small SpikingResformer for 8x8 digits (not an official variant): Conv3x3 stem "
        "(1 -> 16), planes 16/32/64, one (DSSA, GWFFN) pair per stage, heads 1/2/4, patch sizes 2/2/1, group "
        "size 16, 158,064 parameters; output: mean over T of the logits",
        preprocessing=_DIGITS_PRE,
    ),
}
OFFICIAL = tuple(n for n in VARIANTS if n != "spikingresformer_digits")

#: demo weights, trained by the command in their card (tools/train.py) and measured by
#: plugins/spikingresformer/scripts/measure_demo_card.py; the folder ships in the package (zoo_spikingresformer/weights/). The card's metrics
#: and profile are measured in float64 (its ``evaluation`` record), so they hold on any CPU; paper_sops /
#: paper_energy_pj are the paper's SOP and energy convention per test image (zoo_spikingresformer.paper_energy)
DIGITS_T4 = WeightInfo(
    tag="digits_t4",
    source="package://zoo_spikingresformer/weights/spikingresformer_digits.digits_t4",
    sha256={"model.safetensors": "4657c62e5d0be1b785e71d39273f3883c9baa80278a123df93db7d8f2ec7e6f2"},
    dataset="digits",
    metrics={
        "accuracy": 0.9861111111111112,
        "paper_sops": 498042.4222222222,
        "paper_energy_pj": 448238.18000000005,
    },
    config={
        "T": 4,
        "num_classes": 10,
        "img_size": 8,
        "in_chans": 1,
        "input_mean": DIGITS_INPUT_MEAN,
        "input_std": DIGITS_INPUT_STD,
    },
)


@hookimpl
def register_models(register: Any) -> None:
    from .model import SpikingResformer
    from .official import from_official, official_config

    hooks = {"from_official": from_official, "official_config": official_config}
    variants = {
        name: replace(v, description=v.description + _TIME_FIRST, meta=hooks)
        if name in OFFICIAL
        else replace(v, meta={"weights": {DIGITS_T4.tag: DIGITS_T4}})
        for name, v in VARIANTS.items()
    }
    register_variants(
        register,
        SpikingResformer,
        variants,
        paper=PAPER,
        family="spikingresformer",
        task="image-classification",
    )


@hookimpl
def register_counting_rules(register: Any) -> None:
    from .energy import count_matmul, count_seq_conv
    from .layers import SeqConv2d, SpikingMatmul

    register("spikingresformer_seq_conv", count_seq_conv, module_type=SeqConv2d)
    register("spikingresformer_matmul", count_matmul, module_type=SpikingMatmul)


#: the ImageNet recipe shared by the four sizes (official configs/main/*.yaml and main.py)
_IMAGENET = {
    "epochs": 320,
    "optimizer": "adamw",
    "weight_decay": 0.01,
    "weight_decay_1d": False,
    "warmup_epochs": 3,
    "warmup_lr": 1e-5,
    "min_lr": 1e-5,
    "mixup": 0.2,
    "cutmix": 1.0,
    "rule_kwargs": {"label_smoothing": 0.1},
    "amp": True,
    "seed": 12450,
}
_DIFFERENCES = (
    "the paper trains on 8 GPUs (torchrun --nproc_per_node=8: batch is per process) with fp16 autocast and a "
    "GradScaler (here bfloat16 autocast); timm's scheduler steps once per epoch with the cosine not shifted by the "
    "warm-up (here per optimiser step, the cosine after the warm-up); timm's training transform as configured "
    "(RandomResizedCrop 0.08-1, flip, bicubic); the evaluation crop (crop_pct 0.95) is the model's declared "
    "preprocessing"
)


@hookimpl
def register_recipes(register: Any) -> None:
    data = "ImageNet-1k as an image folder (train/ and test/ sub-folders, one sub-folder per class)"
    source = "official configs/main/spikingresformer_*.yaml and main.py (timm optimiser, scheduler, Mixup)"
    register(
        "spikingresformer_imagenet",
        {**_IMAGENET, "batch_size": 32, "lr": 1e-3, "auto_augment": "rand-m7-mstd0.5-inc1"},
        models=("spikingresformer_ti", "spikingresformer_s"),
        paper=PAPER,
        description="SpikingResformer-Ti/S on ImageNet-1k: AdamW 1e-3, 320 epochs, RandAugment m7, mixup/cutmix",
        source=source,
        differences=_DIFFERENCES,
        data=data,
    )
    register(
        "spikingresformer_imagenet_m",
        {**_IMAGENET, "batch_size": 28, "lr": 8e-4, "auto_augment": "rand-m9-mstd0.5-inc1"},
        models=("spikingresformer_m",),
        paper=PAPER,
        description="SpikingResformer-M on ImageNet-1k: AdamW 8e-4, 320 epochs, RandAugment m9, mixup/cutmix",
        source=source,
        differences=_DIFFERENCES,
        data=data,
    )
    register(
        "spikingresformer_imagenet_l",
        {**_IMAGENET, "batch_size": 16, "lr": 5e-4, "auto_augment": "rand-m9-n3-mstd0.5-inc1"},
        models=("spikingresformer_l",),
        paper=PAPER,
        description="SpikingResformer-L on ImageNet-1k: AdamW 5e-4, 320 epochs, RandAugment m9 n3, mixup/cutmix",
        source=source,
        differences=_DIFFERENCES
        + "; the paper also synchronises BatchNorm across GPUs (SyncBN), not done here",
        data=data,
    )
    register(
        "spikingresformer_cifar",
        {
            **_IMAGENET,
            "epochs": 600,
            "batch_size": 128,
            "lr": 5e-4,
            "auto_augment": "rand-m7-n1-mstd0.5-inc1",
            "mixup": 0.5,
            "cutmix": 0.0,
        },
        models=("spikingresformer_cifar",),
        paper=PAPER,
        description="SpikingResformer on CIFAR-10/100 from scratch: AdamW 5e-4, 600 epochs, RandAugment, mixup 0.5",
        source="official configs/direct_training/cifar10.yaml, cifar100.yaml",
        differences=_DIFFERENCES.replace(
            "RandomResizedCrop 0.08-1", "RandomResizedCrop 0.08-1 where the paper takes the whole 32x32 image"
        )
        + "; CIFAR-100 normalises with its own mean/std (declare it with the data folder's preprocessing)",
        data="CIFAR-10 or CIFAR-100 as an image folder (train/ and test/, one sub-folder per class)",
    )


@hookimpl
def register_energy_conventions(register: Any) -> None:
    from .energy import E_SOP_PJ, PAPER_SKIP

    register(
        "spikingresformer",
        count={"binary": "values", "graded": "values", "real": "values", "analog": "values"},
        e_mac_pj=0.0,
        e_sop_pj=dict.fromkeys(("binary", "graded", "real", "analog"), E_SOP_PJ),
        exclude=PAPER_SKIP,
        models=("spikingresformer_*",),
        paper=PAPER,
        description="SpikingResformer's energy: SOPs of every conv, linear and attention matmul except the stem "
        "conv prologue.0 and the classifier (a conv's SOPs: its input convolved with an all-ones kernel, "
        "summed); E = 0.9 pJ x SOPs, no MAC term (the stem's MACs are left out)",
        source="READ: official main.py SOP monitor (xyshi2000/SpikingResformer@3f75127); reproduces the paper's "
        "2.73 G SOPs -> 2.46 mJ for SpikingResformer-Ti",
    )
