"""Plugin discovery and loading (pluggy), the global runtime, and name lookup for the layers above.

A plugin is any importable object (usually a module) exposed through the setuptools entry-point group
``zoo_core`` that

* declares the core API version it targets: ``ZOO_API_VERSION = "1.5"`` (same major as the core's
  :data:`API_VERSION`, minor not newer), and
* implements some of the hooks of :class:`ZooHookSpecs`, marked with :data:`hookimpl`. Each hook receives a
  ``register`` callable bound to the calling plugin, so the core knows who registered what.

Plugins load lazily on the first registry access, never at ``import zoo_core``. A plugin that fails to import,
declares an incompatible API, or raises while registering is rolled back (none of its entries stay), reported with
a :class:`ZooPluginWarning` and shown by ``zoo plugins``; it never breaks the core or other plugins.
``ZOO_PLUGINS_STRICT=1`` turns such failures into :class:`~zoo_core.errors.PluginError`;
``ZOO_DISABLE_PLUGINS=a,b`` skips plugins by entry-point name.

The first registry access loads everything once, under a lock: a thread that arrives while another loads waits
and then sees the complete registry. Building blocks (neurons that take a surrogate by name, models that take a
neuron by name, kernels) resolve names with :func:`entry` and :func:`create` here, never through the public API
module above them.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import os
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

import pluggy
from pydantic import ValidationError

from .errors import ConfigError, PluginError, RegistrationConflictError, UnknownNameError
from .info import PluginInfo
from .registry import Entry, KernelImpl, Registries
from .version import __version__

PROJECT = "zoo_core"
ENTRY_POINT_GROUP = "zoo_core"
#: Version of the plugin contract (hooks + register signatures). Bump the minor for additions.
API_VERSION = "1.5"
CORE_OWNER = "zoo_core"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class ZooPluginWarning(UserWarning):
    """A plugin could not be loaded; the core and the other plugins go on without it."""


class ZooHookSpecs:
    """Hooks a plugin may implement. Each gets ``register(name, factory, **metadata)`` bound to the plugin.

    Metadata keywords are the fields of the matching info class in :mod:`zoo_core.info` (``paper``,
    ``defaults``, ``task``, ``io``, ``weights``, ``test_config``...). Kernels use
    ``register(op, impl, fn, devices=..., priority=..., supports=..., available=...)``; profiling counting rules
    use ``register(name, rule, module_type=cls)`` (see :mod:`zoo_core.profiling`).
    """

    @hookspec
    def register_tasks(self, register: Callable[..., Any]) -> None:
        """Register tasks (subclasses of :class:`zoo_core.tasks.Task`): ``register(name, TaskClass)``."""

    @hookspec
    def register_surrogates(self, register: Callable[..., Any]) -> None:
        """Register surrogate-gradient functions."""

    @hookspec
    def register_neurons(self, register: Callable[..., Any]) -> None:
        """Register spiking neurons (subclasses of :class:`zoo_core.neurons.BaseNeuron`)."""

    @hookspec
    def register_kernels(self, register: Callable[..., Any]) -> None:
        """Register implementations of kernel operations (references or faster alternates)."""

    @hookspec
    def register_models(self, register: Callable[..., Any]) -> None:
        """Register model factories."""

    @hookspec
    def register_learning_rules(self, register: Callable[..., Any]) -> None:
        """Register learning rules (training algorithms, conversions, regularisers)."""

    @hookspec
    def register_datasets(self, register: Callable[..., Any]) -> None:
        """Register dataset factories."""

    @hookspec
    def register_recipes(self, register: Callable[..., Any]) -> None:
        """Register training recipes: ``register(name, settings, models=(...), paper=..., source=...,
        differences=...)`` with ``settings`` the ``zoo train`` options of a paper's run (``zoo train MODEL
        --recipe NAME``; :class:`zoo_core.info.RecipeInfo`)."""

    @hookspec
    def register_energy_conventions(self, register: Callable[..., Any]) -> None:
        """Register SOP / energy counting conventions (a paper's own): ``register(name, count={...},
        e_mac_pj=..., e_sop_pj={...}, exclude=(...), models=(...), source=..., description=...)``
        (:class:`zoo_core.info.EnergyConventionInfo`; used by ``zoo eval --energy NAME``)."""

    @hookspec
    def register_counting_rules(self, register: Callable[..., Any]) -> None:
        """Register profiling counting rules for the plugin's own layer types (:mod:`zoo_core.profiling`).

        ``register(name, rule, module_type=cls)``: ``rule(module, inputs, output) -> {"macs": ..., "sops": ...}``
        counts one forward call of a ``cls`` (or subclass) module and replaces the built-in conv/linear logic.
        """


#: hook name -> registry kind, in the order hooks are called (tasks first: models name their task)
HOOK_KINDS = {
    "register_tasks": "task",
    "register_surrogates": "surrogate",
    "register_neurons": "neuron",
    "register_kernels": "kernel",
    "register_models": "model",
    "register_learning_rules": "learning_rule",
    "register_datasets": "dataset",
    "register_counting_rules": "counting_rule",
    "register_recipes": "recipe",
    "register_energy_conventions": "energy_convention",
}

#: the core's own registrations, loaded like a plugin by module name: the runtime sits below the layers that
#: define neurons, models and tasks, so it never imports them (see the README's architecture section)
BUILTINS_MODULE = "zoo_core.builtins"


def entry_point_info(ep: Any) -> PluginInfo:
    """A plugin's :class:`PluginInfo` before it is loaded: its entry-point name, distribution and module."""
    dist = getattr(ep, "dist", None)
    return PluginInfo(
        name=ep.name,
        distribution=getattr(dist, "name", None),
        version=getattr(dist, "version", None),
        module=ep.value,
    )


