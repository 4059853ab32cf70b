"""The zoo-core plugin ``lmht``: registers the LM-HT neurons, the official architectures and the hybrid rule.

zoo-core finds this module through the entry point ``lmht = "zoo_lmht.plugin"`` (group ``zoo_core``) and calls
the hooks below on the first registry access. The model modules are imported inside the hooks.
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import Paper, WeightInfo, hookimpl

#: The zoo-core plugin API this plugin is written against (checked when the plugin loads).
ZOO_API_VERSION = "1.4"

PAPER = Paper(
    title="LM-HT SNN: Enhancing the Performance of SNN to ANN Counterpart through Learnable Multi-hierarchical "
    "Threshold Model",
    authors=["Hao, Zecheng", "Shi, Xinyu", "Liu, Yujia", "Yu, Zhaofei", "Huang, Tiejun"],
    venue="NeurIPS",
    year=2024,
    url="https://arxiv.org/abs/2402.00411",
)

#: demo weights: lmht_cnn_digits trained on digits with tools/train.py (command in the card's config.json), measured
#: in float64 (plugins/lmht/scripts/make_digits_card.py); reparam_accuracy = the reparameterised single-threshold
#: model (L*T = 4 steps) on the same test split
DIGITS_WEIGHTS = {
    "digits_t2": WeightInfo(
        tag="digits_t2",
        source="package://zoo_lmht/weights/lmht_cnn_digits.digits_t2",
        sha256={"model.safetensors": "e84d010b0835d3fcc2a4ed4185a21d7b55001172f3c0fe1460984087ff676c7d"},
        dataset="digits",
        metrics={"accuracy": 0.9944444444444445, "reparam_accuracy": 0.9944444444444445},
        config={
            "T": 2,
            "L": 2,
            "num_classes": 10,
            "in_chans": 1,
            "img_size": 8,
            "channels": [16, 32],
            "mode": "lmht",
        },
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


#: CPU-sized instances for the conformance kit
SMALL = {"T": 2, "img_size": 8, "width_mult": 0.0625, "num_classes": 10}
SMALL_DVS = {"T": 2, "img_size": 8, "width_mult": 0.0625}
SMALL_HYBRID_VGG = {"T": 2, "width_mult": 0.0625, "num_classes": 10, "thresh": 1.0}
HYBRID = (
    "QCFS ANN (mode='ann'), IF SNN ('if') or LM-HT SNN ('lmht', the hybrid layout with .0-wrapped layers)"
)
DVS_INPUT = "[T', B, 2, 48, 48] CIFAR10-DVS event frames (10 frames, resized to 48x48)"


def _families() -> list[tuple[type, dict[str, Any]]]:
    """Each family class with its table of variants (constructor arguments over the class defaults)."""
    from zoo_core.sdk import Variant, preprocessing

    from .digits import LMHTDigitsCNN
    from .hybrid import LMHTHybridVGG, LMHTResNet20
    from .resnet import LMHTResNet
    from .spikformer import LMHTSpikformer
    from .vgg import LMHTVGG

    cifar10, cifar100, imagenet = (
        preprocessing("cifar10"),
        preprocessing("cifar100"),
        preprocessing("imagenet"),
    )
    dvs = preprocessing("unit", input=DVS_INPUT)
    imagenet_stem = {"num_classes": 1000, "use_imagenet": True, "img_size": 224}
    resnets = {
        "lmht_resnet18": Variant(
            description="LM-HT ResNet-18 (direct STBP training, CIFAR stem; use_imagenet=True for ImageNet)",
            preprocessing=cifar100,
            test_config=SMALL,
        ),
        "lmht_resnet34": Variant(
            args={"blocks": [3, 4, 6, 3], **imagenet_stem},
            description="LM-HT ResNet-34 (direct STBP training, ImageNet stem)",
            preprocessing=imagenet,
            test_config={**SMALL, "img_size": 16},
        ),
        "lmht_resnet18_dvs": Variant(
            args={"num_classes": 10, "in_chans": 2, "img_size": 48, "use_dvs": True},
            description="LM-HT ResNet-18 for CIFAR10-DVS (frames averaged into one step; the stem neuron's mixing "
            "makes T steps)",
            preprocessing=dvs,
            test_config=SMALL_DVS,
        ),
        "lmht_resnet19": Variant(
            args={"blocks": [3, 3, 2]},
            description="LM-HT ResNet-19 (CIFAR; fc neuron fixed to mix along time only)",
            preprocessing=cifar100,
            test_config=SMALL,
        ),
        "lmht_resnet19_dvs": Variant(
            args={"blocks": [3, 3, 2], "num_classes": 10, "in_chans": 2, "img_size": 48, "use_dvs": True},
            description="LM-HT ResNet-19 for CIFAR10-DVS (frames averaged into one step, layer2 stride 2; fc "
            "neuron mixes along time only)",
            preprocessing=dvs,
            test_config=SMALL_DVS,
        ),
        "lmht_ms_resnet18": Variant(
            args={"ms_block": True},
            description="LM-HT MS-ResNet-18 (pre-activation MSBlocks, direct STBP training)",
            preprocessing=cifar100,
            test_config=SMALL,
        ),
        "lmht_ms_resnet34": Variant(
            args={"blocks": [3, 4, 6, 3], **imagenet_stem, "ms_block": True},
            description="LM-HT MS-ResNet-34 (pre-activation MSBlocks, direct STBP training)",
            preprocessing=imagenet,
            test_config={**SMALL, "img_size": 16},
        ),
    }
    vggs = {
        "lmht_cifarnet": Variant(
            args={"cfg": "cifarnet", "num_classes": 10, "img_size": 32},
            description="LM-HT CIFARNet (official models/VGG.py cifarnet; classifier neurons mix along time only)",
            preprocessing=cifar10,
            test_config=SMALL,
        ),
        "lmht_vgg13": Variant(
            description="LM-HT VGG-13 (direct STBP training; ImageNet-200 head by default)",
            preprocessing=preprocessing(
                "tiny_imagenet",
                input="[B, 3, 64, 64] RGB (ImageNet-200 / Tiny-ImageNet), normalised per channel",
            ),
            test_config={**SMALL, "img_size": 16},
        ),
    }
    resnet20 = {
        "lmht_resnet20": Variant(
            description=f"ResNet-20 of LM-HT hybrid training: {HYBRID}",
            preprocessing=cifar100,
            test_config={**SMALL, "width_mult": 0.5, "thresh": 1.0},
        ),
    }
    hybrid_vggs = {
        "lmht_vgg16": Variant(
            description="VGG-16 of LM-HT hybrid training: QCFS ANN (mode='ann'), IF SNN ('if') or LM-HT SNN "
            "('lmht')",
            preprocessing=cifar100,
            test_config=SMALL_HYBRID_VGG,
        ),
        "lmht_vgg13_hybrid": Variant(
            args={"cfg": "vgg13"},
            description="VGG-13 of LM-HT hybrid training: QCFS ANN (mode='ann'), IF SNN ('if') or LM-HT SNN "
            "('lmht')",
            preprocessing=cifar100,
            test_config=SMALL_HYBRID_VGG,
        ),
    }
    spikformers = {
        "lmht_spikformer_4_384": Variant(
            description="LM-HT Spikformer (Transformer-4-384, CIFAR; direct STBP training)",
            preprocessing=cifar10,
            test_config={"T": 2, "img_size": 8, "embed_dims": 32, "num_heads": 2, "depths": 1},
        ),
    }
    digits = {
        "lmht_cnn_digits": Variant(
            description="Small LM-HT CNN for 8x8 digits (the plugin's demo architecture)",
            preprocessing=preprocessing("digits"),
            test_config={"T": 2, "channels": [4, 8]},
            meta={"weights": DIGITS_WEIGHTS},
        ),
    }
    return [
        (LMHTResNet, resnets),
        (LMHTVGG, vggs),
        (LMHTResNet20, resnet20),
        (LMHTHybridVGG, hybrid_vggs),
        (LMHTSpikformer, spikformers),
        (LMHTDigitsCNN, digits),
    ]


@hookimpl
def register_models(register: Any) -> None:
    from zoo_core.sdk import register_variants

    from .official import from_official, official_config

    common = {"paper": PAPER, "family": "lmht", "task": "image-classification"}
    hooks = {"from_official": from_official, "official_config": official_config}
    for cls, variants in _families():
        # the digits demo is not an official architecture: no checkpoint hooks
        extra = {} if cls.__name__ == "LMHTDigitsCNN" else hooks
        register_variants(register, cls, variants, **common, **extra)


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


@hookimpl
def register_recipes(register: Any) -> None:
    sgd = {"optimizer": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 5e-4}
    no_aug = (
        "the official CIFAR augmentation (RandomCrop 32 pad 4, flip, the CIFAR10Policy AutoAugment, Cutout 16/12 px) "
        "is not offered by zoo train; one weight decay for every parameter (alpha and masks too), as the official "
        "code"
    )
    register(
        "lmht_cifar",
        {**sgd, "lr": 0.025, "epochs": 300, "batch_size": 64, "amp": True, "seed": 42},
        models=("lmht_resnet18", "lmht_resnet19", "lmht_vgg13", "lmht_ms_resnet18", "lmht_cifarnet"),
        paper=PAPER,
        description="LM-HT direct training on CIFAR-10/100: SGD Nesterov lr 0.025, wd 5e-4, cosine, 300 epochs",
        source="paper App. A.3 (SGD, lr 0.025, wd 5e-4, cosine) and the official README example (300 epochs, AMP); "
        "official main.py (batch 64, seed 42, momentum 0.9, Nesterov)",
        differences=no_aug + "; bfloat16 autocast for the official fp16 AMP",
        data="CIFAR-10 or CIFAR-100 as an image folder (train/ and test/, one sub-folder per class)",
    )
    register(
        "lmht_hybrid_finetune",
        {**sgd, "learning_rule": "lmht_hybrid", "lr": 5e-4, "epochs": 30, "batch_size": 64, "seed": 42},
        models=("lmht_resnet20", "lmht_vgg13_hybrid", "lmht_vgg16"),
        paper=PAPER,
        description="LM-HT hybrid training: QCFS ANN -> LM-HT, then 30 epochs of STBP with SGD lr 5e-4, wd 5e-4",
        source="paper App. A.3 (hybrid fine-tuning lr 5e-4, wd 5e-4, 30 epochs, cosine); official hybrid_train.py "
        "(its --lr2 default is 0.1: this recipe uses the paper's 5e-4, which reproduces Table 4)",
        differences=no_aug + "; momentum 0.9 with Nesterov is inferred from the official ANN stage",
        data="CIFAR-100 as an image folder (train/ and test/, one sub-folder per class)",
    )


@hookimpl
def register_energy_conventions(register: Any) -> None:
    register(
        "lmht",
        count={"binary": "values", "graded": "values", "real": "values", "analog": "values"},
        e_mac_pj=0.0,
        e_sop_pj={"binary": 0.9, "graded": 0.9, "real": 0.9, "analog": 0.9},
        exclude=("conv1",),
        models=("lmht_*",),
        paper=PAPER,
        description="LM-HT's SOP count: every conv and linear layer except the module named conv1 counts its "
        "input values times their fan-out (a graded spike k theta counts k theta, not one event; pooled and "
        "analog inputs count by value too); E = 0.9 pJ x SOPs, no MAC term",
        source="READ: official monitor.py (SOPMonitor: skip_name ['conv1'], conv2d(x, ones_like(weight)).sum(), "
        "linear likewise; hzc1208/LMHT_SNN@d9e0db3) and the paper's 0.9 pJ per SOP (Spikformer's energy rule)",
    )
