"""zoo-core: a model zoo for spiking neural networks and neuromorphic vision.

>>> import zoo_core as zoo
>>> zoo.list_models("spiking_cnn*")
['spiking_cnn']
>>> model = zoo.create_model("spiking_cnn", T=4)

Importing this package is cheap: torch, the registries and the plugins load on first use of the API. The
public names below resolve lazily to the modules that define them (the README's architecture section shows
the layers); plugin authors import :mod:`zoo_core.sdk` besides this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

_API = (
    "list_models",
    "create_model",
    "model_info",
    "model_config",
    "split_tag",
    "signature_defaults",
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
    "list_tasks",
    "task_info",
    "get_task",
    "list_recipes",
    "recipe_info",
    "list_energy_conventions",
    "energy_convention_info",
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
    "register_task",
    "register_recipe",
    "register_energy_convention",
    "unregister",
    "save_pretrained",
    "load_pretrained",
    "push_to_hub",
)
_ERRORS = (
    "ZooError",
    "UnknownNameError",
    "RegistrationConflictError",
    "PluginError",
    "InputError",
    "ConfigError",
    "WeightsError",
)
_INFO = (
    "ModelInfo",
    "NeuronInfo",
    "PluginInfo",
    "TaskInfo",
    "RecipeInfo",
    "EnergyConventionInfo",
    "Paper",
    "IOSpec",
    "TensorSpec",
    "WeightInfo",
    "Metric",
)

# public name -> submodule that defines it (PEP 562 lazy attributes keep `import zoo_core` fast)
_LAZY = {
    **dict.fromkeys(_API, "api"),
    **dict.fromkeys(("reset", "streaming", "detach_state", "BaseNeuron"), "neurons.base"),
    **dict.fromkeys(("profile", "profile_conventions", "Profile", "register_counting_rule"), "profiling"),
    **dict.fromkeys(_INFO, "info"),
    **dict.fromkeys(_ERRORS, "errors"),
    **dict.fromkeys(("register_with_timm",), "timm_interop"),
    **dict.fromkeys(("hookimpl", "API_VERSION", "reload_plugins", "ZooPluginWarning"), "plugins"),
}
_SUBMODULES = {
    "api",
    "checks",
    "cli",
    "data",
    "errors",
    "hub",
    "info",
    "kernels",
    "layers",
    "learning",
    "models",
    "neurons",
    "plugins",
    "profiling",
    "registry",
    "sdk",
    "tasks",
    "testing",
    "timm_interop",
    "viz",
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
    from .info import (  # noqa: F401
        IOSpec,
        Metric,
        ModelInfo,
        NeuronInfo,
        Paper,
        PluginInfo,
        TaskInfo,
        TensorSpec,
        WeightInfo,
    )
    from .neurons.base import BaseNeuron, detach_state, reset, streaming  # noqa: F401
    from .plugins import API_VERSION, ZooPluginWarning, hookimpl, reload_plugins  # noqa: F401
    from .profiling import Profile, profile, register_counting_rule  # noqa: F401
    from .timm_interop import register_with_timm  # noqa: F401
