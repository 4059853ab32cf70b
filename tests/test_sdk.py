"""The plugin SDK: the classifier base (readout and timm's head API), families from a table of variants, presets
defined once, the demo-card helper, and the rule that a weight tag never changes its model's architecture."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import zoo_core as zoo
from zoo_core import sdk
from zoo_core.cli import main
from zoo_core.errors import ConfigError


def test_classifier_base_reads_out_the_mean_over_time_and_checks_its_sizes() -> None:
    torch.manual_seed(0)
    model = zoo.create_model("spiking_cnn", T=3).eval()
    x = torch.rand(5, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), model.forward_steps(x).mean(0))
    for bad in ({"T": 0}, {"num_classes": 0}, {"in_chans": True}, {"img_size": 2.5}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            zoo.create_model("spiking_cnn", **bad)


def test_timm_head_api_of_the_base() -> None:
    torch.manual_seed(0)
    model = zoo.create_model("spiking_cnn", channels=[4, 6]).eval()
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        features = model.forward_features(x)
        assert features.shape == (4, 3, model.num_features) and model.num_features == 4 * 6
        assert torch.equal(model.forward_head(features), model(x))
        assert torch.equal(model.forward_head(features, pre_logits=True), features)
    assert model.get_classifier() is model.head.module
    model.reset_classifier(5)
    assert model.num_classes == 5 and model(x).shape == (3, 5)
    assert model.get_classifier().in_features == 24
    model.reset_classifier(0)  # timm: no classifier, the head returns the pooled features
    assert model(x).shape == (3, 24) and model.num_features == 24
    model.reset_classifier(7)  # and back: the layer returns where it was
    assert model(x).shape == (3, 7) and model.get_classifier() is model.head.module
    with pytest.raises(ConfigError, match="num_classes must be an integer >= 0"):
        model.reset_classifier(-1)


class _Family(nn.Module):
    def __init__(self, *, width: int = 8, depth: int = 2, T: int = 4) -> None:
        super().__init__()
        self.layers = nn.Sequential(*(nn.Linear(width, width) for _ in range(depth)))


def test_register_variants_states_defaults_once() -> None:
    seen: list[tuple[str, dict]] = []

    def register(name, factory, **meta):
        assert factory is _Family
        seen.append((name, meta))

    sdk.register_variants(
        register,
        _Family,
        {
            "fx_family_s": sdk.Variant(args={"width": 4}, description="small", test_config={"T": 1}),
            "fx_family_l": sdk.Variant(
                args={"width": 16, "depth": (3,)}, preprocessing=sdk.preprocessing("unit")
            ),
        },
        paper=sdk.Paper(title="x"),
        family="fx_family",
    )
    (s_name, s), (l_name, large) = seen
    assert l_name == "fx_family_l"
    assert s_name == "fx_family_s" and s["defaults"] == {"width": 4, "depth": 2, "T": 4}
    assert s["test_config"] == {"T": 1} and s["family"] == "fx_family" and s["description"] == "small"
    assert large["defaults"] == {"width": 16, "depth": [3], "T": 4}  # tuples as lists, as in config.json
    assert large["preprocessing"]["input"].startswith("[B, C, H, W] floats in [0, 1]")
    with pytest.raises(ConfigError, match="colour are not its arguments"):
        sdk.register_variants(register, _Family, {"fx_bad": sdk.Variant(args={"colour": 1})})


def test_presets_are_defined_once_and_copied() -> None:
    a = sdk.preprocessing("cifar100")
    assert a["mean"] == pytest.approx([129.3 / 255, 124.1 / 255, 112.4 / 255])
    a["mean"][0] = 0.0  # a copy: the preset itself is untouched
    assert sdk.preprocessing("cifar100")["mean"][0] == pytest.approx(129.3 / 255)
    assert sdk.preprocessing("imagenet", input="x")["input"] == "x"
    with pytest.raises(ConfigError, match="unknown preprocessing preset 'cifar1000'; presets: cifar10"):
        sdk.preprocessing("cifar1000")


def test_a_weight_tag_never_changes_its_models_architecture() -> None:
    w = zoo.WeightInfo(tag="fx_t2", source="nowhere", config={"T": 2, "channels": [8]})
    with pytest.raises(ConfigError, match=r"weight tag 'fx_t2' changes the architecture \(channels differ"):
        zoo.register_model("fx_tagged", defaults={"T": 4, "channels": [16]}, weights={"fx_t2": w})(
            zoo.models.spiking_cnn.SpikingCNN
        )
    # T (the steps the weights were trained for) may differ: tags name it (.digits_t2)
    ok = zoo.WeightInfo(tag="fx_t2", source="nowhere", config={"T": 2, "channels": [16]})
    zoo.register_model("fx_tagged", defaults={"T": 4, "channels": [16]}, weights={"fx_t2": ok})(
        zoo.models.spiking_cnn.SpikingCNN
    )
    try:
        assert zoo.model_config("fx_tagged.fx_t2")["T"] == 2
    finally:
        zoo.unregister("model", "fx_tagged")


def test_write_demo_card_measures_in_float64_and_zoo_eval_reproduces_it(tmp_path, capsys) -> None:
    model = zoo.create_model("spiking_cnn.digits_t4", pretrained=True)
    record = sdk.write_demo_card(
        model,
        tmp_path / "card",
        tag="digits_t4",
        dataset="digits",
        seed=0,
        learning_rule="bptt",
        optimizer="AdamW",
        seconds=1.0,
        metrics={"baseline_accuracy": 0.5},
        script="tools/example.py",
        argv=["--out", "x y"],
    )
    cfg = json.loads((tmp_path / "card" / "config.json").read_text())
    assert cfg["evaluation"]["dtype"] == "float64" and cfg["metrics"] == record["metrics"]
    assert cfg["metrics"]["baseline_accuracy"] == 0.5
    assert cfg["training"]["command"] == "python tools/example.py --out 'x y'"
    assert cfg["training"]["split"].endswith("stratified 80/20 train/test split, seed 0")
    # the same weights, byte for byte
    assert record["sha256"] == zoo.model_info("spiking_cnn").weights["digits_t4"].sha256
    capsys.readouterr()
    assert main(["eval", "spiking_cnn", "--weights", str(tmp_path / "card"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dtype"] == "float64" and report["accuracy"] == cfg["metrics"]["accuracy"]
    assert report["mean_firing_rate"] == pytest.approx(cfg["profile"]["mean_firing_rate"], rel=1e-12)
