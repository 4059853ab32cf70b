"""``zoo.create_model(name, kernel=...)``: one way to pick the kernel of every neuron of any model.

For each plugin's main model at a tiny size: with ``kernel="compiled"`` every kernel-dispatching neuron runs the
compiled loop and the output equals the reference's bit for bit, checked where the neurons fire (rates printed
in the assertion); models whose neurons run their own code refuse a kernel with an error that says so; a name
that is no implementation is an error naming the valid choices.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import zoo_core as zoo
from zoo_core.errors import ConfigError
from zoo_core.kernels import implementations
from zoo_core.kernels import lif_compiled as lc

#: model -> (constructor overrides, input builder); tiny sizes, inputs scaled so that neurons fire
KERNEL_MODELS = {
    "spiking_cnn": ({"T": 2}, lambda: torch.rand(2, 1, 8, 8) * 4),
    "spikingresformer_ti": (
        {"img_size": 32, "T": 2, "planes": [16, 48, 96], "num_classes": 10},
        lambda: torch.rand(2, 3, 32, 32) * 4,
    ),
    "dpcnn_vgg9_lif_wide": (
        {"T": 2, "img_size": 8, "width_mult": 0.125, "fc_hidden": 8},
        lambda: torch.rand(2, 3, 8, 8) * 4,
    ),
}
#: one main model per plugin whose neurons do not dispatch a kernel operation
NO_KERNEL_MODELS = [
    "empf_digits",
    "lmht_cnn_digits",
    "qcfs_cnn_digits_parallel",
    "sparse_grad_mlp_digits",
    "dpcnn_digits",
    "spiking_predictor_stc_lif_mdigits",
    "usp_spkrecon",
    "retina_off_cnn",
]


def _kernels(model: torch.nn.Module) -> set:
    return {m.kernel for m in model.modules() if getattr(type(m), "kernel_ops", None)}


def _run(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[float]]:
    """The output (no autograd graph) and the firing rate of every kernel-dispatching neuron."""
    rates: list[float] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: rates.append(float(o.float().mean())))
        for m in model.modules()
        if getattr(type(m), "kernel_ops", None)
    ]
    with torch.no_grad():
        out = model(x)
    for h in hooks:
        h.remove()
    return out, rates


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(KERNEL_MODELS))
def test_compiled_override_equals_reference_where_neurons_fire(name, monkeypatch):
    if not lc.available():
        pytest.skip("torch.compile needs a C++ compiler")
    cfg, make_x = KERNEL_MODELS[name]
    torch.manual_seed(0)
    ref = zoo.create_model(name, kernel="reference", **cfg)
    comp = zoo.create_model(name, kernel="compiled", **cfg)
    comp.load_state_dict(ref.state_dict())
    assert _kernels(ref) == {"reference"} and _kernels(comp) == {"compiled"}
    x = make_x()
    with torch.no_grad():  # normalised pre-activations N(0.6, 2^2): a LIF (tau 2, threshold 1) fires often
        for m in ref.modules():
            if "Norm" in type(m).__name__ and getattr(m, "weight", None) is not None:
                m.weight.fill_(2.0)
                m.bias.fill_(0.6)
    comp.load_state_dict(ref.state_dict())
    ref.train()  # normalisation by batch statistics (and DSSA's firing-rate scales from the batch), no dropout
    comp.train()
    out_r, rates = _run(ref, x)
    ran: list[tuple] = []
    compiled = implementations("lif_multistep")["compiled"]
    run_compiled = compiled.fn
    monkeypatch.setattr(compiled, "fn", lambda *a, **kw: (ran.append(a[0].shape), run_compiled(*a, **kw))[1])
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a fallback to the reference would warn
        out_c, rates_c = _run(comp, x)
    assert lc._broken is None
    assert len(ran) == len(rates)  # every neuron ran the compiled loop
    assert sum(r > 0 for r in rates) >= len(rates) // 2, f"too few layers fire: rates {rates}"
    assert rates_c == rates
    assert torch.isfinite(out_r).all() and out_r.abs().max() > 0
    assert torch.equal(out_c, out_r), f"max |diff| {float((out_c - out_r).abs().max())}, rates {rates}"


def test_override_reaches_every_neuron_without_running():
    m = zoo.create_model("spikingresformer_ti", kernel="triton", img_size=32, T=1, planes=[16, 48, 96])
    assert _kernels(m) == {"triton"}
    assert len([x for x in m.modules() if getattr(type(x), "kernel_ops", None)]) == 38


@pytest.mark.parametrize("name", NO_KERNEL_MODELS)
def test_models_without_kernel_neurons_refuse_a_kernel(name):
    cfg = zoo.model_info(name).test_config
    with pytest.raises(ConfigError, match="no module that dispatches a kernel operation"):
        zoo.create_model(name, kernel="compiled", **cfg)


def test_unknown_kernel_name_is_a_clear_error():
    with pytest.raises(
        ConfigError,
        match=r"'cuda_magic' is not an implementation .*compiled, inplace, native, reference, triton",
    ):
        zoo.create_model("spiking_cnn", kernel="cuda_magic")
    with pytest.raises(ConfigError, match="must be an implementation name"):
        zoo.create_model("spiking_cnn", kernel=3)


def test_kernel_override_with_pretrained_weights():
    m = zoo.create_model("spiking_cnn.digits_t4", pretrained=True, kernel="reference")
    assert _kernels(m) == {"reference"}
    plain = zoo.create_model("spiking_cnn.digits_t4", pretrained=True)
    assert _kernels(plain) == {None}
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(m(x), plain(x))