def _env_list(var: str) -> set[str]:
    return {s.strip() for s in os.environ.get(var, "").split(",") if s.strip()}


def _strict() -> bool:
    return os.environ.get("ZOO_PLUGINS_STRICT", "").strip().lower() in ("1", "true", "yes", "on")


def check_api_version(declared: Any, plugin: str) -> str:
    """Return the declared version if the core can serve it, else raise :class:`PluginError`."""
    if declared is None:
        raise PluginError(
            f"plugin {plugin!r} does not declare the core API it targets; add ZOO_API_VERSION = {API_VERSION!r} "
            "to its plugin module"
        )
    try:
        major, minor = (int(p) for p in str(declared).split(".")[:2])
    except ValueError:
        raise PluginError(f"plugin {plugin!r}: ZOO_API_VERSION={declared!r} is not 'MAJOR.MINOR'") from None
    core_major, core_minor = (int(p) for p in API_VERSION.split("."))
    if major != core_major or minor > core_minor:
        raise PluginError(
            f"plugin {plugin!r} targets zoo-core API {declared}, but this zoo-core provides API {API_VERSION} "
            f"(compatible: {core_major}.0 to {API_VERSION}); upgrade zoo-core or install a matching plugin version"
        )
    return str(declared)


# ------------------------------------------------------------------------------------------------ register
def _add_plain(
    regs: Registries, kind: str, owner: str, name: str, factory: Callable[..., Any], **meta: Any
) -> Any:
    return regs[kind].add(name, factory, owner, **meta)


def _add_task(
    regs: Registries, kind: str, owner: str, name: str, factory: Callable[..., Any], **meta: Any
) -> Any:
    """A task class states its name, I/O spec and metrics as class attributes; the registry records them."""
    declared = getattr(factory, "name", None)
    if declared != name:
        raise ConfigError(
            f"task {name!r}: its class declares name={declared!r}; register a task under its own name"
        )
    for key in ("io", "metrics"):
        if key not in meta and getattr(factory, key, None) is not None:
            meta[key] = getattr(factory, key)
    if "train_settings" not in meta and getattr(factory, "train_settings", None) is not None:
        meta["train_settings"] = tuple(sorted(factory.train_settings))
    meta.setdefault("description", (getattr(factory, "__doc__", None) or "").strip().split("\n")[0])
    return regs[kind].add(name, factory, owner, **meta)


