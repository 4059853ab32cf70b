"""Run folders: the log and checkpoints of a training run (``zoo train --run-dir DIR``, ``--resume DIR``).

.. code-block:: text

    DIR/run.json           the run's settings (a TrainConfig), written when it starts
    DIR/log.jsonl          one JSON object per finished epoch: epoch, step, loss, acc, lr, seconds, val_* metrics
    DIR/last.safetensors   the state after the last finished epoch (see below)
    DIR/best.safetensors   the weights of the best epoch by the validation metric (with validation only)

A checkpoint is one safetensors file: the tensors of the model (``model.*``), of the EMA copy (``ema.*``), of the
optimiser state (``optim.<param>.<key>``), of stateful helpers such as a learning rule's random stream
(``<name>.*``) and the random states (``rng.*``); everything else (epoch, step, best metric, the scheduler's and
optimiser's settings, Python's and NumPy's random states) is JSON in the file's metadata. No pickle: a
checkpoint loads without executing anything. Every file is written whole or not at all (written aside, flushed,
renamed), and the log line of an epoch is written before its checkpoint; resuming drops log lines past the
checkpoint, so a crash at any moment leaves a run that resumes where its last checkpoint stands, with the same
log as an uninterrupted run.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save as save_tensors
from torch import Tensor

from ..errors import ConfigError, WeightsError
from ..hub.atomic import atomic_write

__all__ = ["RunFolder", "read_checkpoint", "write_checkpoint"]

CONFIG = "run.json"
LOG = "log.jsonl"
LAST = "last.safetensors"
BEST = "best.safetensors"
META_KEY = "zoo_checkpoint"


def _flat(prefix: str, state: Mapping[str, Any]) -> dict[str, Tensor]:
    # safetensors refuses tensors that share memory: each entry gets its own copy
    return {
        f"{prefix}.{k}": v.detach().cpu().clone().contiguous()
        for k, v in state.items()
        if isinstance(v, Tensor)
    }


def _unflat(prefix: str, tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    p = prefix + "."
    return {k[len(p) :]: v for k, v in tensors.items() if k.startswith(p)}


def _optimizer_state(opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    sd = opt.state_dict()
    tensors: dict[str, Tensor] = {}
    rest: dict[str, dict[str, Any]] = {}
    for idx, entry in sd["state"].items():
        rest[str(idx)] = {}
        for k, v in entry.items():
            if isinstance(v, Tensor):
                tensors[f"optim.{idx}.{k}"] = v.detach().cpu().clone().contiguous()
            else:
                rest[str(idx)][k] = v
    return tensors, {"param_groups": sd["param_groups"], "state": rest}


def _load_optimizer(opt: torch.optim.Optimizer, meta: dict[str, Any], tensors: Mapping[str, Tensor]) -> None:
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in meta["state"].items()}
    for key, v in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = v
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _rng_state(loader_generator: torch.Generator | None) -> tuple[dict[str, Tensor], dict[str, Any]]:
    tensors = {"rng.torch": torch.get_rng_state()}
    if loader_generator is not None:
        tensors["rng.loader"] = loader_generator.get_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # type: ignore[misc]
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.uint32).astype(np.int64))
    version, internal, gauss_next = random.getstate()
    meta = {
        "numpy": [kind, int(pos), int(has_gauss), float(gauss)],
        "python": [version, list(internal), gauss_next],
    }
    return tensors, meta


def _set_rng_state(
    tensors: Mapping[str, Tensor], meta: dict[str, Any], loader_generator: torch.Generator | None
) -> None:
    torch.set_rng_state(tensors["rng.torch"])
    if loader_generator is not None and "rng.loader" in tensors:
        loader_generator.set_state(tensors["rng.loader"])
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            if f"rng.cuda{i}" in tensors:
                torch.cuda.set_rng_state(tensors[f"rng.cuda{i}"], i)
    kind, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = meta["python"]
    random.setstate((version, tuple(internal), gauss_next))


def write_checkpoint(
    path: Path,
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    progress: dict[str, Any],
    ema: torch.nn.Module | None = None,
    stateful: Mapping[str, Any] | None = None,
    loader_generator: torch.Generator | None = None,
) -> None:
    """Write the whole training state to ``path`` (one safetensors file, atomically). ``progress``: JSON facts
    (epoch, step, best, ...); ``stateful``: objects with ``state_dict()`` of tensors (e.g. a learning rule)."""
    tensors = _flat("model", model.state_dict())
    if ema is not None:
        tensors.update(_flat("ema", ema.state_dict()))
    opt_tensors, opt_meta = _optimizer_state(optimizer)
    tensors.update(opt_tensors)
    for name, obj in (stateful or {}).items():
        tensors.update(_flat(name, obj.state_dict()))
    rng_tensors, rng_meta = _rng_state(loader_generator)
    tensors.update(rng_tensors)
    meta = {
        "progress": progress,
        "optimizer": opt_meta,
        "scheduler": scheduler.state_dict(),
        "rng": rng_meta,
    }
    try:
        text = json.dumps(meta)
    except (
        TypeError
    ) as exc:  # a scheduler or optimiser setting JSON cannot hold: refuse rather than pickle it
        raise ConfigError(f"checkpoint {path}: the training state is not JSON-serialisable ({exc})") from None
    atomic_write(path, save_tensors(tensors, metadata={META_KEY: text}))


def read_checkpoint(path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """The tensors and the JSON metadata of a checkpoint written by :func:`write_checkpoint`."""
    if not path.is_file():
        raise ConfigError(f"no checkpoint at {path}: resume from a run folder that has finished an epoch")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})[META_KEY])
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is not a mapping
    except Exception as exc:  # safetensors raises its own error types; any failure means unreadable
        raise WeightsError(
            f"checkpoint {path} is not a zoo training checkpoint or is damaged ({exc})"
        ) from None
    return tensors, meta


def restore(
    tensors: Mapping[str, Tensor],
    meta: dict[str, Any],
    *,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    ema: torch.nn.Module | None = None,
    stateful: Mapping[str, Any] | None = None,
    loader_generator: torch.Generator | None = None,
) -> dict[str, Any]:
    """Load a checkpoint's state into the live objects; returns its progress record."""
    model.load_state_dict(_unflat("model", tensors))
    if ema is not None:
        ema_state = _unflat("ema", tensors)
        if not ema_state:
            raise ConfigError(
                "the checkpoint has no EMA weights: resume with the run's own --ema-decay setting"
            )
        ema.load_state_dict(ema_state)
    _load_optimizer(optimizer, meta["optimizer"], tensors)
    scheduler.load_state_dict(meta["scheduler"])
    for name, obj in (stateful or {}).items():
        obj.load_state_dict(_unflat(name, tensors))
    _set_rng_state(tensors, meta["rng"], loader_generator)
    return dict(meta["progress"])


