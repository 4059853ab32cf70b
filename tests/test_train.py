"""Training tool: single process writes a loadable weight folder; two DDP ranks stay identical and learn."""

import json
import os
import subprocess
import sys

import pytest

import zoo_core as zoo
from zoo_core.tasks import TrainConfig, train


def test_single_process_training_writes_a_loadable_folder(tmp_path):
    out = tmp_path / "w"
    cfg = TrainConfig(
        model="spiking_cnn",
        model_kwargs={"T": 2},
        epochs=2,
        batch_size=64,
        lr=1e-2,
        out=str(out),
        tag="digits_t2",
    )
    result = train(cfg, command="test")
    losses = [h["loss"] for h in result["history"]]
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5
    assert result["test_accuracy"] > 0.7
    cfg_json = json.loads((out / "config.json").read_text())
    assert cfg_json["metrics"]["accuracy"] == pytest.approx(result["test_accuracy"])
    assert cfg_json["training"]["seed"] == 0 and cfg_json["training"]["command"] == "test"
    assert 0 < cfg_json["profile"]["mean_firing_rate"] < 1 and cfg_json["profile"]["energy_pj"] > 0
    model = zoo.load_pretrained(None, out)
    from zoo_core.tasks import accuracy

    assert accuracy(model, zoo.create_dataset("digits", split="test")) == cfg_json["metrics"]["accuracy"]


@pytest.mark.slow
def test_two_rank_ddp_replicas_stay_identical_and_loss_falls(tmp_path):
    log = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "zoo_core.cli",
        "train",
        "spiking_cnn",
        "--model-kwargs",
        '{"T": 2}',
        "--epochs",
        "1",
        "--max-steps",
        "12",
        "--batch-size",
        "32",
        "--lr",
        "0.01",
        "--log-json",
        str(log),
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"run.rank{r}").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2]
    assert ranks[0]["state_digest"] == ranks[1]["state_digest"], "DDP replicas diverged"
    for r in ranks:
        losses = [h["loss"] for h in r["history"]]
        assert len(losses) == 12
        assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    # the two ranks saw different shards: their first-batch losses differ
    assert ranks[0]["history"][0]["loss"] != ranks[1]["history"][0]["loss"]


def test_sgd_recipe_takes_exactly_one_sgd_step_and_is_recorded(tmp_path):
    """--optimizer sgd: one training step equals a hand-made SGD (Nesterov) step from the same start."""
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader

    from zoo_core.tasks.training import make_optimizer

    cfg = TrainConfig(
        model="spiking_cnn",
        model_kwargs={"T": 1},
        dataset="digits_70_30",
        optimizer="sgd",
        momentum=0.9,
        nesterov=True,
        lr=0.05,
        weight_decay=5e-4,
        batch_size=16,
        max_steps=1,
        epochs=1,
        out=str(tmp_path / "w"),
        verbose=False,
    )
    result = train(cfg, return_model=True)
    # the same start (seed), batch (seeded shuffle) and step, written out by hand
    torch.manual_seed(cfg.seed)
    model = zoo.create_model("spiking_cnn", T=1)
    g = torch.Generator().manual_seed(cfg.seed)
    x, y = next(
        iter(DataLoader(zoo.create_dataset("digits_70_30"), batch_size=16, shuffle=True, generator=g))
    )
    model.train()
    F.cross_entropy(model(x), y).backward()
    with torch.no_grad():
        for p in model.parameters():  # first step: buffer = d_p; Nesterov: d_p + momentum * buffer
            d = p.grad + 5e-4 * p
            p -= 0.05 * (d + 0.9 * d)
    trained = result["model"].state_dict()
    for k, v in model.state_dict().items():
        torch.testing.assert_close(trained[k], v, rtol=1e-5, atol=1e-6, msg=k)
    recipe = json.loads((tmp_path / "w" / "config.json").read_text())["training"]
    assert recipe["optimizer"].startswith("SGD momentum=0.9 nesterov lr=0.05 weight_decay=0.0005")
    assert "stratified 70/30 train/test split" in recipe["split"] and recipe["split"].endswith("seed 0")
    with pytest.raises(ValueError, match=r"optimizer must be one of \('adamw', 'sgd'\), got 'adam'"):
        make_optimizer(TrainConfig(model="spiking_cnn", optimizer="adam"), model.parameters())