#: what a weight tag may set besides its model's defaults: the number of time steps it was trained for (tags name
#: their data set and T, ``.imagenet_t4``); anything else is another architecture, hence another model name
TAG_MAY_SET = frozenset({"T"})
_MISSING = object()


def _add_model(
    regs: Registries, kind: str, owner: str, name: str, factory: Callable[..., Any], **meta: Any
) -> Any:
    """A model names a registered task; without its own I/O spec it takes the task's."""
    task = meta.setdefault("task", "image-classification")
    if task not in regs["task"]:
        raise ConfigError(
            f"model {name!r} names the task {task!r}, which no plugin registers; registered tasks: "
            f"{', '.join(regs['task'].names()) or 'none'} (a plugin adds one with the register_tasks hook)"
        )
    if meta.get("io") is None:
        meta["io"] = regs["task"].get(task).info.io  # type: ignore[attr-defined]
    defaults = meta.get("defaults") or {}
    for tag, w in (meta.get("weights") or {}).items():
        config = w.config if hasattr(w, "config") else dict(w).get("config", {})
        changed = sorted(
            k for k, v in config.items() if k not in TAG_MAY_SET and defaults.get(k, _MISSING) != v
        )
        if changed:
            raise ConfigError(
                f"model {name!r}: weight tag {tag!r} changes the architecture ({', '.join(changed)} differ from "
                "the model's defaults); a tag names trained weights of exactly its model (only "
                f"{', '.join(sorted(TAG_MAY_SET))} may differ), so register that configuration as a model (or "
                "variant) of its own"
            )
    return regs[kind].add(name, factory, owner, **meta)


def _add_kernel(
    regs: Registries,
    kind: str,
    owner: str,
    op: str,
    impl: str,
    fn: Callable[..., Any],
    *,
    devices: tuple[str, ...] = ("cpu", "cuda"),
    priority: int = 0,
    supports: Callable[..., bool] | None = None,
    available: Callable[[], bool] | None = None,
    prefer: Callable[..., bool] | None = None,
    reference: bool = False,
    **meta: Any,
) -> Any:
    """``register(op, impl, fn, *, devices, priority, supports, available, prefer, reference, **meta)``."""
    name = f"{op}:{impl}"
    reg = regs[kind]
    if reference:
        clash = [n for n in reg.names(f"{op}:*") if reg.get(n).info.is_reference and n != name]  # type: ignore[attr-defined]
        if clash:
            raise RegistrationConflictError(
                f"operation {op!r} already has a reference implementation ({clash[0]}); "
                "register this one as an alternate"
            )
    k = KernelImpl(op, impl, fn, tuple(devices), priority, supports, available, reference, prefer)
    return reg.add(
        name, k, owner, op=op, devices=tuple(devices), priority=priority, is_reference=reference, **meta
    )


def module_type_key(module_type: Any) -> str:
    """The qualified name ``package.module.ClassName`` a counting rule is registered under."""
    if isinstance(module_type, str) and module_type.strip():
        return module_type
    if isinstance(module_type, type):
        return f"{module_type.__module__}.{module_type.__qualname__}"
    raise ConfigError(
        "module_type must be an nn.Module subclass or its qualified name 'package.module.ClassName', "
        f"got {module_type!r}"
    )


def _add_counting_rule(
    regs: Registries,
    kind: str,
    owner: str,
    name: str,
    rule: Callable[..., Any],
    *,
    module_type: Any,
    **meta: Any,
) -> Any:
    """``register(name, rule, *, module_type, **metadata)``: one rule per module type."""
    key = module_type_key(module_type)
    reg = regs[kind]
    for other in reg.names():
        info = reg.get(other).info
        if other != name and info.module_type == key:  # type: ignore[attr-defined]
            raise RegistrationConflictError(
                f"counting rule for {key} registered twice: {other!r} by {info.plugin!r} and {name!r} by "
                f"{owner!r}; a module type has one rule (unregister one with "
                f"zoo.unregister('counting_rule', name))"
            )
    return reg.add(name, rule, owner, module_type=key, **meta)


