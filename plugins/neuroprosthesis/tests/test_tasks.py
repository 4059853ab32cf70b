"""The tasks: metrics as claims, data sets, the Keras training loop, and zoo train / zoo eval end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import zoo_core as zoo
from scipy.stats import pearsonr
from zoo_core.cli import main as zoo_main
from zoo_core.sdk import ConfigError, TrainConfig

from zoo_neuroprosthesis.data import off_cell_drive
from zoo_neuroprosthesis.metrics import (
    cc_per_cell,
    cc_yan2020,
    fev,
    image_metrics,
    poisson_loss,
    population_cc,
    retina_metrics,
    rmse,
    ssim,
)
from zoo_neuroprosthesis.tasks import RECIPES, keras_fit, resolve_recipe


# ------------------------------------------------------------------------------------------------ metrics
def test_cc_is_pearson_per_cell_and_invariant_to_affine_maps() -> None:
    g = torch.Generator().manual_seed(0)
    r = torch.rand(500, 4, generator=g, dtype=torch.float64)
    p = r + 0.5 * torch.rand(500, 4, generator=g, dtype=torch.float64)
    per = cc_per_cell(p, r)
    assert per.tolist() == pytest.approx([pearsonr(p[:, c], r[:, c])[0] for c in range(4)], abs=1e-12)
    assert retina_metrics(p, r)["cc"] == pytest.approx(float(per.mean()), abs=1e-15)  # averaged over cells
    assert cc_per_cell(3.0 * r + 2.0, r).tolist() == pytest.approx([1.0] * 4, abs=1e-12)
    assert cc_per_cell(-r, r).tolist() == pytest.approx([-1.0] * 4, abs=1e-12)
    assert population_cc(p, r) == pytest.approx(pearsonr(p.mean(1), r.mean(1))[0], abs=1e-12)
    # Yan et al. 2020's "cc" is not Pearson: the 0.01 added to the deviations makes it depend on the scale
    assert torch.allclose(cc_per_cell(0.01 * p, 0.01 * r), per, atol=1e-12)
    assert (cc_yan2020(0.01 * p, 0.01 * r) - per).abs().min() > 0.1
    assert float(cc_yan2020(-r, r).min()) >= -1.0
    const = r.clone()
    const[:, 0] = 1.0
    assert math.isnan(float(cc_per_cell(p, const)[0]))  # no CC for a constant response
    assert retina_metrics(p, const)["cc"] == pytest.approx(float(per[1:].mean()), abs=1e-12)


def test_fev_rmse_and_poisson_loss() -> None:
    g = torch.Generator().manual_seed(1)
    r = torch.rand(300, 3, generator=g, dtype=torch.float64) * 4
    assert fev(r, r).tolist() == pytest.approx([1.0] * 3) and rmse(r, r).tolist() == [0.0] * 3
    mean = r.mean(0).expand_as(r)
    assert fev(mean, r).tolist() == pytest.approx([0.0] * 3, abs=1e-12)  # the mean rate explains nothing
    assert rmse(mean, r).tolist() == pytest.approx(r.std(0, correction=0).tolist(), abs=1e-12)
    # Poisson loss: derivative 1 - r / r_hat (per element, over the mean's N), zero at r_hat = r: the minimum
    counts = torch.poisson(r, generator=g) + 0.5
    rhat = (counts * 1.3).requires_grad_(True)
    poisson_loss(rhat, counts).backward()
    expect = (1 - counts / (rhat.detach() + 1e-7)) / counts.numel()
    assert torch.allclose(rhat.grad, expect, atol=1e-15)
    at = counts.clone().requires_grad_(True)
    poisson_loss(at, counts).backward()
    assert float(at.grad.abs().max()) < 1e-9
    for scale in (0.7, 0.95, 1.05, 1.5):
        assert float(poisson_loss(counts * scale, counts)) > float(poisson_loss(counts, counts))


def _ssim_loops(x: np.ndarray, y: np.ndarray, win: int = 7, data_range: float = 2.0) -> float:
    """SSIM of two [H, W] images written out window by window (scikit-image's definition)."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    vals = []
    for i in range(x.shape[0] - win + 1):
        for j in range(x.shape[1] - win + 1):
            a, b = x[i : i + win, j : j + win].ravel(), y[i : i + win, j : j + win].ravel()
            ma, mb = a.mean(), b.mean()
            va, vb = a.var(ddof=1), b.var(ddof=1)
            cov = ((a - ma) * (b - mb)).sum() / (a.size - 1)
            vals.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_image_metrics() -> None:
    g = torch.Generator().manual_seed(2)
    y = torch.rand(3, 16, 16, 1, generator=g, dtype=torch.float64)
    p = y + 0.1 * torch.randn(3, 16, 16, 1, generator=g, dtype=torch.float64)  # outside [0, 1]: not clipped
    m = image_metrics(p, y)
    mse = ((p - y) ** 2).mean((1, 2, 3))
    assert torch.allclose(m["mse"], mse) and torch.allclose(m["psnr"], 10 * torch.log10(1 / mse))
    ref = [_ssim_loops(y[i, ..., 0].numpy(), p[i, ..., 0].numpy()) for i in range(3)]
    assert m["ssim"].tolist() == pytest.approx(ref, abs=1e-12)
    assert ssim(y, y).tolist() == pytest.approx([1.0] * 3)
    assert math.isinf(float(image_metrics(y, y)["psnr"][0]))


# ------------------------------------------------------------------------------------------------ data
def test_white_noise_windows_rates_and_splits() -> None:
    tr = zoo.create_dataset("retina_white_noise", split="train", n_train=400, n_test=100)
    te = zoo.create_dataset("retina_white_noise", split="test", n_train=400, n_test=100)
    assert len(tr) == 400 and len(te) == 100 and tr.num_cells == 2
    x, y, rate = tr[7]
    assert x.shape == (8, 8, 20) and torch.equal(
        x.permute(2, 0, 1), tr.frames[7:27]
    )  # frames 7..26, last axis
    assert torch.equal(y, tr.counts[27]) and torch.equal(rate, tr.rates[27])  # -> the bin after the window
    assert set(tr.frames.unique().tolist()) == {-0.5, 0.5}
    # rates = softplus(2 (z - 0.5)) of the drive z-scored with the training sequence's statistics
    z = off_cell_drive(tr.frames.double())
    zt = off_cell_drive(te.frames.double())
    expect = torch.nn.functional.softplus(2 * ((zt - z.mean(0)) / z.std(0) - 0.5))
    assert torch.allclose(te.rates.double(), expect, atol=1e-6)
    thw = zoo.create_dataset("retina_white_noise", split="test", n_train=400, n_test=100, layout="thw")
    assert torch.equal(thw[3][0], te[3][0].permute(2, 0, 1))
    again = zoo.create_dataset("retina_white_noise", split="test", n_train=400, n_test=100)
    assert torch.equal(again.counts, te.counts)  # deterministic
    assert not torch.equal(te.frames[:50], tr.frames[:50])
    with pytest.raises(ConfigError, match="split"):
        zoo.create_dataset("retina_white_noise", split="val")


def test_digits_spikes_population() -> None:
    tr = zoo.create_dataset("digits_spikes", split="train")
    te = zoo.create_dataset("digits_spikes", split="test")
    assert (len(tr), len(te)) == (1437, 360)
    s, img = tr[0]
    assert s.shape == (90,) and img.shape == (32, 32, 1)
    assert float(tr.spikes.min()) == 0.0 and float(tr.spikes.max()) == 1.0  # min-max fitted on train
    assert float(img.min()) >= 0 and float(img.max()) <= 1
    assert torch.allclose(tr.mean_image, tr.images.mean(0), atol=1e-6) and torch.equal(
        te.mean_image, tr.mean_image
    )
    # the targets are the digits resized as OpenCV's bilinear resize does (half-pixel centres, edges clamped)
    digit = zoo.create_dataset("digits", split="train").tensors[0][0, 0].double().numpy()
    src = np.clip((np.arange(32) + 0.5) * 8 / 32 - 0.5, 0, 7)
    lo = np.floor(src).astype(int)
    hi, w = np.minimum(lo + 1, 7), src - np.floor(src)
    resize = np.zeros((32, 8))
    resize[np.arange(32), lo] += 1 - w
    resize[np.arange(32), hi] += w
    assert np.abs(resize @ digit @ resize.T - img[..., 0].double().numpy()).max() < 1e-6


# ------------------------------------------------------------------------------------------------ training loop
class _Constant(torch.nn.Module):
    """A model whose loss cannot move (its only parameter does not change the prediction)."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def training_outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x.sum(1, keepdim=True) * 0 + 1 + 0 * self.w, torch.zeros(())


def test_early_stopping_and_reduce_on_plateau_follow_keras() -> None:
    data = torch.utils.data.TensorDataset(torch.rand(40, 3), torch.rand(40, 1))
    cfg = TrainConfig(model="x", epochs=30, batch_size=8, lr=1.0, verbose=False)
    recipe = {
        "val_split": 0.25,
        "early_stopping": {"monitor": "val_loss", "min_delta": 0.0, "patience": 4},
        "reduce_lr": {"monitor": "val_loss", "factor": 0.5, "patience": 2, "min_delta": 1e-4, "min_lr": 0.3},
    }
    fit = keras_fit(_Constant(), data, torch.nn.functional.mse_loss, cfg, recipe)
    # epoch 1 improves on inf; epochs 2..5 do not: stop after patience 4 -> 5 epochs
    assert fit["epochs_run"] == 5 and "early stopping" in fit["stopped"]
    # lr halves after 2 epochs without improvement (epochs 2, 3), again after 4, 5, never below min_lr
    assert [h["lr"] for h in fit["history"]] == [1.0, 1.0, 1.0, 0.5, 0.5]
    # Keras' validation_split: the last 25 % of the data, before shuffling
    assert (fit["train_samples"], fit["val_samples"]) == (30, 10)


def test_recipes_and_rule_kwargs() -> None:
    assert resolve_recipe("retina_off_cnn", {})["name"] == "zheng2021_off"
    assert resolve_recipe("retina_crnn_lstm", {})["early_stopping"]["patience"] == 100
    dr = resolve_recipe("deepretina_bn_cnn", {})
    assert (
        dr["reduce_lr"]["factor"] == 0.2
        and dr["val_split"] == 0.05
        and dr["early_stopping"]["patience"] == 20
    )
    assert resolve_recipe("sid_decoder", {})["early_stopping"] is None
    assert set(RECIPES) == {"zheng2021", "zheng2021_off", "deepretina", "sid"}
    with pytest.raises(ConfigError, match="unknown rule kwargs"):
        resolve_recipe("retina_cnn", {"patience": 3})
    with pytest.raises(ConfigError, match="val_split"):
        resolve_recipe("retina_cnn", {"early_stopping": {"monitor": "val_loss", "patience": 2}})


# ------------------------------------------------------------------------------------------------ end to end
def test_zoo_train_and_eval_retina_encoding(tmp_path, capsys) -> None:
    out = tmp_path / "off"
    kw = json.dumps({"dataset_kwargs": {"n_train": 512, "n_test": 256}})
    args = [
        "train",
        "retina_off_cnn",
        "--epochs",
        "2",
        "--batch-size",
        "128",
        "--lr",
        "1e-3",
        "--rule-kwargs",
        kw,
    ]
    assert zoo_main([*args, "--out", str(out), "--tag", "tiny"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["training"]["dataset"] == "retina_white_noise"
    assert cfg["training"]["dataset_kwargs"] == {
        "seed": 0,
        "T": 20,
        "layout": "hwt",
        "n_train": 512,
        "n_test": 256,
    }
    assert len(cfg["history"]["loss"]) == 2 and cfg["evaluation"]["dtype"] == "float64"
    m = cfg["metrics"]
    assert {
        "cc",
        "cc_population",
        "fev",
        "rmse",
        "poisson_loss",
        "cc_true_rate",
        "ceiling_cc",
        "linear_cc",
    } <= set(m)
    card = (out / "README.md").read_text()
    assert "linear receptive-field baseline" in card and "ceiling" in card
    capsys.readouterr()
    assert zoo_main(["eval", "--weights", str(out), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["samples"] == 256 and rep["dtype"] == "float64"
    for k in ("cc", "fev", "rmse", "poisson_loss", "cc_true_rate"):
        assert rep["metrics"][k] == pytest.approx(m[k], rel=1e-9)
    with pytest.raises(ConfigError, match="made for the task"):
        zoo.get_task("retina-encoding").accept_dataset("digits_spikes")


def test_zoo_train_and_eval_spike_image_decoding(tmp_path, capsys) -> None:
    out = tmp_path / "sid"
    kw = json.dumps({"num_cells": 12, "hidden": 16, "widths": [4, 4, 8, 8], "img_size": 16})
    rk = json.dumps({"dataset_kwargs": {"num_cells": 12}})
    args = ["train", "sid_decoder_digits", "--epochs", "1", "--batch-size", "64", "--max-steps", "4",
            "--model-kwargs", kw, "--rule-kwargs", rk, "--out", str(out), "--tag", "tiny"]  # fmt: skip
    assert zoo_main(args) == 0
    cfg = json.loads((out / "config.json").read_text())
    m = cfg["metrics"]
    assert {"mse", "psnr", "ssim", "mean_image_mse", "linear_mse", "dense_mse"} <= set(m)
    assert cfg["training"]["dataset_kwargs"]["img_size"] == 16 and cfg["training"]["steps"] == 4
    capsys.readouterr()
    assert zoo_main(["eval", "--weights", str(out), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["samples"] == 360
    for k in ("mse", "psnr", "ssim"):
        assert rep["metrics"][k] == pytest.approx(m[k], rel=1e-9)
        assert rep["mean_image"][k] == pytest.approx(m[f"mean_image_{k}"], rel=1e-9)


def test_deepretina_trains_with_its_recipe_on_frames_first_windows(tmp_path) -> None:
    """The deep-retina model reads [B, T, H, W]: the task asks the data set for that layout; its recipe holds out
    the last 5 % for validation and monitors val_loss."""
    kw = json.dumps({"img_size": 8, "T": 6, "num_cells": 2, "conv1_size": 3, "conv2_size": 3})
    rk = json.dumps({"dataset_kwargs": {"n_train": 200, "n_test": 100}})
    args = ["train", "deepretina_bn_cnn", "--epochs", "2", "--batch-size", "50", "--model-kwargs", kw,
            "--rule-kwargs", rk, "--out", str(tmp_path / "dr")]  # fmt: skip
    assert zoo_main(args) == 0
    cfg = json.loads((tmp_path / "dr" / "config.json").read_text())
    assert (
        cfg["training"]["dataset_kwargs"]["layout"] == "thw" and cfg["training"]["dataset_kwargs"]["T"] == 6
    )
    assert "190 training samples (+ 10 for validation" in cfg["training"]["split"]
    assert len(cfg["history"]["val_loss"]) == 2 and "deepretina" in cfg["training"]["learning_rule"]
