"""Zoo models through timm's own create_model, without touching timm's names."""

import pytest
import torch

import zoo_core as zoo

timm = pytest.importorskip("timm")


def test_zoo_models_are_created_by_timm_without_clashes():
    before = set(timm.list_models())
    names = zoo.register_with_timm()
    after = set(timm.list_models())
    assert names == ["zoo_" + n for n in zoo.list_models()]
    assert after - before == set(names) - before and before <= after  # nothing of timm's was replaced
    assert all(n.startswith("zoo_") for n in after - before)
    model = timm.create_model("zoo_spiking_cnn", num_classes=5, T=2, drop_rate=0.0)
    assert model.zoo_name == "spiking_cnn" and model(torch.rand(2, 1, 8, 8)).shape == (2, 5)
    with pytest.raises(TypeError, match="drop_path_rate"):
        timm.create_model("zoo_spiking_cnn", drop_path_rate=0.1)
    assert zoo.register_with_timm() == names  # idempotent


def test_timm_pretrained_tag_loads_the_zoo_weights():
    zoo.register_with_timm("spiking_cnn")
    assert "zoo_spiking_cnn.digits_t4" in timm.list_models("zoo_*", pretrained=True)
    a = timm.create_model("zoo_spiking_cnn.digits_t4", pretrained=True)
    b = zoo.create_model("spiking_cnn.digits_t4", pretrained=True)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sb)
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(a.eval()(x), b.eval()(x))
