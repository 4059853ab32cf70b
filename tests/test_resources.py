"""The resource guard (:mod:`zoo_core.tasks.resources`) and its memory meters (:mod:`zoo_core.memory`): exact
byte counts on small graphs, estimates that scale with the batch, a refusal in seconds with the settings that fit,
and a dry run that leaves the model and every random stream alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import zoo_core as zoo
from zoo_core.errors import ConfigError
from zoo_core.memory import LiveOutputMeter, SavedTensorMeter
from zoo_core.tasks import get_task
from zoo_core.tasks import resources as res
from zoo_core.tasks.resources import MemoryEstimate, available_memory, check_fits, estimate_memory
from zoo_core.tasks.training import rule_step

ZOO = [sys.executable, "-m", "zoo_core.cli"]


def test_live_output_meter_counts_outputs_while_they_live() -> None:
    # [1, 1000] float32 = 4000 bytes; Sequential keeps the Linear output alive while ReLU makes its own
    net = nn.Sequential(nn.Linear(10, 1000), nn.ReLU(), nn.Linear(1000, 10))
    with LiveOutputMeter(net) as meter, torch.no_grad():
        net(torch.randn(1, 10))
    assert meter.peak_bytes == 8000
    # an in-place ReLU writes into the Linear output: one storage, counted once
    net[1] = nn.ReLU(inplace=True)
    with LiveOutputMeter(net) as meter, torch.no_grad():
        net(torch.randn(1, 10))
    assert meter.peak_bytes == 4000 + 40
    assert meter.live_bytes == 0  # everything it counted has been freed and released


def test_saved_tensor_meter_counts_what_backward_keeps() -> None:
    w = torch.randn(100, 100, requires_grad=True)
    x = torch.randn(7, 100)
    with SavedTensorMeter() as meter:
        (x @ w).sum().backward()  # matmul keeps x (for dw); x needs no gradient, so w is not kept
    assert meter.peak_bytes == x.numel() * 4
    assert meter.live_bytes == 0
    x.requires_grad_(True)
    with SavedTensorMeter(ignore=[w]) as meter:
        (x @ w).sum().backward()  # now w is kept too (for dx), but ignored
    assert meter.peak_bytes == x.numel() * 4


def _mlp(width: int = 256) -> nn.Module:
    return nn.Sequential(
        nn.Linear(32, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 4)
    )


def _train_step(m: nn.Module, x: torch.Tensor) -> None:
    m(x).square().mean().backward()


def test_training_estimate_scales_to_the_measured_batch() -> None:
    torch.manual_seed(0)
    model = _mlp()
    est = estimate_memory(model, lambda m: _train_step(m, torch.randn(2, 32)), 64, training=True, samples=2)
    with SavedTensorMeter(ignore=model.parameters()) as meter:  # weights are the 4P term, not activations
        _train_step(model, torch.randn(64, 32))
    assert est.per_sample * 64 == meter.peak_bytes
    params = sum(p.numel() * 4 for p in model.parameters())
    assert est.parameters == params and est.total == est.per_sample * 64 + 4 * params


def test_eval_estimate_and_dtype() -> None:
    model = _mlp()
    est32 = estimate_memory(model, lambda m: m(torch.randn(1, 32)), 8, training=False)
    est64 = estimate_memory(
        model, lambda m: m(torch.randn(1, 32, dtype=torch.float64)), 8, training=False, dtype=torch.float64
    )
    assert est32.per_sample > 0 and est64.per_sample == 2 * est32.per_sample
    assert est64.parameters == 2 * est32.parameters and est32.parameter_copies == 1
    assert next(model.parameters()).dtype == torch.float32  # the model itself was not cast


def test_the_dry_run_leaves_model_and_random_state_alone() -> None:
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(8, 8), nn.Dropout(0.5), nn.BatchNorm1d(8)).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def run(m: nn.Module) -> None:  # trains the copy: dropout draws, BN statistics move, SGD steps
        opt = torch.optim.SGD(m.parameters(), lr=1.0)
        m(torch.rand(4, 8)).sum().backward()
        opt.step()

    rng = torch.get_rng_state()
    estimate_memory(model, run, 16, training=True, samples=4)
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's random stream is where it was
    assert not model.training  # mode kept
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # weights and BN statistics untouched


def test_refusal_names_sizes_the_fix_and_force(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _mlp()
    monkeypatch.setattr(res, "available_memory", lambda: 10_000)
    with pytest.raises(ConfigError) as err:
        check_fits(
            "zoo train mlp",
            model,
            lambda m: _train_step(m, torch.randn(1, 32)),
            64,
            training=True,
            smaller="mlp.tiny was trained with `zoo train mlp --batch-size 2`",
        )
    msg = str(err.value)
    assert msg.startswith("zoo train mlp: would need about ") and "GB" in msg and "batch 64" in msg
    assert "--batch-size" in msg and "--force" in msg and "`zoo train mlp --batch-size 2`" in msg
    assert check_fits("x", model, lambda m: 1 / 0, 64, training=True, force=True) is None  # force: no dry run
    monkeypatch.setattr(res, "available_memory", lambda: 2**40)
    assert isinstance(
        check_fits("x", model, lambda m: _train_step(m, torch.randn(1, 32)), 64, training=True),
        MemoryEstimate,
    )


def test_processes_on_one_machine_add_up(monkeypatch: pytest.MonkeyPatch) -> None:
    run = lambda m: _train_step(m, torch.randn(1, 32))  # noqa: E731
    one = estimate_memory(_mlp(), run, 8, training=True)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    two = estimate_memory(_mlp(), run, 8, training=True)
    assert two.total == 2 * one.total


def test_cgroup_limit_caps_available_memory(tmp_path: Path) -> None:
    (tmp_path / "memory.max").write_text("1000000\n")
    (tmp_path / "memory.current").write_text("400000\n")
    assert res._cgroup_available(str(tmp_path)) == 600000
    (tmp_path / "memory.max").write_text("max\n")
    assert res._cgroup_available(str(tmp_path)) is None
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("5000\n")
    (v1 / "memory.usage_in_bytes").write_text("1000\n")
    assert res._cgroup_available(str(tmp_path / "v1")) == 4000
    assert available_memory() is not None  # Linux reports it


def test_a_rules_whole_training_step_is_dry_run_without_touching_the_rule() -> None:
    torch.manual_seed(0)
    model = zoo.create_model("spiking_cnn")
    rule = zoo.create_learning_rule("bptt")
    task = get_task("image-classification")
    data = torch.utils.data.TensorDataset(torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 2, 3]))
    est = task.check_memory("t", model, data, 32, training=True, step=rule_step(rule))
    assert est is not None and est.per_sample > 0 and rule.record == {}
    # the task's own probe (CE of the logits) keeps the same activations as BPTT's step
    plain = task.check_memory("t", model, data, 32, training=True)
    assert plain is not None and plain.per_sample == pytest.approx(est.per_sample, rel=0.05)


def test_zoo_train_refuses_the_papers_stc_model_in_seconds(tmp_path: Path) -> None:
    """The paper-sized STC-LIF (3 x 256 channels at 64 x 64, batch 64) needs about 40 GB to train: refused on a
    machine with less, in seconds, naming the demo's recipe that fits."""
    avail = available_memory()
    if avail is None or avail > 40 * 2**30:
        pytest.skip("this machine may have the memory to train it")
    argv = ["train", "spiking_predictor_stc_lif_mmnist", "--epochs", "1", "--max-steps", "1"]
    done = subprocess.run([*ZOO, *argv], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    err = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and "Traceback" not in done.stderr, done.stderr
    assert err[0].startswith("zoo: error: zoo train spiking_predictor_stc_lif_mmnist: would need about ")
    assert "batch 64" in err[0] and "--force" in err[0]
    assert "spiking_predictor_stc_lif_mdigits.moving_digits_5to5 was trained with `zoo train" in err[0]
    assert not list(tmp_path.iterdir())  # nothing written
