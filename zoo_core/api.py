"""The public API (``import zoo_core as zoo``): list, create and describe registered components; load, save and
publish weights; register components in-process.

This is the top of the library: it may use every layer below (registry, building blocks, data, hub, tasks);
nothing below imports it. The command line (:mod:`zoo_core.cli`) calls it.
"""

from __future__ import annotations

import fnmatch
import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from .data.preprocessing import attach_pretrained_cfg
from .errors import ConfigError, WeightsError, ZooError
from .hub import (
    CONFIG_NAME,
    PACKAGE_SCHEME,
    WEIGHTS_NAME,
    WeightFolder,
    check_folder,
    check_layout,
    check_repo_id,
    is_source,
    load_state_dict_checked,
    read_folder,
    resolve_source,
    save_pretrained,
    staged_for_repo,
    unwrap_state_dict,
    upload_folder,
)
from .info import (
    DatasetInfo,
    EnergyConventionInfo,
    EntryInfo,
    KernelInfo,
    LearningRuleInfo,
    ModelInfo,
    NeuronInfo,
    PluginInfo,
    RecipeInfo,
    SurrogateInfo,
    TaskInfo,
)
from .kernels import implementations
from .layers import spike_aware as spike_aware_layers
from .plugins import create, entry, make_register, model_config, registration_owner, runtime, split_tag
from .profiling import DEFAULT_ENERGY, conventions_for
from .tasks import Task, get_task

F = TypeVar("F", bound=Callable[..., Any])
#: a model name with one of these prefixes is a weight source, not a registered name
SOURCE_SCHEMES = ("hf://", PACKAGE_SCHEME)

__all__ = [
    "create_dataset",
    "create_learning_rule",
    "create_model",
    "create_neuron",
    "create_surrogate",
    "dataset_info",
    "energy_convention_info",
    "entry_info",
    "from_official",
    "get_task",
    "kernel_info",
    "learning_rule_info",
    "list_datasets",
    "list_energy_conventions",
    "list_kernels",
    "list_learning_rules",
    "list_models",
    "list_neurons",
    "list_plugins",
    "list_recipes",
    "list_surrogates",
    "list_tasks",
    "load_pretrained",
    "model_config",
    "model_info",
    "neuron_info",
    "official_config",
    "push_to_hub",
    "recipe_info",
    "register_dataset",
    "register_energy_convention",
    "register_kernel",
    "register_learning_rule",
    "register_model",
    "register_neuron",
    "register_recipe",
    "register_surrogate",
    "register_task",
    "save_pretrained",
    "signature_defaults",
    "split_tag",
    "surrogate_info",
    "task_info",
    "unregister",
]


def _reg(kind: str) -> Any:
    return runtime().registries[kind]


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
            if fnmatch.fnmatchcase(full, pattern) or fnmatch.fnmatchcase(n, pattern):
                out.append(full)
    return sorted(out)


def model_info(name: str) -> ModelInfo:
    """Metadata of a model (``name`` may carry a weight tag, which is ignored here)."""
    return entry("model", split_tag(name)[0]).info  # type: ignore[return-value]


