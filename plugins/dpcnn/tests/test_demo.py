"""The demo weights (plugins/dpcnn/zoo_dpcnn/weights/dpcnn_digits.digits_t4): they load, verify and reproduce the card (measured in
float64, so on any CPU)."""

from __future__ import annotations

import json

import pytest
import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import resolve_source

from zoo_dpcnn.neuron import PCNN

NAME = "dpcnn_digits.digits_t4"


def _card() -> dict:
    info = zoo.model_info("dpcnn_digits").weights["digits_t4"]
    root = resolve_source(info.source)
    return json.loads((root / "config.json").read_text())


def test_card_is_measured_in_float64_and_registered() -> None:
    assert NAME in zoo.list_models(pretrained=True)
    card = _card()
    info = zoo.model_info("dpcnn_digits").weights["digits_t4"]
    assert card["evaluation"]["dtype"] == "float64" and card["evaluation"]["spikes"] == "auto"
    assert card["evaluation"]["command"] == f"zoo eval {NAME} --pretrained"
    assert card["metrics"] == info.metrics and card["files"] == info.sha256
    assert card["args"] == info.config == zoo.model_info("dpcnn_digits").defaults
    m = info.metrics
    assert (
        m["accuracy"] >= 0.97 and m["intra_accuracy"] < m["accuracy"] and m["none_accuracy"] < m["accuracy"]
    )


def test_zoo_eval_reproduces_the_card_in_float64(capsys) -> None:
    card = _card()
    model = zoo.create_model(NAME, pretrained=True)  # sha256 verified on load
    neurons = [m for m in model.modules() if isinstance(m, PCNN)]
    assert [n.coupling_mode for n in neurons] == ["inter", "inter"] and model.T == 4
    assert main(["eval", NAME, "--pretrained", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dtype"] == "float64" and report["dataset"] == "digits" and report["samples"] == 360
    assert report["accuracy"] == pytest.approx(card["metrics"]["accuracy"], rel=1e-9)
    for key in ("mean_firing_rate", "sops", "macs", "energy_pj"):
        assert report[key] == pytest.approx(card["profile"][key], rel=1e-9), key
    assert 0 < report["mean_firing_rate"] < 1 and report["sops"] > 0  # the coupling SOPs included
