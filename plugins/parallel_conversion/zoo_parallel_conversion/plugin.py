"""The zoo-core plugin ``parallel_conversion``: registers the parallel neurons, the QCFS models and the rule.

zoo-core finds this module through the entry point ``parallel_conversion = "zoo_parallel_conversion.plugin"``
(group ``zoo_core``) and calls the hooks below on the first registry access. Keep the top light (no torch).
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import (
    Paper,
    Variant,
    WeightInfo,
    hookimpl,
    preprocessing,
    register_variants,
    signature_defaults,
)

#: The zoo-core plugin API this plugin is written against (checked when the plugin loads).
ZOO_API_VERSION = "1.1"

PAPER = Paper(
    title="Faster and Stronger: When ANN-SNN Conversion Meets Parallel Spiking Calculation",
    authors=["Hao, Zecheng", "Ma, Qichao", "Chen, Kang", "Zhang, Yi", "Yu, Zhaofei", "Huang, Tiejun"],
    venue="ICML",
    year=2025,
    url="https://arxiv.org/abs/2412.13610",
)

#: demo weights: the QCFS CNN trained on digits and converted with parallel conversion at T = n = 4 (the
#: parallel SNN; its card also records the source ANN's accuracy and the sequential IF baseline's), measured in
#: float64; written by plugins/parallel_conversion/scripts/make_digits_card.py
DIGITS_T4 = WeightInfo(
    tag="digits_t4",
    source="package://zoo_parallel_conversion/weights/qcfs_cnn_digits_parallel.digits_t4",
    sha256={"model.safetensors": "ea4edcb4dee11da5d1b5da1ec021981f01cf885ce282491ce2ed4e497553ddd4"},
    dataset="digits",
    metrics={
        "accuracy": 0.9972222222222222,
        "ann_accuracy": 0.9972222222222222,
        "if_accuracy": 0.9888888888888889,
        "max_abs_logit_diff_snn_ann": 3.552713678800501e-15,
    },
)


@hookimpl
def register_neurons(register: Any) -> None:
    from .neurons import ChannelwiseParallelIF, ParallelIF

    register(
        "parallel_if",
        ParallelIF,
        paper=PAPER,
        defaults=signature_defaults(ParallelIF),
        test_config={"T": 6},
        description="Parallel spiking neuron: all T steps at once from the mean input; step x fires iff "
        "T/x * mean + init_mem*theta/x >= theta (sorted spikes; lossless w.r.t. QCFS)",
    )
    register(
        "parallel_if_cw",
        ChannelwiseParallelIF,
        paper=PAPER,
        defaults=signature_defaults(ChannelwiseParallelIF),
        test_config={"T": 6, "channels": 4, "ndim": 2},
        description="Channel-wise parallel neuron of distribution-aware conversion (per-channel threshold, "
        "amplitude and shifts)",
    )


@hookimpl
def register_models(register: Any) -> None:
    from . import models

    family = {"paper": PAPER, "family": "qcfs"}
    official = {"from_official": models.from_official, "official_config": models.official_config}
    snn = "with QCFS activations (mode='ann') or its parallel SNN (mode='parallel')"
    register_variants(
        register,
        models.QCFSVGG16,
        {
            "vgg16_qcfs": Variant(
                description=f"VGG-16 {snn}",
                preprocessing=preprocessing("cifar10"),
                test_config={"T": 2, "width_mult": 0.0625},
            ),
        },
        **family,
        **official,
    )
    register_variants(
        register,
        models.QCFSResNet,
        {
            "resnet20_qcfs": Variant(
                args={"blocks": (3, 3, 3), "widths": (16, 32, 64), "T": 8},
                description=f"ResNet-20 (CIFAR) {snn}",
                preprocessing=preprocessing("cifar100"),
                test_config={"T": 2, "img_size": 8, "width_mult": 0.5},
            ),
            "resnet18_qcfs": Variant(
                args={"blocks": (2, 2, 2, 2)},
                description=f"ResNet-18 (3x3 stem) {snn}",
                preprocessing=preprocessing("cifar100"),
                test_config={"T": 2, "img_size": 8, "width_mult": 0.0625},
            ),
            "resnet34_qcfs": Variant(
                args={"blocks": (3, 4, 6, 3), "T": 8, "num_classes": 1000, "img_size": 224},
                description=f"ResNet-34 (ImageNet, 3x3 stem, no max-pool) {snn}",
                preprocessing=preprocessing("imagenet"),
                test_config={"T": 2, "img_size": 8, "width_mult": 0.0625, "num_classes": 10},
            ),
        },
        **family,
        **official,
    )
    digits = preprocessing("digits")
    register_variants(
        register,
        models.QCFSDigitsCNN,
        {
            "qcfs_cnn_digits": Variant(
                description="Small QCFS CNN for 8x8 digits (mode='ann'; the ANN the demo SNN is converted from)",
                preprocessing=digits,
                test_config={"T": 2, "channels": [4, 8, 8]},
            ),
            "qcfs_cnn_digits_parallel": Variant(
                args={"mode": "parallel"},
                description="The parallel SNN of qcfs_cnn_digits (mode='parallel'): the demo weights converted "
                "at T = n = 4",
                preprocessing=digits,
                test_config={"T": 2, "channels": [4, 8, 8]},
                meta={"weights": {"digits_t4": DIGITS_T4}},
            ),
        },
        **family,
    )


@hookimpl
def register_learning_rules(register: Any) -> None:
    from .convert import ParallelConversion

    register(
        "parallel_conversion",
        ParallelConversion,
        paper=PAPER,
        category="conversion",
        defaults=signature_defaults(ParallelConversion),
        description="ANN (ReLU or QCFS; timm, torchvision, zoo) -> parallel SNN, with distribution-aware "
        "calibration; T=None takes the ANN's QCFS levels (the paper's main setting: T = n = 4)",
    )
