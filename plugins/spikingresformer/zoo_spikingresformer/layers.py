r"""Multi-step building blocks of SpikingResformer, laid out like the official code's ``submodules/layers.py``.

Every layer works on time-first tensors ``[T, B, ...]``. Stateless layers (conv, BatchNorm, pooling) fold time
into the batch (``[T*B, ...]``), so BatchNorm statistics are shared by all time steps. The module attribute
names and nesting are chosen so that state-dict keys equal the official ones (``prologue.1.bn.weight``,
``layers.0.1.up.1.weight``, ...): the official BN wrapper keeps its ``nn.BatchNorm2d`` under ``.bn``.

Neurons are the core's :class:`zoo_core.sdk.LIF` / :class:`~zoo_core.sdk.PLIF` configured exactly as
the official ``LIF`` / ``PLIF`` wrappers (SpikingJelly ``LIFNode`` / ``ParametricLIFNode``): ``tau = 2``
(``init_tau = 2``), ``decay_input=True``, ``v_threshold = 1``, hard reset to ``v_reset = 0``,
``detach_reset=True``, ATan surrogate with ``alpha = 2``; per step ``H = V + (X - V)/tau`` (PLIF:
``V + (X - V) * sigmoid(w)``), ``S = [H >= 1]``, ``V = H (1 - S)``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import LIF, PLIF, BaseNeuron, InputError, check_choice

__all__ = [
    "BN",
    "NEURON_KWARGS",
    "Conv1x1",
    "Conv3x3",
    "SeqConv2d",
    "SpikingMatmul",
    "make_neuron",
]

#: the official neurons' settings (models/submodules/layers.py), by registered core neuron name
NEURON_KWARGS: dict[str, dict[str, Any]] = {
    "lif": {
        "tau": 2.0,
        "decay_input": True,
        "v_threshold": 1.0,
        "v_reset": 0.0,
        "detach_reset": True,
        "surrogate": "atan",
        "alpha": 2.0,
    },
    "plif": {
        "init_tau": 2.0,
        "decay_input": True,
        "v_threshold": 1.0,
        "v_reset": 0.0,
        "detach_reset": True,
        "surrogate": "atan",
        "alpha": 2.0,
    },
}


def make_neuron(neuron: str = "lif") -> BaseNeuron:
    """A new neuron layer of kind ``"lif"`` or ``"plif"`` with the official settings (:data:`NEURON_KWARGS`)."""
    check_choice(neuron, "neuron", "SpikingResformer", NEURON_KWARGS)
    return {"lif": LIF, "plif": PLIF}[neuron](**NEURON_KWARGS[neuron])


def _check_seq(x: Tensor, who: str) -> None:
    if x.dim() != 5:
        raise InputError(f"{who}: expected a multi-step tensor [T, B, C, H, W], got shape {tuple(x.shape)}")


class SeqConv2d(nn.Conv2d):
    """``nn.Conv2d`` applied to every time step of ``[T, B, C, H, W]`` (time folded into the batch).

    A subclass (not a wrapper) so the weight key is ``<name>.weight`` as in the official ``layer.Conv2d``
    (SpikingJelly, ``step_mode='m'``). Bias-free by default, like every conv of the model.
    """

    def __init__(self, *args: Any, bias: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, bias=bias, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        _check_seq(x, type(self).__name__)
        t, b = x.shape[0], x.shape[1]
        y = super().forward(x.flatten(0, 1))
        return y.view(t, b, *y.shape[1:])


class Conv3x3(SeqConv2d):
    """3x3 multi-step conv, padding 1 (``dilation``), bias-free."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, groups=groups)


class Conv1x1(SeqConv2d):
    """1x1 multi-step conv, bias-free."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size=1, stride=1, padding=0)


class BN(nn.Module):
    """``BatchNorm2d(eps=1e-5, momentum=0.1)`` over ``[T*B, C, H, W]``: one set of statistics for all steps.

    The BatchNorm lives under ``.bn`` (keys ``<name>.bn.weight`` ...), as in the official wrapper.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, eps=1e-5, momentum=0.1)

    def forward(self, x: Tensor) -> Tensor:
        _check_seq(x, "BN")
        t, b = x.shape[0], x.shape[1]
        y = self.bn(x.flatten(0, 1))
        return y.view(t, b, *y.shape[1:])


class SpikingMatmul(nn.Module):
    """``torch.matmul(left, right)`` as a module, so the profiler can count it.

    ``spike`` says which operand carries spikes: ``"r"`` (right), ``"l"`` (left) or ``"both"``. It changes
    nothing in the forward pass; the counting rule (:mod:`zoo_spikingresformer.energy`) reads it.
    """

    def __init__(self, spike: str = "r") -> None:
        super().__init__()
        self.spike = check_choice(spike, "spike", "SpikingMatmul", ("l", "r", "both"))

    def forward(self, left: Tensor, right: Tensor) -> Tensor:
        return torch.matmul(left, right)

    def extra_repr(self) -> str:
        return f"spike={self.spike!r}"
