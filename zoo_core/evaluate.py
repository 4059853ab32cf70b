"""Evaluate a classifier: accuracy, firing rate, SOPs, MACs, energy per sample and throughput.

Two passes over the data: a timed plain forward pass (accuracy and throughput, no hooks), then a profiled pass
(:func:`zoo_core.profile.profile`) whose per-sample counts are averaged over all samples.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Dataset,
    batch_size: int = 256,
    progress: bool = True,
    device: str | torch.device = "cpu",
    spikes: str = "binary",
) -> dict[str, Any]:
    """Accuracy, mean firing rate, SOPs/MACs/energy per sample and samples per second on ``data``.

    ``spikes`` is :func:`zoo_core.profiling.profile`'s: ``"events"`` counts graded spikes (amplitude
    :math:`\theta`, :math:`k\theta`, real values) as events instead of analog values."""
    from tqdm import tqdm

    from .profiling import profile

    model = model.to(device).eval()
    # event data sets batch time first (`collate_fn`, e.g. zoo_core.dvs.collate_time_first)
    loader = DataLoader(data, batch_size=batch_size, collate_fn=getattr(data, "collate_fn", None))
    correct = total = 0
    seconds = 0.0
    for x, y in tqdm(loader, desc="accuracy", disable=None if progress else True, leave=False):
        x, y = x.to(device), y.to(device)
        t0 = time.perf_counter()
        logits = model(x)
        seconds += time.perf_counter() - t0
        correct += int((logits.argmax(-1) == y).sum())
        total += len(y)
    sums = {"sops": 0.0, "macs": 0.0, "energy_pj": 0.0}
    fired = neurons = 0.0
    convention = ""
    for x, _ in tqdm(loader, desc="profile", disable=None if progress else True, leave=False):
        p = profile(model, x.to(device), spikes=spikes)
        n = p.batch_size  # inferred from the input layout ([T, B, ...] event input: dim 1)
        for k in sums:
            sums[k] += getattr(p, k) * n
        # the batch's mean rate weighs its neuron-steps, which scale with the number of samples
        elems = n * sum((lp.neurons or 0) for lp in p.layers if lp.firing_rate is not None)
        fired += (p.mean_firing_rate or 0.0) * elems
        neurons += elems
        convention = p.convention
    return {
        "accuracy": correct / max(total, 1),
        "samples": total,
        "mean_firing_rate": fired / neurons if neurons else 0.0,
        **{k: v / max(total, 1) for k, v in sums.items()},
        "convention": convention,
        "samples_per_second": total / seconds if seconds > 0 else float("inf"),
    }
