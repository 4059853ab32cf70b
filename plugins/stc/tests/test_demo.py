"""The demo cards: folder = registry entry, measured in float64, and ``zoo eval`` reproduces the card's metrics
and the copy-last-frame baseline on any CPU; the demo's claim (STC-LIF predicts better than copying the last frame,
in MSE and in SSIM) holds on the shipped weights."""

import json

import pytest
import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import resolve_source, sha256_file

from zoo_stc.plugin import DEMO_TAG

DEMOS = ["spiking_predictor_stc_lif_mdigits", "spiking_predictor_stc_baseline_lif_mdigits"]
#: the weights' sha256 (the files made by scripts/make_demo_cards.py; re-measuring a card must keep them)
SHA256 = {
    "spiking_predictor_stc_lif_mdigits": "4c75443c1d5195672d5394aeb79711ec863bc100385d4ffd047375dfdc39182f",
    "spiking_predictor_stc_baseline_lif_mdigits": "801efc0b7db750eaba19cb17542d70e9594a0079a98a4b88d182548ea475f26b",
}


@pytest.mark.parametrize("name", DEMOS)
def test_demo_folder_matches_the_registry(name):
    info = zoo.model_info(name)
    w = info.weights[DEMO_TAG]
    folder = resolve_source(w.source)
    assert folder.name == f"{name}.{DEMO_TAG}"
    cfg = json.loads((folder / "config.json").read_text())
    assert sha256_file(folder / "model.safetensors") == w.sha256["model.safetensors"] == SHA256[name]
    assert cfg["files"]["model.safetensors"] == SHA256[name]
    assert cfg["model"] == name and cfg["tag"] == DEMO_TAG and cfg["metrics"] == w.metrics
    # the tag names weights of exactly this model: the card's arguments are the model's defaults
    assert cfg["args"] == info.defaults and cfg["args"]["neuron"] == name.removeprefix(
        "spiking_predictor_"
    ).removesuffix("_mdigits")
    assert cfg["evaluation"]["dtype"] == "float64"
    assert cfg["evaluation"]["command"] == f"zoo eval {name}.{DEMO_TAG} --pretrained"
    assert cfg["training"]["dataset"] == "moving_digits"
    assert cfg["training"]["command"].startswith(f"zoo train {name} ")
    # the card reports the copy-last-frame baseline next to the model, and the model beats it in MSE
    assert w.metrics["mse"] < w.metrics["copy_last_mse"]
    assert "zoo train" in (folder / "README.md").read_text()


def _eval(name: str, capsys: pytest.CaptureFixture[str]) -> dict:
    """``zoo eval NAME.TAG --pretrained --json`` (float64, the card's 256 test sequences), once per model."""
    if name not in _REPORTS:
        assert main(["eval", f"{name}.{DEMO_TAG}", "--pretrained", "--json"]) == 0
        _REPORTS[name] = json.loads(capsys.readouterr().out)
    return _REPORTS[name]


_REPORTS: dict[str, dict] = {}


@pytest.mark.parametrize("name", DEMOS)
def test_eval_reproduces_the_card_metrics(name, capsys):
    rep = _eval(name, capsys)
    w = zoo.model_info(name).weights[DEMO_TAG]
    assert rep["samples"] == 256 and rep["dtype"] == "float64"
    for k in ("mse", "mae", "ssim", "psnr"):
        assert rep["metrics"][k] == pytest.approx(w.metrics[k], rel=1e-9)
        assert rep["copy_last_frame"][k] == pytest.approx(w.metrics[f"copy_last_{k}"], rel=1e-9)


def test_stc_lif_beats_copy_last_frame_on_mse_and_ssim(capsys):
    """The README's claim, re-measured: the shipped STC-LIF weights predict the 5 future frames better than
    repeating the last observed frame, both in the trained quantity (MSE, lower) and in SSIM (higher), and the
    card says so."""
    name = "spiking_predictor_stc_lif_mdigits"
    rep = _eval(name, capsys)
    model, copy = rep["metrics"], rep["copy_last_frame"]
    assert model["mse"] < copy["mse"] and model["ssim"] > copy["ssim"]
    w = zoo.model_info(name).weights[DEMO_TAG].metrics
    assert w["mse"] < w["copy_last_mse"] and w["ssim"] > w["copy_last_ssim"]
