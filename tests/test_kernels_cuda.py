"""The Triton LIF kernel compiled for a GPU (no ``TRITON_INTERPRET``) against the reference on the CPU.

Skipped without CUDA (this project's CI has none); ``tools/gpu_check.sh`` runs it on a GPU machine. Every case
checks that neurons fire and stay silent in the same run, so an equality cannot hold by all-zero spikes.
"""

from __future__ import annotations

import pytest
import torch

from zoo_core.kernels import lif_triton as lt
from zoo_core.kernels.lif import lif_multistep_reference
from zoo_core.neurons.surrogate import SURROGATES

pytestmark = [
    pytest.mark.triton,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (tools/gpu_check.sh)"),
]

CHARGES = {
    "if": {"tau": None, "decay_input": False},
    "lif_decay": {"tau": 3.0, "decay_input": True},
    "lif_nodecay": {"tau": 3.0, "decay_input": False},
}
RESETS = {"hard0": 0.0, "hard-0.3": -0.3, "soft": None}
#: dtype -> (rtol, atol) for v_T and the gradients (spikes must be equal)
TOLERANCES = {
    torch.float64: (1e-12, 1e-12),
    torch.float32: (1e-5, 1e-6),
    torch.float16: (2e-2, 2e-3),
    torch.bfloat16: (5e-2, 2e-2),
}


@pytest.fixture(autouse=True)
def compiled(monkeypatch):
    pytest.importorskip("triton")
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert lt.available()


def _case(dtype, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 1.2 + 0.3).to(dtype)
    v0 = (torch.randn(shape[1:], generator=g, dtype=torch.float64) * 0.5).to(dtype)
    gs = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
    gv = torch.randn(shape[1:], generator=g, dtype=torch.float64).to(dtype)
    return x, v0, gs, gv


def _run(fn, device, x, v0, gs, gv, kw):
    x, v0 = x.to(device).requires_grad_(), v0.to(device).requires_grad_()
    s, v = fn(x, v0, **kw)
    gx, gv0 = torch.autograd.grad([s, v], [x, v0], [gs.to(device), gv.to(device)])
    return [t.detach().cpu() for t in (s, v, gx, gv0)]


@pytest.mark.parametrize("dtype", list(TOLERANCES), ids=str)
@pytest.mark.parametrize("surrogate", sorted(SURROGATES))
@pytest.mark.parametrize("reset", list(RESETS))
@pytest.mark.parametrize("charge", list(CHARGES))
def test_triton_on_cuda_equals_the_cpu_reference(charge, reset, surrogate, dtype):
    kw = {
        **CHARGES[charge],
        "k": None,
        "v_threshold": 0.7,
        "v_reset": RESETS[reset],
        "detach_reset": False,
        "surrogate": SURROGATES[surrogate](alpha=1.7),
    }
    x, v0, gs, gv = _case(dtype, (8, 4, 1000))  # 4000 neurons: several Triton programs
    want = _run(lif_multistep_reference, "cpu", x, v0, gs, gv, kw)
    got = _run(lt.lif_multistep_triton, "cuda", x, v0, gs, gv, kw)
    assert 0 < float(want[0].float().sum()) < want[0].numel()  # some fire, some do not
    assert torch.equal(got[0], want[0]), f"{int((got[0] != want[0]).sum())} spikes differ"
    rtol, atol = TOLERANCES[dtype]
    for a, b in zip(got[1:], want[1:]):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
