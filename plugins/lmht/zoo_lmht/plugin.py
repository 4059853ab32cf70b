"""The zoo-core plugin ``lmht``: registers the LM-HT neurons, the official architectures and the hybrid rule.

zoo-core finds this module through the entry point ``lmht = "zoo_lmht.plugin"`` (group ``zoo_core``) and calls
the hooks below on the first registry access. Keep the top light (no torch).
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import Paper, WeightInfo, hookimpl

#: The zoo-core plugin API this plugin is written against (checked when the plugin loads).
ZOO_API_VERSION = "1.1"

PAPER = Paper(
    title="LM-HT SNN: Enhancing the Performance of SNN to ANN Counterpart through Learnable Multi-hierarchical "
    "Threshold Model",
    authors=["Hao, Zecheng", "Shi, Xinyu", "Liu, Yujia", "Yu, Zhaofei", "Huang, Tiejun"],
    venue="NeurIPS",
    year=2024,
    url="https://arxiv.org/abs/2402.00411",
)

CIFAR10_PREPROCESSING = {
    "input": "[B, 3, 32, 32] RGB in [0, 1], normalised per channel",
    "mean": [0.4914, 0.4822, 0.4465],
    "std": [0.2023, 0.1994, 0.2010],
}
CIFAR100_PREPROCESSING = {
    "input": "[B, 3, 32, 32] RGB in [0, 1], normalised per channel",
    "mean": [0.5071, 0.4865, 0.4409],
    "std": [0.2673, 0.2564, 0.2762],
}
IMAGENET_PREPROCESSING = {
    "input": "[B, 3, 224, 224] RGB in [0, 1] (resize 256, centre crop 224), normalised per channel",
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
}

DIGITS_DEFAULTS = {
    "T": 2,
    "L": 2,
    "num_classes": 10,
    "in_chans": 1,
    "img_size": 8,
    "channels": [16, 32],
    "mode": "lmht",
}
#: demo weights: lmht_cnn_digits trained on digits with tools/train.py (command in the card's config.json);
#: reparam_accuracy = the reparameterised single-threshold model (L*T = 4 steps) on the same test split
DIGITS_WEIGHTS = {
    "digits_t2": WeightInfo(
        tag="digits_t2",
        source="model_cards/lmht_cnn_digits.digits_t2",
        sha256={"model.safetensors": "e84d010b0835d3fcc2a4ed4185a21d7b55001172f3c0fe1460984087ff676c7d"},
        dataset="digits",
        metrics={"accuracy": 0.9944444444444445, "reparam_accuracy": 0.9944444444444445},
        config=dict(DIGITS_DEFAULTS),
    )
}


@hookimpl
def register_neurons(register: Any) -> None:
    from .neurons import LMHTInferenceNeuron, LMHTNeuron

    register(
        "lmht",
        LMHTNeuron,
        paper=PAPER,
        defaults={"L": 2, "T": 2, "v_threshold": None, "init_mem": 0.0, "scale": 1.0, "input_rank": None},
        test_config={"T": 6, "input_rank": 4},
        description="LM-HT neuron: graded spikes k*theta (k = 0..L), learnable T x T temporal-global mixing "
        "(mask) and leak (alpha); theta = 2/L for direct training; not causal",
    )
    register(
        "lmht_inference",
        LMHTInferenceNeuron,
        paper=PAPER,
        defaults={"L": 2, "T": 4, "v_threshold": 1.0, "init_mem": 0.0, "scale": 1.0},
        test_config={"L": 2, "T": 6},
        description="Reparameterised LM-HT: single-threshold neuron over L*T steps, leak at window starts, "
        "block-constant mixing (build with LMHTInferenceNeuron.from_training)",
    )


DVS_PREPROCESSING = {"input": "[T', B, 2, 48, 48] CIFAR10-DVS event frames (10 frames, resized to 48x48)"}
#: CPU-sized instances for the conformance kit
SMALL = {"T": 2, "img_size": 8, "width_mult": 0.0625, "num_classes": 10}
HYBRID = (
    "QCFS ANN (mode='ann'), IF SNN ('if') or LM-HT SNN ('lmht', the hybrid layout with .0-wrapped layers)"
)


@hookimpl
def register_models(register: Any) -> None:
    from zoo_core.sdk import signature_defaults

    from . import models
    from .spikformer import lmht_spikformer_4_384

    hooks = {"from_official": models.from_official, "official_config": models.official_config}
    # name, builder, preprocessing, conformance-kit overrides, description
    table: list[tuple[str, Any, dict[str, Any], dict[str, Any], str]] = [
        ("lmht_resnet18", models.lmht_resnet18, CIFAR100_PREPROCESSING, SMALL,
         "LM-HT ResNet-18 (direct STBP training, CIFAR stem; use_imagenet=True for ImageNet)"),
        ("lmht_resnet34", models.lmht_resnet34, IMAGENET_PREPROCESSING, {**SMALL, "img_size": 16},
         "LM-HT ResNet-34 (direct STBP training, ImageNet stem)"),
        ("lmht_resnet18_dvs", models.lmht_resnet18_dvs, DVS_PREPROCESSING, {**SMALL, "num_classes": None},
         "LM-HT ResNet-18 for CIFAR10-DVS (frames averaged into one step; the stem neuron's mixing makes T "
         "steps)"),
        ("lmht_resnet19", models.lmht_resnet19, CIFAR100_PREPROCESSING, SMALL,
         "LM-HT ResNet-19 (CIFAR; fc neuron fixed to mix along time only)"),
        ("lmht_resnet19_dvs", models.lmht_resnet19_dvs, DVS_PREPROCESSING, {**SMALL, "num_classes": None},
         "LM-HT ResNet-19 for CIFAR10-DVS (frames averaged into one step, layer2 stride 2; fc neuron mixes "
         "along time only)"),
        ("lmht_cifarnet", models.lmht_cifarnet, CIFAR10_PREPROCESSING, SMALL,
         "LM-HT CIFARNet (official models/VGG.py cifarnet; classifier neurons mix along time only)"),
        ("lmht_ms_resnet18", models.lmht_ms_resnet18, CIFAR100_PREPROCESSING, SMALL,
         "LM-HT MS-ResNet-18 (pre-activation MSBlocks, direct STBP training)"),
        ("lmht_ms_resnet34", models.lmht_ms_resnet34, IMAGENET_PREPROCESSING, {**SMALL, "img_size": 16},
         "LM-HT MS-ResNet-34 (pre-activation MSBlocks, direct STBP training)"),
        ("lmht_resnet20", models.lmht_resnet20, CIFAR100_PREPROCESSING,
         {**SMALL, "width_mult": 0.5, "thresh": 1.0},
         f"ResNet-20 of LM-HT hybrid training: {HYBRID}"),
        ("lmht_vgg13", models.lmht_vgg13,
         {"input": "[B, 3, 64, 64] RGB (ImageNet-200 / Tiny-ImageNet), normalised per channel"},
         {**SMALL, "img_size": 16}, "LM-HT VGG-13 (direct STBP training; ImageNet-200 head by default)"),
        ("lmht_vgg16", models.lmht_vgg16, CIFAR100_PREPROCESSING,
         {**SMALL, "img_size": None, "thresh": 1.0},
         "VGG-16 of LM-HT hybrid training: QCFS ANN (mode='ann'), IF SNN ('if') or LM-HT SNN ('lmht')"),
        ("lmht_vgg13_hybrid", models.lmht_vgg13_hybrid, CIFAR100_PREPROCESSING,
         {**SMALL, "img_size": None, "thresh": 1.0},
         "VGG-13 of LM-HT hybrid training: QCFS ANN (mode='ann'), IF SNN ('if') or LM-HT SNN ('lmht')"),
        ("lmht_spikformer_4_384", lmht_spikformer_4_384, CIFAR10_PREPROCESSING,
         {"T": 2, "img_size": 8, "embed_dims": 32, "num_heads": 2, "depths": 1},
         "LM-HT Spikformer (Transformer-4-384, CIFAR; direct STBP training)"),
    ]  # fmt: skip
    for name, builder, preprocessing, test_config, description in table:
        register(
            name,
            builder,
            paper=PAPER,
            family="lmht",
            task="image-classification",
            defaults=signature_defaults(builder),
            preprocessing=preprocessing,
            test_config={k: v for k, v in test_config.items() if v is not None},
            description=description,
            **hooks,
        )
    register(
        "lmht_cnn_digits",
        models.lmht_cnn_digits,
        paper=PAPER,
        family="lmht",
        task="image-classification",
        defaults=dict(DIGITS_DEFAULTS),
        weights=DIGITS_WEIGHTS,
        preprocessing={"input": "[B, 1, 8, 8] floats in [0, 1] (digits: pixel value / 16)"},
        test_config={"T": 2, "channels": [4, 8]},
        description="Small LM-HT CNN for 8x8 digits (the spec's demo architecture)",
    )


@hookimpl
def register_learning_rules(register: Any) -> None:
    from .reparam import LMHTHybrid

    register(
        "lmht_hybrid",
        LMHTHybrid,
        paper=PAPER,
        category="conversion",
        defaults={"L": 2, "T": 2, "if_T": 16, "label_smoothing": 0.0},
        description="QCFS ANN -> IF -> LM-HT initialisation (theta = QCFS clip, v0 = theta/2, first neuron "
        "scale L) + STBP fine-tuning (training_step)",
    )
