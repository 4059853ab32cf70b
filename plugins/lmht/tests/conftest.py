import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch
from torch import nn

torch.set_num_threads(1)


def _randomise(model: nn.Module, seed: int = 0, masks: bool = False, alpha: float | None = None) -> nn.Module:
    """Deterministic non-trivial weights: BN statistics/affine at random (so neurons fire), optionally random
    T-GIM logits (``masks``) and a fixed leak logit ``alpha``."""
    g = torch.Generator().manual_seed(seed)
    sd = model.state_dict()
    for k, v in sd.items():
        if not v.is_floating_point():
            continue
        r = torch.rand(v.shape, generator=g, dtype=torch.float64)
        if k.endswith("running_var"):
            sd[k] = (r * 0.5 + 0.5).to(v.dtype)
        elif k.endswith("running_mean") or (k.endswith(".bias") and v.dim() == 1):
            sd[k] = (0.4 * (r - 0.5)).to(v.dtype)
        elif k.endswith("weight") and v.dim() == 1:
            sd[k] = (r + 0.5).to(v.dtype)
        elif masks and (k.endswith(".mask") or k.endswith(".mask_linear")):
            sd[k] = (2 * r - 1).to(v.dtype)
        elif alpha is not None and k.endswith(".alpha"):
            sd[k] = torch.full_like(v, alpha)
    model.load_state_dict(sd)
    return model


@pytest.fixture
def randomise():
    return _randomise
