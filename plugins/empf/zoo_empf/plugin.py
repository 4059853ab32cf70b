"""The zoo-core plugin ``empf``: EM-PF / HD-LIF neurons, the official architectures and the online rule.

zoo-core finds this module through the entry point ``empf = "zoo_empf.plugin"`` (group ``zoo_core``) and calls
the hooks below on the first registry access. Keep the top light (no torch).
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import Paper, WeightInfo, hookimpl

#: The zoo-core plugin API this plugin is written against (checked when the plugin loads).
ZOO_API_VERSION = "1.1"

PAPER = Paper(
    title="Comprehensive Online Training and Deployment for Spiking Neural Networks (v3, CVPR 2026: Rethinking "
    "SNN Online Training and Deployment: Gradient-Coherent Learning via Hybrid-Driven LIF Model)",
    authors=["Hao, Zecheng", "Huang, Y.", "Xu, Z.", "Yu, Zhaofei", "Huang, Tiejun"],
    venue="arXiv 2410.07547 (CVPR 2026 as HD-LIF)",
    year=2024,
    url="https://arxiv.org/abs/2410.07547",
)

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
DVS_PREPROCESSING = {"input": "[T, B, 2, 48, 48] CIFAR10-DVS event frames (T = 10), time first"}
DIGITS_PREPROCESSING = {
    "input": "[B, 1, 8, 8] floats in [0, 1] (digits: pixel / 16); mapped to [-1, 1] inside"
}

DIGITS_DEFAULTS = {
    "T": 4,
    "num_classes": 10,
    "in_chans": 1,
    "img_size": 8,
    "channels": [32, 64, 64],
    "mode": "vanilla",
    "mem_bn": False,
    "use_ternary": False,
}
#: demo weights: scripts/make_digits_card.py (online rule, spec h.8 recipe, 70/30 split of digits, seed 0);
#: random_backprop_accuracy = the same initialisation trained with opt_backprop=True (other weights, not published)
DIGITS_WEIGHTS = {
    "digits_t4": WeightInfo(
        tag="digits_t4",
        source="model_cards/empf_digits.digits_t4",
        sha256={"model.safetensors": "ea991d7fc8ee291dd4108eb1f1b3867408e4719d7c0c8d53ab79be31a861f78e"},
        dataset="digits_70_30",  # the core's 70/30 split of digits, as trained (zoo eval tests on it)
        metrics={"accuracy": 0.9962962962962963, "random_backprop_accuracy": 0.9925925925925926},
        config=dict(DIGITS_DEFAULTS),
    )
}


@hookimpl
def register_neurons(register: Any) -> None:
    from .neurons import EMPFLIFNeuron, EMPFNeuron

    register(
        "empf",
        EMPFNeuron,
        paper=PAPER,
        defaults={"T": 4, "mem_bn": False, "num_features": 128, "parallel_mode": False, "mode": "vanilla"},
        test_config={"T": 6},
        description="EM-PF / HD-LIF neuron (official OnlineNeuron): emits the surplus max(u - theta, 0) as a "
        "real-valued spike (or 4-bit with mode='compression'), membrane clipped to theta, detached between steps; "
        "per-step learnable threshold and decay; options mem_bn, parallel_mode",
    )
    register(
        "empf_lif",
        EMPFLIFNeuron,
        paper=PAPER,
        defaults={"T": 4, "online_training": True, "is_learnable": False},
        test_config={"T": 6, "is_learnable": True},
        description="The paper's LIF baseline (official LIFNeuron): binary spikes scaled by theta = sigmoid(v_th) "
        "+ 1/2, soft reset, triangle surrogate; membrane detached when online_training",
    )


@hookimpl
def register_models(register: Any) -> None:
    from zoo_core.sdk import signature_defaults

    from . import factories, models

    hooks = {"from_official": models.from_official, "official_config": models.official_config}
    small = {"T": 2, "img_size": 8, "width_mult": 0.0625, "num_classes": 10}
    resnet = (
        "pre-activation blocks with EM-PF neurons inside, real-valued residual stream, binary (or ternary) "
        "convs, full-precision stem and fc"
    )
    vgg = "conv -> BN -> [ECA] -> EM-PF neuron groups, binary convs"
    # name, preprocessing, conformance-kit image size, description; defaults: the builders' (factories.py)
    table = (
        ("empf_resnet18", CIFAR100_PREPROCESSING, 8, f"ResNet-18 (CIFAR stem; 2-2-2-2 blocks): {resnet}"),
        (
            "empf_resnet19",
            CIFAR100_PREPROCESSING,
            8,
            f"ResNet-19 (128/256/512 x 3-3-2, 2-layer head): {resnet}",
        ),
        ("empf_resnet34", IMAGENET_PREPROCESSING, 8, f"ResNet-34 (ImageNet stem, ternary weights): {resnet}"),
        ("empf_vgg11", DVS_PREPROCESSING, 16, f"VGG-11 ('VGG-SNN', CIFAR10-DVS 2x48x48, T = 10): {vgg}"),
        ("empf_vgg13", CIFAR100_PREPROCESSING, 16, f"VGG-13 (CIFAR): {vgg}"),
        ("empf_vgg16", CIFAR100_PREPROCESSING, 32, f"VGG-16: {vgg}"),
        ("empf_vgg19", CIFAR100_PREPROCESSING, 32, f"VGG-19: {vgg}"),
    )
    for name, prep, img, description in table:
        builder = getattr(factories, name)
        register(
            name,
            builder,
            paper=PAPER,
            family="empf",
            task="image-classification",
            defaults=signature_defaults(builder),
            preprocessing=prep,
            test_config={**small, "img_size": img},
            description=f"EM-PF {description}",
            **hooks,
        )
    register(
        "empf_digits",
        factories.empf_digits,
        paper=PAPER,
        family="empf",
        task="image-classification",
        defaults=dict(DIGITS_DEFAULTS),
        weights=DIGITS_WEIGHTS,
        preprocessing=DIGITS_PREPROCESSING,
        test_config={"T": 2, "channels": [4, 8, 8]},
        description="Small EM-PF CNN for 8x8 digits (spec h.8): full-precision stem conv, two BinaryConvs, "
        "three EM-PF neurons, trained online",
    )


@hookimpl
def register_learning_rules(register: Any) -> None:
    from .online import EMPFOnline

    register(
        "empf_online",
        EMPFOnline,
        paper=PAPER,
        category="training",
        defaults={"opt_backprop": False, "label_smoothing": 0.0, "seed": 0},
        description="EM-PF online training: per time step forward, CE on the step's logits, backward and "
        "optimiser step (T steps per batch); opt_backprop=True back-propagates one random step per batch",
    )
