"""Training: ``train(cfg)`` hands a :class:`TrainConfig` to the model's task; the loop tasks share lives here.

    zoo train spiking_cnn --dataset digits --epochs 30 --out zoo_core/weights/spiking_cnn.digits_t4
    torchrun --standalone --nproc_per_node=2 -m zoo_core.cli train spiking_cnn --dataset digits --epochs 5

:func:`fit` is the supervised loop: seeded shuffling, an optimiser (AdamW, or SGD with momentum), a cosine
schedule over all steps, a progress bar, and a ``step(net, batch, optimizer) -> {"loss": ...}`` supplied by the
task (for classifiers, the learning rule's ``training_step``). Under ``torchrun`` (:func:`distributed`) each rank
trains on its shard (``DistributedSampler``) and ``DistributedDataParallel`` averages the gradients (gloo on CPU,
NCCL on GPU); rank 0 evaluates and writes the weight folder. Everything that decides the result (seed, split,
learning rule, hyper-parameters, command) is recorded in the folder's ``config.json`` and card.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import random
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file
from safetensors.torch import save as save_tensors
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..data.augment import Augmented, DVSAugment, random_erasing
from ..errors import ConfigError
from ..hub.atomic import atomic_write
from ..plugins import create, entry, model_config, split_tag
from .base import OPTIMIZERS, Task, TrainConfig, check_train_settings, get_task
from .checkpoints import RunFolder, read_checkpoint, restore, write_checkpoint

__all__ = [
    "OPTIMIZERS",
    "Distributed",
    "TrainConfig",
    "augmentation",
    "build_model",
    "describe_augmentation",
    "describe_optimizer",
    "distributed",
    "fit",
    "holdout",
    "make_ema",
    "make_optimizer",
    "make_scheduler",
    "param_groups",
    "recipe_command",
    "task_of",
    "train",
]

#: settings that belong to one invocation, not to the run: not recorded in the run folder, free to change on resume
PER_INVOCATION = frozenset(
    {"resume", "verbose", "log_json", "force", "max_steps", "num_workers", "out", "tag"}
)

#: a training step: ``step(net, batch, optimizer) -> {"loss": float, ...}``
Step = Callable[[nn.Module, Any, torch.optim.Optimizer], dict[str, float]]


def task_of(model: str) -> Task:
    """The registered task of the model ``model`` (``name`` or ``name.tag``)."""
    return get_task(entry("model", split_tag(model)[0]).info.task)  # type: ignore[attr-defined]


def train(cfg: TrainConfig, command: str | None = None, return_model: bool = False) -> dict[str, Any]:
    """Train ``cfg.model`` the way its task trains (:meth:`Task.train`) and, with ``cfg.out``, write a weight
    folder. Returns the step count, wall time, per-step history, the task's test metrics (rank 0) and, with
    ``return_model``, the trained model under ``"model"``."""
    task = task_of(cfg.model)
    check_train_settings(task, cfg)
    return task.train(cfg, command, return_model=return_model)


def build_model(name: str, **overrides: Any) -> nn.Module:
    """A freshly initialised model ``name[.tag]`` (the tag's configuration, then ``overrides``)."""
    return create("model", split_tag(name)[0], **model_config(name, **overrides))


def param_groups(model: nn.Module, cfg: TrainConfig) -> list[dict[str, Any]]:
    """The optimiser's parameter groups: weight decay ``cfg.weight_decay`` except on the parameters the model
    names in ``no_weight_decay()`` (full parameter names, as timm's models declare them) and, with
    ``cfg.weight_decay_1d=False``, on 1-D parameters (biases, normalisation weights: timm's default)."""
    named = getattr(model, "no_weight_decay", None)
    skip = set(named()) if callable(named) else set()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if name in skip or (not cfg.weight_decay_1d and p.ndim <= 1) else decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def make_optimizer(cfg: TrainConfig, params: Any) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over ``params`` (parameters or :func:`param_groups`): AdamW, or SGD with ``momentum``
    (and ``nesterov``); ``cfg.weight_decay`` where a group does not set its own."""
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
    raise ConfigError(f"optimizer must be one of {OPTIMIZERS}, got {cfg.optimizer!r}")


def make_scheduler(cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int) -> Any:
    r"""The learning rate per optimiser step :math:`s` of :math:`S` = ``epochs x steps_per_epoch``: with
    :math:`W` = ``round(warmup_epochs x steps_per_epoch)`` warm-up steps, linear from ``warmup_lr`` to ``lr``
    over :math:`W` steps (``torch.optim.lr_scheduler.LinearLR``), then

    .. math:: \eta_s = \eta_{min} + \tfrac12(\eta - \eta_{min})\left(1 + \cos\frac{\pi (s - W)}{S - W}\right)

    (``CosineAnnealingLR`` to ``min_lr``), chained by ``SequentialLR``; without warm-up the cosine alone."""
    total = max(1, cfg.epochs * steps_per_epoch)
    warm = min(round(cfg.warmup_epochs * steps_per_epoch), total - 1)
    if warm <= 0:
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total, eta_min=cfg.min_lr)
    ramp = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=min(1.0, cfg.warmup_lr / cfg.lr), end_factor=1.0, total_iters=warm
    )
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total - warm, eta_min=cfg.min_lr)
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [ramp, cosine], milestones=[warm])


def replan_scheduler(
    cfg: TrainConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int, step: int
) -> Any:
    """:func:`make_scheduler` for ``cfg.epochs``, advanced to optimiser step ``step`` (a resumed run whose number
    of epochs changed: the learning rate continues on the schedule it would have had from the start)."""
    for group in optimizer.param_groups:
        group["lr"] = group.get("initial_lr", cfg.lr)
        group.pop("initial_lr", None)
    sched = make_scheduler(cfg, optimizer, steps_per_epoch)
    with warnings.catch_warnings():  # stepping without optimiser steps is the point here
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(step):
            sched.step()
    return sched


def make_ema(cfg: TrainConfig, model: nn.Module) -> nn.Module | None:
    """An exponential moving average of ``model``'s parameters and buffers (``torch.optim.swa_utils``),
    :math:`\bar\theta \\leftarrow d\\,\bar\theta + (1 - d)\\,\theta` after every optimiser step with
    :math:`d` = ``cfg.ema_decay`` (the first update copies the weights); ``None`` without ``ema_decay``."""
    if cfg.ema_decay is None:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn  # only with EMA

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)


def describe_optimizer(cfg: TrainConfig) -> str:
    """The optimiser recipe as recorded in a card."""
    if cfg.optimizer == "sgd":
        kind = f"SGD momentum={cfg.momentum}{' nesterov' if cfg.nesterov else ''}"
    else:
        kind = "AdamW"
    parts = [f"{kind} lr={cfg.lr} weight_decay={cfg.weight_decay}"]
    if not cfg.weight_decay_1d:
        parts.append("no weight decay on 1-D parameters")
    schedule = "cosine schedule" + (f" to {cfg.min_lr}" if cfg.min_lr else "")
    if cfg.warmup_epochs:
        schedule = f"{cfg.warmup_epochs:g} warm-up epochs from {cfg.warmup_lr}, then {schedule}"
    parts.append(schedule)
    if cfg.ema_decay is not None:
        parts.append(f"EMA {cfg.ema_decay}")
    if cfg.amp:
        parts.append("bfloat16 autocast")
    parts.append(f"batch {cfg.batch_size}")
    return ", ".join(parts)


class Distributed:
    """Where this process trains: ``rank`` of ``world`` processes on ``device`` (``world == 1``: no DDP)."""

    def __init__(self) -> None:
        self.rank = int(os.environ.get("RANK", 0))
        self.world = int(os.environ.get("WORLD_SIZE", 1))
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        self.device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
        self.local_rank = local_rank

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` for training: wrapped in ``DistributedDataParallel`` under torchrun."""
        if not self.enabled:
            return model
        # the distributed package loads only under torchrun
        from torch.nn.parallel import (
            DistributedDataParallel,  # loads the distributed package only under torchrun
        )

        return DistributedDataParallel(
            model, device_ids=[self.local_rank] if self.device.type == "cuda" else None
        )


@contextlib.contextmanager
def distributed() -> Iterator[Distributed]:
    """Join the ``torchrun`` process group for the block (gloo on CPU, NCCL on GPU); a no-op without torchrun."""
    d = Distributed()
    if not d.enabled:
        yield d
        return
    import torch.distributed as dist  # only under torchrun

    dist.init_process_group("nccl" if d.device.type == "cuda" else "gloo")
    try:
        yield d
        dist.barrier()
    finally:
        dist.destroy_process_group()


def fit(
    cfg: TrainConfig,
    model: nn.Module,
    train_set: Dataset,
    step: Step,
    dist: Distributed | None = None,
    validate: Callable[[nn.Module], dict[str, float]] | None = None,
    monitor: tuple[str, str] = ("accuracy", "max"),
    stateful: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``cfg.epochs`` epochs (or ``cfg.max_steps`` steps) of ``step`` over shuffled batches of ``train_set``.

    The optimiser (:func:`make_optimizer` over :func:`param_groups`) sees the parameters of the DDP-wrapped
    model; the learning rate follows :func:`make_scheduler` per step; with ``cfg.ema_decay`` an EMA of the
    weights (:func:`make_ema`) follows every step, and with ``cfg.amp`` steps run under bfloat16 autocast.
    After every epoch ``validate(model)`` (the EMA copy where there is one) gives ``val_*`` metrics; the epoch
    with the best ``monitor`` metric (name, ``"max"``/``"min"``) is kept, and its weights are in ``model`` when
    ``fit`` returns. With ``cfg.run_dir`` rank 0 writes the run folder (:mod:`zoo_core.tasks.checkpoints`: the
    settings, one log line and a checkpoint per epoch, the best weights); with ``cfg.resume`` the run continues
    from that folder's last checkpoint, bit for bit as if it had not stopped. ``stateful`` objects (e.g. the
    learning rule) are checkpointed through their ``state_dict``.

    Returns ``{"steps", "seconds", "history", "log", "rank", "world"}`` (and ``best_epoch``/``best`` with
    validation); with ``cfg.log_json`` each rank also writes its result and a digest of its parameters to
    ``<log_json>.rank<N>`` (the DDP test compares them)."""
    from tqdm import tqdm  # progress bars load with the first training

    dist = dist or Distributed()
    net = dist.wrap(model)
    opt = make_optimizer(cfg, param_groups(model, cfg))
    ema = make_ema(cfg, model)
    g = torch.Generator().manual_seed(cfg.seed)
    loader, sampler = _loader(cfg, train_set, dist, g)
    steps_per_epoch = len(loader)
    if steps_per_epoch == 0:
        raise ConfigError(f"{len(train_set)} training samples make no batch of {cfg.batch_size}")  # type: ignore[arg-type]
    sched = make_scheduler(cfg, opt, steps_per_epoch)
    run = RunFolder(cfg.run_dir) if cfg.run_dir else None
    state = {"model": model, "optimizer": opt, "scheduler": sched, "ema": ema, "stateful": stateful}
    progress: dict[str, Any] = {"epoch": 0, "step": 0, "seconds": 0.0, "best": None, "best_epoch": None}
    if run is not None and cfg.resume:
        tensors, meta = read_checkpoint(run.last)
        progress = restore(tensors, meta, loader_generator=g, **state)  # type: ignore[arg-type]
        if int(progress.get("epochs", cfg.epochs)) != cfg.epochs:
            # extended (or shortened) run: the schedule is planned anew for cfg.epochs and brought to this step
            sched = state["scheduler"] = replan_scheduler(cfg, opt, steps_per_epoch, int(progress["step"]))
            if dist.rank == 0:
                run.record_epochs(cfg.epochs)
        if dist.rank == 0:
            run.truncate(progress["epoch"])
    else:
        if run is not None and dist.rank == 0:
            run.start(cfg.model_dump(exclude=PER_INVOCATION))
        # mixup draws from NumPy, random erasing from Python's random: seeded here, where the loop starts (after
        # every import, which may draw from them), so that a run is a function of its settings
        np.random.seed(cfg.seed)
        random.seed(cfg.seed)
    log = run.log() if run is not None and cfg.resume else []
    history: list[dict[str, float]] = []
    n = int(progress["step"])
    sign = 1.0 if monitor[1] == "max" else -1.0
    t0 = time.perf_counter() - float(progress["seconds"])
    for epoch in range(int(progress["epoch"]), cfg.epochs):
        if cfg.max_steps is not None and n >= cfg.max_steps:
            break
        if sampler is not None:
            sampler.set_epoch(epoch)
        bar = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            disable=dist.rank != 0 or not sys.stderr.isatty(),
            leave=False,
        )
        sums: dict[str, float] = {}
        count = 0
        finished = True
        for batch in bar:
            with torch.autocast(dist.device.type, dtype=torch.bfloat16, enabled=cfg.amp):
                out = step(net, _to(batch, dist.device), opt)
            sched.step()
            if ema is not None:
                ema.update_parameters(model)
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            count += 1
            history.append({"step": n, **out})
            bar.set_postfix(loss=f"{out['loss']:.3f}")
            n += 1
            if cfg.max_steps is not None and n >= cfg.max_steps and count < len(loader):
                finished = False  # stopped inside the epoch: no checkpoint (a resume restarts this epoch)
                break
            # at the epoch's last batch the loader runs out by itself: a sampler may draw from the generator at
            # its end, and the checkpoint must hold the generator as an uninterrupted epoch leaves it
        record: dict[str, Any] = {"epoch": epoch + 1, "step": n}
        record.update({k: v / max(count, 1) for k, v in sums.items()})
        record["lr"] = opt.param_groups[0]["lr"]
        record["seconds"] = round(time.perf_counter() - t0, 3)
        if validate is not None and dist.rank == 0:
            scored = ema.module if ema is not None else model
            metrics = validate(scored)
            model.train()
            record.update({f"val_{k}": v for k, v in metrics.items()})
            value = metrics[monitor[0]]
            if progress["best"] is None or sign * value > sign * progress["best"]:
                progress["best"], progress["best_epoch"] = value, epoch + 1
                progress["best_state"] = {k: v.detach().clone() for k, v in scored.state_dict().items()}
                if run is not None:
                    atomic_write(run.best, save_tensors(_plain(scored.state_dict())))
        log.append(record)
        if dist.rank == 0 and cfg.verbose:
            shown = ", ".join(f"{k} {_short(v)}" for k, v in record.items() if k not in ("epoch", "step"))
            print(f"epoch {epoch + 1}/{cfg.epochs}: {shown}", flush=True)
        if run is not None and dist.rank == 0 and finished:
            run.append(record)
            progress.update(epoch=epoch + 1, step=n, seconds=record["seconds"], epochs=cfg.epochs)
            write_checkpoint(
                run.last,
                progress={k: v for k, v in progress.items() if k != "best_state"},
                loader_generator=g,
                **state,  # type: ignore[arg-type]
            )
    best_state = progress.pop("best_state", None)
    if best_state is None and run is not None and validate is not None and run.best.is_file():
        best_state = _read_weights(run.best)  # resumed after the best epoch: its weights are on disk
    if best_state is not None:
        model.load_state_dict(best_state)
    elif ema is not None:
        model.load_state_dict(ema.module.state_dict())
    result: dict[str, Any] = {
        "steps": n,
        "seconds": time.perf_counter() - t0,
        "history": history,
        "log": log,
        "rank": dist.rank,
        "world": dist.world,
    }
    if progress.get("best_epoch") is not None:
        result.update(best_epoch=progress["best_epoch"], best=progress["best"], monitor=list(monitor))
    if cfg.log_json:
        # parameters only: DDP broadcasts rank 0's BN buffers at each forward, so after the last forward each
        # rank's running statistics hold its own batch (rank 0's are the ones saved)
        digest = _state_digest({k: p.detach().cpu() for k, p in model.named_parameters()})
        Path(f"{cfg.log_json}.rank{dist.rank}").write_text(
            json.dumps({**{k: v for k, v in result.items() if k != "log"}, "state_digest": digest})
        )
    return result


def _loader(
    cfg: TrainConfig, train_set: Dataset, dist: Distributed, g: torch.Generator
) -> tuple[DataLoader, Any]:
    sampler = None
    if dist.enabled:
        from torch.utils.data.distributed import DistributedSampler  # only under torchrun

        sampler = DistributedSampler(
            train_set, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=cfg.seed
        )
    loader = DataLoader(
        train_set,
        batch_size=cfg.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=g if sampler is None else None,
        num_workers=cfg.num_workers,
        collate_fn=getattr(train_set, "collate_fn", None),
        # batch mixing pairs a batch with its reverse: it needs even batches, so a last odd batch is dropped
        drop_last=bool(cfg.mixup or cfg.cutmix),
    )
    return loader, sampler


def _plain(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone().contiguous() for k, v in state.items()}


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def _short(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, list | tuple):
        return tuple(_to(b, device) for b in batch)
    return batch


def _state_digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(state):
        h.update(k.encode())
        h.update(state[k].contiguous().numpy().tobytes())
    return h.hexdigest()


def recipe_command(prefix: str, argv: list[str]) -> str:
    """The command line recorded in a card (with the kernel choice, which is part of the recipe)."""
    command = f"{prefix} " + " ".join(shlex.quote(a) for a in argv)
    if os.environ.get("ZOO_KERNELS"):
        command = f"ZOO_KERNELS={shlex.quote(os.environ['ZOO_KERNELS'])} {command}"
    return command


def rule_step(rule: Any) -> Callable[[nn.Module, Any], object]:
    """``step(model, batch)``: one whole training step of a copy of ``rule`` (random streams and records of the
    rule left alone) with an SGD optimiser of learning rate 0: the resource guard's dry run of a training rule."""

    def step(model: nn.Module, batch: Any) -> object:
        twin = copy.deepcopy(rule)
        return twin.training_step(model, batch, torch.optim.SGD(model.parameters(), lr=0.0))

    return step


def holdout(
    data: Dataset, fraction: float, seed: int, clean: Dataset | None = None
) -> tuple[Dataset, Dataset | None]:
    """Split ``data`` into a training part and a validation part of ``round(fraction x len)`` samples (a seeded
    permutation; ``fraction=0``: ``(data, None)``); the validation part is taken from ``clean`` (the same samples
    without training augmentation) where given. Both keep the data set's ``collate_fn``."""
    if fraction <= 0:
        return data, None
    n = len(data)  # type: ignore[arg-type]
    k = round(fraction * n)
    if not 0 < k < n:
        raise ConfigError(
            f"val_fraction {fraction} of {n} samples leaves no validation or no training samples"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    parts = []
    for source, idx in ((data, sorted(order[k:])), (clean if clean is not None else data, sorted(order[:k]))):
        part = torch.utils.data.Subset(source, idx)
        part.collate_fn = getattr(source, "collate_fn", None)  # type: ignore[attr-defined]
        parts.append(part)
    return parts[0], parts[1]


def augmentation(cfg: TrainConfig, train_set: Dataset) -> Dataset:
    """``train_set`` with the per-sample augmentations of ``cfg`` (DVS augmentation, then random erasing)."""
    ops: list[Callable[[torch.Tensor], torch.Tensor]] = []
    if cfg.dvs_augment:
        ops.append(DVSAugment())
    if cfg.reprob > 0:
        ops.append(random_erasing(cfg.reprob))
    if not ops:
        return train_set
    return Augmented(train_set, ops[0] if len(ops) == 1 else _Chain(ops))


def describe_augmentation(cfg: TrainConfig) -> str:
    """The augmentation recipe as recorded in a card (empty: none)."""
    parts = []
    if cfg.auto_augment:
        parts.append(f"timm training transform with auto_augment {cfg.auto_augment!r}")
    if cfg.dvs_augment:
        parts.append("DVS augmentation (flip, then roll / rotation / cutout)")
    if cfg.reprob:
        parts.append(f"random erasing p={cfg.reprob}")
    if cfg.mixup or cfg.cutmix:
        parts.append(
            f"mixup alpha={cfg.mixup}, cutmix alpha={cfg.cutmix} (batch mode, prob {cfg.mix_prob}, "
            f"switch {cfg.mix_switch_prob})"
        )
    return "; ".join(parts)


class _Chain:
    def __init__(self, ops: list[Callable[[torch.Tensor], torch.Tensor]]) -> None:
        self.ops = ops

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        for op in self.ops:
            x = op(x)
        return x
