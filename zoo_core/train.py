"""Train a registered classifier with a registered learning rule; single process or ``torchrun`` + DDP.

    python tools/train.py spiking_cnn --dataset digits --epochs 30 --out model_cards/spiking_cnn.digits_t4
    torchrun --standalone --nproc_per_node=2 tools/train.py spiking_cnn --dataset digits --epochs 5

``--dataset`` is ``digits`` (scikit-learn's 8x8 digits, offline) or a folder of images laid out one sub-folder
per class (``PATH/train/<class>/*.png`` and ``PATH/test/<class>/*.png``, or just ``PATH/<class>/*.png``).
Under ``torchrun`` each rank trains on its shard (``DistributedSampler``) and gradients are averaged by
``DistributedDataParallel`` (gloo on CPU, NCCL on GPU); rank 0 evaluates and writes the weight folder.
Everything that decides the result (seed, split, learning rule, hyper-parameters, command) is recorded in the
folder's ``config.json`` and card.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


@dataclass
class TrainConfig:
    model: str
    dataset: str = "digits"
    learning_rule: str = "bptt"
    rule_kwargs: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    epochs: int = 30
    batch_size: int = 64
    lr: float = 5e-3
    weight_decay: float = 0.0
    #: "adamw" or "sgd" (the papers' recipes: momentum, optionally Nesterov); cosine schedule either way
    optimizer: str = "adamw"
    momentum: float = 0.9
    nesterov: bool = False
    seed: int = 0
    out: str | None = None
    tag: str | None = None
    num_workers: int = 0
    max_steps: int | None = None
    log_json: str | None = None
    verbose: bool = True


def load_dataset(spec: str, split: str, in_chans: int, img_size: int, seed: int = 0) -> Dataset:
    """A registered data set (``digits``, a plugin's) or an image folder (see the module docstring), as
    ``(image [C,H,W] in [0,1], label)``; ``seed`` goes to data sets that take one (their split)."""
    from .api import create_dataset, dataset_info, list_datasets

    if spec in list_datasets():
        kwargs: dict[str, Any] = {"split": split}
        if "seed" in dataset_info(spec).defaults:
            kwargs["seed"] = seed
        return create_dataset(spec, **kwargs)
    root = Path(spec)
    if not root.is_dir():
        raise FileNotFoundError(
            f"--dataset {spec!r}: not a registered data set ({', '.join(list_datasets())}) and not a folder "
            "of images"
        )
    from torchvision import datasets, transforms

    sub = root / split if (root / split).is_dir() else root
    tf = [transforms.Resize((img_size, img_size))]
    if in_chans == 1:
        tf.append(transforms.Grayscale(1))
    tf.append(transforms.ToTensor())
    return datasets.ImageFolder(str(sub), transform=transforms.Compose(tf))


OPTIMIZERS = ("adamw", "sgd")


def make_optimizer(cfg: TrainConfig, params: Any) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over ``params``: AdamW, or SGD with ``momentum`` (and ``nesterov``); one weight decay."""
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {cfg.optimizer!r}")


def describe_optimizer(cfg: TrainConfig) -> str:
    """The optimiser recipe as recorded in a card."""
    if cfg.optimizer == "sgd":
        kind = f"SGD momentum={cfg.momentum}{' nesterov' if cfg.nesterov else ''}"
    else:
        kind = "AdamW"
    return f"{kind} lr={cfg.lr} weight_decay={cfg.weight_decay}, cosine schedule, batch {cfg.batch_size}"


def _dist_env() -> tuple[int, int, int]:
    return (
        int(os.environ.get("RANK", 0)),
        int(os.environ.get("WORLD_SIZE", 1)),
        int(os.environ.get("LOCAL_RANK", 0)),
    )


@torch.no_grad()
def accuracy(model: nn.Module, data: Dataset, batch_size: int = 256) -> float:
    model.eval()
    correct = total = 0
    for x, y in DataLoader(data, batch_size=batch_size):
        correct += int((model(x).argmax(-1) == y).sum())
        total += len(y)
    return correct / max(total, 1)


def train(cfg: TrainConfig, command: str | None = None, return_model: bool = False) -> dict[str, Any]:
    """Train, evaluate on the test split and (rank 0, with ``cfg.out``) write a weight folder.

    Returns the step count, wall time, per-step history, test accuracy (rank 0) and, with ``return_model``,
    the trained model under ``"model"``. Video-prediction models go to :func:`zoo_core.prediction.train_prediction`.
    """
    from tqdm import tqdm

    from .api import create_learning_rule, create_model, model_config, model_info

    if model_info(cfg.model).task == "video-prediction":
        from .prediction import train_prediction

        return train_prediction(cfg, command, return_model=return_model)

    rank, world, local_rank = _dist_env()
    distributed = world > 1
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if distributed:
        import torch.distributed as dist

        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    torch.manual_seed(cfg.seed)  # same seed on every rank: identical initial replicas
    margs = model_config(cfg.model, **cfg.model_kwargs)
    in_chans, img_size = int(margs.get("in_chans", 1)), int(margs.get("img_size", 8))
    train_set = load_dataset(cfg.dataset, "train", in_chans, img_size, cfg.seed)
    test_set = load_dataset(cfg.dataset, "test", in_chans, img_size, cfg.seed)
    model = create_model(cfg.model, **cfg.model_kwargs).to(device)
    rule = create_learning_rule(cfg.learning_rule, **cfg.rule_kwargs)
    model = rule.prepare(model)
    net: nn.Module = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[local_rank] if device.type == "cuda" else None)
    opt = make_optimizer(cfg, net.parameters())
    total_epochs = cfg.epochs
    steps_per_epoch = -(-len(train_set) // (cfg.batch_size * world))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total_epochs * steps_per_epoch))
    g = torch.Generator().manual_seed(cfg.seed)
    if distributed:
        from torch.utils.data.distributed import DistributedSampler

        sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed)
        loader = DataLoader(
            train_set, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.num_workers
        )
    else:
        sampler = None
        loader = DataLoader(
            train_set, batch_size=cfg.batch_size, shuffle=True, generator=g, num_workers=cfg.num_workers
        )
    history: list[dict[str, float]] = []
    step = 0
    t0 = time.perf_counter()
    for epoch in range(total_epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        bar = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{total_epochs}",
            disable=rank != 0 or not sys.stderr.isatty(),
            leave=False,
        )
        losses = []
        for x, y in bar:
            out = rule.training_step(net, (x.to(device), y.to(device)), opt)
            sched.step()
            losses.append(out["loss"])
            history.append({"step": step, **out})
            bar.set_postfix(loss=f"{out['loss']:.3f}")
            step += 1
            if cfg.max_steps is not None and step >= cfg.max_steps:
                break
        if rank == 0 and cfg.verbose:
            print(
                f"epoch {epoch + 1}/{total_epochs}: loss {sum(losses) / max(len(losses), 1):.4f}", flush=True
            )
        if cfg.max_steps is not None and step >= cfg.max_steps:
            break
    seconds = time.perf_counter() - t0
    result: dict[str, Any] = {
        "steps": step,
        "seconds": seconds,
        "history": history,
        "rank": rank,
        "world": world,
    }
    if rank == 0:
        result["test_accuracy"] = accuracy(model, test_set)
        if cfg.verbose:
            print(f"test accuracy: {result['test_accuracy']:.4f} ({len(test_set)} samples)", flush=True)
    if cfg.log_json:
        # parameters only: DDP broadcasts rank 0's BN buffers at each forward, so after the last forward each
        # rank's running statistics hold its own batch (rank 0's are the ones saved)
        digest = _state_digest({k: p.detach().cpu() for k, p in model.named_parameters()})
        Path(f"{cfg.log_json}.rank{rank}").write_text(json.dumps({**result, "state_digest": digest}))
    if rank == 0 and cfg.out:
        write_folder(model.cpu(), cfg, test_set, result, command or "")
        print(f"wrote {cfg.out}", flush=True)
    if distributed:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    if return_model:
        result["model"] = model
    return result