class _Recipe:
    # a recipe's factory: a fresh copy of its settings per call (no docstring: it would become the description)

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings

    def __call__(self) -> dict[str, Any]:
        return copy.deepcopy(self.settings)


def _add_recipe(
    regs: Registries, kind: str, owner: str, name: str, settings: dict[str, Any], **meta: Any
) -> Any:
    """``register(name, settings, *, models, paper, source, differences, description)``: ``settings`` are
    ``zoo train`` options (checked against the training settings when the recipe is used)."""
    if not isinstance(settings, dict) or not settings:
        raise ConfigError(f"recipe {name!r}: settings must be a non-empty dict of zoo train options")
    for key in ("model", "recipe", "run_dir", "resume", "out"):
        if key in settings:
            raise ConfigError(f"recipe {name!r}: {key!r} belongs to a run, not to a recipe")
    meta.setdefault("description", "")
    return regs[kind].add(name, _Recipe(dict(settings)), owner, settings=dict(settings), **meta)


def _add_energy_convention(regs: Registries, kind: str, owner: str, name: str, **meta: Any) -> Any:
    """``register(name, *, count, e_mac_pj, e_sop_pj, exclude, models, source, description)``: how each kind
    of layer input counts and what an operation costs (:class:`zoo_core.info.EnergyConventionInfo`)."""
    meta.setdefault("description", "")
    try:
        return regs[kind].add(name, _Convention(name), owner, **meta)
    except ValidationError as e:  # one line naming the field and what it takes
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "metadata"
        raise ConfigError(f"energy convention {name!r}: {field}: {err['msg']}") from None


class _Convention:
    # an energy convention's factory: its name (the metadata is the convention; no docstring, see _Recipe)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self) -> str:
        return self.name


_ADDERS: dict[str, Callable[..., Any]] = {
    "task": _add_task,
    "model": _add_model,
    "kernel": _add_kernel,
    "counting_rule": _add_counting_rule,
    "recipe": _add_recipe,
    "energy_convention": _add_energy_convention,
}


def make_register(regs: Registries, kind: str, owner: str) -> Callable[..., Any]:
    """A ``register`` callable bound to ``owner`` for registry ``kind`` (what each hook receives)."""
    adder = _ADDERS.get(kind, _add_plain)

    def register(*args: Any, **meta: Any) -> Any:
        return adder(regs, kind, owner, *args, **meta)

    register.__doc__ = f"Register a {kind.replace('_', ' ')} for {owner!r}: {(adder.__doc__ or '').strip()}"
    return register


