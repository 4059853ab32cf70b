"""The demo weights spikingresformer_digits.digits_t4 (model_cards/): checksum, configuration, accuracy, card."""

from __future__ import annotations

import json

import torch
import zoo_core as zoo
from zoo_core.sdk import parameter_counts, resolve_source, sha256_file


def test_demo_weights_load_and_reach_the_recorded_accuracy():
    info = zoo.model_info("spikingresformer_digits")
    w = info.weights["digits_t4"]
    folder = resolve_source(w.source)
    assert sha256_file(folder / "model.safetensors") == w.sha256["model.safetensors"]
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["args"] == w.config == info.defaults
    model = zoo.create_model("spikingresformer_digits.digits_t4", pretrained=True)
    assert parameter_counts(model) == {"total": 158_064, "without_bn_affine": 155_152}
    assert all(bool((d.firing_rate_x > 0).all()) for d in model.dssa_modules())
    x, y = zoo.create_dataset("digits", split="test").tensors
    with torch.no_grad():
        acc = int((model.eval()(x).argmax(-1) == y).sum()) / len(y)
    assert acc >= 0.95
    assert acc == w.metrics["accuracy"]  # evaluation is deterministic
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
