"""``zoo robust-eval``: output, JSON, agreement with zoo_core.attacks, and clear errors."""

from __future__ import annotations

import json

import pytest
import torch

import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.cli.robust import parse_budget
from zoo_core.tasks.attacks import fgsm

CARD = "spiking_cnn.digits_t4"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["robust-eval", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_report_matches_a_direct_computation(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--attack", "fgsm", "--eps", "0.1", "--limit", "64", "--dtype", "float32", "--json"]
    code, out, _ = run(capsys, CARD, *args)
    assert code == 0
    r = json.loads(out)
    assert r["model"] == CARD and r["dataset"] == "digits" and r["samples"] == 64 and r["eps"] == 0.1
    model = zoo.create_model(CARD, pretrained=True).eval()
    data = zoo.create_dataset("digits", split="test")
    x, y = data.tensors[0][:64], data.tensors[1][:64]
    with torch.no_grad():
        clean = (model(x).argmax(-1) == y).double().mean().item()
        robust = (model(fgsm(model, x, y, 0.1)).argmax(-1) == y).double().mean().item()
    assert r["clean_accuracy"] == clean and r["robust_accuracy"] == robust < clean


def test_text_report_for_pgd(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, CARD, "--attack", "pgd", "--eps", "8/255", "--steps", "2", "--limit", "32")
    assert code == 0
    assert "PGD-2" in out and "eps 0.03137" in out and "clean accuracy" in out and "robust accuracy" in out


def test_ensemble_on_a_model_offering_gradient_settings(capsys: pytest.CaptureFixture[str]) -> None:
    if "sparse_grad_mlp_digits" not in zoo.list_models():
        pytest.skip("the sparse_grad plugin is not installed")
    code, out, _ = run(
        capsys,
        "sparse_grad_mlp_digits.digits_t4_sr",
        "--attack",
        "fgsm",
        "--eps",
        "0.1",
        "--ensemble",
        "--json",
    )
    assert code == 0
    r = json.loads(out)
    assert r["dataset"] == "digits_70_30" and r["samples"] == 540  # the card's own 70/30 split
    assert len(r["per_setting"]) == 4 and r["robust_accuracy"] <= min(r["per_setting"].values())
    card = zoo.model_info("sparse_grad_mlp_digits").weights["digits_t4_sr"].metrics
    assert r["robust_accuracy"] == card["fgsm_eps0.1_ensemble"]
    assert r["clean_accuracy"] == card["accuracy"]


def test_robust_eval_reproduces_the_cards_pgd_in_its_precision(capsys: pytest.CaptureFixture[str]) -> None:
    """The card measured PGD (random start included) in float64 and says so; robust-eval follows it."""
    if "sparse_grad_mlp_digits" not in zoo.list_models():
        pytest.skip("the sparse_grad plugin is not installed")
    args = ["--attack", "pgd", "--eps", "0.1", "--steps", "10", "--step-size", "0.025", "--json"]
    code, out, _ = run(capsys, "sparse_grad_mlp_digits.digits_t4", *args)
    assert code == 0
    r = json.loads(out)
    card = zoo.model_info("sparse_grad_mlp_digits").weights["digits_t4"].metrics
    assert r["dtype"] == "float64" and r["robust_accuracy"] == card["pgd10_eps0.1"]


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--attack", "cw", "--eps", "0.1"], "invalid choice: 'cw'"),
        (["--attack", "fgsm", "--eps", "-0.1"], "--eps must be in [0, 1]"),
        (["--attack", "fgsm", "--eps", "3"], "--eps must be in [0, 1]"),
        (["--attack", "fgsm", "--eps", "abc"], "not a number or fraction"),
        (["--attack", "pgd", "--eps", "0.1", "--steps", "0"], "--steps must be >= 1"),
        (["--attack", "fgsm", "--eps", "0.1", "--ensemble"], "offers no gradient settings"),
        (["--attack", "fgsm", "--eps", "0.1", "--dataset", "/no/such/folder"], "not a registered data set"),
        (["--eps", "0.1"], "--attack"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(capsys, CARD, *argv)
    assert code == 2 and message in err


def test_unknown_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "no_such_model", "--attack", "fgsm", "--eps", "0.1")
    assert code == 2 and "unknown model" in err


def test_budget_parser() -> None:
    assert parse_budget("8/255") == 8 / 255 and parse_budget("0.25") == 0.25