class Runtime:
    """The registries plus the plugins that filled them. One global instance serves the public API.

    Args:
        entry_points: the plugin entry points to load (default: the installed ones of group ``zoo_core``).
        builtins: modules (or module names) loaded first as the plugin ``zoo_core`` (default: the core's own
            registrations; ``()`` for an empty core, in tests).
    """

    def __init__(
        self,
        entry_points: Callable[[], Iterable[metadata.EntryPoint]] | None = None,
        builtins: Iterable[Any] | bool = True,
    ):
        self.registries = Registries()
        self.plugins: dict[str, PluginInfo] = {}
        self._entry_points = entry_points or (lambda: metadata.entry_points(group=ENTRY_POINT_GROUP))
        if builtins is True:
            builtins = (BUILTINS_MODULE,)
        self._builtins = tuple(builtins or ())
        self._loaded = False
        self._loading_thread: int | None = None
        #: the plugin whose module is being imported or registered (in-process decorators run by its import
        #: are attributed to it, and rolled back with it)
        self.loading_plugin: str | None = None
        self._lock = threading.RLock()
        self.pm = self._new_manager()

    @staticmethod
    def _new_manager() -> pluggy.PluginManager:
        pm = pluggy.PluginManager(PROJECT)
        pm.add_hookspecs(ZooHookSpecs)
        return pm

    # ---------------------------------------------------------------- loading
    def ensure_loaded(self) -> Runtime:
        """Load the built-ins and every plugin once. A second thread waits for the first to finish; the loading
        thread itself (a plugin that looks a name up while registering) sees the registry as filled so far."""
        if self._loaded:
            return self
        with self._lock:
            if self._loaded or self._loading_thread == threading.get_ident():
                return self
            self._loading_thread = threading.get_ident()
            try:
                self._load_all()
            except BaseException:
                # strict mode (or Ctrl-C) aborted loading: forget everything so the next access starts over
                # instead of serving a registry with only the plugins loaded before the failure
                self.registries = Registries()
                self.plugins = {}
                self.pm = self._new_manager()
                raise
            finally:
                self._loading_thread = None
                self.loading_plugin = None
            self._loaded = True
        return self

    def _load_all(self) -> None:
        for module in self._builtins:
            obj = importlib.import_module(module) if isinstance(module, str) else module
            self.load_plugin(CORE_OWNER, obj, distribution="zoo-core", version=__version__)
        disabled = _env_list("ZOO_DISABLE_PLUGINS")
        for ep in sorted(self._entry_points(), key=lambda e: e.name):
            info = entry_point_info(ep)
            if ep.name in disabled:
                info.status = "disabled (ZOO_DISABLE_PLUGINS)"
                self.plugins[ep.name] = info
                continue
            if ep.name in self.plugins:
                self._fail(
                    info, f"another installed distribution already provides a plugin named {ep.name!r}"
                )
                continue
            snap = self.registries.snapshot()
            self.loading_plugin = ep.name
            try:
                obj = ep.load()
            except BaseException as exc:  # a broken plugin may raise anything at import, even SystemExit
                if isinstance(exc, KeyboardInterrupt):
                    raise
                # what its module registered in-process (decorators) before failing goes with it
                self.registries.restore(snap)
                self._fail(info, f"import failed: {type(exc).__name__}: {exc}", exc)
                continue
            finally:
                self.loading_plugin = None
            self.load_plugin(
                ep.name, obj, distribution=info.distribution, version=info.version, info=info, snap=snap
            )

    def load_plugin(
        self,
        name: str,
        obj: Any,
        distribution: str | None = None,
        version: str | None = None,
        info: PluginInfo | None = None,
        snap: dict[str, dict[str, Entry]] | None = None,
    ) -> PluginInfo:
        """Register one plugin object and run its hooks; on any failure roll back its entries (to ``snap``, the
        registries before its module was imported, when given)."""
        info = info or PluginInfo(name=name, distribution=distribution, version=version)
        info.module = info.module or getattr(obj, "__name__", type(obj).__name__)
        snap = self.registries.snapshot() if snap is None else snap
        try:
            info.api_version = (
                API_VERSION
                if name == CORE_OWNER
                else check_api_version(getattr(obj, "ZOO_API_VERSION", None), name)
            )
        except PluginError as exc:
            self.registries.restore(snap)
            return self._fail(info, f"refused: {exc}", exc)
        self.loading_plugin = name
        try:
            self.pm.register(obj, name=name)
            self.pm.check_pending()
            for hook_name, kind in HOOK_KINDS.items():
                caller = getattr(self.pm.hook, hook_name)
                for impl in caller.get_hookimpls():
                    if impl.plugin_name == name:
                        impl.function(register=make_register(self.registries, kind, name))
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            self.registries.restore(snap)
            if self.pm.is_registered(obj):
                self.pm.unregister(obj)
            return self._fail(info, f"registration failed: {type(exc).__name__}: {exc}", exc)
        finally:
            self.loading_plugin = None
        info.status = "ok"
        info.registered = self.registries.owned_by(name)
        self.plugins[name] = info
        return info

    def _fail(self, info: PluginInfo, why: str, exc: BaseException | None = None) -> PluginInfo:
        info.status = f"failed: {why}"
        self.plugins[info.name] = info
        if _strict():
            raise PluginError(f"plugin {info.name!r} {info.status} (ZOO_PLUGINS_STRICT=1)") from exc
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip() if exc else ""
        warnings.warn(
            f"zoo-core plugin {info.name!r} was not loaded ({why}); the rest of the zoo works without it. "
            f"`zoo plugins` shows its status.{' ' + detail if detail and str(exc) not in why else ''}",
            ZooPluginWarning,
            stacklevel=3,
        )
        return info


