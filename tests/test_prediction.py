"""Video prediction: OpenSTL metrics on known inputs, evaluation with the copy-last baseline, zoo train/eval."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.tasks.prediction import (
    copy_last_frame,
    evaluate_prediction,
    frame_mae,
    frame_mse,
    frame_psnr,
    frame_ssim,
    prediction_metrics,
)


def test_mse_and_mae_are_per_frame_sums_before_clipping():
    pred = torch.full((2, 3, 1, 4, 4), 0.5)
    true = torch.full((2, 3, 1, 4, 4), 0.25)
    assert torch.equal(frame_mse(pred, true), torch.full((2, 3), 16 * 0.0625, dtype=torch.float64))
    assert torch.equal(frame_mae(pred, true), torch.full((2, 3), 16 * 0.25, dtype=torch.float64))
    assert torch.equal(frame_mse(pred.numpy(), true.numpy()), frame_mse(pred, true))  # numpy arrays too
    over = torch.full((1, 1, 2, 3, 3), 1.5)
    ones = torch.ones(1, 1, 2, 3, 3)
    assert float(frame_mse(over, ones)) == 18 * 0.25  # unclipped
    assert float(frame_psnr(over, ones)) == math.inf  # clipped to 1: a perfect frame


def test_psnr_of_a_known_noise_level():
    g = torch.Generator().manual_seed(0)
    true = torch.rand(2, 2, 1, 8, 8, generator=g, dtype=torch.float64) * 0.6 + 0.2
    sign = torch.randint(0, 2, true.shape, generator=g).double() * 2 - 1
    pred = true + 0.05 * sign  # squared error 0.0025 everywhere, inside [0, 1]
    psnr = frame_psnr(pred, true).flatten().tolist()
    assert psnr == pytest.approx([-10 * math.log10(0.0025)] * 4, abs=1e-10)
    assert psnr[0] == pytest.approx(26.0206, abs=1e-4)


def _ssim_by_windows(x: np.ndarray, y: np.ndarray, win: int = 7, r: float = 2.0) -> float:
    """SSIM of one 2-D channel, every valid window written out (sample statistics)."""
    c1, c2 = (0.01 * r) ** 2, (0.03 * r) ** 2
    vals = []
    for i in range(x.shape[0] - win + 1):
        for j in range(x.shape[1] - win + 1):
            a, b = x[i : i + win, j : j + win].ravel(), y[i : i + win, j : j + win].ravel()
            ma, mb = a.mean(), b.mean()
            va, vb = a.var(ddof=1), b.var(ddof=1)
            cov = ((a - ma) * (b - mb)).sum() / (a.size - 1)
            vals.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2)))
    return float(np.mean(vals))


def test_ssim_equals_a_window_by_window_computation_and_is_one_for_identical_frames():
    g = torch.Generator().manual_seed(1)
    true = torch.rand(2, 2, 2, 9, 10, generator=g, dtype=torch.float64)
    pred = (true + 0.3 * torch.randn(true.shape, generator=g, dtype=torch.float64)).clamp(-0.2, 1.2)
    got = frame_ssim(pred, true)
    pc = pred.clamp(0, 1).numpy()
    for n in range(2):
        for t in range(2):
            want = np.mean([_ssim_by_windows(pc[n, t, c], true[n, t, c].numpy()) for c in range(2)])
            assert float(got[n, t]) == pytest.approx(want, abs=1e-12)
    assert torch.allclose(frame_ssim(true, true), torch.ones(2, 2, dtype=torch.float64), atol=1e-12)
    assert float(frame_ssim(pred, true).max()) < 1


def test_ssim_matches_scikit_image_when_installed():
    skm = pytest.importorskip("skimage.metrics")
    g = torch.Generator().manual_seed(2)
    true = torch.rand(1, 2, 2, 12, 12, generator=g, dtype=torch.float64)
    pred = torch.rand(1, 2, 2, 12, 12, generator=g, dtype=torch.float64)
    got = frame_ssim(pred, true)
    for t in range(2):
        want = skm.structural_similarity(
            pred[0, t].numpy().swapaxes(0, 2),
            true[0, t].numpy().swapaxes(0, 2),
            channel_axis=-1,
            data_range=2.0,
        )
        assert float(got[0, t]) == pytest.approx(want, abs=1e-9)


def test_metric_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"\[N, T, C, H, W\]"):
        frame_mse(torch.zeros(1, 2, 1, 4, 4), torch.zeros(1, 3, 1, 4, 4))
    with pytest.raises(ValueError, match="unknown prediction metric"):
        prediction_metrics(torch.zeros(1, 1, 1, 8, 8), torch.zeros(1, 1, 1, 8, 8), ("lpips",))
    with pytest.raises(ValueError, match="smaller than"):
        frame_ssim(torch.zeros(1, 1, 1, 4, 4), torch.zeros(1, 1, 1, 4, 4))


class _CopyLast(nn.Module):
    def forward(self, x):
        return x[:, -1:].repeat(1, 3, 1, 1, 1)


def test_evaluate_prediction_means_per_frame_and_the_copy_last_baseline():
    g = torch.Generator().manual_seed(3)
    xs = torch.rand(10, 4, 1, 8, 8, generator=g)
    ys = torch.rand(10, 3, 1, 8, 8, generator=g)
    data = torch.utils.data.TensorDataset(xs, ys)
    rep = evaluate_prediction(_CopyLast(), data, batch_size=3, progress=False)
    assert rep["samples"] == 10
    assert rep["metrics"] == pytest.approx(rep["copy_last_frame"], abs=1e-12)  # the model is the baseline
    direct = prediction_metrics(copy_last_frame(xs, 3), ys)
    assert rep["metrics"] == pytest.approx(direct, abs=1e-9)
    for m, per in rep["per_frame"].items():
        assert len(per) == 3 and np.mean(per) == pytest.approx(rep["metrics"][m], abs=1e-9)
    assert rep["per_frame"]["mse"][1] == pytest.approx(
        float(frame_mse(copy_last_frame(xs, 3), ys)[:, 1].mean())
    )
    assert torch.equal(copy_last_frame(xs, 3)[:, 2], xs[:, -1])


def test_zoo_train_and_eval_a_predictor(capsys, tmp_path):
    out = tmp_path / "card"
    kwargs = {"num_hidden": [16], "img_size": 24, "pre_seq_length": 2, "aft_seq_length": 2}
    code = main(
        [
            "train", "spiking_predictor_stc_baseline_lif_mmnist", "--dataset", "moving_digits", "--model-kwargs", json.dumps(kwargs),
            "--rule-kwargs", '{"sampling_start_value": 0.5}', "--max-steps", "2", "--epochs", "1",
            "--batch-size", "4", "--lr", "1e-3", "--out", str(out), "--tag", "moving_digits_2to2",
        ]
    )  # fmt: skip
    assert code == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["task"] == "video-prediction" and cfg["training"]["steps"] == 2
    assert cfg["training"]["dataset_kwargs"]["canvas"] == 24
    assert {"mse", "mae", "ssim", "psnr", "copy_last_mse", "copy_last_psnr"} <= set(cfg["metrics"])
    capsys.readouterr()
    assert main(["eval", "spiking_predictor_stc_baseline_lif_mmnist", "--weights", str(out), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["samples"] == 256
    # the same per-sample values; only the order of the sums differs (CLI batches of 256, training's of 32)
    assert rep["metrics"] == pytest.approx(
        {k: cfg["metrics"][k] for k in ("mse", "mae", "ssim", "psnr")}, rel=1e-12
    )
    assert rep["copy_last_frame"]["mse"] == pytest.approx(cfg["metrics"]["copy_last_mse"], rel=1e-12)
    with pytest.raises(ValueError, match="BPTT only"):
        zoo.tasks.train(
            zoo.tasks.TrainConfig(model="spiking_predictor_stc_baseline_lif_mmnist", learning_rule="tet")
        )


def test_training_refuses_settings_its_loop_does_not_honour():
    """The prediction loop has Adam, a cosine schedule and nothing else: an SGD, EMA or warm-up request is an
    error naming each setting, before any work, instead of a run that silently ignores it."""
    from zoo_core.errors import ConfigError
    from zoo_core.tasks import TrainConfig, train

    cfg = TrainConfig(
        model="spiking_predictor_stc_lif_mdigits", optimizer="sgd", ema_decay=0.99, warmup_epochs=1, epochs=2
    )
    with pytest.raises(
        ConfigError, match=r"trains without optimizer='sgd', warmup_epochs=1.0, ema_decay=0.99: "
    ):
        train(cfg)
    with pytest.raises(ConfigError, match=r"amp=True: its training loop takes only .*batch_size"):
        train(TrainConfig(model="spiking_predictor_stc_lif_mdigits", amp=True))
    info = zoo.task_info("video-prediction")
    assert "batch_size" in info.train_settings and "optimizer" not in info.train_settings
    assert zoo.task_info("image-classification").train_settings is None  # every setting
