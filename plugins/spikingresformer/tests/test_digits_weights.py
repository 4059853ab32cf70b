"""The demo weights spikingresformer_digits.digits_t4 (shipped in zoo_spikingresformer/weights/): checksum, configuration, card measured in
float64 and reproduced by ``zoo eval`` at rel 1e-9 on any CPU, the paper's SOP count."""

from __future__ import annotations

import json

import pytest
import torch
import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import parameter_counts, resolve_source, sha256_file

from zoo_spikingresformer import paper_energy

#: the trained weights' sha256 (re-measuring the card must keep the file)
SHA256 = "4657c62e5d0be1b785e71d39273f3883c9baa80278a123df93db7d8f2ec7e6f2"


def _folder_and_config():
    w = zoo.model_info("spikingresformer_digits").weights["digits_t4"]
    folder = resolve_source(w.source)
    return w, folder, json.loads((folder / "config.json").read_text())


def test_demo_folder_matches_the_registry():
    info = zoo.model_info("spikingresformer_digits")
    w, folder, cfg = _folder_and_config()
    assert sha256_file(folder / "model.safetensors") == w.sha256["model.safetensors"] == SHA256
    assert cfg["files"]["model.safetensors"] == SHA256
    # the tag names weights of exactly this model
    assert cfg["model"] == "spikingresformer_digits" and cfg["tag"] == "digits_t4"
    assert cfg["args"] == info.defaults
    assert all(info.defaults[k] == v for k, v in w.config.items())
    assert cfg["metrics"] == w.metrics
    assert cfg["evaluation"]["dtype"] == "float64"
    assert cfg["evaluation"]["command"] == "zoo eval spikingresformer_digits.digits_t4 --pretrained"
    assert cfg["training"]["command"].startswith("python tools/train.py spikingresformer_digits ")
    card = (folder / "README.md").read_text()
    for text in (
        "0.9861",
        "firing rate",
        "energy",
        "tools/train.py spikingresformer_digits",
        "158,064",
        "155,152",
    ):
        assert text in card


def test_demo_weights_load_and_reach_the_recorded_accuracy():
    w, _, _ = _folder_and_config()
    model = zoo.create_model("spikingresformer_digits.digits_t4", pretrained=True)
    assert parameter_counts(model) == {"total": 158_064, "without_bn_affine": 155_152}
    assert all(bool((d.firing_rate_x > 0).all()) for d in model.dssa_modules())
    x, y = zoo.create_dataset("digits", split="test").tensors
    with torch.no_grad():
        logits = model.double().eval()(x.double())
    acc = int((logits.argmax(-1) == y).sum()) / len(y)
    assert acc >= 0.95
    assert acc == w.metrics["accuracy"]  # float64 evaluation is deterministic
    # the paper's SOP convention: the zoo count minus the stem and head (which count MACs here: analog input)
    paper = paper_energy(zoo.profile(model, x.double()))
    assert paper["sops"] == pytest.approx(w.metrics["paper_sops"], rel=1e-9)
    assert paper["energy_pj"] == pytest.approx(w.metrics["paper_energy_pj"], rel=1e-9)


def test_zoo_eval_reproduces_the_card(capsys):
    _, _, cfg = _folder_and_config()
    assert main(["eval", "spikingresformer_digits.digits_t4", "--pretrained", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["dtype"] == "float64" and rep["samples"] == 360
    assert rep["metrics"]["accuracy"] == pytest.approx(cfg["metrics"]["accuracy"], rel=1e-9)
    for k in ("mean_firing_rate", "sops", "macs", "energy_pj"):
        assert rep[k] == pytest.approx(cfg["profile"][k], rel=1e-9)
