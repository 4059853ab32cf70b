import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest
import torch
from torch import nn

torch.set_num_threads(1)


def _randomise(model: nn.Module, seed: int = 0, up: tuple[float, float] = (0.5, 1.5)) -> nn.Module:
    """Deterministic weights with non-trivial activations: BN statistics/affine and QCFS clips drawn at random
    (a freshly built QCFS net has clip 8 and unit BN statistics, so most neurons would never fire)."""
    g = torch.Generator().manual_seed(seed)
    sd = model.state_dict()
    for k, v in sd.items():
        if not v.is_floating_point() or "rec_" in k:
            continue
        r = torch.rand(v.shape, generator=g, dtype=torch.float64)
        if k.endswith("running_var"):
            sd[k] = (r * 0.5 + 0.5).to(v.dtype)
        elif k.endswith("running_mean") or (k.endswith(".bias") and v.dim() == 1):
            sd[k] = (0.2 * (r - 0.5)).to(v.dtype)
        elif k.endswith(".up"):
            sd[k] = (r * (up[1] - up[0]) + up[0]).to(v.dtype)
        elif k.endswith("weight") and v.dim() == 1:
            sd[k] = (r + 0.5).to(v.dtype)
    model.load_state_dict(sd)
    return model


@pytest.fixture
def randomise():
    return _randomise
