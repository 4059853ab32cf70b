"""``lif_multistep:triton``: placeholder until the fused kernel lands (never available)."""

from __future__ import annotations

from typing import Any


def available() -> bool:
    return False


def supports(*args: Any, **kw: Any) -> bool:
    return False


def lif_multistep_triton(*args: Any, **kw: Any) -> Any:
    raise RuntimeError("lif_multistep:triton is not available")
