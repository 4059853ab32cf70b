"""The core's own registrations, made through the same hooks as any plugin (owner ``zoo_core``).

The plugin runtime loads this module by name on the first registry access (it sits below the layers imported
here and never imports them itself).
"""

from __future__ import annotations

from typing import Any

from .data import MovingDigits, cifar10_dvs, digits, digits_70_30
from .info import ZOO_CORE_PAPER, Paper, WeightInfo
from .kernels import lif_compiled, lif_inplace, lif_native, lif_triton, spike_conv
from .kernels.lif import lif_multistep_reference
from .learning import BPTT
from .models.spiking_cnn import SpikingCNN
from .neurons import IF, LIF, PLIF, ConversionIF
from .neurons.conversion import QCFS_PAPER
from .neurons.surrogate import SURROGATES
from .plugins import hookimpl
from .tasks import ImageClassification, VideoPrediction

SPIKINGJELLY = Paper(
    title="SpikingJelly: An open-source machine learning infrastructure platform for spike-based intelligence",
    authors=[
        "Fang, Wei",
        "Chen, Yanqi",
        "Ding, Jianhao",
        "Yu, Zhaofei",
        "Masquelier, Timothée",
        "Chen, Ding",
        "Huang, Liwei",
        "Zhou, Huihui",
        "Li, Guoqi",
        "Tian, Yonghong",
    ],
    venue="Science Advances",
    year=2023,
    url="https://doi.org/10.1126/sciadv.adi1480",
)
PLIF_PAPER = Paper(
    title="Incorporating Learnable Membrane Time Constant to Enhance Learning of Spiking Neural Networks",
    authors=[
        "Fang, Wei",
        "Yu, Zhaofei",
        "Chen, Yanqi",
        "Masquelier, Timothée",
        "Huang, Tiejun",
        "Tian, Yonghong",
    ],
    venue="ICCV",
    year=2021,
    url="https://arxiv.org/abs/2007.05785",
)
SURROGATE_PAPER = Paper(
    title="Surrogate Gradient Learning in Spiking Neural Networks",
    authors=["Neftci, Emre O.", "Mostafa, Hesham", "Zenke, Friedemann"],
    venue="IEEE Signal Processing Magazine",
    year=2019,
    url="https://arxiv.org/abs/1901.09948",
)
BPTT_PAPER = Paper(
    title="Spatio-Temporal Backpropagation for Training High-Performance Spiking Neural Networks",
    authors=["Wu, Yujie", "Deng, Lei", "Li, Guoqi", "Zhu, Jun", "Shi, Luping"],
    venue="Frontiers in Neuroscience",
    year=2018,
    url="https://arxiv.org/abs/1706.02609",
)

SPIKING_CNN_DEFAULTS = {
    "num_classes": 10,
    "in_chans": 1,
    "img_size": 8,
    "T": 4,
    "channels": [16, 32],
    "neuron": "lif",
    "neuron_kwargs": {},
}
#: demo weights, trained by the command in their card (tools/train.py); the folder ships inside zoo-core (zoo_core/weights/)
SPIKING_CNN_DIGITS_T4 = WeightInfo(
    tag="digits_t4",
    source="package://zoo_core/weights/spiking_cnn.digits_t4",
    sha256={"model.safetensors": "4f63c6711ac184ae3f88e04dbb45a01778d5a3dcf545b4a56e9599556c1ea1d2"},
    dataset="digits",
    metrics={"accuracy": 0.9916666666666667},
    config=dict(SPIKING_CNN_DEFAULTS),
)

_LIF_COMMON = {
    "v_threshold": 1.0,
    "v_reset": 0.0,
    "detach_reset": False,
    "surrogate": "atan",
    "alpha": None,
    "v_init": None,
}


@hookimpl
def register_tasks(register: Any) -> None:
    for task in (ImageClassification, VideoPrediction):
        register(task.name, task)


@hookimpl
def register_surrogates(register: Any) -> None:
    for name, cls in SURROGATES.items():
        register(name, cls, paper=SURROGATE_PAPER, defaults={"alpha": cls.default_alpha})


