"""``lif_multistep:compiled``: the reference loop through ``torch.compile`` (a real speed path on CPU).

The loop over ``x_seq.unbind(0)`` is traced once per input shape and configuration (``dynamic=False``) and
fused by Inductor into a few vectorised loops, forward and backward. Automatic selection only picks it for
tensors large enough to amortise compilation (``ZOO_COMPILE_MIN_NUMEL`` elements, default 2**18); a neuron
built with ``kernel="compiled"`` uses it for any size. If compilation fails (no C++ compiler, an unsupported
platform) the call falls back to the reference and the failure is remembered for the rest of the process.
"""

from __future__ import annotations

import os
import shutil
import warnings
from typing import Any

from torch import Tensor

from .lif import lif_multistep_reference

_compiled: Any = None
_broken: str | None = None


def available() -> bool:
    if _broken is not None or os.environ.get("ZOO_NO_COMPILE", "") not in ("", "0"):
        return False
    return (
        shutil.which("g++") is not None or shutil.which("c++") is not None or shutil.which("cl") is not None
    )


def supports(x_seq: Tensor, v0: Tensor, **kw: Any) -> bool:
    # custom (plugin) surrogates may hold Python state dynamo cannot trace; built-ins are plain functions
    from ..neurons.surrogate import SURROGATES

    sur = kw.get("surrogate")
    return getattr(sur, "name", None) in SURROGATES and x_seq.device.type == "cpu"


def prefer(x_seq: Tensor, v0: Tensor, **kw: Any) -> bool:
    return v0.numel() >= int(os.environ.get("ZOO_COMPILE_MIN_NUMEL", 2**18))


def lif_multistep_compiled(x_seq: Tensor, v0: Tensor, **kw: Any) -> tuple[Tensor, Tensor]:
    global _compiled, _broken
    if _broken is None:
        try:
            if _compiled is None:
                import torch

                _compiled = torch.compile(lif_multistep_reference, dynamic=False)
            return _compiled(x_seq, v0, **kw)
        except Exception as exc:  # compilation is an optimisation: never let it break a forward pass
            _broken = f"{type(exc).__name__}: {exc}"
            warnings.warn(
                f"lif_multistep:compiled is unavailable ({_broken[:200]}); using the reference loop",
                RuntimeWarning,
                stacklevel=2,
            )
    return lif_multistep_reference(x_seq, v0, **kw)
