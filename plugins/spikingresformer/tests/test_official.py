"""Official checkpoints: zoo.from_official (identity after unwrapping), official_config, zoo convert."""

from __future__ import annotations

import json

import pytest
import torch
import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import WeightsError


def _official_like(name="spikingresformer_cifar", seed=0, **kw):
    """A synthetic "official" state dict: the official layout (see the README) with random values."""
    torch.manual_seed(seed)
    m = zoo.create_model(name, **kw)
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in m.state_dict().items():
        if v.is_floating_point():
            v = (
                torch.rand(v.shape, generator=g) * 0.5 + 0.05
                if ("firing_rate" in k or "running_var" in k)
                else torch.randn(v.shape, generator=g) * 0.1
            )
        sd[k] = v.clone()
    return sd


def test_from_official_is_identity_after_unwrapping():
    sd = _official_like(num_classes=100, img_size=16)
    for wrapped in (sd, {"model": sd, "epoch": 311}, {"model": {"module." + k: v for k, v in sd.items()}}):
        out = zoo.from_official("spikingresformer_cifar", wrapped)
        assert list(out) == list(sd)
        assert all(out[k] is sd[k] or torch.equal(out[k], sd[k]) for k in sd)
    assert zoo.official_config("spikingresformer_cifar", {"model": sd}) == {"num_classes": 100, "in_chans": 3}
    m = zoo.create_model("spikingresformer_cifar", img_size=16, num_classes=100)
    m.load_state_dict(zoo.from_official("spikingresformer_cifar", sd), strict=True)


def test_from_official_rejects_other_layouts():
    with pytest.raises(WeightsError, match="not an official SpikingResformer"):
        zoo.from_official("spikingresformer_ti", {"features.0.weight": torch.zeros(2)})
    sd = _official_like(img_size=16)
    sd["head.bias"] = torch.zeros(10)
    with pytest.raises(WeightsError, match="unexpected keys"):
        zoo.from_official("spikingresformer_cifar", sd)


def test_zoo_convert_official_checkpoint_round_trip(tmp_path, capsys):
    sd = _official_like("spikingresformer_dvsg", seed=1, img_size=16)
    ckpt = tmp_path / "spikingresformer_dvsg.pth"
    torch.save(
        {"model": sd, "optimizer": {"state": {}, "param_groups": []}, "epoch": 299, "max_acc1": 97.5}, ckpt
    )
    out = tmp_path / "converted"
    args = ["convert", "--official", str(ckpt), "--model", "spikingresformer_dvsg", "--out", str(out)]
    assert main(args) == 2  # a pickle needs the explicit opt-in
    capsys.readouterr()
    assert (
        main([*args, "--allow-pickle", "--tag", "dvsgesture_t16", "--model-kwargs", '{"img_size": 16}']) == 0
    )
    loaded = zoo.load_pretrained(None, out)
    got = loaded.state_dict()
    assert list(got) == list(sd)
    assert all(torch.equal(got[k], v) for k, v in sd.items())
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["args"]["num_classes"] == 11 and cfg["model"] == "spikingresformer_dvsg"
    assert cfg["parameters"] == {"total": 2_709_830, "without_bn_affine": 2_689_990}
    card = (out / "README.md").read_text()
    assert "2,709,830" in card and "2,689,990" in card and "time-first" in card
    # the converted model evaluates like the official weights loaded directly
    direct = zoo.create_model("spikingresformer_dvsg", img_size=16).eval()
    direct.load_state_dict(sd)
    x = torch.rand(16, 1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), direct(x))
