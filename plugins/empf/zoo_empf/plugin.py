"""The zoo-core plugin ``empf``: EM-PF / HD-LIF neurons, the official architectures and the online rule.

zoo-core finds this module through the entry point ``empf = "zoo_empf.plugin"`` (group ``zoo_core``) and calls
the hooks below on the first registry access. Keep the top light (no torch).
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import Paper, WeightInfo, hookimpl

#: The zoo-core plugin API this plugin is written against (checked when the plugin loads).
ZOO_API_VERSION = "1.4"

PAPER = Paper(
    title="Comprehensive Online Training and Deployment for Spiking Neural Networks (v3, CVPR 2026: Rethinking "
    "SNN Online Training and Deployment: Gradient-Coherent Learning via Hybrid-Driven LIF Model)",
    authors=["Hao, Zecheng", "Huang, Y.", "Xu, Z.", "Yu, Zhaofei", "Huang, Tiejun"],
    venue="arXiv 2410.07547 (CVPR 2026 as HD-LIF)",
    year=2024,
    url="https://arxiv.org/abs/2410.07547",
)

#: the demo weights of ``empf_digits`` (plugins/empf/scripts/make_digits_card.py: the online rule on the 70/30
#: split of digits, seed 0); ``random_backprop_accuracy`` is a comparison beside them: the same initialisation
#: trained with ``opt_backprop=True`` (other weights, not published)
DIGITS_T4 = WeightInfo(
    tag="digits_t4",
    source="package://zoo_empf/weights/empf_digits.digits_t4",
    sha256={"model.safetensors": "ea991d7fc8ee291dd4108eb1f1b3867408e4719d7c0c8d53ab79be31a861f78e"},
    dataset="digits_70_30",  # the core's 70/30 split of digits, as trained (zoo eval tests on it)
    metrics={"accuracy": 0.9962962962962963, "random_backprop_accuracy": 0.9925925925925926},
)


@hookimpl
def register_neurons(register: Any) -> None:
    from zoo_core.sdk import signature_defaults

    from .neurons import EMPFLIFNeuron, EMPFNeuron

    register(
        "empf",
        EMPFNeuron,
        paper=PAPER,
        defaults=signature_defaults(EMPFNeuron),
        test_config={"T": 6},
        description="EM-PF / HD-LIF neuron (official OnlineNeuron): emits the surplus max(u - theta, 0) as a "
        "real-valued spike (or 4-bit with mode='compression'), membrane clipped to theta, detached between steps; "
        "per-step learnable threshold and decay; options mem_bn, parallel_mode",
    )
    register(
        "empf_lif",
        EMPFLIFNeuron,
        paper=PAPER,
        defaults=signature_defaults(EMPFLIFNeuron),
        test_config={"T": 6, "is_learnable": True},
        description="The paper's LIF baseline (official LIFNeuron): binary spikes scaled by theta = sigmoid(v_th) "
        "+ 1/2, soft reset, triangle surrogate; membrane detached when online_training",
    )


@hookimpl
def register_models(register: Any) -> None:
    from zoo_core.sdk import Variant, preprocessing, register_variants, signature_defaults

    from .models import EMPFVGG, EMPFDigitsNet, EMPFResNet, from_official, official_config

    common = {"paper": PAPER, "family": "empf", "task": "image-classification"}
    hooks = {"from_official": from_official, "official_config": official_config}
    cifar100 = preprocessing("cifar100")
    small = {"T": 2, "img_size": 8, "width_mult": 0.0625, "num_classes": 10}  # conformance-kit sizes
    resnet = (
        "pre-activation blocks with EM-PF neurons inside, real-valued residual stream, binary (or ternary) "
        "convs, full-precision stem and fc"
    )
    register_variants(
        register,
        EMPFResNet,
        {
            "empf_resnet18": Variant(
                description=f"EM-PF ResNet-18 (CIFAR stem; 2-2-2-2 blocks): {resnet}",
                preprocessing=cifar100,
                test_config=small,
            ),
            "empf_resnet19": Variant(
                {"layers": (3, 3, 2), "use_resnet19": True},
                description=f"EM-PF ResNet-19 (128/256/512 x 3-3-2, 2-layer head): {resnet}",
                preprocessing=cifar100,
                test_config=small,
            ),
            "empf_resnet34": Variant(
                {"layers": (3, 4, 6, 3), "num_classes": 1000, "use_ternary": True, "img_size": 224},
                description=f"EM-PF ResNet-34 (ImageNet stem, ternary weights): {resnet}",
                preprocessing=preprocessing("imagenet"),
                test_config=small,
            ),
        },
        **common,
        **hooks,
    )
    vgg = "conv -> BN -> [ECA] -> EM-PF neuron groups, binary convs"
    register_variants(
        register,
        EMPFVGG,
        {
            "empf_vgg11": Variant(
                {"arch": "vgg11", "T": 10, "num_classes": 10, "use_dvs": True, "in_chans": 2, "img_size": 48},
                description=f"EM-PF VGG-11 ('VGG-SNN', CIFAR10-DVS 2x48x48, T = 10): {vgg}",
                preprocessing=preprocessing(
                    "unit", input="[T, B, 2, 48, 48] CIFAR10-DVS event frames (T = 10), time first"
                ),
                test_config={**small, "img_size": 16},
            ),
            "empf_vgg13": Variant(
                {"arch": "vgg13"},
                description=f"EM-PF VGG-13 (CIFAR): {vgg}",
                preprocessing=cifar100,
                test_config={**small, "img_size": 16},
            ),
            "empf_vgg16": Variant(
                {"arch": "vgg16"},
                description=f"EM-PF VGG-16: {vgg}",
                preprocessing=cifar100,
                test_config={**small, "img_size": 32},
            ),
            "empf_vgg19": Variant(
                {"arch": "vgg19"},
                description=f"EM-PF VGG-19: {vgg}",
                preprocessing=cifar100,
                test_config={**small, "img_size": 32},
            ),
        },
        **common,
        **hooks,
    )
    # the weights' configuration: the model's defaults (a tag names weights of exactly its model)
    weights = DIGITS_T4.model_copy(update={"config": signature_defaults(EMPFDigitsNet)})
    register_variants(
        register,
        EMPFDigitsNet,
        {
            "empf_digits": Variant(
                description="Small EM-PF CNN for 8x8 digits (the plugin's CPU demo): full-precision stem conv, "
                "two BinaryConvs, three EM-PF neurons, trained online",
                preprocessing=preprocessing(
                    "digits",
                    input="[B, 1, 8, 8] floats in [0, 1] (digits: pixel value / 16); mapped to [-1, 1] "
                    "inside",
                ),
                test_config={"T": 2, "channels": [4, 8, 8]},
                meta={"weights": {"digits_t4": weights}},
            )
        },
        **common,
    )


@hookimpl
def register_learning_rules(register: Any) -> None:
    from zoo_core.sdk import signature_defaults

    from .online import EMPFOnline

    register(
        "empf_online",
        EMPFOnline,
        paper=PAPER,
        category="training",
        defaults=signature_defaults(EMPFOnline),
        description="EM-PF online training: per time step forward, CE on the step's logits, backward and "
        "optimiser step (T steps per batch); opt_backprop=True back-propagates one random step per batch",
    )


@hookimpl
def register_recipes(register: Any) -> None:
    register(
        "empf_cifar",
        {
            "learning_rule": "empf_online",
            "rule_kwargs": {"opt_backprop": True},
            "optimizer": "sgd",
            "momentum": 0.9,
            "nesterov": True,
            "lr": 0.01,
            "weight_decay": 5e-4,
            "epochs": 300,
            "batch_size": 64,
            "mixup": 0.8,
            "cutmix": 1.0,
            "seed": 42,
        },
        models=("empf_resnet18", "empf_resnet19", "empf_resnet34", "empf_vgg*"),
        paper=PAPER,
        description="EM-PF online training on CIFAR-10/100: SGD Nesterov lr 0.01, wd 5e-4, cosine, 300 epochs, "
        "random back-propagation, mixup 0.8 / cutmix 1.0",
        source="official README command (--mixup --opt_backprop) and main.py (SGD, batch 64, 300 epochs, cosine, "
        "seed 42, timm Mixup 0.8/1.0, prob 1, switch 0.5)",
        differences="the official Mixup also smooths labels by 0.1 (add --rule-kwargs "
        '\'{"opt_backprop": true, "label_smoothing": 0.1}\'; the zoo applies smoothing in the rule, which gives '
        "the same targets); the official CIFAR augmentation (RandomCrop 32 pad 4, flip, CIFAR10Policy "
        "AutoAugment, Cutout) is not offered by zoo train; the model's variant flags (ternary, parallel, 4-bit) "
        "are model arguments",
        data="CIFAR-10 or CIFAR-100 as an image folder (train/ and test/, one sub-folder per class)",
    )


@hookimpl
def register_energy_conventions(register: Any) -> None:
    register(
        "empf",
        count={"binary": "sops", "graded": "sops", "real": "sops", "analog": "macs"},
        e_mac_pj=0.0,
        e_sop_pj={"binary": 0.9, "graded": 0.9 / 8, "real": 0.9, "analog": 0.9},
        models=("empf_*",),
        paper=PAPER,
        description="EM-PF's power: every non-zero spike (binary, real-valued or 4-bit) counts its fan-out as "
        "SOPs; E = 0.9 pJ x SOPs, a 4-bit spike's SOP at 0.9 / 8 pJ; layers fed by analog values count MACs "
        "(the NOPs of the paper's tables), left out of the energy",
        source="READ: the official README / main_inf.py print power = SOPs x 0.9 pJ (vanilla) or SOPs x 0.9 / 8 "
        "pJ (compression, 4-bit spikes); the paper's ablation (273.02 M SOPs, 6.59 M NOPs, 0.25 mJ) gives "
        "power = 0.9 pJ x SOPs without the NOPs. INFERRED: the SOP monitor itself was not read, so the count "
        "per non-zero spike (not per unit of value) is the zoo's",
    )
