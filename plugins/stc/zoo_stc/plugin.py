"""The zoo-core plugin ``stc``: registers the STC neurons, the baselines and the spiking video predictors.

Models: ``stc_<neuron>_<dataset>`` for neuron in ``stclif, stcplif, stclmh, lif, plif, tclif, lmh, glif`` and
dataset in ``mmnist, taxibj, kth`` (official settings, spec section d). Keep the top light (no torch).
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import Paper, WeightInfo, hookimpl

#: The zoo-core plugin API this plugin is written against (checked when the plugin loads).
ZOO_API_VERSION = "1.1"

PAPER = Paper(
    title="Autaptic Synaptic Circuit Enhances Spatio-temporal Predictive Learning of Spiking Neural Networks",
    authors=["Wang, Lihao", "Yu, Zhaofei"],
    venue="ICML",
    year=2024,
    url="https://arxiv.org/abs/2406.00405",
)

NEURON_LABELS = {
    "stclif": "STC-LIF",
    "stcplif": "STC-PLIF",
    "stclmh": "STC-LM-H",
    "lif": "LIF (tau 2)",
    "plif": "PLIF (official (1 - w) input factor)",
    "tclif": "TC-LIF",
    "lmh": "LM-H",
    "glif": "GLIF",
}
DATASET_LABELS = {
    "mmnist": "Moving MNIST 64x64, 10 -> 10 frames, patch 2",
    "taxibj": "TaxiBJ 2x32x32 flows, 4 -> 4 frames, patch 1",
    "kth": "KTH 128x128, 10 -> 20 frames, patch 4",
}
PREPROCESSING = {
    "input": "[B, T_in, C, H, W] frames in [0, 1] (Moving MNIST / KTH: pixel / 255; TaxiBJ: (x + 1) / 2)",
    "output": "[B, T_out, C, H, W] predicted frames, unclipped (metrics clip to [0, 1] for SSIM / PSNR)",
}
#: small instance for the conformance kit
TEST_CONFIG = {"num_hidden": [16, 16], "img_size": 8, "pre_seq_length": 2, "aft_seq_length": 2}

#: the demo setting: Moving digits (zoo_core.data.moving_digits) on a 32x32 canvas, 5 -> 5 frames, 2 x 32 channels
DEMO_CONFIG = {
    "num_hidden": [16, 16],
    "in_chans": 1,
    "img_size": 32,
    "patch_size": 2,
    "pre_seq_length": 5,
    "aft_seq_length": 5,
}
DEMO_TAG = "moving_digits_5to5"
#: written by plugins/stc/scripts/make_demo_cards.py (sha256 and metrics of the folders it prints); copy_last_* =
#: the copy-last-frame baseline on the same 256 test sequences, computed by the same metric code
COPY_LAST = {
    "copy_last_mse": 102.47954406738282,
    "copy_last_mae": 145.187548828125,
    "copy_last_ssim": 0.40814822927026073,
    "copy_last_psnr": 10.427372807432581,
}
DEMO_WEIGHTS: dict[str, WeightInfo] = {
    f"stc_{neuron}_mmnist.{DEMO_TAG}": WeightInfo(
        tag=DEMO_TAG,
        source=f"model_cards/stc_{neuron}_mmnist.{DEMO_TAG}",
        sha256={"model.safetensors": sha},
        dataset="moving_digits",
        metrics={**metrics, **COPY_LAST},
        config={"neuron": neuron, **DEMO_CONFIG},
    )
    for neuron, sha, metrics in (
        (
            "stclif",
            "41f1ef4811e821ec4994ac66e939fc568fc3c4036afc45df163a7795cab56f1f",
            {
                "mse": 68.04633286409856,
                "mae": 172.67675953870275,
                "ssim": 0.17349035171367988,
                "psnr": 12.0335167760047,
            },
        ),
        (
            "lif",
            "35e1ed7aa00f0e148a297461290884840aca98d70dedd0efce3f0df31c08cb5e",
            {
                "mse": 69.12912666619302,
                "mae": 144.17685013899893,
                "ssim": 0.34517534675100314,
                "psnr": 11.995859099970568,
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
        stc = name in ("stc_lif", "stc_plif", "stc_lmh")
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
    from .settings import DATASETS, NEURON_KEYS, model_defaults

    for neuron in NEURON_KEYS:
        for dataset in DATASETS:
            name = f"stc_{neuron}_{dataset}"
            register(
                name,
                models.SpikingPredictor,
                paper=PAPER,
                family="stc",
                task="video-prediction",
                defaults=model_defaults(neuron, dataset),
                weights={w.tag: w for k, w in DEMO_WEIGHTS.items() if k.split(".")[0] == name},
                preprocessing=PREPROCESSING,
                test_config=dict(TEST_CONFIG),
                description=f"{NEURON_LABELS[neuron]} recurrent spiking predictor, {DATASET_LABELS[dataset]}",
                from_official=models.from_official,
                official_config=models.official_config,
            )
