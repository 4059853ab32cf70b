r"""Kernel registry: one pure-PyTorch reference per operation, plus optional faster alternates.

An *operation* (e.g. ``lif_multistep``) has exactly one reference implementation, which runs everywhere and
defines the semantics; alternates (Triton, ``torch.compile``, ...) must match it numerically. Registered names
are ``"<op>:<impl>"``, e.g. ``lif_multistep:triton``.

Selection, per call, for the device of the first tensor argument:

1. ``kernel=`` passed explicitly by the caller (a neuron's ``kernel`` argument), else
2. the environment: ``ZOO_KERNELS="lif_multistep=triton,other_op=reference"``, else
3. the highest-priority alternate registered for that device type that is ``available()``, ``supports``
   the call and ``prefer``\ s it (e.g. a tensor large enough to amortise compilation), else
4. the reference.

A forced alternate that is unavailable or does not support the call falls back to the reference with a
one-time warning, so a forced choice never breaks a run.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import warnings
from collections.abc import Iterator
from typing import Any

import torch

from ..errors import ConfigError, UnknownNameError
from ..plugins import runtime
from ..registry import KernelImpl
from . import host_memory

__all__ = ["KernelImpl", "dispatch", "implementations", "list_ops", "reference", "reference_only", "select"]

# kernels return fresh tensors: keep freed blocks in the heap so they are not new pages (see host_memory)
host_memory.configure_from_env()

_REFERENCE_ONLY: contextvars.ContextVar[bool] = contextvars.ContextVar("zoo_reference_only", default=False)


@contextlib.contextmanager
def reference_only() -> Iterator[None]:
    """Inside the block every kernel operation runs its reference implementation, whatever a module, a call or
    ``ZOO_KERNELS`` asks for: the implementation that defines the semantics and runs each step in the open
    (``zoo.viz`` records membrane potentials through the spike function it calls once per step)."""
    token = _REFERENCE_ONLY.set(True)
    try:
        yield
    finally:
        _REFERENCE_ONLY.reset(token)


def _registry() -> Any:
    return runtime().registries["kernel"]


def list_ops() -> list[str]:
    reg = _registry()
    return sorted({reg.get(n).info.op for n in reg.names()})


_IMPLS: dict[
    str, tuple[int, int, dict[str, KernelImpl]]
] = {}  # op -> (registry id, version, implementations)


def implementations(op: str) -> dict[str, KernelImpl]:
    """impl name -> :class:`KernelImpl` for ``op`` (a fresh dict; the lookup is cached per registry version,
    since every neuron call selects through it)."""
    reg = _registry()
    hit = _IMPLS.get(op)
    if hit is None or hit[0] != id(reg) or hit[1] != reg.version:
        found = {n.split(":", 1)[1]: reg.get(n).factory for n in reg.names(f"{op}:*")}
        if not found:
            raise UnknownNameError("kernel operation", op, list_ops())
        hit = _IMPLS[op] = (id(reg), reg.version, found)
    return dict(hit[2])


def reference(op: str) -> KernelImpl:
    for k in implementations(op).values():
        if k.is_reference:
            return k
    raise LookupError(f"operation {op!r} has no reference implementation registered")


def _env_choice(op: str) -> str | None:
    for part in os.environ.get("ZOO_KERNELS", "").split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            if k.strip() == op:
                return v.strip()
    return None


def _device_type(args: tuple, kwargs: dict) -> str:
    for a in (*args, *kwargs.values()):
        if isinstance(a, torch.Tensor):
            return a.device.type
    return "cpu"


def select(op: str, *args: Any, kernel: str | None = None, **kwargs: Any) -> KernelImpl:
    """The implementation of ``op`` that :func:`dispatch` would run for these arguments."""
    impls = implementations(op)
    ref = next((k for k in impls.values() if k.is_reference), None)
    if ref is None:
        raise LookupError(f"operation {op!r} has no reference implementation registered")
    if _REFERENCE_ONLY.get():
        return ref
    dev = _device_type(args, kwargs)
    forced = kernel or _env_choice(op)
    if forced:
        k = impls.get(forced)
        if k is None:
            raise ConfigError(
                f"kernel {forced!r} is not an implementation of {op!r}; choose from {sorted(impls)}"
            )
        if k.is_reference or k.can_run(dev, args, kwargs):
            return k
        if dev not in k._warned:
            k._warned.add(dev)
            warnings.warn(
                f"kernel {op}:{forced} cannot run this call on {dev}; using the reference instead",
                RuntimeWarning,
                stacklevel=3,
            )
        return ref
    for k in sorted(impls.values(), key=lambda k: -k.priority):
        if not k.is_reference and k.can_run(dev, args, kwargs) and k.preferred(args, kwargs):
            return k
    return ref


def dispatch(op: str, *args: Any, kernel: str | None = None, **kwargs: Any) -> Any:
    """Run ``op`` with the implementation :func:`select` picks."""
    return select(op, *args, kernel=kernel, **kwargs)(*args, **kwargs)
