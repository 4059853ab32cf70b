"""Plugin discovery and loading (pluggy).

A plugin is any importable object (usually a module) exposed through the setuptools entry-point group
``zoo_core`` that

* declares the core API version it targets: ``ZOO_API_VERSION = "1.1"`` (same major as the core's
  :data:`API_VERSION`, minor not newer), and
* implements some of the hooks of :class:`ZooHookSpecs`, marked with :data:`hookimpl`. Each hook receives a
  ``register`` callable bound to the calling plugin, so the core knows who registered what.

Plugins load lazily on the first registry access, never at ``import zoo_core``. A plugin that fails to import,
declares an incompatible API, or raises while registering is rolled back (none of its entries stay), reported with
a :class:`ZooPluginWarning` and shown by ``zoo plugins``; it never breaks the core or other plugins.
``ZOO_PLUGINS_STRICT=1`` turns such failures into :class:`~zoo_core.errors.PluginError`;
``ZOO_DISABLE_PLUGINS=a,b`` skips plugins by entry-point name.
"""

from __future__ import annotations

import os
import threading
import traceback
import warnings
from collections.abc import Callable, Iterable
from importlib import metadata
from typing import Any

import pluggy

from .errors import PluginError
from .info import PluginInfo
from .registry import Registries

PROJECT = "zoo_core"
ENTRY_POINT_GROUP = "zoo_core"
#: Version of the plugin contract (hooks + register signatures). Bump the minor for additions.
API_VERSION = "1.1"
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
    def register_counting_rules(self, register: Callable[..., Any]) -> None:
        """Register profiling counting rules for the plugin's own layer types (:mod:`zoo_core.profiling`).

        ``register(name, rule, module_type=cls)``: ``rule(module, inputs, output) -> {"macs": ..., "sops": ...}``
        counts one forward call of a ``cls`` (or subclass) module and replaces the built-in conv/linear logic.
        """


#: hook name -> registry kind, in the order hooks are called
HOOK_KINDS = {
    "register_surrogates": "surrogate",
    "register_neurons": "neuron",
    "register_kernels": "kernel",
    "register_models": "model",
    "register_learning_rules": "learning_rule",
    "register_datasets": "dataset",
    "register_counting_rules": "counting_rule",
}


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


def make_register(regs: Registries, kind: str, owner: str) -> Callable[..., Any]:
    """A ``register`` callable bound to ``owner`` for registry ``kind``."""
    if kind == "kernel":
        from .kernels import make_kernel_register

        return make_kernel_register(regs, owner)
    if kind == "counting_rule":
        from .profiling import make_counting_rule_register

        return make_counting_rule_register(regs, owner)

    def register(name: str, factory: Callable[..., Any], **meta: Any) -> Any:
        return regs[kind].add(name, factory, owner, **meta)

    register.__doc__ = f"Register a {kind} for {owner!r}: register(name, factory, **metadata)."
    return register


class Runtime:
    """The registries plus the plugins that filled them. One global instance serves the public API."""

    def __init__(
        self, entry_points: Callable[[], Iterable[metadata.EntryPoint]] | None = None, builtins: bool = True
    ):
        self.registries = Registries()
        self.plugins: dict[str, PluginInfo] = {}
        self._entry_points = entry_points or (lambda: metadata.entry_points(group=ENTRY_POINT_GROUP))
        self._builtins = builtins
        self._loaded = False
        self._lock = threading.RLock()
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(ZooHookSpecs)

    # ---------------------------------------------------------------- loading
    def ensure_loaded(self) -> Runtime:
        if self._loaded:
            return self
        with self._lock:
            if self._loaded:
                return self
            # set first: a plugin that looks up the registry while loading must not recurse
            self._loaded = True
            try:
                self._load_all()
            except BaseException:
                # strict mode (or Ctrl-C) aborted loading: forget everything so the next access starts over
                # instead of serving a registry with only the plugins loaded before the failure
                self.registries = Registries()
                self.plugins = {}
                self.pm = pluggy.PluginManager(PROJECT)
                self.pm.add_hookspecs(ZooHookSpecs)
                self._loaded = False
                raise
        return self

    def _load_all(self) -> None:
        if self._builtins:
            from . import _builtins

            self.load_plugin(CORE_OWNER, _builtins, distribution="zoo-core", version=_core_version())
        disabled = _env_list("ZOO_DISABLE_PLUGINS")
        for ep in sorted(self._entry_points(), key=lambda e: e.name):
            dist = getattr(ep, "dist", None)
            info = PluginInfo(
                name=ep.name,
                distribution=getattr(dist, "name", None),
                version=getattr(dist, "version", None),
                module=ep.value,
            )
            if ep.name in disabled:
                info.status = "disabled (ZOO_DISABLE_PLUGINS)"
                self.plugins[ep.name] = info
                continue
            if ep.name in self.plugins:
                self._fail(
                    info, f"another installed distribution already provides a plugin named {ep.name!r}"
                )
                continue
            try:
                obj = ep.load()
            except BaseException as exc:  # a broken plugin may raise anything at import, even SystemExit
                if isinstance(exc, KeyboardInterrupt):
                    raise
                self._fail(info, f"import failed: {type(exc).__name__}: {exc}", exc)
                continue
            self.load_plugin(ep.name, obj, distribution=info.distribution, version=info.version, info=info)

    def load_plugin(
        self,
        name: str,
        obj: Any,
        distribution: str | None = None,
        version: str | None = None,
        info: PluginInfo | None = None,
    ) -> PluginInfo:
        """Register one plugin object and run its hooks; on any failure roll back its entries."""
        info = info or PluginInfo(name=name, distribution=distribution, version=version)
        info.module = info.module or getattr(obj, "__name__", type(obj).__name__)
        try:
            info.api_version = (
                API_VERSION
                if name == CORE_OWNER
                else check_api_version(getattr(obj, "ZOO_API_VERSION", None), name)
            )
        except PluginError as exc:
            return self._fail(info, f"refused: {exc}", exc)
        snap = self.registries.snapshot()
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


def _core_version() -> str:
    from . import __version__

    return __version__


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
