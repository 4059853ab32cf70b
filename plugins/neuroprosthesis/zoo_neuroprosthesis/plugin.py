"""The zoo-core plugin ``neuroprosthesis``: retina encoders, the spike-image decoder, the spiking retina simulator.

Tasks: ``retina-encoding`` (stimulus -> firing rates; Poisson loss; CC, FEV, RMSE) and ``spike-image-decoding``
(spike counts -> image; MSE, PSNR, SSIM), in :mod:`zoo_neuroprosthesis.tasks`.
Neurons: ``parametric_softplus`` (the encoders' output nonlinearity), ``retina_alpha_synapse`` and ``retina_lif``
(the simulator's synapse and cell).
Models: the families ``retina_crnn`` (Zheng et al. 2021: CNN, CRNN with LSTM / SimpleRNN / GRU, simulated-OFF-cell
sizes), ``deepretina`` (McIntosh et al. 2016 BN-CNN) and ``sid_decoder`` (Zhang et al. 2020), all from the tables
below. Data sets: ``retina_white_noise``, ``retina_snn``, ``digits_spikes``. Keep the top light (no torch).
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import IOSpec, Paper, TensorSpec, Variant, WeightInfo, hookimpl, register_variants

#: The zoo-core plugin API this plugin is written against (checked when the plugin loads).
ZOO_API_VERSION = "1.4"  # 1.4: Task.eval_dataset_name, neurons declare spike_kind

CHAPTER = Paper(
    title="Deep Learning for Visual Neuroprosthesis",
    authors=["Beech", "Jia, Shanshan", "Yu, Zhaofei", "Liu, Jian K."],
    venue="arXiv (book chapter)",
    year=2024,
    url="https://arxiv.org/abs/2401.03639",
)
ZHENG2021 = Paper(
    title="Unraveling neural coding of dynamic natural visual scenes via convolutional recurrent neural networks",
    authors=["Zheng, Yajing", "Jia, Shanshan", "Yu, Zhaofei", "Liu, Jian K.", "Huang, Tiejun"],
    venue="Patterns",
    year=2021,
    url="https://www.sciencedirect.com/science/article/pii/S2666389921002051",
)
MCINTOSH2016 = Paper(
    title="Deep Learning Models of the Retinal Response to Natural Scenes",
    authors=[
        "McIntosh, Lane T.",
        "Maheswaranathan, Niru",
        "Nayebi, Aran",
        "Ganguli, Surya",
        "Baccus, Stephen A.",
    ],
    venue="NIPS",
    year=2016,
    url="https://arxiv.org/abs/1702.01825",
)
ZHANG2020 = Paper(
    title="Reconstruction of natural visual scenes from neural spikes with deep neural networks",
    authors=[
        "Zhang, Yichen",
        "Jia, Shanshan",
        "Zheng, Yajing",
        "Yu, Zhaofei",
        "Tian, Yonghong",
        "Ma, Siwei",
        "Huang, Tiejun",
        "Liu, Jian K.",
    ],
    venue="Neural Networks",
    year=2020,
)
JIA2021 = Paper(
    title="Dissecting cascade computational components in spiking neural networks",
    authors=["Jia, Shanshan", "Xing, Dajun", "Yu, Zhaofei", "Liu, Jian K."],
    venue="PLoS Computational Biology",
    year=2021,
)

# ------------------------------------------------------------------------------------------------ models
ZHENG_PRE = {
    "input": "[B, H, W, T] stimulus window, channels-last: the last T frames (index 0 oldest) before the predicted "
    "response bin; movie pixels as the official data files hold them",
    "output": "[B, num_cells] firing rates (spike counts per bin)",
}
OFF_PRE = {
    **ZHENG_PRE,
    "input": "[B, 8, 8, 20] binary white noise (pixels +-0.5), the last 20 frames before the response bin",
}
DEEPRETINA_PRE = {
    "input": "[B, 40, 50, 50] z-scored stimulus, frames first (40 frames of 10 ms)",
    "output": "[B, num_cells] firing rates",
}
SID_PRE = {
    "input": "[B, num_cells] spike counts min-max scaled to [0, 1] per cell (scaler fitted on the training set)",
    "output": "[B, S, S, 1] image (pixels / 255 for 8-bit images), unbounded",
}

#: small instances for the conformance kit
ZHENG_TEST = {
    "img_size": 10,
    "T": 4,
    "num_cells": 3,
    "bc_num": 4,
    "bc_size": 5,
    "conv2_filters": 3,
    "conv2_size": 3,
}

RETINA_CRNN_VARIANTS = {
    "retina_cnn": Variant(
        args={"l1_wreg": 5.5e-4},
        description="Zheng 2021 CNN encoder of 80 RGCs (90x90 movie, 20 frames): the published movie2 'cnn'",
        preprocessing=ZHENG_PRE,
        test_config=ZHENG_TEST,
    ),
    "retina_crnn_lstm": Variant(
        args={"rnn": "lstm", "conv_init": "normal", "l1_wreg": 5e-4},
        description="Zheng 2021 CRNN encoder, LSTM(32) over the conv channels: the published movie2 'crnn_lstm'",
        preprocessing=ZHENG_PRE,
        test_config=ZHENG_TEST,
    ),
    "retina_crnn_rnn": Variant(
        args={"rnn": "rnn", "conv_init": "normal", "l1_wreg": 5e-4},
        description="Zheng 2021 CRNN encoder, SimpleRNN(32): the published movie2 'crnn_vanilla'",
        preprocessing=ZHENG_PRE,
        test_config=ZHENG_TEST,
    ),
    "retina_crnn_gru": Variant(
        args={"rnn": "gru", "conv_init": "normal", "l1_wreg": 5e-4},
        description="Zheng 2021 CRNN encoder, Keras-2 GRU(32) (crnn_gru_model; no published weights)",
        preprocessing=ZHENG_PRE,
        test_config=ZHENG_TEST,
    ),
    "retina_off_cnn": Variant(
        args={
            "img_size": 8,
            "num_cells": 2,
            "bc_num": 8,
            "bc_size": 6,
            "conv2_filters": 4,
            "conv2_size": 3,
        },
        description="Zheng 2021 CNN for 2 simulated OFF cells (8x8 white noise, conv 8@6, 4@3; model_off.cnn_model)",
        preprocessing=OFF_PRE,
        test_config={"T": 4},
    ),
    "retina_off_crnn_lstm": Variant(
        args={
            "img_size": 8,
            "num_cells": 2,
            "bc_num": 8,
            "bc_size": 6,
            "conv2_filters": 4,
            "conv2_size": 3,
            "rnn": "lstm",
            "num_hidden": 8,
            "conv_init": "normal",
        },
        description="Zheng 2021 CRNN (LSTM(8)) for 2 simulated OFF cells (model_off.crnn_model)",
        preprocessing=OFF_PRE,
        test_config={"T": 4},
    ),
}

DEEPRETINA_IO = IOSpec(
    inputs=(
        TensorSpec(name="stimulus", shape=("B", "T", "img_size", "img_size"), description="frames first"),
    ),
    output=TensorSpec(name="rates", shape=("B", "num_cells"), description="firing rates"),
    description="a stimulus window [B, T, H, W] (frames first, channels-first) in, firing rates out",
)
DEEPRETINA_VARIANTS = {
    "deepretina_bn_cnn": Variant(
        description="Deep Retina BN-CNN (McIntosh 2016): 8@15, 8@11 convs with per-unit BatchNorm, 5 cells",
        preprocessing=DEEPRETINA_PRE,
        test_config={"img_size": 12, "T": 4, "num_cells": 3, "conv1_size": 5, "conv2_size": 3},
        meta={"io": DEEPRETINA_IO},
    ),
}

SID_VARIANTS = {
    "sid_decoder": Variant(
        description="Spike-Image Decoder (Zhang 2020): dense decoder + conv autoencoder, 90 cells -> 64x64 image",
        preprocessing=SID_PRE,
        test_config={"img_size": 16, "num_cells": 6, "hidden": 8, "widths": [4, 4, 4, 4]},
    ),
    "sid_decoder_digits": Variant(
        args={"img_size": 32, "hidden": 256, "widths": [16, 32, 64, 64]},
        description="Spike-Image Decoder at the zoo's demo size: 90 cells -> 32x32 digits, widths 16-32-64-64",
        preprocessing=SID_PRE,
        test_config={"img_size": 16, "num_cells": 6, "hidden": 8, "widths": [4, 4, 4, 4]},
    ),
}

# ------------------------------------------------------------------------------------------------ demo weights
#: the demo weights (plugins/neuroprosthesis/scripts/make_demo_cards.py); metrics measured in float64 on the test
#: splits by the tasks, baselines beside them (linear_*: ridge-regression models on the same training data;
#: ceiling_cc: CC of the true rates with the Poisson responses; mean_image_*: the training set's mean image)
DEMO_WEIGHTS: dict[str, dict[str, WeightInfo]] = {
    "retina_off_cnn": {
        "white_noise_t20": WeightInfo(
            tag="white_noise_t20",
            source="package://zoo_neuroprosthesis/weights/retina_off_cnn.white_noise_t20",
            sha256={"model.safetensors": "863824e4148167f2d3e9fd2765d05e09e8fd33e4953ff6c3cf95e43c34b1aa6c"},
            dataset="retina_white_noise",
            metrics={
                "cc": 0.7252189412224099,
                "cc_population": 0.7675043586613859,
                "fev": 0.509660786427301,
                "rmse": 0.933539762910462,
                "poisson_loss": 0.5114531036304684,
                "cc_true_rate": 0.8945662578823363,
                "ceiling_cc": 0.8050024156602009,
                "linear_cc": 0.5852320484594733,
                "linear_cc_population": 0.6282919944216059,
                "linear_fev": 0.33878235987323935,
                "linear_rmse": 1.0866180971244503,
                "linear_cc_true_rate": 0.7237345700979021,
            },
        )
    },
    "sid_decoder_digits": {
        "digits_spikes_90": WeightInfo(
            tag="digits_spikes_90",
            source="package://zoo_neuroprosthesis/weights/sid_decoder_digits.digits_spikes_90",
            sha256={"model.safetensors": "6938036c7d85eca8a0f2ad1bb0336105f34027bceee20f20708b39bdbe899aa5"},
            dataset="digits_spikes",
            metrics={
                "mse": 0.021487042637795627,
                "psnr": 17.462946878876405,
                "ssim": 0.6981438027857421,
                "mean_image_mse": 0.046828625784566806,
                "mean_image_psnr": 13.443357995016221,
                "mean_image_ssim": 0.39924803202277415,
                "linear_mse": 0.023262200460904433,
                "linear_psnr": 16.558467005113545,
                "linear_ssim": 0.6112474824815198,
                "dense_mse": 0.2805914650614135,
                "dense_psnr": 5.541794890912413,
                "dense_ssim": 0.012497802055411036,
            },
        )
    },
}


@hookimpl
def register_tasks(register: Any) -> None:
    from .tasks import RetinaEncoding, SpikeImageDecoding

    for task in (RetinaEncoding, SpikeImageDecoding):
        register(task.name, task, paper=CHAPTER, description=(task.__doc__ or "").strip().split("\n")[0])


@hookimpl
def register_neurons(register: Any) -> None:
    from .neurons import AlphaSynapse, ParametricSoftplus, RetinaLIF

    register(
        "parametric_softplus",
        ParametricSoftplus,
        paper=ZHENG2021,
        defaults={"shape": [], "alpha_init": 0.2, "beta_init": 5.0},
        test_config={"shape": [4, 5]},
        description="ParametricSoftplus alpha * softplus(beta * x), learnable per cell: the encoders' output "
        "nonlinearity (stateless)",
    )
    register(
        "retina_alpha_synapse",
        AlphaSynapse,
        paper=JIA2021,
        defaults={"tau": 10.0, "dt": 1.0},
        description="Alpha-function synapse of the spiking retina simulator: spikes -> current, unit area, "
        "peak at 10-11 ms (tau 10 ms, 1 ms steps)",
    )
    register(
        "retina_lif",
        RetinaLIF,
        paper=JIA2021,
        defaults={
            "v_rest": -0.070,
            "v_threshold": -0.040,
            "v_reset": -0.075,
            "tau_m": 10.0,
            "r_m": 1.0,
            "dt": 1.0,
            "surrogate": "atan",
            "alpha": None,
        },
        description="LIF cell of the spiking retina simulator (volts, ms; hard reset in the spike's step)",
    )


@hookimpl
def register_models(register: Any) -> None:
    from . import models
    from .official import make_from_official, make_official_config

    for cls, variants, family, paper, task in (
        (models.RetinaCRNN, RETINA_CRNN_VARIANTS, "retina_crnn", ZHENG2021, "retina-encoding"),
        (models.DeepRetinaBNCNN, DEEPRETINA_VARIANTS, "deepretina", MCINTOSH2016, "retina-encoding"),
        (models.SIDDecoder, SID_VARIANTS, "sid_decoder", ZHANG2020, "spike-image-decoding"),
    ):
        for name, v in variants.items():
            meta = {
                "from_official": make_from_official(name),
                "official_config": make_official_config(name),
                "weights": DEMO_WEIGHTS.get(name, {}),
                **v.meta,
            }
            register_variants(
                register,
                cls,
                {name: Variant(v.args, v.description, v.preprocessing, v.test_config, meta)},
                paper=paper,
                family=family,
                task=task,
            )


@hookimpl
def register_datasets(register: Any) -> None:
    from . import data

    for name, fn, task, defaults, title in data.DATASETS:
        register(
            name, fn, task=task, defaults=defaults, title=title, description=(fn.__doc__ or "").split("\n")[0]
        )
