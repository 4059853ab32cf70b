"""DPCNN-VGG9, the LIF wide-VGG9 and the digits DPCNN: conformance kit, layout, neurons used, errors."""

from __future__ import annotations

import pytest
import torch
import zoo_core as zoo
from zoo_core.sdk import LIF, ConfigError, InputError
from zoo_core.testing import check_model

from zoo_dpcnn.models import VGGSNN
from zoo_dpcnn.neuron import PCNN
from zoo_dpcnn.norm import RFTDBatchNorm

MODELS = ["dpcnn_vgg9", "dpcnn_vgg9_lif_wide", "dpcnn_digits"]


@pytest.mark.parametrize("name", MODELS)
def test_conformance_kit(name) -> None:
    check_model(name)


@pytest.mark.parametrize("kw", [{"coupling": "intra", "norm": "bn"}, {"coupling": "both", "norm": "none"}])
def test_conformance_kit_variants(kw) -> None:
    check_model("dpcnn_vgg9", **kw)


def test_variants_are_one_family() -> None:
    """The three models are VGGSNN with the variant's arguments over the class defaults."""
    vgg9, wide, digits = (zoo.model_info(n).defaults for n in MODELS)
    assert vgg9["cfg"] == wide["cfg"] == [64, 64, "A", 128, 128, "A", 256, 256, 256, "A"]
    assert {k: v for k, v in wide.items() if vgg9[k] != v} == {
        "width_mult": 2.0, "norm": "bn", "neuron": "lif", "coupling": "none"
    }  # fmt: skip
    assert {k: v for k, v in digits.items() if vgg9[k] != v} == {
        "in_chans": 1, "img_size": 8, "cfg": [16, "A", 32, "A"], "fc_hidden": None
    }  # fmt: skip
    assert all(type(zoo.create_model(n, **zoo.model_info(n).test_config)) is VGGSNN for n in MODELS)


@pytest.mark.parametrize("name", ["dpcnn_vgg9", "dpcnn_digits"])
def test_head_api(name) -> None:
    """forward_head(forward_features(x)) is the model's output; reset_classifier swaps the readout."""
    torch.manual_seed(0)
    m = zoo.create_model(name, **zoo.model_info(name).test_config).double().eval()
    x = torch.rand(3, m.in_chans, m.img_size, m.img_size, dtype=torch.float64)
    with torch.no_grad():
        feats = m.forward_features(x)
        assert feats.shape == (m.T, 3, m.num_features)
        assert torch.equal(m.forward_head(feats), m(x))
    head = m.get_classifier()
    assert head is m.classifier[-1] and head.out_features == 10
    m.reset_classifier(5)
    assert m.get_classifier() is m.classifier[-1] is not head
    with torch.no_grad():
        assert m(x).shape == (3, 5)


def test_state_dict_layout() -> None:
    m = zoo.create_model("dpcnn_vgg9", T=3, img_size=16, width_mult=0.25, fc_hidden=32)
    sd = m.state_dict()
    assert sd["features.0.conv.weight"].shape == (16, 3, 3, 3)
    assert sd["features.0.bn.weight"].shape == (3, 16) and sd["features.0.bn.running_var"].shape == (3, 16)
    assert sd["features.0.neuron.coupling.weight"].shape == (16, 16, 3, 3)
    assert sd["features.8.neuron.coupling.weight"].shape == (64, 64, 3, 3)
    convs = [k for k in sd if k.endswith("conv.weight")]
    assert [k.split(".")[1] for k in convs] == ["0", "1", "3", "4", "6", "7", "8"]  # pools at 2, 5, 9
    assert sd["classifier.0.fc.weight"].shape == (32, 64 * 2 * 2)
    assert sd["classifier.1.weight"].shape == (10, 32) and "classifier.1.bias" in sd
    assert not any("classifier.0.neuron" in k for k in sd)  # the FC neuron is uncoupled
    intra = zoo.create_model("dpcnn_vgg9", coupling="intra", width_mult=0.25, img_size=8).state_dict()
    assert intra["features.1.neuron.coupling.weight"].shape == (16, 1, 3, 3)


def test_neurons_norms_and_width() -> None:
    d = zoo.create_model("dpcnn_vgg9", width_mult=0.125, img_size=8, fc_hidden=8)
    w = zoo.create_model("dpcnn_vgg9_lif_wide", width_mult=0.25, img_size=8, fc_hidden=8)
    dn = [m for m in d.modules() if isinstance(m, PCNN)]
    wn = [m for m in w.modules() if isinstance(m, LIF)]
    assert len(dn) == len(wn) == 8  # 7 conv blocks + the hidden FC block
    assert [n.coupling_mode for n in dn] == ["inter"] * 7 + ["none"]
    assert not any(isinstance(m, PCNN) for m in w.modules())
    assert [b.time_dependent for b in d.modules() if isinstance(b, RFTDBatchNorm)] == [True] * 8
    assert [b.time_dependent for b in w.modules() if isinstance(b, RFTDBatchNorm)] == [False] * 8
    assert d.features[0].conv.out_channels * 2 == w.features[0].conv.out_channels == 16


def test_pcnn_options_reach_the_neurons() -> None:
    m = zoo.create_model(
        "dpcnn_vgg9", width_mult=0.0625, img_size=8, fc_hidden=8, neuron_kwargs={"beta": 0.0, "a_E": 0.9}
    )
    assert all(n.beta == 0.0 and n.a_E == 0.9 for n in m.modules() if isinstance(n, PCNN))


def test_errors() -> None:
    with pytest.raises(ConfigError, match="divisible by 8"):
        zoo.create_model("dpcnn_vgg9", img_size=12)
    with pytest.raises(ConfigError, match="norm"):
        zoo.create_model("dpcnn_vgg9", norm="layer")
    with pytest.raises(ConfigError, match="coupling"):
        zoo.create_model("dpcnn_vgg9", neuron_kwargs={"coupling": "intra"})
    m = zoo.create_model("dpcnn_digits", T=2, cfg=[4, "A", 8, "A"])
    with pytest.raises(InputError, match="8x8"):
        m(torch.rand(2, 1, 16, 16))
    with pytest.raises(InputError, match="T=2"):
        m(torch.rand(3, 2, 1, 8, 8))  # time-dependent BN: exactly T frames
