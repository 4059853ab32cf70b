"""The demo weights (model_cards/dpcnn_digits.digits_t4): they load, verify and reproduce the card."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import zoo_core as zoo

from zoo_dpcnn.neuron import PCNN


def test_digits_weights_reproduce_the_card() -> None:
    assert "dpcnn_digits.digits_t4" in zoo.list_models(pretrained=True)
    model = zoo.create_model("dpcnn_digits.digits_t4", pretrained=True)  # sha256 verified on load
    neurons = [m for m in model.modules() if isinstance(m, PCNN)]
    assert [n.coupling_mode for n in neurons] == ["inter", "inter"] and model.T == 4
    test = zoo.create_dataset("digits", split="test", seed=0)
    x = torch.stack([test[i][0] for i in range(len(test))])
    y = torch.tensor([test[i][1] for i in range(len(test))])
    with torch.no_grad():
        acc = float((model.eval()(x).argmax(-1) == y).double().mean())
    info = zoo.model_info("dpcnn_digits").weights["digits_t4"]
    assert acc == info.metrics["accuracy"] >= 0.97
    root = Path(zoo.__file__).resolve().parent.parent / info.source
    card = json.loads((root / "config.json").read_text())
    assert card["metrics"]["accuracy"] == acc and card["args"]["coupling"] == "inter"
    p = zoo.profile(model, x[:32])
    assert 0 < p.mean_firing_rate < 1 and p.sops > 0