@hookimpl
def register_neurons(register: Any) -> None:
    register("if", IF, paper=SPIKINGJELLY, defaults=dict(_LIF_COMMON))
    register("lif", LIF, paper=SPIKINGJELLY, defaults={"tau": 2.0, "decay_input": True, **_LIF_COMMON})
    register("plif", PLIF, paper=PLIF_PAPER, defaults={"init_tau": 2.0, "decay_input": True, **_LIF_COMMON})
    register(
        "if_conversion",
        ConversionIF,
        paper=QCFS_PAPER,
        defaults={
            "v_threshold": 1.0,
            "init_mem": 0.5,
            "fold_T": None,
            "surrogate": "rectangular",
            "alpha": None,
            "detach_reset": False,
        },
        description="IF neuron of ANN-to-SNN conversion: soft reset, initial membrane init_mem*theta, "
        "spikes of amplitude theta",
    )


def _auto_compile(*args: Any, **kwargs: Any) -> bool:
    """Whether automatic selection picks the compiled LIF (``ZOO_AUTO_COMPILE``; see
    :mod:`zoo_core.kernels.lif_compiled`).

    Default (unset or ``auto``): inference calls switch to it once the reference time they have spent on one
    shape equals the measured compile cost (small when the graph is in the persistent cache); training calls
    never. ``1``: every call with at least ``ZOO_COMPILE_MIN_NUMEL`` neurons (long trainings opt in); ``0``:
    never. ``kernel="compiled"`` / ``ZOO_KERNELS=lif_multistep=compiled`` force it.
    """
    return lif_compiled.prefer_auto(*args, **kwargs)


@hookimpl
def register_kernels(register: Any) -> None:
    register(
        "lif_multistep",
        "reference",
        lif_multistep_reference,
        reference=True,
        description="IF/LIF/PLIF multi-step loop in plain PyTorch (defines the semantics)",
    )
    register(
        "lif_multistep",
        "compiled",
        lif_compiled.lif_multistep_compiled,
        devices=("cpu",),
        priority=10,
        supports=lif_compiled.supports,
        available=lif_compiled.available,
        prefer=_auto_compile,
        description="torch.compile'd loop over x.unbind(0), compiled once per shape; large CPU tensors",
    )
    register(
        "lif_multistep",
        "native",
        lif_native.lif_multistep_native,
        devices=("cpu",),
        priority=15,
        supports=lif_native.supports,
        available=lif_native.available,
        prefer=lif_native.prefer,
        description="hand-written C loop over blocks of neurons, built once per machine with the C compiler; "
        "float32/float64 IF/LIF on CPU, PLIF for inference",
    )
    register(
        "lif_multistep",
        "inplace",
        lif_inplace.lif_multistep_inplace,
        priority=5,
        supports=lif_inplace.supports,
        prefer=lif_inplace.prefer,
        description="the reference loop for inference (no grad) in preallocated buffers: bit-identical, fewer "
        "allocations; the default inference path until the compiled loop pays",
    )
    register(
        "lif_multistep",
        "triton",
        lif_triton.lif_multistep_triton,
        devices=("cuda", "cpu"),
        priority=20,
        supports=lif_triton.supports,
        prefer=lif_triton.prefer,
        available=lif_triton.available,
        description="fused Triton forward+backward over T (CUDA; CPU only under TRITON_INTERPRET=1)",
    )
    # spike-aware linear / conv (issue 17): dense references and inference-only alternates picked automatically
    # only on the shapes and firing rates where tools/bench_spike_conv.py measured them faster
    for op, impl, fn, kw in spike_conv.registrations():
        register(op, impl, fn, **kw)


@hookimpl
def register_models(register: Any) -> None:
    register(
        "spiking_cnn",
        SpikingCNN,
        family="spiking_cnn",
        task="image-classification",
        defaults=dict(SPIKING_CNN_DEFAULTS),
        weights={"digits_t4": SPIKING_CNN_DIGITS_T4},
        preprocessing={"input": "[B, C, H, W] floats in [0, 1] (digits: pixel value / 16)"},
        description="Small convolutional SNN for 1- or 3-channel images with any registered neuron",
    )


