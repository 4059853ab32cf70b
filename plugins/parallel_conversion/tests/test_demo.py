"""The demo weights (model_cards/qcfs_cnn_digits_parallel.digits_t4): they load, verify, and reproduce the card."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import zoo_core as zoo

from zoo_parallel_conversion.neurons import ParallelIF


def test_digits_snn_weights_reproduce_the_card() -> None:
    assert "qcfs_cnn_digits_parallel.digits_t4" in zoo.list_models(pretrained=True)
    snn = zoo.create_model("qcfs_cnn_digits_parallel.digits_t4", pretrained=True)  # sha256 verified on load
    assert snn.mode == "parallel" and snn.T == 4 and isinstance(snn.features[2], ParallelIF)
    assert 0 < snn.features[2].v_threshold < 10  # restored from the buffers
    test = zoo.create_dataset("digits", split="test", seed=0)
    x = torch.stack([test[i][0] for i in range(len(test))])
    y = torch.tensor([test[i][1] for i in range(len(test))])
    with torch.no_grad():
        acc = float((snn(x).argmax(-1) == y).double().mean())
    info = zoo.model_info("qcfs_cnn_digits_parallel").weights["digits_t4"]
    assert acc == info.metrics["accuracy"] >= 0.98
    assert info.metrics["ann_accuracy"] == acc  # lossless: same accuracy as the source ANN
    root = Path(zoo.__file__).resolve().parent.parent / info.source
    card = json.loads((root / "config.json").read_text())
    assert card["metrics"]["max_abs_logit_diff_snn_ann"] < 1e-4
    assert card["args"]["mode"] == "parallel"
    # the card's profile: graded (amplitude theta) spikes counted as events over the whole test split
    prof = zoo.profile(snn, x, spikes="events").summary()
    for key in ("mean_firing_rate", "sops", "macs", "energy_pj"):
        assert prof[key] == pytest.approx(card["profile"][key], rel=1e-6), key
    assert 0 < prof["mean_firing_rate"] < 1 and prof["sops"] > 0 and prof["macs"] > 0


def test_zoo_eval_spikes_events_reproduces_the_card_profile(capsys) -> None:
    """`zoo eval --spikes events` counts the theta-amplitude spikes as events: the card's figures, batch by batch."""
    from zoo_core.cli import main

    card = zoo.model_info("qcfs_cnn_digits_parallel").weights["digits_t4"]
    root = Path(zoo.__file__).resolve().parent.parent / card.source
    recorded = json.loads((root / "config.json").read_text())["profile"]
    reports = {}
    for mode in ("events", "binary"):
        assert main(["eval", "qcfs_cnn_digits_parallel.digits_t4", "--pretrained", "--spikes", mode, "--json"]) == 0
        reports[mode] = json.loads(capsys.readouterr().out)
    events, binary = reports["events"], reports["binary"]
    assert events["accuracy"] == card.metrics["accuracy"]
    for key in ("sops", "macs", "energy_pj", "mean_firing_rate"):
        assert events[key] == pytest.approx(recorded[key], rel=1e-9), key
    # binary mode: amplitude-theta spikes are analog values, so the spike-fed conv counts dense MACs instead
    assert binary["sops"] < events["sops"] and binary["macs"] > events["macs"]
