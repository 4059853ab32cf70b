"""Spike statistics of a converted SNN, counted as for a deployment with the amplitudes folded into the weights.

The neurons of a converted network emit spikes of amplitude :math:`\\theta` (per channel for channel-wise
neurons). ``zoo.profile`` counts a layer as spike-driven only when its input holds 0/1 values, so it counts
every layer of such an SNN as dense MACs. :func:`spike_profile` counts what a deployment that folds each
neuron's amplitude into the next layer's weights would do: a conv/linear layer whose input *is* a neuron's
output (through ``Flatten``/``Dropout`` views at most) does one accumulate (SOP) per non-zero input per
connection it drives (exact fan-out, :func:`zoo_core.profiling.conv_fanout`); any other synaptic layer (the
first conv on the analog image, a conv after an average pooling) counts dense MACs, as ``zoo.profile`` does.
Firing rate: the fraction of (neuron, step) pairs that spike.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.conversion import ConversionNeuron
from zoo_core.profiling import E_MAC_PJ, E_SOP_PJ, conv_fanout, dense_macs, linear_fanout

__all__ = ["spike_profile"]

_SYNAPTIC = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)

CONVENTION = (
    "Counted as for a deployment with each neuron's spike amplitude folded into the next layer's weights: a "
    "conv/linear fed directly by neuron outputs counts SOPs = the exact fan-out of every non-zero input "
    "(summed over time steps); any other conv/linear (the first layer on the image, a layer after average "
    "pooling) counts dense MACs. Per sample. Energy E = {e_mac} pJ x MACs + {e_sop} pJ x SOPs (45 nm, Horowitz "
    "2014). Firing rate = fraction of (neuron, time step) pairs that spike."
)


@torch.no_grad()
def spike_profile(snn: nn.Module, x: Tensor) -> dict[str, Any]:
    """Firing rate, SOPs, MACs and energy per sample of one forward pass of ``snn`` on ``x`` ([B, ...])."""
    spike_ptrs: set[int] = set()
    fired = total = 0.0
    macs = sops = 0.0

    def neuron_hook(m: nn.Module, inputs: Any, out: Tensor) -> None:
        nonlocal fired, total
        spike_ptrs.add(out.data_ptr())
        fired += float((out != 0).sum())
        total += out.numel()

    def view_hook(m: nn.Module, inputs: Any, out: Tensor) -> None:
        if isinstance(inputs[0], Tensor) and inputs[0].data_ptr() in spike_ptrs:
            spike_ptrs.add(out.data_ptr())

    def synaptic_hook(m: nn.Module, inputs: Any, out: Tensor) -> None:
        nonlocal macs, sops
        inp = inputs[0]
        if inp.data_ptr() in spike_ptrs:
            mask = (inp != 0).to(torch.float64)
            sops += linear_fanout(m, mask) if isinstance(m, nn.Linear) else conv_fanout(m, mask)
        else:
            macs += dense_macs(m, inp, out)

    hooks = []
    for m in snn.modules():
        if isinstance(m, ConversionNeuron):
            hooks.append(m.register_forward_hook(neuron_hook))
        elif isinstance(m, nn.Flatten | nn.Dropout | nn.Identity):
            hooks.append(m.register_forward_hook(view_hook))
        elif isinstance(m, _SYNAPTIC):
            hooks.append(m.register_forward_hook(synaptic_hook))
    try:
        snn.eval()
        snn(x)
    finally:
        for h in hooks:
            h.remove()
    b = x.shape[0]
    return {
        "mean_firing_rate": fired / total if total else 0.0,
        "sops": sops / b,
        "macs": macs / b,
        "energy_pj": (E_MAC_PJ * macs + E_SOP_PJ * sops) / b,
        "convention": CONVENTION.format(e_mac=E_MAC_PJ, e_sop=E_SOP_PJ),
    }
