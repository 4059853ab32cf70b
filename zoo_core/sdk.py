"""The plugin SDK: the one module a plugin imports besides ``zoo_core`` itself.

A paper's plugin builds on what is collected here, so it never reaches into the core's internal modules (whose
layout may change) and never repeats what the core already has:

* the hook marker and API version (:data:`hookimpl`, :data:`API_VERSION`), errors and metadata classes;
* validators that raise :class:`ConfigError` (:func:`check_time_steps`, :func:`check_positive_int`, ...);
* neurons (:class:`BaseNeuron`, IF/LIF/PLIF, the conversion IF), layers (:class:`StepWise`, QCFS, module
  surgery), the classifier base (:class:`SpikingClassifier`) and the QCFS backbones;
* learning-rule contracts, kernels dispatch, profiling counters, tasks and the training loop, attacks;
* preprocessing presets defined once (:func:`preprocessing`), families registered from a table of variants
  (:class:`Variant`, :func:`register_variants`), and the demo-card helper (:func:`write_demo_card`).
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from .api import create_dataset, dataset_info, save_pretrained, signature_defaults
from .checks import (
    check_choice,
    check_finite,
    check_number,
    check_positive,
    check_positive_int,
    check_time_steps,
)
from .data import CIFAR10_DVS_CLASSES, collate_time_first
from .errors import ConfigError, InputError, WeightsError, ZooError
from .hub import parameter_counts, read_config, resolve_source, sha256_file, unwrap_state_dict
from .info import IOSpec, Metric, Paper, TensorSpec, WeightInfo
from .kernels import dispatch
from .layers import (
    QCFS,
    STATELESS_LAYERS,
    SeqStepWise,
    StepWise,
    encode_image_input,
    find_qcfs,
    floor_ste,
    is_qcfs,
    qcfs_threshold,
    replace_modules,
    wrap_stepwise,
)
from .learning import BPTT, ConversionRule, LearningRule, TrainingRule, class_indices
from .memory import LiveOutputMeter, SavedTensorMeter, measure_saved
from .models.base import SpikingClassifier
from .models.qcfs import (
    VGG13_CFG,
    VGG16_CFG,
    QCFSBasicBlock,
    init_qcfs_vgg,
    qcfs_resnet_stages,
    qcfs_vgg_groups,
    scaled_width,
)
from .neurons import (
    IF,
    LIF,
    PLIF,
    BaseNeuron,
    ConversionIF,
    ConversionNeuron,
    State,
    Surrogate,
    check_sequence,
    fold_time,
    reset,
    resolve_surrogate,
    streaming,
    unfold_time,
)
from .neurons.conversion import QCFS_PAPER, check_conversion_input
from .plugins import API_VERSION, hookimpl
from .profiling import conv_fanout, conventions_for, count_synaptic, dense_macs, linear_fanout
from .tasks import TRAIN_BASICS, Task, TrainConfig, accuracy, cast_model, evaluate, fit, train
from .tasks.attacks import check_eps, fgsm, gradient_settings, pgd, robust_accuracy
from .tasks.base import CARD_DTYPE, card_evaluation
from .tasks.classification import card_profile
from .tasks.training import recipe_command

__all__ = [
    "API_VERSION",
    "BPTT",
    "CIFAR10_DVS_CLASSES",
    "IF",
    "LIF",
    "PLIF",
    "PRESETS",
    "QCFS",
    "QCFS_PAPER",
    "STATELESS_LAYERS",
    "TRAIN_BASICS",
    "VGG13_CFG",
    "VGG16_CFG",
    "BaseNeuron",
    "ConfigError",
    "ConversionIF",
    "ConversionNeuron",
    "ConversionRule",
    "IOSpec",
    "InputError",
    "LearningRule",
    "LiveOutputMeter",
    "Metric",
    "Paper",
    "QCFSBasicBlock",
    "SavedTensorMeter",
    "SeqStepWise",
    "SpikingClassifier",
    "State",
    "StepWise",
    "Surrogate",
    "Task",
    "TensorSpec",
    "TrainConfig",
    "TrainingRule",
    "Variant",
    "WeightInfo",
    "WeightsError",
    "ZooError",
    "accuracy",
    "card_profile",
    "cast_model",
    "check_choice",
    "check_conversion_input",
    "check_eps",
    "check_finite",
    "check_number",
    "check_positive",
    "check_positive_int",
    "check_sequence",
    "check_time_steps",
    "class_indices",
    "collate_time_first",
    "conv_fanout",
    "conventions_for",
    "count_synaptic",
    "dense_macs",
    "dispatch",
    "encode_image_input",
    "evaluate",
    "fgsm",
    "find_qcfs",
    "fit",
    "floor_ste",
    "fold_time",
    "gradient_settings",
    "hookimpl",
    "init_qcfs_vgg",
    "is_qcfs",
    "linear_fanout",
    "measure_saved",
    "parameter_counts",
    "pgd",
    "preprocessing",
    "qcfs_resnet_stages",
    "qcfs_threshold",
    "qcfs_vgg_groups",
    "read_config",
    "recipe_command",
    "register_variants",
    "replace_modules",
    "reset",
    "resolve_source",
    "resolve_surrogate",
    "robust_accuracy",
    "scaled_width",
    "sha256_file",
    "signature_defaults",
    "streaming",
    "train",
    "unfold_time",
    "unwrap_state_dict",
    "wrap_stepwise",
    "write_demo_card",
]


# ------------------------------------------------------------------------------------------------ presets
_RGB = "RGB in [0, 1], normalised per channel"
#: how raw data becomes a model's input, per data set (recorded in ``config.json``; each from the official code
#: that trains on it: CIFAR-10 and ImageNet as in every paper here, CIFAR-100 as QCFS, LM-HT, EM-PF, Parallel
#: Conversion and SpikingResformer normalise it, Tiny-ImageNet as LM-HT's ImageNet-200)
PRESETS: dict[str, dict[str, Any]] = {
    "cifar10": {
        "input": f"[B, 3, 32, 32] {_RGB}",
        "mean": [0.4914, 0.4822, 0.4465],
        "std": [0.2023, 0.1994, 0.2010],
    },
    "cifar100": {
        "input": f"[B, 3, 32, 32] {_RGB}",
        "mean": [129.3 / 255, 124.1 / 255, 112.4 / 255],
        "std": [68.2 / 255, 65.4 / 255, 70.4 / 255],
    },
    "imagenet": {
        "input": f"[B, 3, 224, 224] {_RGB} (resize 256, centre crop 224)",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "resize": 256,
        "crop": 224,
        "interpolation": "bilinear",
    },
    "tiny_imagenet": {
        "input": f"[B, 3, 64, 64] {_RGB}",
        "mean": [0.480, 0.448, 0.398],
        "std": [0.272, 0.266, 0.274],
    },
    "unit": {"input": "[B, C, H, W] floats in [0, 1]"},
    "digits": {"input": "[B, 1, 8, 8] floats in [0, 1] (digits: pixel value / 16)"},
}


def preprocessing(preset: str, **overrides: Any) -> dict[str, Any]:
    """A copy of the preset ``preset`` (:data:`PRESETS`) with ``overrides`` (e.g. another ``input`` text)."""
    if preset not in PRESETS:
        raise ConfigError(f"unknown preprocessing preset {preset!r}; presets: {', '.join(PRESETS)}")
    return {**json.loads(json.dumps(PRESETS[preset])), **overrides}


# ------------------------------------------------------------------------------------------------ families
@dataclass(frozen=True)
class Variant:
    """One registered model of a family: the constructor arguments that make it, over the class's defaults.

    Args:
        args: constructor arguments of the variant (e.g. ``{"blocks": [2, 2, 2, 2]}``).
        description: one line for ``zoo list`` / ``zoo info``.
        preprocessing: how raw data becomes its input (:func:`preprocessing`).
        test_config: overrides that make a CPU-sized instance for the conformance kit.
        meta: any other registration metadata (``weights``, ``from_official``, ``io``, ...).
    """

    args: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    preprocessing: Mapping[str, Any] = field(default_factory=dict)
    test_config: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)


def register_variants(
    register: Callable[..., Any], cls: type, variants: Mapping[str, Variant], **common: Any
) -> None:
    """Register a family the timm way: one class with keyword-only constructor arguments and a table of
    variants. Each variant is registered under its name with ``cls`` as the factory and, as defaults, the
    class's keyword defaults updated by the variant's ``args`` (stated once, in the class). ``common`` holds
    metadata every variant shares (``paper``, ``family``, ``task``, hooks)."""
    base = signature_defaults(cls)
    for name, v in variants.items():
        unknown = sorted(set(v.args) - set(base))
        if unknown:
            raise ConfigError(
                f"variant {name!r} of {cls.__name__}: {', '.join(unknown)} are not its arguments"
            )
        defaults = {**base, **{k: list(a) if isinstance(a, tuple) else a for k, a in v.args.items()}}
        meta = {**common, **v.meta}
        if v.preprocessing:
            meta["preprocessing"] = dict(v.preprocessing)
        if v.test_config:
            meta["test_config"] = dict(v.test_config)
        register(name, cls, defaults=defaults, description=v.description, **meta)


# ------------------------------------------------------------------------------------------------ demo cards
def write_demo_card(
    model: nn.Module,
    out: str | Path,
    *,
    tag: str,
    dataset: str,
    seed: int,
    learning_rule: str,
    optimizer: str,
    seconds: float,
    epochs: int | None = None,
    metrics: Mapping[str, float] | None = None,
    spikes: str = "auto",
    notes: str = "",
    split: str | None = None,
    script: str | None = None,
    argv: Sequence[str] | None = None,
    dtype: str = CARD_DTYPE,
) -> dict[str, Any]:
    """Measure a demo model on the test split of ``dataset`` and write its weight folder with the card.

    The card's accuracy and profile (firing rate, SOPs, MACs, energy; ``spikes`` as for ``zoo eval``) are
    measured in ``dtype`` (float64 by default, so the card holds on any CPU) and the folder records how
    (``evaluation``: the precision and the ``zoo eval`` command that reproduces them). ``metrics`` adds the
    numbers measured beside the model (baselines, ablations). The training record names the command that made
    the weights (``script`` and ``argv``, default: the running script and its arguments). Prints and returns
    what the plugin registers (``{"metrics", "sha256"}``).
    """
    test = create_dataset(dataset, split="test", seed=seed)
    also = conventions_for(getattr(model, "zoo_name", None))
    report = evaluate(model, test, progress=False, spikes=spikes, dtype=dtype, also_energy=also)
    measured = {"accuracy": report["accuracy"], **dict(metrics or {})}
    argv = list(sys.argv[1:] if argv is None else argv)
    command = f"python {script or sys.argv[0]} " + " ".join(shlex.quote(a) for a in argv)
    info = dataset_info(dataset)
    training: dict[str, Any] = {
        "command": command.strip(),
        "dataset": dataset,
        "split": split or f"{info.description}, seed {seed}",
        "seed": seed,
        "learning_rule": learning_rule,
    }
    if epochs is not None:
        training["epochs"] = epochs
    training.update(
        optimizer=optimizer,
        eval_split="test",
        dataset_name=info.title or dataset,
        seconds=round(seconds, 1),
    )
    if notes:
        training["notes"] = notes
    extra = {
        "metrics": measured,
        "profile": card_profile(report),
        "evaluation": {**card_evaluation(model, tag, spikes), "dtype": dtype},
        "training": training,
    }
    folder = save_pretrained(model, out, tag=tag, extra_config=extra)
    record = {"metrics": measured, "sha256": read_config(folder)["files"]}
    print(json.dumps(record, indent=1))
    return record
