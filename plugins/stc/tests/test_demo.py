"""The demo cards: folder = registry entry, and ``zoo eval`` reproduces the card's metrics and baseline."""

import json
from pathlib import Path

import pytest
import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import sha256_file

from zoo_stc.plugin import DEMO_CONFIG, DEMO_TAG

ROOT = Path(__file__).resolve().parents[3]
DEMOS = ["stc_stclif_mmnist", "stc_lif_mmnist"]


@pytest.mark.parametrize("name", DEMOS)
def test_demo_folder_matches_the_registry(name):
    w = zoo.model_info(name).weights[DEMO_TAG]
    folder = ROOT / w.source
    cfg = json.loads((folder / "config.json").read_text())
    assert w.sha256["model.safetensors"] == sha256_file(folder / "model.safetensors")
    assert cfg["metrics"] == w.metrics and cfg["tag"] == DEMO_TAG
    assert {k: cfg["args"][k] for k in DEMO_CONFIG} == DEMO_CONFIG
    assert cfg["training"]["dataset"] == "moving_digits"
    # the card reports the copy-last-frame baseline next to the model, and the model beats it in MSE
    assert w.metrics["mse"] < w.metrics["copy_last_mse"]
    assert "zoo train" in (folder / "README.md").read_text()


@pytest.mark.parametrize("name", DEMOS)
def test_eval_reproduces_the_card_metrics(name, capsys):
    assert main(["eval", f"{name}.{DEMO_TAG}", "--pretrained", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    w = zoo.model_info(name).weights[DEMO_TAG]
    assert rep["samples"] == 256
    for k in ("mse", "mae", "ssim", "psnr"):
        assert rep["metrics"][k] == pytest.approx(w.metrics[k], rel=1e-9)
        assert rep["copy_last_frame"][k] == pytest.approx(w.metrics[f"copy_last_{k}"], rel=1e-9)
