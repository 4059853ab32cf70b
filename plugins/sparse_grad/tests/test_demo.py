"""The two demo cards: they load, reproduce their metrics in float64 (so on any CPU), and SR beats the
undefended model."""

from __future__ import annotations

import json

import pytest
import torch
import zoo_core as zoo
from torch.utils.data import DataLoader, TensorDataset
from zoo_core.cli import main
from zoo_core.sdk import cast_model, resolve_source, robust_accuracy

from zoo_sparse_grad.evaluation import val_ensemble

TAGS = ("digits_t4", "digits_t4_sr")


def _card(tag: str) -> dict:
    info = zoo.model_info("sparse_grad_mlp_digits").weights[tag]
    return json.loads((resolve_source(info.source) / "config.json").read_text())


def _model64(tag: str) -> torch.nn.Module:
    model = zoo.create_model(f"sparse_grad_mlp_digits.{tag}", pretrained=True)  # sha256 verified on load
    return cast_model(model, "float64")


@pytest.fixture(scope="module")
def digits_test64() -> DataLoader:
    """The 540 test images in float64, one batch (the cards' PGD draws one random start per batch)."""
    test = zoo.create_dataset("digits_70_30", split="test")
    x = torch.stack([test[i][0] for i in range(len(test))]).double()
    y = torch.tensor([test[i][1] for i in range(len(test))])
    return DataLoader(TensorDataset(x, y), batch_size=len(test))


@pytest.mark.parametrize("tag", TAGS)
def test_card_is_measured_in_float64_and_registered(tag: str) -> None:
    card = _card(tag)
    assert card["evaluation"] == {
        "dtype": "float64",
        "spikes": "auto",
        "command": f"zoo eval sparse_grad_mlp_digits.{tag} --pretrained",
    }
    info = zoo.model_info("sparse_grad_mlp_digits").weights[tag]
    assert info.metrics == card["metrics"] and info.sha256 == card["files"]
    assert info.dataset == card["training"]["dataset"] == "digits_70_30"


@pytest.mark.parametrize("tag", TAGS)
def test_zoo_eval_reproduces_the_card(tag: str, capsys) -> None:
    assert main(["eval", f"sparse_grad_mlp_digits.{tag}", "--pretrained", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    card = _card(tag)
    assert report["dtype"] == "float64" and report["samples"] == 540 and report["dataset"] == "digits_70_30"
    assert report["accuracy"] == pytest.approx(card["metrics"]["accuracy"], rel=1e-9)
    for key in ("mean_firing_rate", "sops", "macs", "energy_pj"):
        assert report[key] == pytest.approx(card["profile"][key], rel=1e-9), key


@pytest.mark.parametrize("tag", TAGS)
def test_card_robust_metrics_are_reproduced(tag: str, digits_test64) -> None:
    model = _model64(tag)
    m = zoo.model_info("sparse_grad_mlp_digits").weights[tag].metrics
    for eps in (0.05, 0.1):
        f = robust_accuracy(model, digits_test64, "fgsm", eps)
        p = robust_accuracy(model, digits_test64, "pgd", eps, steps=10, step_size=eps / 4, seed=0)
        assert f["clean_accuracy"] == p["clean_accuracy"] == pytest.approx(m["accuracy"], rel=1e-9)
        assert f["robust_accuracy"] == pytest.approx(m[f"fgsm_eps{eps:g}"], rel=1e-9)
        assert p["robust_accuracy"] == pytest.approx(m[f"pgd10_eps{eps:g}"], rel=1e-9)
        assert m[f"pgd10_eps{eps:g}"] <= m[f"fgsm_eps{eps:g}"]  # measured: PGD-10 is the stronger attack here
    e = robust_accuracy(
        model, digits_test64, "pgd", 0.1, steps=10, step_size=0.025, settings=model.gradient_settings()
    )
    assert e["robust_accuracy"] == pytest.approx(m["pgd10_eps0.1_ensemble"], rel=1e-9)
    assert e["robust_accuracy"] <= min(e["per_setting"].values())


def test_sparse_gradient_regularisation_buys_robustness() -> None:
    """The demo's criterion: SR costs at most 1 point of clean accuracy and gains at least 15 points of PGD-10
    accuracy at eps = 0.1."""
    info = zoo.model_info("sparse_grad_mlp_digits").weights
    plain, sr = info["digits_t4"].metrics, info["digits_t4_sr"].metrics
    assert plain["accuracy"] >= 0.97 and sr["accuracy"] >= plain["accuracy"] - 0.01
    assert sr["pgd10_eps0.1"] >= plain["pgd10_eps0.1"] + 0.15
    for key in ("fgsm_eps0.05", "fgsm_eps0.1", "pgd10_eps0.05", "pgd10_eps0.1_ensemble"):
        assert sr[key] > plain[key]


def test_val_ensemble_matches_the_card(digits_test64) -> None:
    model = _model64("digits_t4")
    r = val_ensemble(model, digits_test64, "fgsm", 0.1)
    assert r["settings"] == ["bptt:zif:1", "bptt:sig:4", "bptt:atan:2", "bptr:zif:1"]
    card = zoo.model_info("sparse_grad_mlp_digits").weights["digits_t4"].metrics
    assert r["robust_accuracy"] == pytest.approx(card["fgsm_eps0.1_ensemble"], rel=1e-9)
    assert model.get_gradient_setting() == "bptt:zif:1"  # restored after the evaluation
