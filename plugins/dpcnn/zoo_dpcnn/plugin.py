"""The zoo-core plugin ``dpcnn``: registers the ``pcnn`` neuron, the DPCNN models and the coupling SOP rule.

zoo-core finds this module through the entry point ``dpcnn = "zoo_dpcnn.plugin"`` (group ``zoo_core``) and
calls the hooks below on the first registry access. Keep the top light (no torch).

Every default marked "ours" in the plugin README is an inferred choice: the paper body was not available.
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import Paper, WeightInfo, hookimpl

#: The zoo-core plugin API this plugin is written against (checked when the plugin loads).
ZOO_API_VERSION = "1.1"

PAPER = Paper(
    title="Deep Pulse-Coupled Neural Networks",
    authors=[
        "Yi, Zexiang",
        "Lian, Jing",
        "Qi, Yunliang",
        "Yu, Zhaofei",
        "Tang, Huajin",
        "Ma, Yide",
        "Liu, Jizhao",
    ],
    venue="arXiv",
    year=2023,
    url="https://arxiv.org/abs/2401.08649",
)

#: PCNN neuron defaults (ours: the paper's constants were not available; see the README)
PCNN_DEFAULTS: dict[str, Any] = {
    "channels": None,
    "coupling": "inter",
    "kernel_size": 3,
    "ndim": 3,
    "a_F": 0.5,
    "a_L": 0.5,
    "a_E": 0.5,
    "V_F": 0.0,
    "V_L": 1.0,
    "V_E": 1.0,
    "beta": 0.5,
    "e_init": 1.0,
    "threshold_update": "after",
    "threshold_mode": "additive",
    "strict": True,
    "surrogate": "atan",
    "alpha": None,
    "learnable": [],
    "coupling_init": "default",
}

CIFAR10_PREPROCESSING = {
    "input": "[B, 3, 32, 32] RGB in [0, 1], normalised per channel (or [T, B, 3, 32, 32] frames)",
    "mean": [0.4914, 0.4822, 0.4465],
    "std": [0.2470, 0.2435, 0.2616],
}

_VGG_COMMON = {"T": 4, "num_classes": 10, "in_chans": 3, "img_size": 32, "fc_hidden": 1024}
_VGG_TEST = {"T": 2, "img_size": 8, "width_mult": 0.0625, "fc_hidden": 8}

DIGITS_DEFAULTS: dict[str, Any] = {
    "T": 4,
    "num_classes": 10,
    "in_chans": 1,
    "img_size": 8,
    "channels": [16, 32],
    "norm": "rftd",
    "neuron": "pcnn",
    "coupling": "inter",
    "coupling_kernel": 3,
    "neuron_kwargs": {},
}

#: demo weights: dpcnn_digits trained on scikit-learn digits (T=4, inter coupling, RFTD-BN), written by
#: plugins/dpcnn/scripts/make_digits_card.py; the other accuracies are the same network, recipe and seed with
#: intra coupling, no coupling, LIF neurons, and LIF neurons with twice the channels
DIGITS_T4 = WeightInfo(
    tag="digits_t4",
    source="model_cards/dpcnn_digits.digits_t4",
    sha256={"model.safetensors": "726c3297a9492509c0e7f8d69234d5069ca57c53115e5cdd78a52e00dd845b3d"},
    dataset="digits",
    metrics={
        "accuracy": 0.9944444444444445,
        "intra_accuracy": 0.9888888888888889,
        "none_accuracy": 0.9833333333333333,
        "lif_accuracy": 0.9833333333333333,
        "lif_wide_accuracy": 0.9972222222222222,
    },
    config=dict(DIGITS_DEFAULTS),
)


@hookimpl
def register_neurons(register: Any) -> None:
    from .neuron import PCNN

    register(
        "pcnn",
        PCNN,
        paper=PAPER,
        defaults=dict(PCNN_DEFAULTS),
        test_config={"channels": 4, "ndim": 2, "coupling": "both"},
        description="Pulse-coupled neuron (feeding, multiplicative linking, dynamic threshold) with intra-/"
        "inter-channel coupling through the previous step's spikes; classical PCNN equations, DPCNN coupling",
    )


@hookimpl
def register_models(register: Any) -> None:
    from . import models

    register(
        "dpcnn_vgg9",
        models.dpcnn_vgg9,
        paper=PAPER,
        family="dpcnn",
        task="image-classification",
        defaults={
            **_VGG_COMMON,
            "width_mult": 1.0,
            "norm": "rftd",
            "coupling": "inter",
            "coupling_kernel": 3,
            "fc_coupling": "none",
            "neuron_kwargs": {},
        },
        preprocessing=CIFAR10_PREPROCESSING,
        test_config=dict(_VGG_TEST),
        description="DPCNN-VGG9: 64C3-64C3-AP2-128C3-128C3-AP2-256C3x3-AP2-FC1024, PCNN neurons with "
        "inter-channel coupling, RFTD-BN (layer list, T and constants: our reading)",
    )
    register(
        "dpcnn_vgg9_lif_wide",
        models.dpcnn_vgg9_lif_wide,
        paper=PAPER,
        family="dpcnn",
        task="image-classification",
        defaults={**_VGG_COMMON, "width_mult": 2.0, "norm": "bn", "neuron": "lif", "neuron_kwargs": {}},
        preprocessing=CIFAR10_PREPROCESSING,
        test_config={**_VGG_TEST, "width_mult": 0.125},
        description="The paper's baseline: LIF-based wide VGG9 (conv widths x2, FC1024, BN shared over time)",
    )
    register(
        "dpcnn_digits",
        models.dpcnn_digits,
        paper=PAPER,
        family="dpcnn",
        task="image-classification",
        defaults=dict(DIGITS_DEFAULTS),
        weights={"digits_t4": DIGITS_T4},
        preprocessing={"input": "[B, 1, 8, 8] floats in [0, 1] (digits: pixel value / 16)"},
        test_config={"T": 2, "channels": [4, 8]},
        description="Small DPCNN for 8x8 digits: 16C3-AP2-32C3-AP2-FC10, PCNN (inter coupling) + RFTD-BN",
    )


@hookimpl
def register_counting_rules(register: Any) -> None:
    from .counting import count_coupling
    from .neuron import PCNN

    register(
        "pcnn_coupling",
        count_coupling,
        module_type=PCNN,
        paper=PAPER,
        description="SOPs of the PCNN coupling convolutions (exact fan-out of the spikes of steps 1..T-1)",
    )
