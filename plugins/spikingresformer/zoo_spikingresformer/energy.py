r"""SOP and energy counting for SpikingResformer, in the paper's convention.

Counting rules (registered through the ``register_counting_rules`` hook, used by :func:`zoo_core.profile`):

* :class:`~zoo_spikingresformer.layers.SeqConv2d` (every conv of the model): the core's conv count on the
  time-folded ``[T*B, C, H, W]`` input: MACs for analog input (the stem), otherwise SOPs = the exact fan-out of
  every spike (the official monitor's ``conv2d(x, ones_like(weight)).sum()``).
* :class:`~zoo_spikingresformer.layers.SpikingMatmul` (the two matrix products of DSSA), as the official
  ``SOPMonitor``: the spiking operand is counted through a matmul with an all-ones other operand, i.e. for
  ``spike="r"`` (both DSSA products) ``sum(ones(left) @ right) = rows(left) x sum(right)``: each spike of the
  right operand drives one accumulate per row of the left one (``A = Y1^T S``: ``M x nnz(S)``;
  ``Y2 A``: ``d x nnz(A)``). ``"l"``: ``cols(right) x sum(left)``; ``"both"``: ``sum(left @ right)``.
  A right operand that is not spikes counts dense MACs instead.

The paper's energy (official ``main.py``): SOPs summed over every conv, linear and matmul **except**
``prologue.0`` (the stem conv, fed by the analog image) and ``classifier``, over all time steps, averaged per
image; ``E = 0.9 pJ x SOPs`` (no MAC term). :func:`paper_energy` computes it from a :class:`zoo_core.Profile`.
The zoo's own energy (``Profile.energy_pj``) also adds ``4.6 pJ x MACs`` for the stem and the head.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, count_synaptic

__all__ = ["E_SOP_PJ", "PAPER_SKIP", "count_matmul", "count_seq_conv", "paper_energy"]

#: energy per synaptic operation used by the paper (45 nm accumulate), pJ
E_SOP_PJ = 0.9
#: module paths the paper's SOP count leaves out (the official ``model.skip``)
PAPER_SKIP = ("prologue.0", "classifier")


def count_seq_conv(module: nn.Module, inputs: tuple, output: Any) -> dict[str, Any] | None:
    """Counting rule for a multi-step conv: the core's conv count on the ``[T*B, ...]`` view."""
    if not inputs or not isinstance(inputs[0], Tensor) or not isinstance(output, Tensor):
        return None
    x = inputs[0]
    if x.dim() == 5:
        x, output = x.flatten(0, 1), output.flatten(0, 1)
    return count_synaptic(module, x, output)


def _is_spikes(x: Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


def count_matmul(module: nn.Module, inputs: tuple, output: Any) -> dict[str, Any] | None:
    """Counting rule for :class:`SpikingMatmul` (the official ``SOPMonitor`` convention, see above)."""
    if len(inputs) != 2 or not all(isinstance(t, Tensor) for t in inputs):
        return None
    left, right = (t.detach() for t in inputs)
    spike = getattr(module, "spike", "r")
    batch = torch.broadcast_shapes(left.shape[:-2], right.shape[:-2])
    rows, inner, cols = left.shape[-2], left.shape[-1], right.shape[-1]
    operands = {"r": (right,), "l": (left,), "both": (left, right)}[spike]
    if not all(_is_spikes(t) for t in operands):
        return {"macs": math.prod(batch) * rows * inner * cols, "sops": 0, "spike_input": False}
    if spike == "r":
        total = rows * right.to(torch.float64).expand(*batch, inner, cols).sum()
    elif spike == "l":
        total = cols * left.to(torch.float64).expand(*batch, rows, inner).sum()
    else:
        total = torch.matmul(left.to(torch.float64), right.to(torch.float64)).sum()
    return {"macs": 0, "sops": round(float(total)), "spike_input": True}


def paper_energy(profile: Any, inputs: Any = None, skip: tuple[str, ...] = PAPER_SKIP) -> dict[str, float]:
    """The paper's SOPs and energy per sample from a :class:`zoo_core.Profile` (or a model and its inputs).

    SOPs of every counted layer except ``skip`` (``prologue.0`` and ``classifier``; a path also matches with a
    prefix, e.g. ``module.classifier``), ``energy_pj = 0.9 x sops``.

    >>> p = zoo.profile(model, images)
    >>> paper_energy(p)          # {'sops': ..., 'energy_pj': ..., 'energy_mj': ...}
    """
    if isinstance(profile, nn.Module):
        from zoo_core import profile as run_profile

        if inputs is None:
            raise ConfigError("paper_energy(model, inputs): give the inputs to profile the model on")
        profile = run_profile(profile, inputs)

    def skipped(name: str) -> bool:
        return any(name == s or name.endswith("." + s) for s in skip)

    sops = sum(lp.sops for lp in profile.layers if not skipped(lp.name))
    energy = E_SOP_PJ * sops
    return {"sops": float(sops), "energy_pj": float(energy), "energy_mj": float(energy) * 1e-9}
