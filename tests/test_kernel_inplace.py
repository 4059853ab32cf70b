"""``lif_multistep:inplace``: the inference loop in preallocated buffers equals the reference bit for bit, and is
what automatic selection runs for inference (and never for a call that needs gradients)."""

from __future__ import annotations

import pytest
import torch

import zoo_core as zoo
from zoo_core.kernels import lif_native, select
from zoo_core.kernels.lif import lif_multistep_reference
from zoo_core.kernels.lif_inplace import lif_multistep_inplace
from zoo_core.neurons.surrogate import SURROGATES

SUR = SURROGATES["atan"](alpha=2.0)
CHARGES = {
    "if": {"tau": None, "k": None, "decay_input": False},
    "tau_decay": {"tau": 3.0, "k": None, "decay_input": True},  # 1/3: a division that is not exact
    "tau_nodecay": {"tau": 3.0, "k": None, "decay_input": False},
    "plif_decay": {"tau": None, "k": "tensor", "decay_input": True},
    "plif_nodecay": {"tau": None, "k": "tensor", "decay_input": False},
}
RESETS = {"hard0": 0.0, "hard-0.3": -0.3, "soft": None}


def _case(dtype, charge, reset, shape=(6, 3, 4, 5, 5)):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 1.2 + 0.4).to(dtype)
    v0 = (torch.randn(shape[1:], generator=g, dtype=torch.float64) * 0.5).to(dtype)
    kw = {**CHARGES[charge], "v_threshold": 0.7, "v_reset": RESETS[reset], "surrogate": SUR}
    if kw["k"] == "tensor":  # PLIF: a per-channel sigmoid(w), broadcast over [C, H, W]
        kw["k"] = torch.sigmoid(torch.randn(shape[2], 1, 1, generator=g, dtype=torch.float64)).to(dtype)
    return x, v0, kw


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("reset", list(RESETS))
@pytest.mark.parametrize("charge", list(CHARGES))
def test_inplace_equals_the_reference_bit_for_bit(charge, reset, dtype):
    x, v0, kw = _case(dtype, charge, reset)
    with torch.no_grad():
        s_ref, v_ref = lif_multistep_reference(x, v0, **kw)
        s, v = lif_multistep_inplace(x, v0, **kw)
    assert 0 < float(s_ref.float().mean()) < 1  # some fire, some do not
    assert s.dtype == s_ref.dtype and torch.equal(s, s_ref)
    assert torch.equal(v, v_ref)
    assert v0.data_ptr() != v.data_ptr()  # the initial state is not overwritten


def test_automatic_selection_runs_it_for_inference_only(monkeypatch):
    monkeypatch.setattr(lif_native, "is_built", lambda: False)  # else the C loop (test_kernel_native.py) runs
    monkeypatch.setattr(lif_native, "_work", [0])
    x, v0, kw = _case(torch.float32, "tau_decay", "hard0")
    kw = {**kw, "detach_reset": False}
    with torch.no_grad():
        assert select("lif_multistep", x, v0, **kw).impl == "inplace"
    xg = x.clone().requires_grad_()
    assert select("lif_multistep", xg, v0, **kw).impl == "reference"
    assert select("lif_multistep", x, v0, **kw).impl == "inplace"  # nothing requires grad
    k = kw | {"k": torch.full((4, 1, 1), 0.3, dtype=torch.float64), "tau": None}  # would promote: reference
    with torch.no_grad():
        assert select("lif_multistep", x, v0, **k).impl == "reference"


def test_a_model_gives_the_same_logits_on_the_default_and_the_reference_path(monkeypatch):
    model = zoo.create_model("spiking_cnn.digits_t4", pretrained=True).eval()
    x = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        default = model(x)
        monkeypatch.setenv("ZOO_KERNELS", "lif_multistep=reference")
        reference = model(x)
    assert torch.equal(default, reference)
    forced = zoo.create_model("spiking_cnn.digits_t4", pretrained=True, kernel="inplace").eval()
    with torch.no_grad():
        assert torch.equal(forced(x), reference)


def test_viz_records_the_membrane_on_the_reference_whatever_the_model_runs():
    pytest.importorskip("matplotlib")
    from zoo_core.kernels import reference_only
    from zoo_core.viz import record

    model = zoo.create_model("spiking_cnn.digits_t4", pretrained=True, kernel="inplace").eval()
    x = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    rec = record(model, x)
    layer = next(iter(rec.layers.values()))
    assert (
        layer.margin is not None
    )  # the inplace loop never calls the spike function; the recording's run does
    assert torch.equal(layer.spikes, (layer.margin >= 0).to(layer.spikes.dtype))
    with torch.no_grad():
        args = (torch.rand(3, 2, 5), torch.zeros(2, 5))
        kw = {
            **CHARGES["tau_decay"],
            "v_threshold": 0.7,
            "v_reset": 0.0,
            "surrogate": SUR,
            "detach_reset": False,
        }
        assert select("lif_multistep", *args, kernel="inplace", **kw).impl == "inplace"
        with reference_only():
            assert select("lif_multistep", *args, kernel="inplace", **kw).impl == "reference"
