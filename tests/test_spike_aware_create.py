"""``zoo.create_model(name, spike_aware=...)``: the documented way to build a model whose eligible convs and
linears run the spike-aware kernels (:func:`zoo_core.layers.spike_aware`), for registered names, weight tags and
weight sources, composed with ``kernel=``; bad values and models without an eligible layer are one-line errors.

The equality checks run on a SpikingResformer whose neurons fire (:func:`zoo_core.testing_parity.make_fire`), in
float64: the alternates sum the same products in another order, so they match dense within 1e-12 relative to the
logits' scale.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import zoo_core as zoo
from zoo_core.errors import ConfigError
from zoo_core.kernels import spike_conv as sc
from zoo_core.layers import spike_aware
from zoo_core.testing_parity import FiringRecorder, make_fire

NAME, CFG = "spikingresformer_dvsg", {"img_size": 8, "T": 4}


def _x(seed: int = 5) -> torch.Tensor:
    return torch.rand((3, 3, 8, 8), generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.fixture(scope="module")
def dense() -> nn.Module:
    """The dense SpikingResformer (float64) with weights under which every neuron layer fires."""
    if NAME not in zoo.list_models():
        pytest.skip("the spikingresformer plugin is not installed")
    m = zoo.create_model(NAME, **CFG).double()
    make_fire(m, _x(0), seed=0)
    with FiringRecorder(m) as fr, torch.no_grad():
        m(_x())
    rates = list(fr.rates.values())
    assert len(rates) == 38 and min(rates) > 0.01 and max(rates) < 0.9, (
        rates
    )  # every layer fires, none saturates
    return m


def _built(dense: nn.Module, **kw: object) -> nn.Module:
    m = zoo.create_model(NAME, **CFG, **kw).double()
    m.load_state_dict(dense.state_dict())
    return m.eval()


def _count(monkeypatch: pytest.MonkeyPatch, inner: str) -> list[object]:
    """Record every call of the ``lut`` / ``gather`` implementation's inner sum (``_lut_rows`` /
    ``_gather_rows``)."""
    calls: list[object] = []
    real = getattr(sc, inner)
    monkeypatch.setattr(sc, inner, lambda *a: calls.append(a[0].shape) or real(*a))
    return calls


def test_spike_aware_true_equals_spike_aware_and_dense(dense, monkeypatch):
    # the 8x8 test model's layers are far below the measured thresholds: let automatic selection pick alternates
    monkeypatch.setattr(sc, "MIN_ROWS", 1)
    monkeypatch.setattr(sc, "MIN_OUT_FEATURES", 1)
    monkeypatch.setattr(sc, "LUT_MAX_RATE", 1.0)
    lut, gather = _count(monkeypatch, "_lut_rows"), _count(monkeypatch, "_gather_rows")
    x = _x()
    with torch.no_grad():
        want = dense(x)
    m = _built(dense, spike_aware=True)
    with torch.no_grad():
        got = m(x)
    assert lut or gather  # automatic selection ran an alternate somewhere
    scale = float(want.abs().max())
    assert scale > 0.1 and not torch.allclose(want[0], want[1])  # logits that depend on the input
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12 * scale)
    plain = zoo.create_model(NAME, **CFG)
    assert spike_aware(m, enable=False) == spike_aware(plain)  # the same layers as spike_aware(model)
    with torch.no_grad():
        assert torch.equal(m(x), want)  # undone: the dense model, bit for bit


@pytest.mark.parametrize("forced,inner", [("lut", "_lut_rows"), ("gather", "_gather_rows")])
def test_forced_kernel_runs_it(dense, monkeypatch, forced, inner):
    calls = _count(monkeypatch, inner)
    x = _x()
    with torch.no_grad():
        want = dense(x)
    m = _built(dense, spike_aware=forced)
    changed = spike_aware(zoo.create_model(NAME, **CFG))
    with torch.no_grad():
        got = m(x)
    # every changed layer ran the forced alternate (lut: all but the head, which reads pooled real values)
    assert len(calls) == len(changed) - (forced == "lut") > 20
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12 * float(want.abs().max()))
    dense_calls = _count(monkeypatch, inner)
    with torch.no_grad():
        torch.testing.assert_close(_built(dense, spike_aware="dense")(x), want, rtol=0, atol=0)
    assert not dense_calls  # "dense" forces the reference


def test_state_dict_unchanged():
    if NAME not in zoo.list_models():
        pytest.skip("the spikingresformer plugin is not installed")
    torch.manual_seed(0)
    plain = zoo.create_model(NAME, **CFG).state_dict()
    torch.manual_seed(0)
    spiky = zoo.create_model(NAME, **CFG, spike_aware=True).state_dict()
    assert list(spiky) == list(plain)
    assert all(torch.equal(spiky[k], plain[k]) for k in plain)


@pytest.mark.parametrize("bad", ["fast", "LUT", "reference", 1, 0, "", ["lut"]], ids=repr)
def test_bad_values_are_config_errors(bad):
    with pytest.raises(ConfigError, match=r"spike_aware must be True, 'auto', 'lut', 'gather' or 'dense'"):
        zoo.create_model("spiking_cnn", spike_aware=bad)
    # checked before anything is built or downloaded: a source that does not exist is never reached
    with pytest.raises(ConfigError, match="spike_aware must be"):
        zoo.create_model("hf://nobody/no-such-repo", spike_aware=bad)


def test_false_and_none_change_nothing():
    for off in (False, None):
        m = zoo.create_model("spiking_cnn", spike_aware=off)
        assert spike_aware(m, enable=False) == []  # no layer had been changed


def test_no_eligible_layer_is_an_error():
    @zoo.register_model("fx_no_spike_layers", defaults={"width": 4})
    def no_spike_layers(width: int = 4) -> nn.Module:
        return nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.Flatten(), nn.Linear(7, 3)
        )  # in_features 7: not a multiple of 8

    try:
        assert isinstance(zoo.create_model("fx_no_spike_layers"), nn.Sequential)
        with pytest.raises(
            ConfigError, match=r"no layer the spike-aware kernels can run \(eligible: 1x1 convs"
        ):
            zoo.create_model("fx_no_spike_layers", spike_aware=True)
    finally:
        zoo.unregister("model", "fx_no_spike_layers")


def test_a_builder_that_takes_spike_aware_gets_it_unchanged():
    class Box(nn.Module):
        def __init__(self, spike_aware: object) -> None:
            super().__init__()
            self.got = spike_aware

    zoo.register_model("fx_takes_spike_aware", defaults={"spike_aware": False})(
        lambda spike_aware=False: Box(spike_aware)
    )
    try:
        assert (
            zoo.create_model("fx_takes_spike_aware", spike_aware="lut").got == "lut"
        )  # no eligible layer: no error
    finally:
        zoo.unregister("model", "fx_takes_spike_aware")


def _digits() -> torch.Tensor:
    return torch.rand((4, 1, 8, 8), generator=torch.Generator().manual_seed(2))


def test_weight_tags_sources_and_kernel_compose(tmp_path):
    plain = zoo.create_model("spiking_cnn.digits_t4", pretrained=True)
    x = _digits()
    with torch.no_grad():
        want = plain(x)
    source = zoo.model_info("spiking_cnn").weights["digits_t4"].source  # package://...
    folder = zoo.save_pretrained(plain, tmp_path / "w")
    built = {
        "tag": zoo.create_model("spiking_cnn.digits_t4", pretrained=True, spike_aware="gather"),
        "package": zoo.create_model(source, spike_aware="gather"),
        "folder": zoo.create_model("spiking_cnn", pretrained=str(folder), spike_aware="gather"),
        "kernel": zoo.create_model(
            "spiking_cnn.digits_t4", pretrained=True, kernel="inplace", spike_aware="gather"
        ),
    }
    neurons = [m for m in built["kernel"].modules() if isinstance(m, zoo.BaseNeuron)]
    assert neurons and all(n.kernel == "inplace" for n in neurons)  # the neurons' kernel is set too
    for how, m in built.items():
        sd = m.state_dict()
        assert list(sd) == list(plain.state_dict()), how
        assert all(torch.equal(v, plain.state_dict()[k]) for k, v in sd.items()), how
        with torch.no_grad():
            torch.testing.assert_close(m.eval()(x), want, rtol=1e-5, atol=1e-5, msg=how)
        assert spike_aware(m, enable=False) == ["head.module"], how  # it had been made spike-aware
