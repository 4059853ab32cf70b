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
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ..errors import ConfigError
from ..plugins import create, entry, model_config, split_tag
from .base import OPTIMIZERS, Task, TrainConfig, get_task

__all__ = [
    "OPTIMIZERS",
    "Distributed",
    "TrainConfig",
    "build_model",
    "describe_optimizer",
    "distributed",
    "fit",
    "make_optimizer",
    "recipe_command",
    "task_of",
    "train",
]

#: a training step: ``step(net, batch, optimizer) -> {"loss": float, ...}``
Step = Callable[[nn.Module, Any, torch.optim.Optimizer], dict[str, float]]


def task_of(model: str) -> Task:
    """The registered task of the model ``model`` (``name`` or ``name.tag``)."""
    return get_task(entry("model", split_tag(model)[0]).info.task)  # type: ignore[attr-defined]


def train(cfg: TrainConfig, command: str | None = None, return_model: bool = False) -> dict[str, Any]:
    """Train ``cfg.model`` the way its task trains (:meth:`Task.train`) and, with ``cfg.out``, write a weight
    folder. Returns the step count, wall time, per-step history, the task's test metrics (rank 0) and, with
    ``return_model``, the trained model under ``"model"``."""
    return task_of(cfg.model).train(cfg, command, return_model=return_model)


def build_model(name: str, **overrides: Any) -> nn.Module:
    """A freshly initialised model ``name[.tag]`` (the tag's configuration, then ``overrides``)."""
    return create("model", split_tag(name)[0], **model_config(name, **overrides))


def make_optimizer(cfg: TrainConfig, params: Any) -> torch.optim.Optimizer:
    """``cfg.optimizer`` over ``params``: AdamW, or SGD with ``momentum`` (and ``nesterov``); one weight decay."""
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
    raise ConfigError(f"optimizer must be one of {OPTIMIZERS}, got {cfg.optimizer!r}")


def describe_optimizer(cfg: TrainConfig) -> str:
    """The optimiser recipe as recorded in a card."""
    if cfg.optimizer == "sgd":
        kind = f"SGD momentum={cfg.momentum}{' nesterov' if cfg.nesterov else ''}"
    else:
        kind = "AdamW"
    return f"{kind} lr={cfg.lr} weight_decay={cfg.weight_decay}, cosine schedule, batch {cfg.batch_size}"


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
) -> dict[str, Any]:
    """Run ``cfg.epochs`` epochs (or ``cfg.max_steps`` steps) of ``step`` over shuffled batches of ``train_set``.

    The optimiser sees the parameters of the DDP-wrapped model; the learning rate follows a cosine schedule over
    all steps. Returns ``{"steps", "seconds", "history", "rank", "world"}``; with ``cfg.log_json`` each rank
    also writes its result and a digest of its parameters to ``<log_json>.rank<N>`` (the DDP test compares
    them)."""
    from tqdm import tqdm  # progress bars load with the first training

    dist = dist or Distributed()
    net = dist.wrap(model)
    opt = make_optimizer(cfg, net.parameters())
    steps_per_epoch = -(-len(train_set) // (cfg.batch_size * dist.world))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.epochs * steps_per_epoch))
    g = torch.Generator().manual_seed(cfg.seed)
    collate = getattr(train_set, "collate_fn", None)
    sampler = None
    if dist.enabled:
        from torch.utils.data.distributed import DistributedSampler  # only under torchrun

        sampler = DistributedSampler(
            train_set, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=cfg.seed
        )
        loader = DataLoader(
            train_set,
            batch_size=cfg.batch_size,
            sampler=sampler,
            num_workers=cfg.num_workers,
            collate_fn=collate,
        )
    else:
        loader = DataLoader(
            train_set,
            batch_size=cfg.batch_size,
            shuffle=True,
            generator=g,
            num_workers=cfg.num_workers,
            collate_fn=collate,
        )
    history: list[dict[str, float]] = []
    n = 0
    t0 = time.perf_counter()
    for epoch in range(cfg.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        bar = tqdm(
            loader,
            desc=f"epoch {epoch + 1}/{cfg.epochs}",
            disable=dist.rank != 0 or not sys.stderr.isatty(),
            leave=False,
        )
        losses = []
        for batch in bar:
            out = step(net, _to(batch, dist.device), opt)
            sched.step()
            losses.append(out["loss"])
            history.append({"step": n, **out})
            bar.set_postfix(loss=f"{out['loss']:.3f}")
            n += 1
            if cfg.max_steps is not None and n >= cfg.max_steps:
                break
        if dist.rank == 0 and cfg.verbose:
            print(f"epoch {epoch + 1}/{cfg.epochs}: loss {sum(losses) / max(len(losses), 1):.4f}", flush=True)
        if cfg.max_steps is not None and n >= cfg.max_steps:
            break
    result: dict[str, Any] = {
        "steps": n,
        "seconds": time.perf_counter() - t0,
        "history": history,
        "rank": dist.rank,
        "world": dist.world,
    }
    if cfg.log_json:
        # parameters only: DDP broadcasts rank 0's BN buffers at each forward, so after the last forward each
        # rank's running statistics hold its own batch (rank 0's are the ones saved)
        digest = _state_digest({k: p.detach().cpu() for k, p in model.named_parameters()})
        Path(f"{cfg.log_json}.rank{dist.rank}").write_text(json.dumps({**result, "state_digest": digest}))
    return result


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