class RunFolder:
    """The run folder ``root``: its settings, its log and its checkpoints (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def last(self) -> Path:
        return self.root / LAST

    @property
    def best(self) -> Path:
        return self.root / BEST

    def start(self, settings: dict[str, Any]) -> None:
        """Create the folder for a new run (refusing one that holds another run's log) and record ``settings``."""
        if (self.root / LOG).exists() or self.last.exists():
            raise ConfigError(
                f"run folder {self.root} already holds a run; continue it with --resume {self.root}, or give "
                "another --run-dir"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        atomic_write(self.root / CONFIG, (json.dumps(settings, indent=2) + "\n").encode())

    def settings(self) -> dict[str, Any]:
        """The settings the run started with."""
        path = self.root / CONFIG
        if not path.is_file():
            raise ConfigError(
                f"{self.root} is not a run folder (no {CONFIG}); give the --run-dir of a zoo train run"
            )
        try:
            return dict(json.loads(path.read_text()))
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{path} is damaged ({exc})") from None

    def record_epochs(self, epochs: int) -> None:
        """Record a new number of epochs for the run (it was extended on resume)."""
        atomic_write(
            self.root / CONFIG, (json.dumps({**self.settings(), "epochs": epochs}, indent=2) + "\n").encode()
        )

    def log(self) -> list[dict[str, Any]]:
        """The log's records (a torn last line, from a crash while writing it, is ignored)."""
        path = self.root / LOG
        if not path.is_file():
            return []
        out = []
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                break
        return out

    def append(self, record: dict[str, Any]) -> None:
        """Add one epoch's record to the log (rewritten whole and atomically: logs are short)."""
        self._write_log([*self.log(), record])

    def truncate(self, epoch: int) -> None:
        """Drop the records of epochs after ``epoch`` (written before a crash took their checkpoint)."""
        self._write_log([r for r in self.log() if int(r.get("epoch", 0)) <= epoch])

    def _write_log(self, records: list[dict[str, Any]]) -> None:
        atomic_write(self.root / LOG, "".join(json.dumps(r) + "\n" for r in records).encode())
