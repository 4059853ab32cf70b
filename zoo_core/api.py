"""The public API: ``list_*``, ``create_*``, ``*_info`` per registry, plugins, and in-process registration."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from .info import (
    DatasetInfo,
    EntryInfo,
    KernelInfo,
    LearningRuleInfo,
    ModelInfo,
    NeuronInfo,
    PluginInfo,
    SurrogateInfo,
)
from .plugins import make_register, runtime

F = TypeVar("F", bound=Callable[..., Any])


def _reg(kind: str):  # type: ignore[no-untyped-def]
    return runtime().registries[kind]


def split_tag(name: str) -> tuple[str, str | None]:
    """``"spikingresformer_ti.imagenet_t4"`` -> ``("spikingresformer_ti", "imagenet_t4")``."""
    if not isinstance(name, str) or not name:
        raise TypeError(f"a model name must be a non-empty string, got {name!r}")
    base, _, tag = name.partition(".")
    return base, (tag or None)


# ----------------------------------------------------------------------------------------------- models
def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registered model names matching the fnmatch ``pattern``, sorted.

    With ``pretrained=True`` the list holds one ``name.tag`` per published weight set instead.
    """
    reg = _reg("model")
    if not pretrained:
        return reg.names(pattern)
    out = []
    for n in reg.names():
        for tag in reg.get(n).info.weights:
            full = f"{n}.{tag}"
            if _match(full, pattern) or _match(n, pattern):
                out.append(full)
    return sorted(out)


