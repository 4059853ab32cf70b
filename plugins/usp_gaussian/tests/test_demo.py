"""The demo weights (zoo_usp_gaussian/weights/usp_multi_spkrecon.synthetic_demo): registered, verified on load, the
card measured in float64 with its baselines, and zoo eval reproducing it."""

from __future__ import annotations

import json

import pytest
import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import resolve_source

NAME = "usp_multi_spkrecon.synthetic_demo"


def _card() -> dict:
    info = zoo.model_info("usp_multi_spkrecon").weights["synthetic_demo"]
    return json.loads((resolve_source(info.source) / "config.json").read_text())


def test_card_is_registered_measured_in_float64_and_beats_the_baselines() -> None:
    assert NAME in zoo.list_models(pretrained=True)
    info = zoo.model_info("usp_multi_spkrecon").weights["synthetic_demo"]
    card = _card()
    assert card["evaluation"]["dtype"] == "float64"
    assert card["evaluation"]["command"] == f"zoo eval {NAME} --pretrained"
    assert card["metrics"] == info.metrics and card["files"] == info.sha256
    m = info.metrics
    # self-supervised from spikes only, the Recon-Net beats the 41-frame TFP (the classical image at the same
    # instant) and the blurry 97-frame TFP; Gaussians fitted to its images, and the jointly optimised Gaussians with
    # their trajectories, are sharper than the blurry target too
    assert m["psnr"] > m["tfp41_psnr"] > m["tfp97_psnr"] and m["ssim"] > m["tfp41_ssim"]
    assert m["cascade_gs_psnr"] > m["tfp97_psnr"] and m["joint_gs_psnr"] > m["tfp97_psnr"]
    readme = (resolve_source(info.source) / "README.md").read_text()
    assert "tfp41_psnr" in readme and "joint_gs_psnr" in readme


def test_zoo_eval_reproduces_the_card(capsys) -> None:
    card = _card()
    assert main(["eval", NAME, "--pretrained", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (
        report["dtype"] == "float64" and report["dataset"] == "usp_synthetic_scene" and report["samples"] == 8
    )
    assert report["metrics"]["psnr"] == pytest.approx(card["metrics"]["psnr"], rel=1e-9)
    assert report["metrics"]["ssim"] == pytest.approx(card["metrics"]["ssim"], rel=1e-9)
    assert report["baselines"]["tfp41_psnr"] == pytest.approx(card["metrics"]["tfp41_psnr"], rel=1e-9)