def create_model(
    name: str, pretrained: bool | str = False, *, timeout: float | None = None, **overrides: Any
) -> nn.Module:
    """Build a registered model, or the model a weight source holds.

    Args:
        name: ``family_variant``, optionally with a weight tag (``"spiking_cnn.digits_t4"``); or a weight source
            with a scheme (``"hf://owner/repo[@revision]"``, ``"package://<package>/<folder>"``): the model its
            ``config.json`` names, built from its arguments and loaded with its weights.
        pretrained: ``False``; ``True`` for the weights of the tag (or of the model's only tag), checksum
            verified; a tag (``"digits_t4"``); or a source (a folder, ``hf://...``, ``package://...``) whose
            weights to load, exactly that source (it must hold weights of this model).
        timeout: seconds the Hub may stay silent while weights download (default ``$ZOO_HUB_TIMEOUT``, else 10).
        **overrides: constructor arguments (``T``, ``num_classes``, ``in_chans``, ...) over the paper defaults
            (or over the source's arguments). ``kernel="compiled"`` (or ``"reference"``, ``"triton"``, any
            implementation name of ``zoo.list_kernels()``) is not a constructor argument: after building, it is
            set on every module of the model that dispatches a kernel operation with an implementation of that
            name (e.g. every IF/LIF/PLIF neuron for ``lif_multistep``); a name no module can use is an error.
            ``spike_aware=True`` (or ``"auto"``; ``"lut"`` / ``"gather"`` / ``"dense"`` to force one) is not a
            constructor argument either: after building (and loading weights), the model's eligible convs and
            linears dispatch to the spike-aware kernels (:func:`set_model_spike_aware`); it composes with
            ``kernel``. A builder whose own signature has ``kernel`` / ``spike_aware`` gets them unchanged.
    """
    kernel = None if _builder_takes(name, "kernel") else overrides.pop("kernel", None)
    spike = None if _builder_takes(name, "spike_aware") else overrides.pop("spike_aware", None)
    spike_off = spike is None or spike is False
    if not spike_off:
        _spike_kernel(spike)  # a bad value fails before anything is built or downloaded
    if kernel is not None or not spike_off:
        model = create_model(name, pretrained, timeout=timeout, **overrides)
        if kernel is not None:
            set_model_kernel(model, kernel, name)
        return model if spike_off else set_model_spike_aware(model, spike, name)
    if isinstance(name, str) and name.startswith(SOURCE_SCHEMES):
        if pretrained not in (False, True):
            raise ConfigError(f"{name!r} is already a weight source; pass pretrained=True or leave it out")
        return load_pretrained(None, name, timeout=timeout, **overrides)
    base, tag = split_tag(name)
    info = model_info(base)
    if isinstance(pretrained, str):
        if pretrained in info.weights and tag in (None, pretrained):
            tag, pretrained = pretrained, True
        elif is_source(pretrained):
            if tag is not None:
                raise ConfigError(
                    f"{name!r} names the weight tag {tag!r} and pretrained names {pretrained!r}: pick one"
                )
            return load_pretrained(base, pretrained, timeout=timeout, **overrides)
        else:
            raise ConfigError(
                f"pretrained={pretrained!r} is neither a weight tag of {base!r} "
                f"({', '.join(info.weight_tags) or 'none published'}) nor a source (an existing folder, "
                "'hf://owner/repo[@revision]' or 'package://<package>/<folder>')"
            )
    if pretrained is not True and pretrained is not False:
        raise ConfigError(f"pretrained must be a bool, a weight tag or a source, got {pretrained!r}")
    if pretrained and tag is None:
        if len(info.weights) == 1:
            tag = next(iter(info.weights))
        elif not info.weights:
            raise ConfigError(f"model {base!r} has no published weights; create it with pretrained=False")
        else:
            raise ConfigError(
                f"model {base!r} has several weight sets; pick one: "
                + ", ".join(f"{base}.{t}" for t in info.weight_tags)
            )
    model = create("model", base, **model_config(base if tag is None else f"{base}.{tag}", **overrides))
    if pretrained:
        w = info.weights[tag]  # type: ignore[index]
        load_pretrained(
            model, w.source, revision=w.revision, expected_sha256=w.sha256 or None, timeout=timeout
        )
    return attach_pretrained_cfg(model, tag if pretrained else None)  # timm's data config of the model


def _builder_takes(name: str, arg: str) -> bool:
    """Whether a registered model's own builder has the argument ``arg`` (``kernel``, ``spike_aware``; then it
    gets it unchanged)."""
    if not isinstance(name, str) or name.startswith(SOURCE_SCHEMES):
        return False
    return arg in model_info(split_tag(name)[0]).defaults


