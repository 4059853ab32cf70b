"""The task registry: a plugin registers a task the core has never heard of, and its model works with
``zoo eval``, ``zoo train``, cards, ``zoo info`` and the conformance kit (the test plugin ``pixel_task.py``)."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest

import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.errors import ConfigError
from zoo_core.hub import parse_card
from zoo_core.plugins import Runtime, set_runtime
from zoo_core.testing import check_model


@pytest.fixture
def pixel_world(monkeypatch: pytest.MonkeyPatch):
    """The public API served by a runtime with the core and the test plugin (found through an entry point)."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    ep = metadata.EntryPoint(name="pixel_task", value="pixel_task", group="zoo_core")
    old = set_runtime(Runtime(entry_points=lambda: [ep]))
    try:
        yield
    finally:
        set_runtime(old)


def test_core_tasks_declare_io_and_metrics() -> None:
    assert {"image-classification", "video-prediction"} <= set(zoo.list_tasks())
    cls = zoo.task_info("image-classification")
    assert [m.name for m in cls.metrics] == ["accuracy"] and cls.metrics[0].direction == "higher"
    pred = {m.name: m.direction for m in zoo.task_info("video-prediction").metrics}
    assert pred == {"mse": "lower", "mae": "lower", "ssim": "higher", "psnr": "higher"}
    # a model without its own I/O spec takes its task's
    assert zoo.model_info("spiking_cnn").io == cls.io


def test_a_model_must_name_a_registered_task() -> None:
    with pytest.raises(ConfigError, match="no plugin registers; registered tasks: image-classification"):

        @zoo.register_model("fx_taskless", task="telepathy")
        def fx_taskless(T: int = 1):  # pragma: no cover - never built
            raise AssertionError


def test_plugin_task_end_to_end(pixel_world, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plugins = {p.name: p for p in zoo.list_plugins()}
    assert plugins["pixel_task"].ok, plugins["pixel_task"].status
    assert "pixel-regression" in zoo.list_tasks()
    info = zoo.model_info("pixel_snn")
    assert info.task == "pixel-regression" and info.io == zoo.task_info("pixel-regression").io

    # the conformance kit runs the generic checks on the declared I/O and the task's own check
    check_model("pixel_snn")

    out = tmp_path / "pixel_snn.denoise_t2"
    args = ["train", "pixel_snn", "--epochs", "2", "--batch-size", "32", "--lr", "0.01", "--out", str(out)]
    assert main([*args, "--tag", "denoise_t2"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["task"] == "pixel-regression" and cfg["evaluation"]["dtype"] == "float64"
    # two epochs already beat the obvious baseline (return the noisy input)
    assert cfg["metrics"]["mse"] < cfg["metrics"]["identity_mse"]
    card = (out / "README.md").read_text()
    # the task's metrics are the model's results; the identity baseline is a comparison; denoise_digits has no
    # Hub dataset id, so there is no model-index
    assert parse_card(card).data.eval_results is None and parse_card(card).data.metrics == ["mse", "mae"]
    assert f"| mse (test) | {cfg['metrics']['mse']:.4g} |" in card
    assert card.index("## Baselines and comparisons") < card.index("| identity_mse (test) |")

    capsys.readouterr()
    assert main(["eval", "pixel_snn", "--weights", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"] == "pixel-regression" and report["dtype"] == "float64"  # the card's precision
    assert report["metrics"]["mse"] == pytest.approx(cfg["metrics"]["mse"], rel=1e-12)
    assert main(["eval", "pixel_snn", "--weights", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "mse" in printed and "lower is better" in printed

    assert main(["info", "pixel-regression"]) == 0
    assert "mean over pixels and samples of the squared error" in capsys.readouterr().out
    # the task has no adversarial protocol: robust-eval says so instead of running a classifier's attack
    assert main(["robust-eval", "pixel_snn", "--weights", str(out), "--attack", "fgsm", "--eps", "0.1"]) == 2
    assert "task 'pixel-regression' has no adversarial evaluation" in capsys.readouterr().err


def test_a_task_refuses_another_tasks_data_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "spiking_cnn", "--dataset", "moving_digits"]) == 2
    err = capsys.readouterr().err
    assert (
        "data set 'moving_digits' is made for the task 'video-prediction', not 'image-classification'" in err
    )
    assert "digits_70_30" in err  # the ones it would take
