"""The demo weights (plugins/lmht/zoo_lmht/weights/lmht_cnn_digits.digits_t2): they load, verify, and reproduce the card (measured
in float64, so on any CPU), including the accuracy of the reparameterised single-threshold model."""

from __future__ import annotations

import json

import pytest
import torch
from zoo_lmht.reparam import reparameterize

import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import cast_model, evaluate, resolve_source

NAME = "lmht_cnn_digits.digits_t2"


def _card() -> dict:
    info = zoo.model_info("lmht_cnn_digits").weights["digits_t2"]
    root = resolve_source(info.source)
    return json.loads((root / "config.json").read_text())


def test_card_is_measured_in_float64_and_registered() -> None:
    card = _card()
    assert card["model"] == "lmht_cnn_digits" and card["args"] == zoo.model_info("lmht_cnn_digits").defaults
    assert card["evaluation"]["dtype"] == "float64" and card["evaluation"]["spikes"] == "auto"
    assert card["evaluation"]["command"] == f"zoo eval {NAME} --pretrained"
    info = zoo.model_info("lmht_cnn_digits").weights["digits_t2"]
    assert info.metrics == card["metrics"] and info.sha256 == card["files"]
    assert card["files"]["model.safetensors"] == (
        "e84d010b0835d3fcc2a4ed4185a21d7b55001172f3c0fe1460984087ff676c7d"
    )
    assert card["metrics"]["accuracy"] >= 0.97 and card["metrics"]["reparam_accuracy"] >= 0.97


def test_zoo_eval_reproduces_the_card_in_float64(capsys) -> None:
    """`zoo eval` evaluates in the card's float64 and gives its accuracy and profile."""
    card = _card()
    assert main(["eval", NAME, "--pretrained", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dtype"] == "float64" and report["samples"] == 360
    assert report["accuracy"] == pytest.approx(card["metrics"]["accuracy"], rel=1e-9)
    for key in ("sops", "macs", "energy_pj", "mean_firing_rate"):
        assert report[key] == pytest.approx(card["profile"][key], rel=1e-9), key
    assert 0 < report["mean_firing_rate"] < 1 and report["macs"] > 0


def test_reparameterised_demo_reproduces_the_card_in_float64() -> None:
    """The card's reparam_accuracy: the reparameterisation of the float64 model (L*T = 4 binary-spike steps),
    evaluated in float64 on the same test split; its summed logits equal the LM-HT model's."""
    model = zoo.create_model(NAME, pretrained=True)  # sha256 verified on load
    double = cast_model(model, "float64")
    single = reparameterize(double)
    assert single.T == 4 and single.mode == "inference"
    test = zoo.create_dataset("digits", split="test", seed=0)
    report = evaluate(single, test, progress=False, dtype="float64")
    assert report["accuracy"] == pytest.approx(_card()["metrics"]["reparam_accuracy"], rel=1e-9)
    x = torch.stack([a for a, _ in test]).double()
    with torch.no_grad():
        a, b = double.forward_steps(x), single.forward_steps(x)
    assert a.shape[0] == 2 and b.shape[0] == 4
    assert torch.allclose(a.sum(0), b.sum(0), rtol=0, atol=1e-9)
