r"""The resource guard: a run that would not fit in memory is refused before it starts, in seconds.

The estimate comes from a dry run of a copy of the model on a few samples :math:`n` (the task's
:meth:`~zoo_core.tasks.Task.memory_probe`, or a learning rule's training step). With :math:`P` the parameter
bytes, a batch of :math:`B` and :math:`R` processes on this machine (``LOCAL_WORLD_SIZE`` under torchrun):

- **training** takes the peak of the bytes autograd keeps for backward (:class:`zoo_core.memory.SavedTensorMeter`),
  :math:`A` per sample, and plans for weights, gradients and two optimiser states (as AdamW keeps):

  .. math:: \text{peak}_\text{train} \approx R\,(A\,B + 4P)

- **evaluation** runs without gradients and takes the peak of the module outputs alive at once
  (:class:`zoo_core.memory.LiveOutputMeter`), :math:`L` per sample:

  .. math:: \text{peak}_\text{eval} \approx L\,B + P

A run is refused when its peak exceeds :data:`HEADROOM` of the memory the system reports available;
``force=True`` (``zoo train --force``, ``zoo eval --force``) overrides. The dry run changes neither the model nor
the caller's random state.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import ConfigError
from ..memory import LiveOutputMeter, SavedTensorMeter

__all__ = [
    "HEADROOM",
    "MemoryEstimate",
    "available_memory",
    "check_fits",
    "estimate_memory",
]

#: share of the available memory a run may plan to use (the rest: the data, the interpreter, other processes)
HEADROOM = 0.8
GB = 1024**3


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs: activations per sample and parameter bytes, the parameters counted
    ``parameter_copies`` times (4 in training: weights, gradients, two optimiser states; 1 in evaluation), all
    times ``processes``."""

    per_sample: int
    parameters: int
    batch_size: int
    parameter_copies: int
    processes: int = 1

    @property
    def total(self) -> int:
        return self.processes * (self.per_sample * self.batch_size + self.parameter_copies * self.parameters)


def available_memory() -> int | None:
    """Bytes this process may still allocate: ``MemAvailable`` of ``/proc/meminfo``, capped by the container's
    cgroup limit less its usage (cgroup v2 ``memory.max``/``memory.current``, or v1 ``memory.limit_in_bytes``/
    ``memory.usage_in_bytes``; a container's ``/proc/meminfo`` shows the host's); ``None`` if unknown."""
    found = [m for m in (_meminfo_available(), _cgroup_available()) if m is not None]
    return min(found) if found else None


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_available(root: str = "/sys/fs/cgroup") -> int | None:
    for limit, usage in (
        ("memory.max", "memory.current"),
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),
    ):
        try:
            with open(os.path.join(root, limit)) as f:
                cap = f.read().strip()
            with open(os.path.join(root, usage)) as f:
                used = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if cap == "max" or not cap.isdigit() or int(cap) >= 2**62:  # no limit
            return None
        return max(0, int(cap) - used)
    return None


def estimate_memory(
    model: nn.Module,
    run: Callable[[nn.Module], object],
    batch_size: int,
    training: bool,
    samples: int = 1,
    dtype: torch.dtype | None = None,
) -> MemoryEstimate:
    """Dry-run ``run(copy_of_model)`` on ``samples`` samples (``dtype``: the copy's precision) and scale its
    activation peak to ``batch_size``. ``training``: ``run`` trains (forward and backward); otherwise it is run
    without gradients. The model itself and every RNG state are left as they were."""
    with torch.random.fork_rng():
        twin = copy.deepcopy(model)
        twin = twin.to(dtype) if dtype is not None else twin
        if training:
            with SavedTensorMeter(ignore=[*twin.parameters(), *twin.buffers()]) as meter:
                run(twin.train())
        else:
            with LiveOutputMeter(twin) as meter, torch.no_grad():  # type: ignore[assignment]
                run(twin.eval())
        peak = meter.peak_bytes
        del twin
    size = torch.empty((), dtype=dtype).element_size() if dtype is not None else None
    params = sum(p.numel() * (size or p.element_size()) for p in model.parameters())
    return MemoryEstimate(
        per_sample=-(-peak // max(1, samples)),
        parameters=params,
        batch_size=batch_size,
        parameter_copies=4 if training else 1,
        processes=int(os.environ.get("LOCAL_WORLD_SIZE", "1")) if training else 1,
    )


def check_fits(
    what: str,
    model: nn.Module,
    run: Callable[[nn.Module], object],
    batch_size: int,
    training: bool,
    samples: int = 1,
    force: bool = False,
    smaller: str = "",
    dtype: torch.dtype | None = None,
) -> MemoryEstimate | None:
    """Raise :class:`ConfigError` if the run (see :func:`estimate_memory`) would exceed :data:`HEADROOM` of the
    available memory; ``smaller`` names settings that fit (e.g. a published card's recipe). ``force`` skips the
    check, as does a system that does not report its memory."""
    if force:
        return None
    available = available_memory()
    if available is None:
        return None
    est = estimate_memory(model, run, batch_size, training, samples, dtype)
    if est.total > HEADROOM * available:
        kept = "weights, gradients and optimiser state" if training else "weights"
        knobs = "--batch-size or model (--model-kwargs)" if training else "--batch-size"
        per_process = f"{est.processes} processes x (" if est.processes > 1 else "("
        hint = f"; settings that fit: {smaller}" if smaller else ""
        raise ConfigError(
            f"{what}: would need about {est.total / GB:.1f} GB {per_process}{est.per_sample / GB:.2f} GB of "
            f"activations per sample x batch {batch_size} + {est.parameter_copies * est.parameters / GB:.2f} GB "
            f"of {kept}), more than {HEADROOM:.0%} of the {available / GB:.1f} GB available; use a smaller "
            f"{knobs}{hint}, or --force to try anyway"
        )
    return est