def set_model_kernel(model: nn.Module, kernel: str, name: str = "the model") -> nn.Module:
    """Set ``module.kernel = kernel`` on every module of ``model`` that declares ``kernel_ops`` (the kernel
    operations it dispatches, e.g. ``("lif_multistep",)``) of which ``kernel`` is an implementation.

    Raises :class:`ConfigError` naming the valid choices when ``kernel`` is not a string, when no module of the
    model dispatches a kernel operation, or when none of its operations has an implementation ``kernel``.
    """
    if not isinstance(kernel, str) or not kernel:
        raise ConfigError(f"kernel must be an implementation name (a string), got {kernel!r}")
    modules = [m for m in model.modules() if getattr(type(m), "kernel_ops", None) and hasattr(m, "kernel")]
    ops = sorted({op for m in modules for op in type(m).kernel_ops})
    if not ops:
        raise ConfigError(
            f"kernel={kernel!r}: {name} has no module that dispatches a kernel operation (its neurons run their "
            "own code), so there is no kernel to choose; leave kernel out"
        )
    choices = {op: sorted(implementations(op)) for op in ops}
    usable = {op for op, impls in choices.items() if kernel in impls}
    if not usable:
        listed = "; ".join(f"{op}: {', '.join(impls)}" for op, impls in choices.items())
        raise ConfigError(
            f"kernel={kernel!r} is not an implementation of {name}'s kernel operations ({listed})"
        )
    for m in modules:
        if usable.intersection(type(m).kernel_ops):
            m.kernel = kernel
    return model


#: the ``spike_aware=`` values that force one implementation (``True`` / ``"auto"``: automatic selection)
SPIKE_AWARE_FORCED = ("lut", "gather", "dense")


def _spike_kernel(value: object) -> str | None:
    """The ``kernel`` of :func:`zoo_core.layers.spike_aware` for a ``spike_aware=`` value other than ``False``
    (``None``: automatic selection)."""
    if value is True or (isinstance(value, str) and value == "auto"):
        return None
    if isinstance(value, str) and value in SPIKE_AWARE_FORCED:
        return value
    raise ConfigError(
        f"spike_aware must be True, 'auto', 'lut', 'gather' or 'dense' (or False: off), got {value!r}"
    )


def set_model_spike_aware(
    model: nn.Module, spike_aware: bool | str = True, name: str = "the model"
) -> nn.Module:
    """Route ``model``'s eligible convs and linears through ``spike_conv2d`` / ``spike_linear``, in place
    (:func:`zoo_core.layers.spike_aware`: same modules, parameters and state dict).

    ``spike_aware``: ``True`` or ``"auto"`` lets each call choose (an alternate only under ``no_grad``, on the
    shapes and firing rates where it measured faster than dense); ``"lut"`` / ``"gather"`` force that alternate
    wherever it can run; ``"dense"`` the reference; ``False`` changes nothing. Each layer still computes
    ``y = x W^T + b``, so the outputs equal the dense model's within float rounding (the alternates sum the same
    products in another order; bit for bit where every call runs dense).
    Raises :class:`ConfigError` for another value, or when the model has no eligible layer (eligible: 1x1 convs
    and ``k x k`` patch convs with stride ``k``, no padding, one group, ``8 | C k^2``; linears with
    ``8 | in_features``).
    """
    if spike_aware is False:
        return model
    kernel = _spike_kernel(spike_aware)
    if not spike_aware_layers(model, kernel=kernel):
        raise ConfigError(
            f"spike_aware={spike_aware!r}: {name} has no layer the spike-aware kernels can run (eligible: "
            "1x1 convs and k x k convs with stride k, no padding, one group, and linears, with input channels x kernel "
            "area a multiple of 8); leave spike_aware out"
        )
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


# ----------------------------------------------------------------------------------------------- other kinds
def list_neurons(pattern: str = "*") -> list[str]:
    """Registered neuron names matching ``pattern``, sorted."""
    return _reg("neuron").names(pattern)


