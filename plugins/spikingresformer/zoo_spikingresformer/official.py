"""Official checkpoints (xyshi2000/SpikingResformer) -> this zoo: the layouts are identical.

The official ``main.py`` saves ``{"model": state_dict, "optimizer": ..., "epoch": ..., "max_acc1": ...,
"lr_scheduler": ...}`` with the un-wrapped model's state dict. ``zoo.from_official`` removes the wrapper and any
DDP ``module.`` prefix, then calls :func:`from_official`, which checks that the result is a SpikingResformer
state dict and returns it unchanged (key names and shapes are the official ones, see the README).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor
from zoo_core.sdk import WeightsError, unwrap_state_dict

__all__ = ["from_official", "official_config"]


def from_official(state_dict: dict[str, Any]) -> dict[str, Tensor]:
    """Validate an (un-wrapped) official state dict and return it as this zoo's state dict (identity)."""
    if not isinstance(state_dict, dict) or not all(isinstance(v, Tensor) for v in state_dict.values()):
        raise WeightsError("SpikingResformer: expected a state dict of tensors")
    sd = dict(state_dict)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    required = ("prologue.0.weight", "classifier.weight", "layers.0.0.firing_rate_x")
    missing = [k for k in required if k not in sd]
    if missing:
        raise WeightsError(
            "SpikingResformer: not an official SpikingResformer state dict (missing "
            + ", ".join(missing)
            + f"; it has e.g. {', '.join(sorted(sd)[:4])})"
        )
    stray = sorted(k for k in sd if not k.startswith(("prologue.", "layers.", "classifier.")))
    if stray:
        raise WeightsError(
            f"SpikingResformer: unexpected keys in the official state dict: {', '.join(stray[:6])}"
        )
    zero = sorted(k for k, v in sd.items() if ".firing_rate_" in k and bool((v == 0).any()))
    if zero:
        import warnings

        from .dssa import FiringRateWarning

        warnings.warn(
            f"SpikingResformer: the checkpoint's firing-rate buffers {', '.join(zero[:3])}"
            f"{' ...' if len(zero) > 3 else ''} are zero; eval-mode outputs will be meaningless",
            FiringRateWarning,
            stacklevel=2,
        )
    return sd


def official_config(state_dict: dict[str, Any]) -> dict[str, Any]:
    """Constructor overrides read from an official state dict: ``num_classes`` and ``in_chans``."""
    out: dict[str, Any] = {}
    if "classifier.weight" not in state_dict:
        state_dict = unwrap_state_dict(state_dict)
    w = state_dict.get("classifier.weight")
    if isinstance(w, Tensor) and w.dim() == 2:
        out["num_classes"] = int(w.shape[0])
    w = state_dict.get("prologue.0.weight")
    if isinstance(w, Tensor) and w.dim() == 4:
        out["in_chans"] = int(w.shape[1])
    return out
