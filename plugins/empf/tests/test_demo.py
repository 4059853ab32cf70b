"""The demo weights (plugins/empf/zoo_empf/weights/empf_digits.digits_t4): they load, verify and reproduce the card (measured in
float64, so on any CPU)."""

from __future__ import annotations

import json

import pytest
import torch
import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import resolve_source

from zoo_empf import BinaryConv, deploy, param_memory

NAME = "empf_digits.digits_t4"


def _card() -> dict:
    info = zoo.model_info("empf_digits").weights["digits_t4"]
    root = resolve_source(info.source)
    return json.loads((root / "config.json").read_text())


def test_card_is_measured_in_float64_and_registered() -> None:
    assert NAME in zoo.list_models(pretrained=True)
    card = _card()
    info = zoo.model_info("empf_digits").weights["digits_t4"]
    assert card["evaluation"]["dtype"] == "float64" and card["evaluation"]["spikes"] == "auto"
    assert card["evaluation"]["command"] == f"zoo eval {NAME} --pretrained"
    assert card["metrics"] == info.metrics and card["files"] == info.sha256
    assert card["args"] == info.config == zoo.model_info("empf_digits").defaults
    assert info.dataset == card["training"]["dataset"] == "digits_70_30"
    assert info.metrics["accuracy"] >= 0.98 and info.metrics["random_backprop_accuracy"] >= 0.98


def test_zoo_eval_reproduces_the_card_in_float64(capsys) -> None:
    card = _card()
    assert main(["eval", NAME, "--pretrained", "--json"]) == 0  # sha256 verified on load
    report = json.loads(capsys.readouterr().out)
    assert report["dtype"] == "float64" and report["dataset"] == "digits_70_30" and report["samples"] == 540
    assert report["accuracy"] == pytest.approx(card["metrics"]["accuracy"], rel=1e-9)
    for key in ("mean_firing_rate", "sops", "macs", "energy_pj"):
        assert report[key] == pytest.approx(card["profile"][key], rel=1e-9), key
    # real-valued spikes feed the binary convs: the profiler counts dense MACs there, no SOPs
    assert report["sops"] == 0 and report["macs"] > 0 and 0 < report["mean_firing_rate"] < 1


def test_deployed_weights_keep_every_prediction() -> None:
    """The binary layers deploy to +-a_o weights (official reset_BConv) without changing a prediction."""
    model = zoo.create_model(NAME, pretrained=True).double().eval()
    test = zoo.create_dataset("digits_70_30", split="test", seed=0)
    x = torch.stack([test[i][0] for i in range(len(test))]).double()
    with torch.no_grad():
        logits = model(x)
    assert sum(isinstance(m, BinaryConv) for m in model.modules()) == 2
    deploy(model)
    with torch.no_grad():
        assert torch.equal(model(x).argmax(-1), logits.argmax(-1))
    assert param_memory(model)["mb"] < 0.25 * param_memory(model)["base_mb"]
