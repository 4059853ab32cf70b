"""The demo weights (model_cards/empf_digits.digits_t4): they load, verify and reproduce the card's accuracy."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import zoo_core as zoo

from zoo_empf import BinaryConv, deploy, param_memory


def test_digits_weights_reproduce_the_card() -> None:
    assert "empf_digits.digits_t4" in zoo.list_models(pretrained=True)
    model = zoo.create_model("empf_digits.digits_t4", pretrained=True).eval()  # sha256 verified on load
    test = zoo.create_dataset("digits", split="test", test_fraction=0.3, seed=0)  # the card's 70/30 split
    x = torch.stack([test[i][0] for i in range(len(test))])
    y = torch.tensor([int(test[i][1]) for i in range(len(test))])
    with torch.no_grad():
        logits = model(x)
    acc = float((logits.argmax(-1) == y).double().mean())
    info = zoo.model_info("empf_digits").weights["digits_t4"]
    assert len(test) == 540 and acc == info.metrics["accuracy"] >= 0.98
    assert info.metrics["random_backprop_accuracy"] >= 0.98
    root = Path(zoo.__file__).resolve().parent.parent / info.source
    card = json.loads((root / "config.json").read_text())
    assert card["metrics"] == info.metrics and card["files"] == info.sha256
    # the binary layers deploy to +-a_o weights without changing a prediction
    assert sum(isinstance(m, BinaryConv) for m in model.modules()) == 2
    deploy(model)
    with torch.no_grad():
        assert torch.equal(model(x).argmax(-1), logits.argmax(-1))
    assert param_memory(model)["mb"] < 0.25 * param_memory(model)["base_mb"]
