"""The demo weights (plugins/parallel_conversion/zoo_parallel_conversion/weights/qcfs_cnn_digits_parallel.digits_t4): they load, verify, and reproduce the card
(measured in float64, so on any CPU)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import evaluate, resolve_source

from zoo_parallel_conversion.neurons import ParallelIF

NAME = "qcfs_cnn_digits_parallel.digits_t4"
SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_digits_card.py"


def _card() -> dict:
    info = zoo.model_info("qcfs_cnn_digits_parallel").weights["digits_t4"]
    root = resolve_source(info.source)
    return json.loads((root / "config.json").read_text())


def _eval(capsys, *extra: str) -> dict:
    assert main(["eval", NAME, "--pretrained", *extra, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_card_is_measured_in_float64_and_registered() -> None:
    card = _card()
    assert card["model"] == "qcfs_cnn_digits_parallel" and card["args"]["mode"] == "parallel"
    assert card["evaluation"]["dtype"] == "float64" and card["evaluation"]["spikes"] == "auto"
    assert card["evaluation"]["command"] == f"zoo eval {NAME} --pretrained"
    info = zoo.model_info("qcfs_cnn_digits_parallel").weights["digits_t4"]
    assert info.metrics == card["metrics"]
    assert info.sha256 == card["files"]
    m = card["metrics"]
    assert m["accuracy"] >= 0.98 and m["ann_accuracy"] == m["accuracy"]  # lossless: the ANN's accuracy
    assert m["if_accuracy"] < m["accuracy"]  # the sequential IF baseline at T = 4 loses some
    assert 0 <= m["max_abs_logit_diff_snn_ann"] < 1e-12  # equal to the ANN up to float64 rounding


def test_zoo_eval_reproduces_the_card_in_float64(capsys) -> None:
    """`zoo eval` evaluates in the card's float64 and gives its accuracy and profile: the parallel IF neurons
    declare graded spikes (amplitude theta), so the default counts them as events, as --spikes events does."""
    card = _card()
    events = _eval(capsys)
    explicit = _eval(capsys, "--spikes", "events")
    assert all(explicit[k] == events[k] for k in ("sops", "macs", "energy_pj", "mean_firing_rate"))
    assert events["dtype"] == "float64" and events["samples"] == 360
    assert events["accuracy"] == card["metrics"]["accuracy"]
    for key in ("sops", "macs", "energy_pj", "mean_firing_rate"):
        assert events[key] == pytest.approx(card["profile"][key], rel=1e-9), key
    assert 0 < events["mean_firing_rate"] < 1 and events["sops"] > 0 and events["macs"] > 0
    # binary mode: amplitude-theta spikes are analog values, so the spike-fed conv counts dense MACs instead
    binary = _eval(capsys, "--spikes", "binary")
    assert binary["sops"] < events["sops"] and binary["macs"] > events["macs"]


def test_weights_load_as_the_parallel_snn_and_its_source_ann_is_recovered_exactly() -> None:
    """The card script's --remeasure path: the recovered ANN converts back to these very weights and has the
    card's ann_accuracy."""
    snn = zoo.create_model(NAME, pretrained=True)  # sha256 verified on load
    assert snn.mode == "parallel" and snn.T == 4 and isinstance(snn.features[2], ParallelIF)
    assert 0 < snn.features[2].v_threshold < 10  # restored from the buffers
    spec = importlib.util.spec_from_file_location("make_digits_card", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    ann = script.source_ann(snn)
    assert ann.mode == "ann" and ann.zoo_name == "qcfs_cnn_digits"
    converted = zoo.create_learning_rule("parallel_conversion").convert(ann).state_dict()
    reference = snn.state_dict()
    assert list(converted) == list(reference)
    assert all(torch.equal(converted[k], reference[k]) for k in reference)
    test = zoo.create_dataset("digits", split="test", seed=0)
    report = evaluate(ann, test, progress=False, dtype="float64")
    assert report["accuracy"] == _card()["metrics"]["ann_accuracy"]
