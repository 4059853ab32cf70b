import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest
import torch

torch.set_num_threads(1)


def _liven(model, seed=0, batches=3):
    """Give a model random weights that make its neurons fire in every block (the official std-0.02
    initialisation lets spikes die out after the first blocks), with BatchNorm running statistics and DSSA
    firing-rate buffers set by training-mode forwards on random images. Returns the model in eval mode."""
    from torch import nn

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bns = []
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                m.weight.normal_(0.0, 1.0 / m.weight[0].numel() ** 0.5, generator=g)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.8, 1.6, generator=g)
                m.bias.normal_(0.3, 0.3, generator=g)
                m.reset_running_stats()
                bns.append((m, m.momentum))
                m.momentum = None  # cumulative average over the calibration batches
        dtype = next(model.parameters()).dtype
        model.train()
        for _ in range(batches):
            model(torch.rand((4, model.in_chans, model.img_size, model.img_size), generator=g, dtype=dtype))
        for m, momentum in bns:
            m.momentum = momentum
    return model.eval()


@pytest.fixture(scope="session")
def liven():
    return _liven
