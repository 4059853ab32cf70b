"""The zoo-core plugin ``stc``: registers the STC neurons, the baselines and the spiking video predictors.

Neurons: ``stc_lif``, ``stc_plif``, ``stc_lmh`` and the baselines ``stc_baseline_<lif|plif|tclif|lmh|glif>``.
Models (family ``spiking_predictor``, task ``video-prediction``): ``spiking_predictor_<cell>_<dataset>`` for every
cell key (= neuron name) and dataset in ``mmnist, taxibj, kth`` (official settings) and ``mdigits`` (the zoo's
CPU-sized Moving digits setting), all from the table in :mod:`zoo_stc.settings`. Keep the top light (no torch).
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import Paper, Variant, WeightInfo, hookimpl, register_variants

from .settings import CELL_LABELS, DATASET_LABELS, DATASETS, STC_CELLS, model_args

#: The zoo-core plugin API this plugin is written against (checked when the plugin loads).
ZOO_API_VERSION = "1.2"

PAPER = Paper(
    title="Autaptic Synaptic Circuit Enhances Spatio-temporal Predictive Learning of Spiking Neural Networks",
    authors=["Wang, Lihao", "Yu, Zhaofei"],
    venue="ICML",
    year=2024,
    url="https://arxiv.org/abs/2406.00405",
)

PREPROCESSING = {
    "input": "[B, T_in, C, H, W] frames in [0, 1] (Moving MNIST / KTH: pixel / 255; TaxiBJ: (x + 1) / 2)",
    "output": "[B, T_out, C, H, W] predicted frames, unclipped (metrics clip to [0, 1] for SSIM / PSNR)",
}
#: the mdigits models read the core's Moving digits frames
MDIGITS_PREPROCESSING = {
    **PREPROCESSING,
    "input": "[B, T_in, C, H, W] frames in [0, 1] (the core's moving_digits: scikit-learn digits / 16, drawn by "
    "the Moving MNIST rules on a 32x32 canvas)",
}
#: small instance for the conformance kit
TEST_CONFIG = {"num_hidden": [16, 16], "img_size": 8, "pre_seq_length": 2, "aft_seq_length": 2}


def model_name(cell: str, dataset: str) -> str:
    """The registered name of the predictor with cell ``cell`` in the setting ``dataset``."""
    return f"spiking_predictor_{cell}_{dataset}"


DEMO_TAG = "moving_digits_5to5"
#: the copy-last-frame baseline on the demo's 256 test sequences (the same for both demo cards)
COPY_LAST = {
    "copy_last_mse": 102.47954406738282,
    "copy_last_mae": 145.187548828125,
    "copy_last_ssim": 0.40814822927026073,
    "copy_last_psnr": 10.427372807432581,
}
#: the demo weights: STC-LIF and the LIF baseline trained on the core's Moving digits at the ``mdigits`` size by
#: plugins/stc/scripts/make_demo_cards.py; metrics measured in float64 (the card's ``evaluation``), copy_last_* =
#: the copy-last-frame baseline on the same 256 test sequences, computed by the same metric code
DEMO_WEIGHTS: dict[str, WeightInfo] = {
    model_name(cell, "mdigits"): WeightInfo(
        tag=DEMO_TAG,
        source=f"package://zoo_stc/weights/{model_name(cell, 'mdigits')}.{DEMO_TAG}",
        sha256={"model.safetensors": sha},
        dataset="moving_digits",
        metrics=metrics,
        config=model_args(cell, "mdigits"),
    )
    for cell, sha, metrics in (
        (
            "stc_lif",
            "4c75443c1d5195672d5394aeb79711ec863bc100385d4ffd047375dfdc39182f",
            {
                "mse": 48.10630515677995,
                "mae": 118.42267974710504,
                "ssim": 0.45651470017740675,
                "psnr": 13.6070760419681,
                "lif_mse": 55.79834179866558,
                "lif_mae": 140.11149353050934,
                "lif_ssim": 0.32146483615551674,
                "lif_psnr": 12.92593629603499,
                **COPY_LAST,
            },
        ),
        (
            "stc_baseline_lif",
            "801efc0b7db750eaba19cb17542d70e9594a0079a98a4b88d182548ea475f26b",
            {
                "mse": 55.79834179866558,
                "mae": 140.11149353050934,
                "ssim": 0.32146483615551674,
                "psnr": 12.92593629603499,
                "stc_lif_mse": 48.10630515677995,
                "stc_lif_mae": 118.42267974710504,
                "stc_lif_ssim": 0.45651470017740675,
                "stc_lif_psnr": 13.6070760419681,
                **COPY_LAST,
            },
        ),
    )
}


@hookimpl
def register_neurons(register: Any) -> None:
    from .neurons import NEURONS

    common = {
        "channels": 256,
        "kernel_size": 5,
        "groups": 16,
        "v_threshold": 1.0,
        "alpha": 4.0,
        "in_channels": None,
    }
    for name, cls in NEURONS.items():
        stc = name in STC_CELLS
        register(
            name,
            cls,
            paper=PAPER,
            defaults={**common, "gradient_detach": False},
            test_config={"channels": 4, "groups": 2},
            description=(cls.__doc__ or "").strip().split("\n")[0]
            + (
                " Input: synaptic current [T, B, C, H, W]; autapse modulators over own spikes." if stc else ""
            ),
        )


@hookimpl
def register_models(register: Any) -> None:
    from . import models

    variants: dict[str, Variant] = {}
    for cell, label in CELL_LABELS.items():
        for dataset in DATASETS:
            name = model_name(cell, dataset)
            weights = {DEMO_TAG: DEMO_WEIGHTS[name]} if name in DEMO_WEIGHTS else {}
            variants[name] = Variant(
                args=model_args(cell, dataset),
                description=f"{label} recurrent spiking predictor, {DATASET_LABELS[dataset]}",
                preprocessing=MDIGITS_PREPROCESSING if dataset == "mdigits" else PREPROCESSING,
                test_config=TEST_CONFIG,
                meta={"weights": weights},
            )
    register_variants(
        register,
        models.SpikingPredictor,
        variants,
        paper=PAPER,
        family="spiking_predictor",
        task="video-prediction",
        from_official=models.from_official,
        official_config=models.official_config,
    )