@hookimpl
def register_learning_rules(register: Any) -> None:
    register(
        "bptt",
        BPTT,
        paper=BPTT_PAPER,
        category="training",
        defaults={"label_smoothing": 0.0, "grad_clip": None},
    )


@hookimpl
def register_datasets(register: Any) -> None:
    register(
        "digits",
        digits,
        defaults={"split": "train", "test_fraction": 0.2, "seed": 0},
        task="image-classification",
        title="scikit-learn 8x8 digits",
        description="scikit-learn's 8x8 handwritten digits, [1,8,8] in [0,1], 10 classes (offline); stratified "
        "80/20 train/test split",
    )
    register(
        "digits_70_30",
        digits_70_30,
        defaults={"split": "train", "seed": 0},
        task="image-classification",
        title="scikit-learn 8x8 digits (70/30)",
        description="scikit-learn's 8x8 handwritten digits, [1,8,8] in [0,1], 10 classes (offline); stratified "
        "70/30 train/test split (the SR and EM-PF demo recipes)",
    )

    register(
        "moving_digits",
        MovingDigits,
        defaults={
            "split": "train",
            "num_samples": None,
            "canvas": 32,
            "digit_scale": 2,
            "num_digits": 2,
            "pre_seq_length": 5,
            "aft_seq_length": 5,
            "step_length": 0.1,
            "seed": 0,
            "train_digits": 1500,
        },
        task="video-prediction",
        title="Moving-MNIST rules (2 bouncing digits) on scikit-learn's 8x8 digits",
        description="Moving-MNIST rules (2 bouncing digits) on scikit-learn's 8x8 digits: (input [T_in,1,S,S], "
        "target [T_out,1,S,S]) in [0,1], seeded per sample (offline)",
    )
    register(
        "cifar10_dvs",
        cifar10_dvs,
        defaults={
            "split": "train",
            "frames": 10,
            "img_size": 48,
            "split_by": "number",
            "train_fraction": 0.9,
        },
        task="image-classification",
        title="CIFAR10-DVS",
        description="CIFAR10-DVS from a local folder (root=...; nothing is downloaded): [M,2,48,48] event "
        "frames, official LM-HT split (90/10 per class); batch with collate_fn (time first)",
    )


@hookimpl
def register_recipes(register: Any) -> None:
    register(
        "spiking_cnn_digits",
        {"dataset": "digits", "epochs": 40, "lr": 0.005, "batch_size": 64, "optimizer": "adamw", "seed": 0},
        models=("spiking_cnn",),
        paper=ZOO_CORE_PAPER,
        description="the demo weights spiking_cnn.digits_t4: AdamW, cosine, 40 epochs on the 8x8 digits",
        source="zoo_core/weights/spiking_cnn.digits_t4/config.json (training.command)",
        differences="the shipped weights were trained with ZOO_KERNELS=lif_multistep=reference; another LIF "
        "kernel rounds differently in float32, so a rerun lands close to, not exactly on, its accuracy",
    )


@hookimpl
def register_energy_conventions(register: Any) -> None:
    register(
        "zoo",
        count={"binary": "sops", "graded": "sops", "real": "macs", "analog": "macs"},
        e_mac_pj=4.6,
        e_sop_pj={"binary": 0.9, "graded": 0.9, "real": 0.9, "analog": 0.9},
        paper=ZOO_CORE_PAPER,
        description="the zoo's default: binary and graded spikes count SOPs (each non-zero input's exact "
        "fan-out, one event per graded spike), real values and analog inputs count dense MACs; "
        "E = 4.6 pJ x MACs + 0.9 pJ x SOPs; nothing left out",
        source="energies per operation: 32-bit float MAC 4.6 pJ, add 0.9 pJ, 45 nm CMOS (M. Horowitz, "
        "'Computing's energy problem', ISSCC 2014)",
    )
