"""The zoo-core plugin ``sparse_grad``: the SR neuron, VGG-11 / WRN-16 / digits models, the SR rule, the data set.

zoo-core finds this module through the entry point ``sparse_grad = "zoo_sparse_grad.plugin"`` (group
``zoo_core``) and calls the hooks below on the first registry access. Keep the top light (no torch).
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import Paper, WeightInfo, hookimpl

#: The zoo-core plugin API this plugin is written against (checked when the plugin loads).
ZOO_API_VERSION = "1.1"

PAPER = Paper(
    title="Enhancing Adversarial Robustness in SNNs with Sparse Gradients",
    authors=["Liu, Yujia", "Bu, Tong", "Ding, Jianhao", "Hao, Zecheng", "Huang, Tiejun", "Yu, Zhaofei"],
    venue="ICML",
    year=2024,
    url="https://arxiv.org/abs/2405.20355",
)

CIFAR10_PREPROCESSING = {
    "input": "[B, 3, 32, 32] RGB in [0, 1] (no normalisation outside: the model normalises inside)",
    "mean": [0.4914, 0.4822, 0.4465],
    "std": [0.2023, 0.1994, 0.2010],
}
DIGITS_PREPROCESSING = {
    "input": "[B, 1, 8, 8] floats in [0, 1] (digits: pixel value / 16); the model normalises (x - 0.5) / 0.5",
}

DIGITS_DEFAULTS = {"T": 4, "num_classes": 10, "in_chans": 1, "img_size": 8, "hidden": 256, "tau": 1.0}

#: demo weights (spec h.6), written by plugins/sparse_grad/scripts/make_digits_cards.py
DIGITS_T4 = WeightInfo(
    tag="digits_t4",
    source="model_cards/sparse_grad_mlp_digits.digits_t4",
    sha256={"model.safetensors": "78e958c388a7257761956ce07b33eef2b93431794fd85822e09e52f07e82d8aa"},
    dataset="digits_70_30",
    metrics={
        "accuracy": 0.9814814814814815,
        "fgsm_eps0.05": 0.8888888888888888,
        "fgsm_eps0.05_ensemble": 0.8851851851851852,
        "pgd10_eps0.05": 0.8851851851851852,
        "pgd10_eps0.05_ensemble": 0.8740740740740741,
        "fgsm_eps0.1": 0.6518518518518519,
        "fgsm_eps0.1_ensemble": 0.5981481481481481,
        "pgd10_eps0.1": 0.5259259259259259,
        "pgd10_eps0.1_ensemble": 0.4962962962962963,
    },
    config=dict(DIGITS_DEFAULTS),
)
DIGITS_T4_SR = WeightInfo(
    tag="digits_t4_sr",
    source="model_cards/sparse_grad_mlp_digits.digits_t4_sr",
    sha256={"model.safetensors": "5e1222020eb8b5bfccfb6603550a0afa248e2d025fb6ab8f9849e0e331cb0b07"},
    dataset="digits_70_30",
    metrics={
        "accuracy": 0.9814814814814815,
        "fgsm_eps0.05": 0.9351851851851852,
        "fgsm_eps0.05_ensemble": 0.9277777777777778,
        "pgd10_eps0.05": 0.9203703703703704,
        "pgd10_eps0.05_ensemble": 0.912962962962963,
        "fgsm_eps0.1": 0.7870370370370371,
        "fgsm_eps0.1_ensemble": 0.762962962962963,
        "pgd10_eps0.1": 0.7444444444444445,
        "pgd10_eps0.1_ensemble": 0.7222222222222222,
    },
    config=dict(DIGITS_DEFAULTS),
)


@hookimpl
def register_neurons(register: Any) -> None:
    from .neurons import SparseGradLIF

    register(
        "sparse_grad_lif",
        SparseGradLIF,
        paper=PAPER,
        defaults={"thresh": 1.0, "tau": 1.0, "surrogate": "zif", "gama": 1.0, "mode": "bptt"},
        description="LIFSpike of the SR paper: m = tau m + x, s = H(m - thresh) (H(0) = 1), hard reset; "
        "surrogates zif/sig/atan with parameter gama; mode 'bptr' = rate-based backward",
    )


@hookimpl
def register_models(register: Any) -> None:
    from . import models

    hooks = {"from_official": models.from_official, "official_config": models.official_config}
    common = {"T": 8, "num_classes": 10, "in_chans": 3, "img_size": 32, "tau": 1.0}
    cifar = {"mean": list(models.CIFAR10_MEAN), "std": list(models.CIFAR10_STD)}
    register(
        "sparse_grad_vgg11",
        models.SparseGradVGG,
        paper=PAPER,
        family="sparse_grad",
        task="image-classification",
        defaults={**common, "width_mult": 1.0, **cifar},
        preprocessing=CIFAR10_PREPROCESSING,
        test_config={"T": 2, "img_size": 8, "width_mult": 1 / 32},
        description="Official VGG-11 SNN (IF neurons, T = 8, CIFAR-10 normalisation inside); official keys",
        **hooks,
    )
    register(
        "sparse_grad_wrn16",
        models.SparseGradWRN,
        paper=PAPER,
        family="sparse_grad",
        task="image-classification",
        defaults={**common, "depth": 16, "widen_factor": 4, "stem_width": 16, **cifar},
        preprocessing=CIFAR10_PREPROCESSING,
        test_config={"T": 2, "img_size": 8, "stem_width": 4, "widen_factor": 1},
        description="Official WRN-16-4 SNN (pre-activation blocks, learnable convex residual mix); official keys",
        **hooks,
    )
    register(
        "sparse_grad_mlp_digits",
        models.SparseGradMLP,
        paper=PAPER,
        family="sparse_grad",
        task="image-classification",
        defaults=dict(DIGITS_DEFAULTS),
        weights={"digits_t4": DIGITS_T4, "digits_t4_sr": DIGITS_T4_SR},
        preprocessing=DIGITS_PREPROCESSING,
        test_config={"T": 2, "hidden": 16},
        description="Digits demo (spec h.6): Linear(64,256) -> BN -> IF -> Linear(256,10), T = 4; weights "
        "digits_t4 (undefended, lambda = 0) and digits_t4_sr (SR, lambda = 0.01)",
    )


@hookimpl
def register_learning_rules(register: Any) -> None:
    from .regulariser import SparseGradRule

    register(
        "sparse_grad",
        SparseGradRule,
        paper=PAPER,
        category="regulariser",
        defaults={
            "lamb": 0.01,
            "h": 0.01,
            "attack": None,
            "eps": 8 / 255,
            "attack_steps": 7,
            "attack_step_size": 2.55 / 255,
        },
        description="CE + lamb * mean(((p(x + h sign g) - p(x)) / h)^2), p = two-class probability of the "
        "label vs the strongest other class, g = d sum p / dx (finite-difference L1 gradient penalty); optional "
        "FGSM/PGD adversarial training. h = 0.01 is the paper's; lamb = 0.01 is our digits value (paper's unknown)",
    )