_RUNTIME: Runtime | None = None
_RUNTIME_LOCK = threading.Lock()


def runtime() -> Runtime:
    """The global runtime, with built-ins and plugins loaded on first use."""
    global _RUNTIME
    if _RUNTIME is None:
        with _RUNTIME_LOCK:
            if _RUNTIME is None:
                _RUNTIME = Runtime()
    return _RUNTIME.ensure_loaded()


def reload_plugins() -> Runtime:
    """Forget every registration and load built-ins and plugins again (after installing a plugin in-process)."""
    global _RUNTIME
    with _RUNTIME_LOCK:
        _RUNTIME = Runtime()
    return runtime()


def set_runtime(rt: Runtime | None) -> Runtime | None:
    """Install ``rt`` as the global runtime (``None``: a fresh one on next use); return the previous one.

    For tests and embedding: a runtime built with chosen entry points (e.g. a test plugin) serves the public API.
    """
    global _RUNTIME
    with _RUNTIME_LOCK:
        old, _RUNTIME = _RUNTIME, rt
    return old


def registration_owner(default: str) -> str:
    """The owner of an in-process registration: the plugin being imported, if any, else ``default``."""
    rt = _RUNTIME
    if rt is not None and rt.loading_plugin is not None and rt._loading_thread == threading.get_ident():
        return rt.loading_plugin
    return default


# ------------------------------------------------------------------------------------------------ lookup
def entry(kind: str, name: str) -> Entry:
    """The registry entry ``name`` of ``kind`` (an :class:`~zoo_core.errors.UnknownNameError` lists the
    closest names)."""
    return runtime().registries[kind].get(name)


def split_tag(name: str) -> tuple[str, str | None]:
    """``"spikingresformer_ti.imagenet_t4"`` -> ``("spikingresformer_ti", "imagenet_t4")``."""
    if not isinstance(name, str) or not name:
        raise ConfigError(f"a model name must be a non-empty string, got {name!r}")
    base, _, tag = name.partition(".")
    return base, (tag or None)


def check_kwargs(factory: Callable[..., Any], kwargs: dict[str, Any], who: str) -> None:
    """Raise :class:`ConfigError` if ``factory`` cannot take every keyword of ``kwargs``."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return
    unknown = sorted(set(kwargs) - set(sig.parameters))
    if unknown:
        raise ConfigError(
            f"{who} does not accept {', '.join(unknown)}; its arguments are: "
            + ", ".join(p for p in sig.parameters if p != "self")
        )


def create(kind: str, name: str, **kwargs: Any) -> Any:
    """Build the registered ``kind`` ``name``: its defaults, then ``kwargs``. A module remembers how it was
    built (``zoo_name``, ``zoo_args``), which is what a weight folder records."""
    e = entry(kind, name)
    cfg = {**e.info.defaults, **kwargs}
    check_kwargs(e.factory, cfg, f"{kind.replace('_', ' ')} {name!r}")
    obj = e.factory(**cfg)
    if hasattr(obj, "state_dict") and hasattr(
        obj, "named_modules"
    ):  # an nn.Module (duck-typed: no torch here)
        obj.zoo_name = name
        obj.zoo_args = cfg
    return obj


def model_config(name: str, **overrides: Any) -> dict[str, Any]:
    """The constructor arguments of ``name[.tag]``: the model's defaults, then the tag's, then ``overrides``.

    A tag names trained weights of exactly its model's architecture, so a tag's configuration may only repeat
    the defaults (the registry refuses one that changes them)."""
    base, tag = split_tag(name)
    info = entry("model", base).info
    cfg = dict(info.defaults)
    if tag is not None:
        weights = info.weights  # type: ignore[attr-defined]
        if tag not in weights:
            raise UnknownNameError("weight tag", tag, sorted(weights), f"of {base}")
        cfg.update(weights[tag].config)
    cfg.update(overrides)
    return cfg
