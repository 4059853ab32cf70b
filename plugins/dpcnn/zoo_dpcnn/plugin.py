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

#: demo weights: dpcnn_digits trained on scikit-learn digits (T=4, inter coupling, RFTD-BN), written by
#: plugins/dpcnn/scripts/make_digits_card.py; the other accuracies are the same network, recipe and seed with
#: intra coupling, no coupling, LIF neurons, and LIF neurons with twice the channels (comparisons beside the model)
DIGITS_T4 = WeightInfo(
    tag="digits_t4",
    source="package://zoo_dpcnn/weights/dpcnn_digits.digits_t4",
    sha256={"model.safetensors": "726c3297a9492509c0e7f8d69234d5069ca57c53115e5cdd78a52e00dd845b3d"},
    dataset="digits",
    metrics={
        "accuracy": 0.9944444444444445,
        "intra_accuracy": 0.9888888888888889,
        "none_accuracy": 0.9833333333333333,
        "lif_accuracy": 0.9833333333333333,
        "lif_wide_accuracy": 0.9972222222222222,
    },
)


@hookimpl
def register_neurons(register: Any) -> None:
    from zoo_core.sdk import signature_defaults

    from .neuron import PCNN

    register(
        "pcnn",
        PCNN,
        paper=PAPER,
        defaults=signature_defaults(PCNN),  # ours: the paper's constants were not available (README)
        test_config={"channels": 4, "ndim": 2, "coupling": "both"},
        description="Pulse-coupled neuron (feeding, multiplicative linking, dynamic threshold) with intra-/"
        "inter-channel coupling through the previous step's spikes; classical PCNN equations, DPCNN coupling",
    )


@hookimpl
def register_models(register: Any) -> None:
    from zoo_core.sdk import Variant, preprocessing, register_variants, signature_defaults

    from .models import VGGSNN

    cifar10 = preprocessing(
        "cifar10", input="[B, 3, 32, 32] RGB in [0, 1], normalised per channel (or [T, B, 3, 32, 32] frames)"
    )
    small = {"T": 2, "img_size": 8, "width_mult": 0.0625, "fc_hidden": 8}  # conformance-kit sizes
    digits = {"in_chans": 1, "img_size": 8, "cfg": [16, "A", 32, "A"], "fc_hidden": None}
    # the weights' configuration: the model's defaults (a tag names weights of exactly its model)
    weights = DIGITS_T4.model_copy(update={"config": {**signature_defaults(VGGSNN), **digits}})
    register_variants(
        register,
        VGGSNN,
        {
            "dpcnn_vgg9": Variant(
                description="DPCNN-VGG9: 64C3-64C3-AP2-128C3-128C3-AP2-256C3x3-AP2-FC1024, PCNN neurons with "
                "inter-channel coupling, RFTD-BN (layer list, T and constants: our reading)",
                preprocessing=cifar10,
                test_config=small,
            ),
            "dpcnn_vgg9_lif_wide": Variant(
                {"width_mult": 2.0, "norm": "bn", "neuron": "lif", "coupling": "none"},
                description="The paper's baseline: LIF-based wide VGG9 (conv widths x2, FC1024, BN shared over "
                "time)",
                preprocessing=cifar10,
                test_config={**small, "width_mult": 0.125},
            ),
            "dpcnn_digits": Variant(
                digits,
                description="Small DPCNN for 8x8 digits: 16C3-AP2-32C3-AP2-FC10, PCNN (inter coupling) + "
                "RFTD-BN",
                preprocessing=preprocessing("digits"),
                test_config={"T": 2, "cfg": [4, "A", 8, "A"]},
                meta={"weights": {"digits_t4": weights}},
            ),
        },
        paper=PAPER,
        family="dpcnn",
        task="image-classification",
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
