"""Training recipes (issue 16, item 3): schedule, weight-decay groups, EMA, augmentation, per-epoch validation with
the best epoch kept, the run folder (log and checkpoints) and a resume that continues bit for bit, and registered
paper recipes (``--recipe``, ``--print-recipe``)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

import zoo_core as zoo
from zoo_core.data.augment import DVSAugment
from zoo_core.errors import ConfigError, WeightsError
from zoo_core.tasks import TrainConfig, train
from zoo_core.tasks.checkpoints import RunFolder, read_checkpoint
from zoo_core.tasks.recipes import recipe_config
from zoo_core.tasks.training import holdout, make_ema, make_scheduler, param_groups

ZOO = [sys.executable, "-m", "zoo_core.cli"]


def _strip(log: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in log]


# ------------------------------------------------------------------------------------------------- the pieces
def test_warmup_then_cosine_follows_its_formula() -> None:
    cfg = TrainConfig(model="spiking_cnn", epochs=5, lr=0.1, warmup_epochs=1, warmup_lr=1e-3, min_lr=1e-4)
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    spe = 10
    sched = make_scheduler(cfg, opt, steps_per_epoch=spe)
    total, warm = 50, 10
    for s in range(total):
        lr = opt.param_groups[0]["lr"]
        if s < warm:
            expected = cfg.warmup_lr + (cfg.lr - cfg.warmup_lr) * s / warm
        else:
            expected = cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (
                1 + math.cos(math.pi * (s - warm) / (total - warm))
            )
        assert lr == pytest.approx(expected, rel=1e-9, abs=1e-12), s
        opt.step()
        sched.step()


def test_weight_decay_groups_honour_no_weight_decay_and_1d() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 2, 3)
            self.bn = nn.BatchNorm2d(2)
            self.scale = nn.Parameter(torch.ones(2, 2))

        def no_weight_decay(self) -> set[str]:
            return {"scale"}

    net = Net()
    by_id = {id(p): n for n, p in net.named_parameters()}
    groups = param_groups(net, TrainConfig(model="x", weight_decay=0.05))
    assert [sorted(by_id[id(p)] for p in g["params"]) for g in groups] == [
        ["bn.bias", "bn.weight", "conv.bias", "conv.weight"],
        ["scale"],
    ]
    assert [g["weight_decay"] for g in groups] == [0.05, 0.0]
    groups = param_groups(net, TrainConfig(model="x", weight_decay=0.05, weight_decay_1d=False))
    assert sorted(by_id[id(p)] for p in groups[0]["params"]) == ["conv.weight"]


def test_ema_averages_with_its_decay() -> None:
    net = nn.Linear(1, 1, bias=False)
    ema = make_ema(TrainConfig(model="x", ema_decay=0.9), net)
    values = [1.0, 3.0, 5.0]
    expected = None
    for v in values:
        net.weight.data.fill_(v)
        ema.update_parameters(net)
        expected = v if expected is None else 0.9 * expected + 0.1 * v  # the first update copies
    assert float(ema.module.weight.detach()) == pytest.approx(expected)
    assert make_ema(TrainConfig(model="x"), net) is None


def test_holdout_is_disjoint_seeded_and_validates_on_clean_samples() -> None:
    data = torch.utils.data.TensorDataset(
        torch.arange(100.0).view(100, 1), torch.zeros(100, dtype=torch.long)
    )
    clean = torch.utils.data.TensorDataset(
        -torch.arange(100.0).view(100, 1), torch.zeros(100, dtype=torch.long)
    )
    train_part, val_part = holdout(data, 0.2, seed=1, clean=clean)
    assert len(train_part) == 80 and len(val_part) == 20
    assert set(train_part.indices).isdisjoint(val_part.indices)
    assert val_part.dataset is clean and train_part.dataset is data
    assert holdout(data, 0.2, seed=1)[1].indices == val_part.indices  # same seed, same split
    assert holdout(data, 0.2, seed=2)[1].indices != val_part.indices
    with pytest.raises(ConfigError, match="leaves no validation"):
        holdout(data, 0.001, seed=1)


def test_dvs_augment_changes_every_frame_alike() -> None:
    torch.manual_seed(0)
    frame = torch.rand(2, 12, 12)
    frames = frame.expand(5, 2, 12, 12).clone()  # T = 5 identical frames
    aug = DVSAugment()
    seen_changed = False
    for _ in range(30):
        out = aug(frames)
        assert out.shape == frames.shape
        assert all(torch.equal(out[0], out[t]) for t in range(5))  # one change for the whole sample
        seen_changed |= not torch.equal(out, frames)
    assert seen_changed
    # the three operations, each on its own: roll keeps every value, cutout zeroes one 4x4 square inside
    torch.manual_seed(1)
    rolled = aug.roll(frames)
    assert torch.equal(rolled.sum(), frames.sum()) or torch.allclose(rolled.sum(), frames.sum())
    assert sorted(rolled.flatten().tolist()) == sorted(frames.flatten().tolist())
    ones = torch.ones(1, 1, 12, 12)
    cut = aug.cutout(ones)
    zeros = int((cut == 0).sum())
    assert zeros in {16, 8, 12, 4, 6, 9, 2, 3, 1} and zeros <= 16  # a 4x4 square, clipped at the borders
    assert torch.equal(
        aug.rotate(ones.expand(1, 1, 12, 12))[..., 5:7, 5:7], ones[..., 5:7, 5:7]
    )  # centre stays
    with pytest.raises(ConfigError, match=r"\[T, C, H, W\]"):
        aug(torch.rand(2, 12, 12))


def test_folder_training_transform_is_timms() -> None:
    pytest.importorskip("timm")
    from zoo_core.data.preprocessing import ImagePreprocessing

    pre = ImagePreprocessing.from_declared({"mean": [0.5], "std": [0.25]}, 1, 16)
    tf = pre.train_transform("rand-m9-mstd0.5-inc1")
    img = Image.new("RGB", (40, 30), (200, 10, 10))
    torch.manual_seed(0)
    x = tf(img)
    assert x.shape == (1, 16, 16) and x.dtype == torch.float32
    assert "RandAugment" in repr(tf) and "RandomResizedCrop" in repr(tf)


# ------------------------------------------------------------------------------------ the loop, end to end
KW = dict(model="spiking_cnn", model_kwargs={"T": 2}, batch_size=128, verbose=False)


def test_resume_continues_bit_for_bit(tmp_path: Path) -> None:
    """Stopped after epoch 2 of 3 and resumed, a run ends with the same weights and log as one that never
    stopped: with warm-up, EMA, weight-decay groups, validation, random erasing and mixup (torch, NumPy and
    Python random streams all restored)."""
    pytest.importorskip("timm")
    kw = dict(
        KW,
        epochs=3,
        warmup_epochs=1,
        ema_decay=0.5,
        weight_decay=0.01,
        weight_decay_1d=False,
        val_fraction=0.1,
        reprob=0.5,
        mixup=0.4,
        cutmix=1.0,
    )
    whole = train(TrainConfig(**kw, run_dir=str(tmp_path / "a")), "t", return_model=True)
    spe = whole["log"][0]["step"]
    assert spe == 1293 // 128  # 1437 - 10 % held out, batches of 128, the last partial one dropped (mixing)
    train(TrainConfig(**kw, run_dir=str(tmp_path / "b"), max_steps=2 * spe), "t")
    stopped = RunFolder(tmp_path / "b")
    assert [r["epoch"] for r in stopped.log()] == [1, 2]
    settings = stopped.settings()
    assert "max_steps" not in settings and settings["epochs"] == 3
    resumed = train(TrainConfig(**{**settings, "verbose": False}, resume=True), "t", return_model=True)
    a, b = whole["model"].state_dict(), resumed["model"].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert _strip(RunFolder(tmp_path / "a").log()) == _strip(stopped.log())
    assert resumed["best_epoch"] == whole["best_epoch"] and resumed["test_accuracy"] == whole["test_accuracy"]
    assert [r["epoch"] for r in stopped.log()] == [1, 2, 3] and "val_accuracy" in stopped.log()[0]


def test_best_epoch_weights_are_kept(tmp_path: Path) -> None:
    res = train(
        TrainConfig(**KW, epochs=3, val_fraction=0.1, run_dir=str(tmp_path / "r")), "t", return_model=True
    )
    log = res["log"]
    best = max(range(3), key=lambda i: (log[i]["val_accuracy"], -i))
    assert res["best_epoch"] == best + 1 and res["best"] == log[best]["val_accuracy"]
    kept = zoo.tasks.accuracy(res["model"], _val(res))
    assert kept == pytest.approx(log[best]["val_accuracy"])
    saved = __import__("safetensors.torch", fromlist=["load_file"]).load_file(
        str(tmp_path / "r" / "best.safetensors")
    )
    assert all(torch.equal(saved[k], v) for k, v in res["model"].state_dict().items())


def _val(res: dict) -> torch.utils.data.Dataset:
    data = zoo.create_dataset("digits", split="train")
    return holdout(data, 0.1, seed=0)[1]


def test_run_folder_refuses_to_mix_runs_and_damage_is_named(tmp_path: Path) -> None:
    run = tmp_path / "r"
    train(TrainConfig(**KW, epochs=1, run_dir=str(run)), "t")
    with pytest.raises(ConfigError, match="already holds a run"):
        train(TrainConfig(**KW, epochs=1, run_dir=str(run)), "t")
    with (run / "log.jsonl").open("a") as f:
        f.write('{"epoch": 2, "st')  # a torn line: a crash while appending
    assert [r["epoch"] for r in RunFolder(run).log()] == [1]
    raw = (run / "last.safetensors").read_bytes()
    (run / "last.safetensors").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(WeightsError, match="damaged"):
        read_checkpoint(run / "last.safetensors")
    with pytest.raises(ConfigError, match="not a run folder"):
        RunFolder(tmp_path / "nothing").settings()


def test_mixing_needs_a_rule_that_takes_soft_targets() -> None:
    pytest.importorskip("timm")
    with pytest.raises(ConfigError, match="soft targets"):
        train(TrainConfig(**KW, epochs=1, mixup=0.8, learning_rule="sparse_grad"), "t")
    with pytest.raises(ConfigError, match="applies to image folders"):
        train(TrainConfig(**KW, epochs=1, auto_augment="rand-m9"), "t")


def test_auto_augment_trains_on_an_image_folder(tmp_path: Path) -> None:
    pytest.importorskip("timm")
    for split in ("train", "test"):
        for c, color in enumerate(((250, 250, 250), (5, 5, 5))):
            d = tmp_path / split / f"class{c}"
            d.mkdir(parents=True)
            for i in range(6):
                Image.new("L", (12 + i, 10), color[0]).save(d / f"{i}.png")
    res = train(
        TrainConfig(
            **{**KW, "model_kwargs": {"T": 2, "num_classes": 2}, "batch_size": 4},
            dataset=str(tmp_path),
            epochs=1,
            auto_augment="rand-m9-mstd0.5-inc1",
            val_fraction=0.25,
        ),
        "t",
    )
    assert res["steps"] == 3 and res["log"][0]["val_accuracy"] >= 0  # 9 training images, 3 validation


# ------------------------------------------------------------------------------------------------ recipes
def test_every_registered_recipe_is_valid_for_its_models() -> None:
    names = zoo.list_recipes()
    assert {"spiking_cnn_digits", "spikingresformer_imagenet", "lmht_cifar", "empf_cifar"} <= set(names)
    for name in names:
        info = zoo.recipe_info(name)
        assert info.models and info.source and info.description, name
        concrete = [
            m for m in zoo.list_models() if any(__import__("fnmatch").fnmatchcase(m, p) for p in info.models)
        ]
        assert concrete, f"{name}: no registered model matches {info.models}"
        for model in concrete:
            cfg = recipe_config(name, model, **({"dataset": "DATA"} if info.data else {}))
            assert cfg.recipe == name and cfg.model == model
            for key, value in info.settings.items():
                assert getattr(cfg, key) == value, (name, key)
            if cfg.learning_rule != "bptt" or cfg.rule_kwargs:
                zoo.create_learning_rule(cfg.learning_rule, **cfg.rule_kwargs)  # the rule takes these kwargs
        assert name in zoo.list_recipes(model=concrete[0])


def test_recipe_settings_yield_to_explicit_options_and_check_the_model() -> None:
    cfg = recipe_config("spiking_cnn_digits", "spiking_cnn", epochs=3)
    assert cfg.epochs == 3 and cfg.lr == 0.005 and cfg.dataset == "digits"
    with pytest.raises(ConfigError, match="is for spiking_cnn, not 'lmht_resnet18'"):
        recipe_config("spiking_cnn_digits", "lmht_resnet18")
    with pytest.raises(ConfigError, match="give it with --dataset"):
        recipe_config("lmht_cifar", "lmht_resnet18")
    with pytest.raises(zoo.UnknownNameError):
        recipe_config("nope", "spiking_cnn")


def _zoo(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*ZOO, *argv], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_cli_recipe_run_resume_and_print(tmp_path: Path) -> None:
    """`zoo train spiking_cnn --epochs 2` with a run folder, then `--resume` to 3 epochs: the log keeps its first
    two lines and gains the third; a recipe run records the recipe in its card; --print-recipe prints the
    command; changing a setting on resume is refused in one line."""
    first = _zoo(
        "train",
        "spiking_cnn",
        "--model-kwargs",
        '{"T": 2}',
        "--epochs",
        "2",
        "--batch-size",
        "128",
        "--val-fraction",
        "0.1",
        "--run-dir",
        "run",
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    before = RunFolder(tmp_path / "run").log()
    again = _zoo("train", "--resume", "run", "--epochs", "3", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    after = RunFolder(tmp_path / "run").log()
    assert after[:2] == before and [r["epoch"] for r in after] == [1, 2, 3]
    assert json.loads((tmp_path / "run" / "run.json").read_text())["epochs"] == 3
    refused = _zoo("train", "--resume", "run", "--lr", "0.1", cwd=tmp_path)
    assert refused.returncode == 2 and "--lr: a resumed run keeps the settings" in refused.stderr
    shown = _zoo("train", "spiking_cnn", "--recipe", "spiking_cnn_digits", "--print-recipe", cwd=tmp_path)
    assert (
        shown.returncode == 0
        and "command: zoo train spiking_cnn --dataset digits --epochs 40" in shown.stdout
    )
    out = tmp_path / "w"
    recipe_run = _zoo(
        "train",
        "spiking_cnn",
        "--recipe",
        "spiking_cnn_digits",
        "--epochs",
        "1",
        "--model-kwargs",
        '{"T": 2}',
        "--out",
        str(out),
        "--tag",
        "digits_t2",
        cwd=tmp_path,
    )
    assert recipe_run.returncode == 0, recipe_run.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["training"]["recipe"] == "spiking_cnn_digits"
    assert "- Recipe: spiking_cnn_digits" in (out / "README.md").read_text()
