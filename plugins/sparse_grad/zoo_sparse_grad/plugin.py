"""The zoo-core plugin ``sparse_grad``: the SR neuron, VGG-11 / WRN-16 / digits models, the SR rule, the data set.

zoo-core finds this module through the entry point ``sparse_grad = "zoo_sparse_grad.plugin"`` (group
``zoo_core``) and calls the hooks below on the first registry access. Keep the top light (no torch).
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
    title="Enhancing Adversarial Robustness in SNNs with Sparse Gradients",
    authors=["Liu, Yujia", "Bu, Tong", "Ding, Jianhao", "Hao, Zecheng", "Huang, Tiejun", "Yu, Zhaofei"],
    venue="ICML",
    year=2024,
    url="https://arxiv.org/abs/2405.20355",
)

#: demo weights: the digits MLP trained without (digits_t4) and with (digits_t4_sr) sparse-gradient
#: regularisation; clean and robust accuracies measured in float64 beside the model; written by
#: plugins/sparse_grad/scripts/make_digits_cards.py
DIGITS_T4 = WeightInfo(
    tag="digits_t4",
    source="package://zoo_sparse_grad/weights/sparse_grad_mlp_digits.digits_t4",
    sha256={"model.safetensors": "78e958c388a7257761956ce07b33eef2b93431794fd85822e09e52f07e82d8aa"},
    dataset="digits_70_30",
    metrics={
        "accuracy": 0.9814814814814815,
        "fgsm_eps0.05": 0.8888888888888888,
        "fgsm_eps0.05_ensemble": 0.8851851851851852,
        "pgd10_eps0.05": 0.8870370370370371,
        "pgd10_eps0.05_ensemble": 0.8722222222222222,
        "fgsm_eps0.1": 0.6518518518518519,
        "fgsm_eps0.1_ensemble": 0.5981481481481481,
        "pgd10_eps0.1": 0.5351851851851852,
        "pgd10_eps0.1_ensemble": 0.5,
    },
)
DIGITS_T4_SR = WeightInfo(
    tag="digits_t4_sr",
    source="package://zoo_sparse_grad/weights/sparse_grad_mlp_digits.digits_t4_sr",
    sha256={"model.safetensors": "5e1222020eb8b5bfccfb6603550a0afa248e2d025fb6ab8f9849e0e331cb0b07"},
    dataset="digits_70_30",
    metrics={
        "accuracy": 0.9814814814814815,
        "fgsm_eps0.05": 0.9351851851851852,
        "fgsm_eps0.05_ensemble": 0.9277777777777778,
        "pgd10_eps0.05": 0.9222222222222223,
        "pgd10_eps0.05_ensemble": 0.9148148148148149,
        "fgsm_eps0.1": 0.7870370370370371,
        "fgsm_eps0.1_ensemble": 0.762962962962963,
        "pgd10_eps0.1": 0.7425925925925926,
        "pgd10_eps0.1_ensemble": 0.7166666666666667,
    },
)


@hookimpl
def register_neurons(register: Any) -> None:
    from .neurons import SparseGradLIF

    register(
        "sparse_grad_lif",
        SparseGradLIF,
        paper=PAPER,
        defaults=signature_defaults(SparseGradLIF),
        description="LIFSpike of the SR paper: m = tau m + x, s = H(m - thresh) (H(0) = 1), hard reset; "
        "surrogates zif/sig/atan with parameter gama; mode 'bptr' = rate-based backward",
    )


@hookimpl
def register_models(register: Any) -> None:
    from . import models

    family = {"paper": PAPER, "family": "sparse_grad"}
    official = {"from_official": models.from_official, "official_config": models.official_config}
    # no mean/std here: a declared mean/std is applied outside (zoo eval, timm's data config), and these
    # models normalise inside with the CIFAR-10 constants (their mean/std arguments)
    cifar10 = preprocessing(
        "unit",
        input="[B, 3, 32, 32] RGB in [0, 1] (no normalisation outside: the model normalises inside with the "
        "CIFAR-10 mean/std)",
    )
    register_variants(
        register,
        models.SparseGradVGG,
        {
            "sparse_grad_vgg11": Variant(
                description="Official VGG-11 SNN (IF neurons, T = 8, CIFAR-10 normalisation inside); official "
                "keys",
                preprocessing=cifar10,
                test_config={"T": 2, "img_size": 8, "width_mult": 1 / 32},
            )
        },
        **family,
        **official,
    )
    register_variants(
        register,
        models.SparseGradWRN,
        {
            "sparse_grad_wrn16": Variant(
                description="Official WRN-16-4 SNN (pre-activation blocks, learnable convex residual mix); "
                "official keys",
                preprocessing=cifar10,
                test_config={"T": 2, "img_size": 8, "stem_width": 4, "widen_factor": 1},
            )
        },
        **family,
        **official,
    )
    register_variants(
        register,
        models.SparseGradMLP,
        {
            "sparse_grad_mlp_digits": Variant(
                description="Digits demo: Linear(64,256) -> BN -> IF -> Linear(256,10), T = 4; weights "
                "digits_t4 (undefended, lambda = 0) and digits_t4_sr (SR, lambda = 0.01)",
                preprocessing=preprocessing(
                    "digits",
                    input="[B, 1, 8, 8] floats in [0, 1] (digits: pixel value / 16); the model normalises "
                    "(x - 0.5) / 0.5",
                ),
                test_config={"T": 2, "hidden": 16},
                meta={"weights": {"digits_t4": DIGITS_T4, "digits_t4_sr": DIGITS_T4_SR}},
            )
        },
        **family,
    )


@hookimpl
def register_learning_rules(register: Any) -> None:
    from .regulariser import SparseGradRule

    register(
        "sparse_grad",
        SparseGradRule,
        paper=PAPER,
        category="regulariser",
        defaults=signature_defaults(SparseGradRule),
        description="CE + lamb * mean(((p(x + h sign g) - p(x)) / h)^2), p = two-class probability of the "
        "label vs the strongest other class, g = d sum p / dx (finite-difference L1 gradient penalty); optional "
        "FGSM/PGD adversarial training. h = 0.01 is the paper's; lamb = 0.01 is our digits value (paper's unknown)",
    )
