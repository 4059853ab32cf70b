"""The zoo-core plugin ``parallel_conversion``: registers the parallel neurons, the QCFS models and the rule.

zoo-core finds this module through the entry point ``parallel_conversion = "zoo_parallel_conversion.plugin"``
(group ``zoo_core``) and calls the hooks below on the first registry access. Keep the top light (no torch).
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import Paper, WeightInfo, hookimpl

#: The zoo-core plugin API this plugin is written against (checked when the plugin loads).
ZOO_API_VERSION = "1.1"

PAPER = Paper(
    title="Faster and Stronger: When ANN-SNN Conversion Meets Parallel Spiking Calculation",
    authors=["Hao, Zecheng", "Ma, Qichao", "Chen, Kang", "Zhang, Yi", "Yu, Zhaofei", "Huang, Tiejun"],
    venue="ICML",
    year=2025,
    url="https://arxiv.org/abs/2412.13610",
)

CIFAR10_PREPROCESSING = {
    "input": "[B, 3, 32, 32] RGB in [0, 1], normalised per channel",
    "mean": [0.4914, 0.4822, 0.4465],
    "std": [0.2023, 0.1994, 0.2010],
}
CIFAR100_PREPROCESSING = {
    "input": "[B, 3, 32, 32] RGB in [0, 1], normalised per channel",
    "mean": [129.3 / 255, 124.1 / 255, 112.4 / 255],
    "std": [68.2 / 255, 65.4 / 255, 70.4 / 255],
}
IMAGENET_PREPROCESSING = {
    "input": "[B, 3, 224, 224] RGB in [0, 1] (resize 256, centre crop 224), normalised per channel",
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}

_COMMON = {"is_cab": False, "in_chans": 3, "width_mult": 1.0, "mode": "ann"}

DIGITS_DEFAULTS = {
    "T": 4,
    "num_classes": 10,
    "in_chans": 1,
    "img_size": 8,
    "channels": [16, 32, 32],
    "up_init": 4.0,
    "is_cab": False,
    "mode": "ann",
}

#: demo weights: the QCFS CNN trained on digits and converted with parallel conversion at T = n = 4 (the
#: parallel SNN; its card also records the source ANN's accuracy); written by
#: plugins/parallel_conversion/scripts/make_digits_card.py
DIGITS_T4 = WeightInfo(
    tag="digits_t4",
    source="model_cards/qcfs_cnn_digits_parallel.digits_t4",
    sha256={"model.safetensors": "ea4edcb4dee11da5d1b5da1ec021981f01cf885ce282491ce2ed4e497553ddd4"},
    dataset="digits",
    metrics={
        "accuracy": 0.9972222222222222,
        "ann_accuracy": 0.9972222222222222,
        "if_accuracy": 0.9888888888888889,
    },
    config={**DIGITS_DEFAULTS, "mode": "parallel"},  # the defaults of qcfs_cnn_digits_parallel
)


@hookimpl
def register_neurons(register: Any) -> None:
    from .neurons import ChannelwiseParallelIF, ParallelIF

    register(
        "parallel_if",
        ParallelIF,
        paper=PAPER,
        defaults={
            "T": 4,
            "v_threshold": 1.0,
            "init_mem": 0.5,
            "folded": False,
            "surrogate": "rectangular",
            "alpha": None,
        },
        test_config={"T": 6},
        description="Parallel spiking neuron: all T steps at once from the mean input; step x fires iff "
        "T/x * mean + init_mem*theta/x >= theta (sorted spikes; lossless w.r.t. QCFS)",
    )
    register(
        "parallel_if_cw",
        ChannelwiseParallelIF,
        paper=PAPER,
        defaults={
            "T": 4,
            "pre_th": 1.0,
            "post_bias": None,
            "bias": None,
            "channels": None,
            "ndim": 3,
            "folded": False,
            "surrogate": "rectangular",
            "alpha": None,
        },
        test_config={"T": 6, "channels": 4, "ndim": 2},
        description="Channel-wise parallel neuron of distribution-aware conversion (per-channel threshold, "
        "amplitude and shifts)",
    )


@hookimpl
def register_models(register: Any) -> None:
    from . import models

    hooks = {"from_official": models.from_official, "official_config": models.official_config}
    register(
        "vgg16_qcfs",
        models.vgg16_qcfs,
        paper=PAPER,
        family="qcfs",
        task="image-classification",
        defaults={"T": 4, "num_classes": 10, "dropout": 0.0, "img_size": 32, **_COMMON},
        preprocessing=CIFAR10_PREPROCESSING,
        test_config={"T": 2, "width_mult": 0.0625},
        description="VGG-16 with QCFS activations (mode='ann') or its parallel SNN (mode='parallel')",
        **hooks,
    )
    register(
        "resnet20_qcfs",
        models.resnet20_qcfs,
        paper=PAPER,
        family="qcfs",
        task="image-classification",
        defaults={"T": 8, "num_classes": 100, "img_size": 32, **_COMMON},
        preprocessing=CIFAR100_PREPROCESSING,
        test_config={"T": 2, "img_size": 8, "width_mult": 0.5},
        description="ResNet-20 (CIFAR) with QCFS activations (mode='ann') or its parallel SNN (mode='parallel')",
        **hooks,
    )
    register(
        "resnet18_qcfs",
        models.resnet18_qcfs,
        paper=PAPER,
        family="qcfs",
        task="image-classification",
        defaults={"T": 4, "num_classes": 100, "img_size": 32, **_COMMON},
        preprocessing=CIFAR100_PREPROCESSING,
        test_config={"T": 2, "img_size": 8, "width_mult": 0.0625},
        description="ResNet-18 (3x3 stem) with QCFS activations (mode='ann') or its parallel SNN",
        **hooks,
    )
    register(
        "resnet34_qcfs",
        models.resnet34_qcfs,
        paper=PAPER,
        family="qcfs",
        task="image-classification",
        defaults={"T": 8, "num_classes": 1000, "img_size": 224, **_COMMON},
        preprocessing=IMAGENET_PREPROCESSING,
        test_config={"T": 2, "img_size": 8, "width_mult": 0.0625, "num_classes": 10},
        description="ResNet-34 (ImageNet, 3x3 stem, no max-pool) with QCFS activations or its parallel SNN",
        **hooks,
    )
    register(
        "qcfs_cnn_digits",
        models.QCFSDigitsCNN,
        paper=PAPER,
        family="qcfs",
        task="image-classification",
        defaults=dict(DIGITS_DEFAULTS),
        preprocessing={"input": "[B, 1, 8, 8] floats in [0, 1] (digits: pixel value / 16)"},
        test_config={"T": 2, "channels": [4, 8, 8]},
        description="Small QCFS CNN for 8x8 digits (mode='ann'; the ANN the demo SNN is converted from)",
    )
    register(
        "qcfs_cnn_digits_parallel",
        models.QCFSDigitsCNN,
        paper=PAPER,
        family="qcfs",
        task="image-classification",
        defaults={**DIGITS_DEFAULTS, "mode": "parallel"},
        weights={"digits_t4": DIGITS_T4},
        preprocessing={"input": "[B, 1, 8, 8] floats in [0, 1] (digits: pixel value / 16)"},
        test_config={"T": 2, "channels": [4, 8, 8]},
        description="The parallel SNN of qcfs_cnn_digits (mode='parallel'): the demo weights converted at T = n = 4",
    )


@hookimpl
def register_learning_rules(register: Any) -> None:
    from .convert import ParallelConversion

    register(
        "parallel_conversion",
        ParallelConversion,
        paper=PAPER,
        category="conversion",
        defaults={
            "T": None,
            "neuron": "parallel",
            "init_mem": 0.5,
            "calibrate": None,
            "reference_levels": 8,
            "momentum": 0.99,
            "min_threshold": None,
            "analog_before_maxpool": True,
            "max_batches": None,
            "keep_ann": False,
        },
        description="ANN (ReLU or QCFS; timm, torchvision, zoo) -> parallel SNN, with distribution-aware "
        "calibration; T=None takes the ANN's QCFS levels (the paper's main setting: T = n = 4)",
    )