def create_neuron(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered neuron; ``kwargs`` override the paper defaults."""
    return create("neuron", name, **kwargs)  # type: ignore[no-any-return]


def neuron_info(name: str) -> NeuronInfo:
    return entry("neuron", name).info  # type: ignore[return-value]


def list_surrogates(pattern: str = "*") -> list[str]:
    return _reg("surrogate").names(pattern)


def create_surrogate(name: str, **kwargs: Any) -> nn.Module:
    """Build a registered surrogate spike function, e.g. ``create_surrogate("atan", alpha=2.0)``."""
    return create("surrogate", name, **kwargs)  # type: ignore[no-any-return]


def surrogate_info(name: str) -> SurrogateInfo:
    return entry("surrogate", name).info  # type: ignore[return-value]


def list_learning_rules(pattern: str = "*") -> list[str]:
    return _reg("learning_rule").names(pattern)


def create_learning_rule(name: str, **kwargs: Any) -> Any:
    """Build a registered learning rule (see :mod:`zoo_core.learning`)."""
    return create("learning_rule", name, **kwargs)


def learning_rule_info(name: str) -> LearningRuleInfo:
    return entry("learning_rule", name).info  # type: ignore[return-value]


def list_kernels(pattern: str = "*") -> list[str]:
    """Registered kernel implementations, named ``op:impl``."""
    return _reg("kernel").names(pattern)


def kernel_info(name: str) -> KernelInfo:
    return entry("kernel", name).info  # type: ignore[return-value]


def list_datasets(pattern: str = "*") -> list[str]:
    return _reg("dataset").names(pattern)


def create_dataset(name: str, **kwargs: Any) -> Any:
    """Build a registered dataset, e.g. ``create_dataset("digits", split="train")``."""
    return create("dataset", name, **kwargs)


def dataset_info(name: str) -> DatasetInfo:
    return entry("dataset", name).info  # type: ignore[return-value]


def list_tasks(pattern: str = "*") -> list[str]:
    """Registered tasks (``image-classification``, ``video-prediction``, a plugin's)."""
    return _reg("task").names(pattern)


def task_info(name: str) -> TaskInfo:
    """A task's I/O spec and metrics (name, direction, definition)."""
    return entry("task", name).info  # type: ignore[return-value]


def entry_info(kind: str, name: str) -> EntryInfo:
    """Metadata of any registry entry."""
    return entry(kind, name).info


def list_plugins() -> list[PluginInfo]:
    """Every discovered plugin (the core itself first) with its version and status."""
    rt = runtime()
    return sorted(rt.plugins.values(), key=lambda p: (p.name != "zoo_core", p.name))


# ----------------------------------------------------------------------------------------------- in-process
def _caller_module(depth: int = 2) -> str:
    frame = sys._getframe(depth)  # inspect.stack() would read every frame's source: slow
    return frame.f_globals.get("__name__", "__main__")


def _decorator(kind: str, name: str | None, meta: dict[str, Any], owner: str | None) -> Callable[[F], F]:
    who = owner or registration_owner(_caller_module(3))

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


def list_recipes(pattern: str = "*", model: str | None = None) -> list[str]:
    """Registered training recipes (``zoo train MODEL --recipe NAME``); ``model``: only those made for it."""
    names = _reg("recipe").names(pattern)
    if model is None:
        return names  # type: ignore[no-any-return]
    base = split_tag(model)[0]
    return [n for n in names if any(fnmatch.fnmatchcase(base, p) for p in recipe_info(n).models)]


def recipe_info(name: str) -> RecipeInfo:
    """A recipe's settings, the models it is for, its source and its differences from the paper's run."""
    return entry("recipe", name).info  # type: ignore[return-value]


def list_energy_conventions(pattern: str = "*", model: str | None = None) -> list[str]:
    """Registered SOP / energy conventions (``zoo eval --energy NAME``); ``model``: ``zoo`` and those made for
    it."""
    names = _reg("energy_convention").names(pattern)
    if model is None:
        return names  # type: ignore[no-any-return]
    made_for = {DEFAULT_ENERGY, *conventions_for(split_tag(model)[0])}
    return [n for n in names if n in made_for]


def energy_convention_info(name: str) -> EnergyConventionInfo:
    """How a convention counts each kind of input, what an operation costs, what it leaves out, its source."""
    return entry("energy_convention", name).info  # type: ignore[return-value]


def register_energy_convention(name: str, *, owner: str | None = None, **meta: Any) -> Any:
    """Register an energy convention in-process (plugins use the ``register_energy_conventions`` hook)."""
    who = owner or registration_owner(_caller_module())
    return make_register(runtime().registries, "energy_convention", who)(name, **meta)


def register_recipe(name: str, settings: dict[str, Any], *, owner: str | None = None, **meta: Any) -> Any:
    """Register a training recipe in-process (plugins use the ``register_recipes`` hook)."""
    who = owner or registration_owner(_caller_module())
    return make_register(runtime().registries, "recipe", who)(name, settings, **meta)


def register_task(task: type[Task], *, owner: str | None = None, **meta: Any) -> type[Task]:
    """Register a :class:`~zoo_core.tasks.Task` subclass in-process under its ``name`` (usable as a decorator)."""
    make_register(runtime().registries, "task", owner or registration_owner(_caller_module()))(
        task.name, task, **meta
    )
    return task


def register_kernel(
    op: str, impl: str, fn: Callable[..., Any], *, owner: str | None = None, **kw: Any
) -> Any:
    """Register a kernel implementation in-process (see :mod:`zoo_core.kernels`)."""
    who = owner or registration_owner(_caller_module())
    return make_register(runtime().registries, "kernel", who)(op, impl, fn, **kw)


def unregister(kind: str, name: str) -> None:
    """Remove an entry (for notebooks and tests)."""
    runtime().registries[kind].remove(name)


# ----------------------------------------------------------------------------------------------- weights
def load_pretrained(
    model_or_name: nn.Module | str | None,
    source: str | os.PathLike[str],
    *,
    revision: str | None = None,
    expected_sha256: dict[str, str] | None = None,
    timeout: float | None = None,
    **overrides: Any,
) -> nn.Module:
    """Load weights from a local folder or ``hf://owner/repo[@revision]`` into a model (or build it by name).

    Loading is all-or-nothing, and nothing is built from a folder before it is checked: ``config.json`` against
    its schema, the checksum, the safetensors header; a model built from the config is first built on the
    ``meta`` device (no memory) and its layout (keys, shapes, so its size) compared with the header, so a config
    that implies a far larger model than the file is refused before anything is allocated; then the values
    (finite, also in the model's dtype) are checked before any tensor is copied, so a bad file never leaves a
    model half-loaded. Every problem is a :class:`~zoo_core.errors.WeightsError`.

    Args:
        model_or_name: a model to fill, a registered name, or ``None`` to build the model the folder names.
        source: a folder path or ``hf://owner/repo[@revision]``.
        revision: Hub revision (commit, tag or branch) if not given in ``source``.
        expected_sha256: file name -> sha256 to verify (the registry's record); defaults to config.json's own.
        timeout: seconds the Hub may stay silent before a download fails (default ``$ZOO_HUB_TIMEOUT``, else 10).
        **overrides: constructor arguments over the folder's (when the model is built here).
    Returns the model, in eval mode.
    """
    folder = read_folder(resolve_source(source, revision, timeout=timeout), expected_sha256)
    cfg = folder.config
    if isinstance(model_or_name, nn.Module):
        model = model_or_name
        check_layout(model.state_dict(), folder.specs, str(folder.weights_path), type(model).__name__)
    else:
        base = split_tag(model_or_name or cfg["model"])[0]
        if base != cfg["model"]:
            raise WeightsError(f"{folder.path}: holds weights of {cfg['model']!r}, not {base!r}")
        try:
            model_info(base)
        except LookupError as exc:
            raise WeightsError(f"{folder.path / CONFIG_NAME}: {exc}") from exc
        model = _build_checked(base, {**cfg["args"], **overrides}, folder)
    load_state_dict_checked(model, folder.state, str(folder.path / WEIGHTS_NAME))
    model.zoo_weights = {"source": str(folder.path), "tag": cfg.get("tag"), "sha256": folder.sha256}
    attach_pretrained_cfg(model, cfg.get("tag"))
    model.eval()
    return model


def _build_checked(base: str, args: dict[str, Any], folder: WeightFolder) -> nn.Module:
    """Build ``base`` from ``args`` (read from ``folder``'s config) only once its layout is known to match the
    weights file: first on the ``meta`` device, compared with the file's header, then for real."""
    config, weights = folder.path / CONFIG_NAME, str(folder.weights_path)

    def build() -> nn.Module:
        try:
            return create("model", base, **args)  # type: ignore[no-any-return]
        except Exception as exc:  # arguments from a file: any failure means "cannot be built from them"
            why = str(exc) if isinstance(exc, ZooError | LookupError) else f"{type(exc).__name__}: {exc}"
            raise WeightsError(f"{config}: cannot build {base!r} from its arguments: {why}") from exc

    with torch.random.fork_rng(devices=[]), torch.device("meta"):  # no memory, no random numbers drawn
        skeleton = build()
    own = skeleton.state_dict()
    try:
        check_layout(own, folder.specs, weights, f"{base!r} as {config} builds it")
    except WeightsError as exc:
        implied = sum(t.numel() for t in own.values())
        if implied == folder.parameters:
            raise
        raise WeightsError(
            f"{exc} (its arguments imply {implied:,} values, the file holds {folder.parameters:,}; nothing was "
            "allocated)"
        ) from None
    return build()


def push_to_hub(
    folder: str | Path,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
    token: str | None = None,
    api: Any = None,
    timeout: float | None = None,
) -> Any:
    """Validate ``folder`` and publish it to the Hub repo ``repo_id`` (created if needed).

    Before anything is sent, the folder must pass :func:`zoo_core.hub.check_folder` (config with the weights'
    sha256, a card the Hub accepts) and its weights must load into the model its config builds, exactly as a
    download will; an invalid folder raises :class:`~zoo_core.errors.WeightsError`. ``api`` replaces
    ``huggingface_hub.HfApi()`` (tests pass a stand-in). Every request is bounded by ``timeout`` seconds of
    silence (default ``$ZOO_HUB_TIMEOUT``, else 10); a refused or failed upload (no token, no write access, an
    endpoint that does not accept uploads, a stalled Hub) is a one-line :class:`~zoo_core.errors.WeightsError`
    that says what to do. Returns the ``CommitInfo`` (``.oid``: the commit to pin).
    """
    check_repo_id(repo_id)
    cfg = check_folder(folder)
    load_pretrained(None, folder)
    # a zoo-generated card is re-rendered for repo_id (its usage snippet loads hf://repo_id); folder is untouched
    with staged_for_repo(folder, cfg, repo_id) as upload_from:
        return upload_folder(
            upload_from,
            repo_id,
            cfg,
            revision=revision,
            private=private,
            commit_message=commit_message,
            token=token,
            api=api,
            timeout=timeout,
        )


def from_official(name: str, state_dict: dict[str, Any]) -> dict[str, Any]:
    """Map an official checkpoint's state dict to this zoo's layout for model ``name``.

    A wrapping dict (``{"model": ...}``, ``{"state_dict": ...}``) and a DDP ``module.`` prefix are removed
    first; then the model's registered ``from_official`` mapping runs (identity where the layouts agree).
    Raises a clear error if the model's plugin registered no mapping.
    """
    base, _ = split_tag(name)
    fn = entry("model", base).hooks.get("from_official")
    if fn is None:
        raise ConfigError(
            f"model {base!r} has no official-checkpoint mapping (its plugin registers none); "
            "load a zoo weight folder with zoo.load_pretrained instead"
        )
    return fn(unwrap_state_dict(state_dict))  # type: ignore[no-any-return]


def official_config(name: str, state_dict: dict[str, Any]) -> dict[str, Any]:
    """Constructor overrides implied by an official state dict (e.g. ``num_classes``), or ``{}``."""
    base, _ = split_tag(name)
    fn = entry("model", base).hooks.get("official_config")
    return dict(fn(state_dict)) if fn is not None else {}
