"""Registries: the table of contents of the zoo.

One :class:`Registry` per kind of component (tasks, models, neurons, surrogates, learning rules, kernels,
datasets, profiling counting rules).
An entry is a factory plus pydantic metadata (:mod:`zoo_core.info`) that records its owner. Registries are filled
lazily: the first lookup loads the core's built-ins and every installed plugin (:mod:`zoo_core.plugins`).
"""

from __future__ import annotations

import fnmatch
import inspect
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError, RegistrationConflictError, UnknownNameError
from .info import INFO_CLASSES, EntryInfo

#: per kind, the keyword arguments of ``register`` that are callables kept beside the metadata:
#: ``from_official(state_dict) -> state_dict`` maps an official checkpoint to the zoo layout;
#: ``official_config(state_dict) -> dict`` infers constructor overrides (e.g. num_classes) from it.
ENTRY_HOOKS: dict[str, tuple[str, ...]] = {"model": ("from_official", "official_config")}

KINDS = (
    "task",
    "model",
    "neuron",
    "surrogate",
    "learning_rule",
    "kernel",
    "dataset",
    "counting_rule",
    "recipe",
    "energy_convention",
)


#: keyword hints a kernel call may carry that an implementation is free to ignore (``keep_state=False``: the caller
#: discards the final state). Added after plugin API 1.4, so an implementation, ``supports`` or ``prefer`` whose
#: signature does not name a hint (and has no ``**kwargs``) is called without it.
KERNEL_HINTS = frozenset({"keep_state"})
_TAKES: dict[Any, frozenset[str] | None] = {}  # callable -> its keyword names (None: it takes **kwargs)


def _without_unknown_hints(fn: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    if not KERNEL_HINTS.intersection(kwargs):
        return kwargs
    try:
        takes = _TAKES[fn]
    except KeyError:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):  # no signature to read: pass everything, as before hints existed
            takes = None
        else:
            takes = (
                None if any(p.kind is p.VAR_KEYWORD for p in params) else frozenset(p.name for p in params)
            )
        _TAKES[fn] = takes
    if takes is None:
        return kwargs
    return {k: v for k, v in kwargs.items() if k in takes or k not in KERNEL_HINTS}


@dataclass
class KernelImpl:
    """One implementation of a kernel operation (the factory of a ``kernel`` entry; see :mod:`zoo_core.kernels`).

    ``supports(*args, **kwargs)`` says whether it can run a call, ``available()`` whether it can run at all
    (Triton installed, a GPU present), ``prefer(*args, **kwargs)`` whether automatic selection should pick it
    for this call (a forced choice ignores it).
    """

    op: str
    impl: str
    fn: Callable[..., Any]
    devices: tuple[str, ...] = ("cpu", "cuda")
    priority: int = 0
    supports: Callable[..., bool] | None = None
    available: Callable[[], bool] | None = None
    is_reference: bool = False
    prefer: Callable[..., bool] | None = None
    _warned: set[str] = field(default_factory=set)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **_without_unknown_hints(self.fn, kwargs))

    def can_run(self, device_type: str, args: tuple, kwargs: dict) -> bool:
        if device_type not in self.devices:
            return False
        if self.available is not None and not self.available():
            return False
        return self.supports is None or bool(
            self.supports(*args, **_without_unknown_hints(self.supports, kwargs))
        )

    def preferred(self, args: tuple, kwargs: dict) -> bool:
        return self.prefer is None or bool(self.prefer(*args, **_without_unknown_hints(self.prefer, kwargs)))


@dataclass
class Entry:
    factory: Callable[..., Any]
    info: EntryInfo
    #: callables that belong to the entry but not to its (serialisable) metadata, e.g. ``from_official``
    hooks: dict[str, Callable[..., Any]] = field(default_factory=dict)


class Registry:
    """Name -> :class:`Entry` for one kind of component."""

    def __init__(self, kind: str):
        if kind not in KINDS:
            raise ConfigError(f"unknown registry kind {kind!r}; expected one of {', '.join(KINDS)}")
        self.kind = kind
        self._entries: dict[str, Entry] = {}
        #: changes whenever an entry is added or removed (callers cache lookups against it)
        self.version = 0

    def add(self, name: str, factory: Callable[..., Any], owner: str, **meta: Any) -> EntryInfo:
        """Register ``factory`` under ``name`` for ``owner``.

        The same owner registering a name again replaces its entry (re-running a notebook cell); a different
        owner is a :class:`RegistrationConflictError` naming both.
        """
        if not isinstance(name, str) or not name or name != name.strip() or "." in name:
            raise ConfigError(
                f"invalid {self.kind} name {name!r}: use a non-empty lower_snake_case string without dots "
                "(dots separate weight tags)"
            )
        if not callable(factory):
            raise TypeError(
                f"{self.kind} {name!r}: the factory must be callable, got {type(factory).__name__}"
            )
        old = self._entries.get(name)
        if old is not None and old.info.plugin != owner:
            raise RegistrationConflictError(
                f"{self.kind} {name!r} is registered by both {old.info.plugin!r} and {owner!r}; "
                f"one of them must rename it (or disable a plugin with ZOO_DISABLE_PLUGINS)"
            )
        info_cls = INFO_CLASSES[self.kind]
        meta = dict(meta)
        hooks = {k: meta.pop(k) for k in ENTRY_HOOKS.get(self.kind, ()) if k in meta}
        hooks = {k: fn for k, fn in hooks.items() if fn is not None}
        for k, fn in hooks.items():
            if not callable(fn):
                raise TypeError(f"{self.kind} {name!r}: {k} must be callable, got {type(fn).__name__}")
        meta.setdefault("description", (getattr(factory, "__doc__", None) or "").strip().split("\n")[0])
        info = info_cls(name=name, plugin=owner, **meta)
        self._entries[name] = Entry(factory, info, hooks)
        self.version += 1
        return info

    def remove_owner(self, owner: str) -> None:
        for name in [n for n, e in self._entries.items() if e.info.plugin == owner]:
            del self._entries[name]
        self.version += 1

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)
        self.version += 1

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind.replace("_", " "), name, sorted(self._entries)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def snapshot(self) -> dict[str, Entry]:
        return dict(self._entries)

    def restore(self, snap: dict[str, Entry]) -> None:
        self._entries = dict(snap)
        self.version += 1


class Registries:
    """All registries of one runtime, keyed by kind."""

    def __init__(self) -> None:
        self.by_kind = {k: Registry(k) for k in KINDS}
        self.lock = threading.RLock()

    def __getitem__(self, kind: str) -> Registry:
        return self.by_kind[kind]

    def snapshot(self) -> dict[str, dict[str, Entry]]:
        return {k: r.snapshot() for k, r in self.by_kind.items()}

    def restore(self, snap: dict[str, dict[str, Entry]]) -> None:
        for k, s in snap.items():
            self.by_kind[k].restore(s)

    def owned_by(self, owner: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, r in self.by_kind.items():
            names = [n for n, e in r.snapshot().items() if e.info.plugin == owner]
            if names:
                out[k] = sorted(names)
        return out
