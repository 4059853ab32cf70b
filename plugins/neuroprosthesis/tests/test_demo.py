"""The demo weights: each folder is its registry entry, the card is measured in float64 and ``zoo eval`` reproduces
it, and the method beats its baselines (the OFF-cell CNN's CC vs the true rate > 0.8 and above the linear model;
the SID decoder's MSE well below the mean image's and below the linear decoder's)."""

from __future__ import annotations

import json

import pytest
import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import resolve_source, sha256_file

from zoo_neuroprosthesis.plugin import DEMO_WEIGHTS

DEMOS = [(name, tag) for name, tags in DEMO_WEIGHTS.items() for tag in tags]


def test_both_demos_are_registered() -> None:
    assert {n for n, _ in DEMOS} == {"retina_off_cnn", "sid_decoder_digits"}


@pytest.mark.parametrize("name,tag", DEMOS)
def test_demo_folder_matches_the_registry(name: str, tag: str) -> None:
    info = zoo.model_info(name)
    w = info.weights[tag]
    folder = resolve_source(w.source)
    assert folder.name == f"{name}.{tag}"
    cfg = json.loads((folder / "config.json").read_text())
    assert (
        sha256_file(folder / "model.safetensors")
        == w.sha256["model.safetensors"]
        == cfg["files"]["model.safetensors"]
    )
    assert cfg["model"] == name and cfg["tag"] == tag and cfg["metrics"] == w.metrics
    assert cfg["args"] == info.defaults  # a tag names weights of exactly the registered model
    assert cfg["evaluation"] == {
        "dtype": "float64",
        "spikes": "binary",
        "command": f"zoo eval {name}.{tag} --pretrained",
    }
    assert (
        cfg["training"]["command"].startswith(f"zoo train {name} ")
        and cfg["training"]["dataset"] == w.dataset
    )
    assert (folder / "model.safetensors").stat().st_size < 2_000_000  # small enough for git


@pytest.mark.parametrize("name,tag", DEMOS)
def test_eval_reproduces_the_card(name: str, tag: str, capsys) -> None:
    assert main(["eval", f"{name}.{tag}", "--pretrained", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    card = zoo.model_info(name).weights[tag].metrics
    assert rep["dtype"] == "float64"
    for k, v in rep["metrics"].items():
        assert v == pytest.approx(card[k], rel=1e-9), k
    if name == "sid_decoder_digits":
        for k, v in rep["mean_image"].items():
            assert v == pytest.approx(card[f"mean_image_{k}"], rel=1e-9)


def test_off_cell_cnn_beats_its_baselines() -> None:
    m = zoo.model_info("retina_off_cnn").weights["white_noise_t20"].metrics
    assert m["cc_true_rate"] > 0.8 and m["cc_true_rate"] > m["linear_cc_true_rate"] + 0.05
    assert m["cc"] > m["linear_cc"] and m["cc"] <= m["ceiling_cc"] + 0.01  # the noisy responses cap the CC


def test_sid_decoder_beats_its_baselines() -> None:
    m = zoo.model_info("sid_decoder_digits").weights["digits_spikes_90"].metrics
    assert m["mse"] < 0.5 * m["mean_image_mse"] and m["mse"] < m["linear_mse"]
    assert m["ssim"] > m["mean_image_ssim"] and m["psnr"] > m["linear_psnr"]
