"""Neuron and synapse counts (the quantities of the paper's 50% / 53% claim) and the profiler's coupling rule.

Counting convention (ours; the paper's table was not available):

* **neurons**: the number of spiking units of one sample at one time step, i.e. the sum over every spiking
  neuron module (``zoo_core.neurons.BaseNeuron``) of its per-sample output size ``C x H x W`` (or ``C``),
  measured by a forward pass. The readout layer is not a spiking layer and has no neurons.
* **synapses**: the number of distinct synaptic weights: ``weight.numel()`` of every ``nn.Conv*`` and
  ``nn.Linear`` module, including the PCNN coupling kernels (inter-channel: ``C x C x k x k`` per layer).
  Biases, normalisation parameters and neuron scalars are not synapses. (Counting connections instead, i.e.
  output positions x fan-in, is available as ``connections`` for reference.)

zoo-core's profiler counts operations (SOPs / MACs per forward pass), not weights, so it is not used for the
synapse count; :func:`count_coupling` is registered as its counting rule for :class:`~zoo_dpcnn.neuron.PCNN`
so that the coupling convolutions' SOPs (driven by the previous step's spikes) appear in ``zoo.profile``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import BaseNeuron, conv_fanout

from .neuron import PCNN

_SYNAPTIC = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def count_neurons(model: nn.Module, x: Tensor) -> dict[str, int]:
    """Per-sample, per-step neuron counts of every spiking layer (and ``"total"``), from a forward on ``x``."""
    counts: dict[str, int] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, BaseNeuron):

            def hook(mod: nn.Module, args: Any, out: Tensor, name: str = name) -> None:
                counts[name] = int(out[0, 0].numel())

            handles.append(m.register_forward_hook(hook))
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x[:1])
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    counts["total"] = sum(counts.values())
    return counts


def count_synapses(model: nn.Module, x: Tensor | None = None) -> dict[str, int]:
    """Synaptic weights: ``feedforward`` (conv/linear layers), ``coupling`` (PCNN kernels) and ``total``.

    With an input ``x`` (one forward pass) it also returns ``connections``: the dense number of (input, output)
    connections of all these layers for one sample and one step (conv: output positions x fan-in).
    """
    coupling_ids = {
        id(c)
        for m in model.modules()
        if isinstance(m, PCNN)
        for c in (m.coupling, m.coupling_intra)
        if c is not None
    }
    ff = cp = 0
    for m in model.modules():
        if isinstance(m, _SYNAPTIC):
            if id(m) in coupling_ids:
                cp += m.weight.numel()
            else:
                ff += m.weight.numel()
    out = {"feedforward": ff, "coupling": cp, "total": ff + cp}
    if x is not None:
        out["connections"] = _connections(model, x)
    return out


def _connections(model: nn.Module, x: Tensor) -> int:
    """(input, output) connections of every conv/linear for one sample and one step (first call of each)."""
    seen: dict[int, int] = {}

    def hook(m: nn.Module, args: Any, y: Tensor) -> None:
        if id(m) in seen:  # coupling convs run once per step: count one step
            return
        if isinstance(m, nn.Linear):
            seen[id(m)] = m.in_features * m.out_features
        else:  # y[0]: one sample (and one step) of the output; each output position has this fan-in
            seen[id(m)] = y[0].numel() * (m.in_channels // m.groups) * math.prod(m.kernel_size)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _SYNAPTIC)]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x[:1] if x.dim() == 4 else x[:, :1])
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return sum(seen.values())


def count_coupling(module: PCNN, args: tuple, output: Tensor) -> dict[str, Any] | None:
    """zoo.profile rule: SOPs of the coupling convolutions, driven by the spikes of steps ``1..T-1``."""
    if module.coupling is None:
        return {"macs": 0, "sops": 0}
    prev = output[:-1].detach()  # Y[t-1] drives step t; the last step's spikes drive nothing
    if prev.numel() == 0:
        return {"macs": 0, "sops": 0}
    mask = (prev != 0).to(torch.float64).flatten(0, 1)
    if module.ndim == 1:
        mask = mask.unsqueeze(-1)
    sops = 0.0
    for conv in (module.coupling, module.coupling_intra):
        if conv is not None:
            sops += conv_fanout(conv, mask)
    return {"macs": 0, "sops": round(sops)}


__all__ = ["count_coupling", "count_neurons", "count_synapses"]
