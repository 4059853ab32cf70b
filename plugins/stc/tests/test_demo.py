"""The demo cards: folder = registry entry, measured in float64, and ``zoo eval`` reproduces the card's metrics
and the copy-last-frame baseline on any CPU."""

import json

import pytest
import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import resolve_source, sha256_file

from zoo_stc.plugin import DEMO_TAG

DEMOS = ["spiking_predictor_stc_lif_mdigits", "spiking_predictor_stc_baseline_lif_mdigits"]
#: the weights' sha256 (the files made by scripts/make_demo_cards.py; re-measuring a card must keep them)
SHA256 = {
    "spiking_predictor_stc_lif_mdigits": "41f1ef4811e821ec4994ac66e939fc568fc3c4036afc45df163a7795cab56f1f",
    "spiking_predictor_stc_baseline_lif_mdigits": "35e1ed7aa00f0e148a297461290884840aca98d70dedd0efce3f0df31c08cb5e",
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


@pytest.mark.parametrize("name", DEMOS)
def test_eval_reproduces_the_card_metrics(name, capsys):
    assert main(["eval", f"{name}.{DEMO_TAG}", "--pretrained", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    w = zoo.model_info(name).weights[DEMO_TAG]
    assert rep["samples"] == 256 and rep["dtype"] == "float64"
    for k in ("mse", "mae", "ssim", "psnr"):
        assert rep["metrics"][k] == pytest.approx(w.metrics[k], rel=1e-9)
        assert rep["copy_last_frame"][k] == pytest.approx(w.metrics[f"copy_last_{k}"], rel=1e-9)