def _match(name: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(name, pattern)


def model_info(name: str) -> ModelInfo:
    """Metadata of a model (``name`` may carry a weight tag, which is ignored here)."""
    return _reg("model").get(split_tag(name)[0]).info  # type: ignore[return-value]


def model_config(name: str, **overrides: Any) -> dict[str, Any]:
    """The constructor arguments ``create_model(name, **overrides)`` would use: defaults, then tag, then overrides."""
    base, tag = split_tag(name)
    info = model_info(base)
    cfg = dict(info.defaults)
    if tag is not None:
        if tag not in info.weights:
            from .errors import UnknownNameError

            raise UnknownNameError(f"weight tag of {base}", tag, info.weight_tags)
        cfg.update(info.weights[tag].config)
    cfg.update(overrides)
    return cfg


def create_model(name: str, pretrained: bool = False, **overrides: Any) -> nn.Module:
    """Build a registered model.

    Args:
        name: ``family_variant``, optionally with a weight tag: ``"spiking_cnn.digits_t4"``.
        pretrained: load the weights of the tag (or of the model's only tag).
        **overrides: constructor arguments (``T``, ``num_classes``, ``in_chans``, ...) over the paper defaults.
    """
    base, tag = split_tag(name)
    entry = _reg("model").get(base)
    info: ModelInfo = entry.info  # type: ignore[assignment]
    if pretrained and tag is None:
        if len(info.weights) == 1:
            tag = next(iter(info.weights))
        elif not info.weights:
            raise ValueError(f"model {base!r} has no published weights; create it with pretrained=False")
        else:
            raise ValueError(
                f"model {base!r} has several weight sets; pick one: "
                + ", ".join(f"{base}.{t}" for t in info.weight_tags)
            )
    cfg = model_config(base if tag is None else f"{base}.{tag}", **overrides)
    _check_kwargs(entry.factory, cfg, f"model {base!r}")
    model = entry.factory(**cfg)
    model.zoo_name = base
    model.zoo_args = cfg
    if pretrained:
        from .weights import load_tag

        load_tag(model, base, tag)  # type: ignore[arg-type]
    return model


def signature_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """The keyword defaults of a model builder (tuples as lists, as they go to config.json).

    For registrations whose builder's defaults are the paper's main setting (timm-style builders, one per
    variant): ``register(name, builder, defaults=signature_defaults(builder), ...)`` states them once."""
    return {
        k: list(p.default) if isinstance(p.default, tuple) else p.default
        for k, p in inspect.signature(factory).parameters.items()
        if p.default is not p.empty and p.kind is not p.VAR_KEYWORD
    }


def _check_kwargs(factory: Callable[..., Any], kwargs: dict[str, Any], who: str) -> None:
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    unknown = sorted(set(kwargs) - set(sig.parameters))
    if unknown:
        raise TypeError(
            f"{who} does not accept {', '.join(unknown)}; its arguments are: "
            + ", ".join(p for p in sig.parameters if p != "self")
        )


def _create(kind: str, name: str, kwargs: dict[str, Any]) -> Any:
    entry = _reg(kind).get(name)
    cfg = {**entry.info.defaults, **kwargs}
    _check_kwargs(entry.factory, cfg, f"{kind.replace('_', ' ')} {name!r}")
    obj = entry.factory(**cfg)
    if isinstance(obj, nn.Module):
        obj.zoo_name = name
        obj.zoo_args = cfg
    return obj


# ----------------------------------------------------------------------------------------------- neurons etc.
def list_neurons(pattern: str = "*") -> list[str]:
    """Registered neuron names matching ``pattern``, sorted."""
    return _reg("neuron").names(pattern)


def create_neuron(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered neuron; ``kwargs`` override the paper defaults."""
    return _create("neuron", name, kwargs)


def neuron_info(name: str) -> NeuronInfo:
    return _reg("neuron").get(name).info  # type: ignore[return-value]


def list_surrogates(pattern: str = "*") -> list[str]:
    return _reg("surrogate").names(pattern)


def create_surrogate(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered surrogate spike function, e.g. ``create_surrogate("atan", alpha=2.0)``."""
    return _create("surrogate", name, kwargs)


def surrogate_info(name: str) -> SurrogateInfo:
    return _reg("surrogate").get(name).info  # type: ignore[return-value]


def list_learning_rules(pattern: str = "*") -> list[str]:
    return _reg("learning_rule").names(pattern)


def create_learning_rule(name: str, **kwargs: Any) -> Any:
    """Build a registered learning rule (see :mod:`zoo_core.learning`)."""
    return _create("learning_rule", name, kwargs)


def learning_rule_info(name: str) -> LearningRuleInfo:
    return _reg("learning_rule").get(name).info  # type: ignore[return-value]


def list_kernels(pattern: str = "*") -> list[str]:
    """Registered kernel implementations, named ``op:impl``."""
    return _reg("kernel").names(pattern)


def kernel_info(name: str) -> KernelInfo:
    return _reg("kernel").get(name).info  # type: ignore[return-value]


def list_datasets(pattern: str = "*") -> list[str]:
    return _reg("dataset").names(pattern)


def create_dataset(name: str, **kwargs: Any) -> Any:
    """Build a registered dataset, e.g. ``create_dataset("digits", split="train")``."""
    return _create("dataset", name, kwargs)


def dataset_info(name: str) -> DatasetInfo:
    return _reg("dataset").get(name).info  # type: ignore[return-value]


def entry_info(kind: str, name: str) -> EntryInfo:
    """Metadata of any registry entry."""
    return _reg(kind).get(name).info


def list_plugins() -> list[PluginInfo]:
    """Every discovered plugin (the core itself first) with its version and status."""
    rt = runtime()
    return sorted(rt.plugins.values(), key=lambda p: (p.name != "zoo_core", p.name))


# ----------------------------------------------------------------------------------------------- in-process
def _caller_module(depth: int = 2) -> str:
    frame = sys._getframe(depth)  # inspect.stack() would read every frame's source: slow
    return frame.f_globals.get("__name__", "__main__")


def _decorator(kind: str, name: str | None, meta: dict[str, Any], owner: str | None) -> Callable[[F], F]:
    who = owner or _caller_module(3)

    def deco(factory: F) -> F:
        reg_name = name or getattr(factory, "__name__", "").lower()
        make_register(runtime().registries, kind, who)(reg_name, factory, **meta)
        return factory

    return deco


def register_model(name: str | None = None, *, owner: str | None = None, **meta: Any) -> Callable[[F], F]:
    """Decorator: register a model factory in-process (owner: the calling module)."""
    return _decorator("model", name, meta, owner)


def register_neuron(name: str | None = None, *, owner: str | None = None, **meta: Any) -> Callable[[F], F]:
    """Decorator: register a neuron class in-process, e.g. to try it in a notebook before packaging it."""
    return _decorator("neuron", name, meta, owner)


def register_surrogate(name: str | None = None, *, owner: str | None = None, **meta: Any) -> Callable[[F], F]:
    return _decorator("surrogate", name, meta, owner)


def register_learning_rule(
    name: str | None = None, *, owner: str | None = None, **meta: Any
) -> Callable[[F], F]:
    return _decorator("learning_rule", name, meta, owner)


def register_dataset(name: str | None = None, *, owner: str | None = None, **meta: Any) -> Callable[[F], F]:
    return _decorator("dataset", name, meta, owner)


def register_kernel(
    op: str, impl: str, fn: Callable[..., Any], *, owner: str | None = None, **kw: Any
) -> Any:
    """Register a kernel implementation in-process (see :mod:`zoo_core.kernels`)."""
    return make_register(runtime().registries, "kernel", owner or _caller_module())(op, impl, fn, **kw)


def unregister(kind: str, name: str) -> None:
    """Remove an entry (for notebooks and tests)."""
    runtime().registries[kind].remove(name)


# ----------------------------------------------------------------------------------------------- official weights
def from_official(name: str, state_dict: dict[str, Any]) -> dict[str, Any]:
    """Map an official checkpoint's state dict to this zoo's layout for model ``name``.

    A wrapping dict (``{"model": ...}``, ``{"state_dict": ...}``) and a DDP ``module.`` prefix are removed
    first; then the model's registered ``from_official`` mapping runs (identity where the layouts agree).
    Raises a clear error if the model's plugin registered no mapping.
    """
    from .weights import unwrap_state_dict

    base, _ = split_tag(name)
    entry = _reg("model").get(base)
    fn = entry.hooks.get("from_official")
    if fn is None:
        raise ValueError(
            f"model {base!r} has no official-checkpoint mapping (its plugin registers none); "
            "load a zoo weight folder with zoo.load_pretrained instead"
        )
    return fn(unwrap_state_dict(state_dict))


def official_config(name: str, state_dict: dict[str, Any]) -> dict[str, Any]:
    """Constructor overrides implied by an official state dict (e.g. ``num_classes``), or ``{}``."""
    base, _ = split_tag(name)
    fn = _reg("model").get(base).hooks.get("official_config")
    return dict(fn(state_dict)) if fn is not None else {}
