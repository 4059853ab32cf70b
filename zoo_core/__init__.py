"""zoo-core: a model zoo for spiking neural networks and neuromorphic vision.

>>> import zoo_core as zoo
>>> zoo.list_models("spiking_*")
['spiking_cnn']
>>> model = zoo.create_model("spiking_cnn", T=4)

Importing this package is cheap: torch, the registries and the plugins load on first use of the API.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> submodule that defines it (PEP 562 lazy attributes keep `import zoo_core` fast)
_LAZY = {
    **{
        n: "api"
        for n in (
            "list_models",
            "create_model",
            "model_info",
            "model_config",
            "split_tag",
            "list_neurons",
            "create_neuron",
            "neuron_info",
            "list_surrogates",
            "create_surrogate",
            "surrogate_info",
            "list_learning_rules",
            "create_learning_rule",
            "learning_rule_info",
            "list_kernels",
            "kernel_info",
            "list_datasets",
            "create_dataset",
            "dataset_info",
            "entry_info",
            "from_official",
            "official_config",
            "list_plugins",
            "register_model",
            "register_neuron",
            "register_surrogate",
            "register_learning_rule",
            "register_dataset",
            "register_kernel",
            "unregister",
        )
    },
    **{n: "neurons.base" for n in ("reset", "streaming", "detach_state", "BaseNeuron")},
    **{n: "profiling" for n in ("profile", "Profile", "register_counting_rule")},
    **{
        n: "info"
        for n in ("ModelInfo", "NeuronInfo", "PluginInfo", "Paper", "IOSpec", "TensorSpec", "WeightInfo")
    },
    **{n: "weights" for n in ("save_pretrained", "load_pretrained", "WeightsError")},
    **{n: "hub" for n in ("push_to_hub",)},
    **{n: "timm_interop" for n in ("register_with_timm",)},
    **{n: "plugins" for n in ("hookimpl", "API_VERSION", "reload_plugins", "ZooPluginWarning")},
    **{
        n: "errors"
        for n in (
            "ZooError",
            "UnknownNameError",
            "RegistrationConflictError",
            "PluginError",
            "InputError",
            "ConfigError",
        )
    },
}
_SUBMODULES = {
    "api",
    "timm_interop",
    "cards",
    "hub",
    "weights",
    "cli",
    "datasets",
    "errors",
    "info",
    "kernels",
    "layers",
    "learning",
    "models",
    "neurons",
    "plugins",
    "profiling",
    "registry",
    "testing",
}

__all__ = [*sorted(_LAZY), "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'zoo_core' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .api import *  # noqa: F403
    from .errors import *  # noqa: F403
    from .info import IOSpec, ModelInfo, NeuronInfo, Paper, PluginInfo, TensorSpec, WeightInfo  # noqa: F401
    from .neurons.base import BaseNeuron, detach_state, reset, streaming  # noqa: F401
    from .plugins import API_VERSION, ZooPluginWarning, hookimpl, reload_plugins  # noqa: F401
    from .profiling import Profile, profile, register_counting_rule  # noqa: F401