def _state_digest(state: dict[str, torch.Tensor]) -> str:
    import hashlib

    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].contiguous().numpy().tobytes())
    return h.hexdigest()


def write_folder(
    model: nn.Module, cfg: TrainConfig, test_set: Dataset, result: dict[str, Any], command: str
) -> Path:
    """Measure (accuracy, firing rate, SOPs, energy) and write the weight folder with its card."""
    from .evaluate import evaluate
    from .weights import save_pretrained

    report = evaluate(model, test_set, progress=False)
    from .api import dataset_info, list_datasets

    training = {
        "command": command,
        "dataset": cfg.dataset,
        "split": (
            f"{dataset_info('digits').description}; stratified 80/20 train/test split, seed {cfg.seed}"
            if cfg.dataset == "digits"
            else f"{dataset_info(cfg.dataset).description}; seed {cfg.seed}"
            if cfg.dataset in list_datasets()
            else "folder split"
        ),
        "seed": cfg.seed,
        "learning_rule": f"{cfg.learning_rule} {cfg.rule_kwargs or ''}".strip(),
        "epochs": cfg.epochs,
        "optimizer": describe_optimizer(cfg),
        "eval_split": "test",
        "dataset_name": "scikit-learn 8x8 digits" if cfg.dataset == "digits" else cfg.dataset,
        "seconds": round(result["seconds"], 1),
    }
    extra = {
        "metrics": {"accuracy": report["accuracy"]},
        "profile": {k: report[k] for k in ("mean_firing_rate", "sops", "macs", "energy_pj", "convention")},
        "training": training,
    }
    return save_pretrained(model, cfg.out, tag=cfg.tag, extra_config=extra)  # type: ignore[arg-type]


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The training command line (defined in :mod:`zoo_core.cli_jobs`, which must not import torch)."""
    from .cli_jobs import add_train_arguments

    p = parser or argparse.ArgumentParser(
        prog="tools/train.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    return add_train_arguments(p)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed :func:`build_parser` arguments."""
    fields = TrainConfig.__dataclass_fields__
    return TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})


def recipe_command(prefix: str, argv: list[str]) -> str:
    """The command line recorded in a card (with the kernel choice, which is part of the recipe)."""
    command = f"{prefix} " + " ".join(shlex.quote(a) for a in argv)
    if os.environ.get("ZOO_KERNELS"):
        command = f"ZOO_KERNELS={shlex.quote(os.environ['ZOO_KERNELS'])} {command}"
    return command


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    train(config_from_args(build_parser().parse_args(argv)), recipe_command("python tools/train.py", argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
