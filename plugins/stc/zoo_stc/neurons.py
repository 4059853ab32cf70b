"""The STC cells as registered zoo neurons: multi-step ``[T, B, C, H, W]`` (or ``[T, B, C, L]``) in, spikes out.

By default a neuron is a cell of :mod:`zoo_stc.cells` *without* its ``conv_x`` front end: its input is the
synaptic current ``I`` of every step (what ``GN(Conv_x(x))`` produces inside the predictor). With
``in_channels`` it is the whole official cell (front end included, input = the cell input ``x``), and its
``state_dict`` keys are exactly the official cell's (``conv_x.0.weight``, ``conv_h.0.weight``, ``t_m``, ...), so
an official cell's weights load as they are. The STC neurons keep their autapse modulators (grouped convolutions
over their own previous spikes), so the input needs its channels at dim 2; a ``[T, B, C, L]`` input is treated
as ``H = 1``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from zoo_core.sdk import BaseNeuron, InputError, State

from .cells import CELLS, SpikingCell

__all__ = ["NEURONS", "CellNeuron"]


class CellNeuron(BaseNeuron):
    """One cell type as a multi-step :class:`~zoo_core.sdk.BaseNeuron` (mixed with the cell class, so the
    parameters sit at the top level with the official names).

    Args:
        channels: hidden channels ``C`` (the input current's channels, dim 2 of ``[T, B, C, ...]``).
        kernel_size, groups, gradient_detach, v_threshold, alpha: as in :class:`zoo_stc.cells.SpikingCell`.
        in_channels: ``None`` (default): the input is the synaptic current. An int: include the ``conv_x`` front
            end; the input is the cell input with ``in_channels`` channels.
        **kwargs: further cell arguments (``fixed`` for the PLIF baseline).
    """

    def __init__(
        self,
        *,
        channels: int = 256,
        kernel_size: int = 5,
        groups: int = 16,
        gradient_detach: bool = False,
        v_threshold: float = 1.0,
        alpha: float = 4.0,
        in_channels: int | None = None,
        **kwargs: Any,
    ) -> None:
        # the cell's constructor sets up nn.Module and the parameters; then BaseNeuron's attributes
        cell_cls = next(
            c for c in type(self).__mro__ if issubclass(c, SpikingCell) and not issubclass(c, CellNeuron)
        )
        cell_cls.__init__(
            self,  # type: ignore[arg-type]
            in_channels,
            channels,
            kernel_size=kernel_size,
            groups=groups,
            gradient_detach=gradient_detach,
            v_threshold=v_threshold,
            alpha=alpha,
            **kwargs,
        )
        self.in_channels = in_channels
        self.streaming = False
        self.state: State = {}

    @staticmethod
    def _as4d(x_t: Tensor) -> Tensor:
        return x_t.unsqueeze(-2) if x_t.dim() == 3 else x_t

    def initial_state(self, x_t: Tensor) -> State:
        c_in = self.channels if self.in_channels is None else self.in_channels
        if x_t.dim() not in (3, 4) or x_t.shape[1] != c_in:
            raise InputError(
                f"{type(self).__name__}: expected [T, B, {c_in}, H, W] or [T, B, {c_in}, L] "
                f"(channels at dim 2), got a step of shape {tuple(x_t.shape)}"
            )
        shape = (x_t.shape[0], self.channels, *x_t.shape[2:])
        return {k: x_t.new_zeros(shape) for k in self.state_names}

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        self.initial_state(x_seq[0])  # validates the shape
        shape = next(iter(state.values())).shape
        st = {k: self._as4d(v) for k, v in state.items()}
        out = []
        for x_t in x_seq.unbind(0):
            x4 = self._as4d(x_t)
            st = self.update(x4 if self.in_channels is None else self.conv_x(x4), st)  # type: ignore[attr-defined]
            out.append(st["s"].reshape(shape))
        return torch.stack(out), {k: v.reshape(shape) for k, v in st.items()}


#: first line of each registered neuron's description
_DOCS = {
    "stc_lif": "STC-LIF neuron (equations: zoo_stc.cells.STCLIFCell).",
    "stc_plif": "STC-PLIF neuron (equations: zoo_stc.cells.STCPLIFCell).",
    "stc_lmh": "STC-LM-H neuron (equations: zoo_stc.cells.STCLMHCell).",
    "stc_baseline_lif": "LIF baseline of the STC code, tau = 2, soft reset.",
    "stc_baseline_plif": "PLIF baseline of the STC code (official (1 - w) input factor).",
    "stc_baseline_tclif": "TC-LIF baseline of the STC code (two compartments).",
    "stc_baseline_lmh": "LM-H baseline of the STC code (dendrite + soma).",
    "stc_baseline_glif": "GLIF baseline of the STC code (channel-wise gated LIF).",
}

#: registered name (= cell key of zoo_stc.cells.CELLS) -> neuron class
NEURONS: dict[str, type[CellNeuron]] = {
    key: type(f"{cell.__name__[:-4]}Neuron", (CellNeuron, cell), {"__doc__": _DOCS[key]})
    for key, cell in CELLS.items()
}
