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

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..info import Paper


@dataclass
class KernelImpl:
    """One implementation of an operation."""

    op: str
    impl: str
    fn: Callable[..., Any]
    devices: tuple[str, ...] = ("cpu", "cuda")
    priority: int = 0
    supports: Callable[..., bool] | None = None
    available: Callable[[], bool] | None = None
    is_reference: bool = False
    #: automatic selection only: is this implementation worth it for this call (e.g. large enough to amortise
    #: compilation)? A forced choice ignores it.
    prefer: Callable[..., bool] | None = None
    _warned: set[str] = field(default_factory=set)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def can_run(self, device_type: str, args: tuple, kwargs: dict) -> bool:
        if device_type not in self.devices:
            return False
        if self.available is not None and not self.available():
            return False
        return self.supports is None or bool(self.supports(*args, **kwargs))

    def preferred(self, args: tuple, kwargs: dict) -> bool:
        return self.prefer is None or bool(self.prefer(*args, **kwargs))


def make_kernel_register(regs: Any, owner: str) -> Callable[..., Any]:
    """``register(op, impl, fn, *, devices, priority, supports, available, prefer, reference, **meta)``."""

    def register(
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
        name = f"{op}:{impl}"
        reg = regs["kernel"]
        if reference:
            clash = [n for n in reg.names(f"{op}:*") if reg.get(n).info.is_reference and n != name]
            if clash:
                raise ValueError(
                    f"operation {op!r} already has a reference implementation ({clash[0]}); "
                    "register this one as an alternate"
                )
        k = KernelImpl(op, impl, fn, tuple(devices), priority, supports, available, reference, prefer)
        return reg.add(
            name, k, owner, op=op, devices=tuple(devices), priority=priority, is_reference=reference, **meta
        )

    return register


def _registry() -> Any:
    from ..plugins import runtime

    return runtime().registries["kernel"]


def list_ops() -> list[str]:
    reg = _registry()
    return sorted({reg.get(n).info.op for n in reg.names()})


def implementations(op: str) -> dict[str, KernelImpl]:
    """impl name -> :class:`KernelImpl` for ``op``."""
    reg = _registry()
    out = {n.split(":", 1)[1]: reg.get(n).factory for n in reg.names(f"{op}:*")}
    if not out:
        from ..errors import UnknownNameError

        raise UnknownNameError("kernel operation", op, list_ops())
    return out


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
    dev = _device_type(args, kwargs)
    forced = kernel or _env_choice(op)
    if forced:
        k = impls.get(forced)
        if k is None:
            raise ValueError(
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


KERNELS_PAPER = Paper(title="zoo-core kernels", authors=["zoo-core developers"], venue="zoo-core", year=2026)
