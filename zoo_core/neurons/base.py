"""Base class of multi-step spiking neurons, state handling and streaming.

Neurons work on ``[T, B, ...]`` (time first). A neuron's *state* (membrane potential and any other memory) is
explicit: :meth:`BaseNeuron.initial_state` builds it, :meth:`BaseNeuron.multi_step` advances it over a
sequence. By default every forward call starts from rest, so forgetting a reset can never leak state between
batches. Streaming, where state is carried across calls (e.g. one frame at a time), is opt-in:

>>> with zoo.streaming(model):          # reset on entry and exit
...     for frame in frames:            # frame: [1, B, ...] or use neuron.step(x_t) on [B, ...]
...         out = model(frame)

and gives the same result as one multi-step call on the whole sequence.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from torch import Tensor, nn

from ..errors import ConfigError, InputError
from ..plugins import create

State = dict[str, Tensor]

#: what a neuron's output values are, as :attr:`BaseNeuron.spike_kind` declares them (profiling counts by it):
#: ``"binary"``: only 0 and 1; ``"graded"``: a few levels, each an event whose amplitude a deployment folds into
#: the next layer's weights (conversion spikes of amplitude theta, multi-level or few-bit spikes); ``"real"``:
#: real values (rates, currents, unquantised spikes): the next layer multiplies by them
SPIKE_KINDS = ("binary", "graded", "real")


def check_sequence(x: Tensor, who: str, min_dims: int = 2) -> None:
    """Raise :class:`InputError` unless ``x`` is a floating ``[T, B, ...]`` tensor with ``T >= 1``."""
    if not isinstance(x, Tensor):
        raise InputError(f"{who}: expected a torch.Tensor of shape [T, B, ...], got {type(x).__name__}")
    if x.dim() < min_dims:
        raise InputError(
            f"{who}: expected a multi-step tensor [T, B, ...] with at least {min_dims} dimensions, "
            f"got shape {tuple(x.shape)}; add a time dimension first (x.unsqueeze(0) for one step)"
        )
    if x.shape[0] < 1:
        raise InputError(f"{who}: the time dimension T (dim 0) must be >= 1, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise InputError(f"{who}: expected a floating-point tensor (float16/32/64, bfloat16), got {x.dtype}")


class BaseNeuron(nn.Module):
    """A multi-step spiking neuron.

    Subclasses implement :meth:`initial_state` and :meth:`multi_step`. ``forward`` validates the input, starts
    from rest (or, in streaming mode, from the stored state) and returns the spikes ``[T, B, ...]``.

    Attributes:
        streaming: when ``True`` the state after a call is kept and the next call continues from it.
            Set it with :func:`streaming` (a context manager) rather than by hand.
        state: the stored state (streaming mode only; empty at rest).
        causal: class attribute; ``True`` (the default) if output step ``t`` depends on input steps ``<= t``
            only. A *non-causal* neuron (``causal = False``: e.g. one whose every step sees the mean input of
            all ``T`` steps, as in parallel ANN-SNN conversion or LM-HT's temporal mixing) needs the whole
            sequence at once, so streaming it raises :class:`~zoo_core.errors.InputError`; the conformance
            kit checks that instead of streaming equality.
        spike_kind: what the outputs are (one of :data:`SPIKE_KINDS`): ``"binary"`` (the default: only 0/1,
            checked by the conformance kit), ``"graded"`` (events carrying a few amplitude levels, e.g.
            theta, k theta, 4-bit values) or ``"real"`` (real-valued outputs). A class attribute,
            or a property where it depends on the configuration. :func:`zoo_core.profile` counts the synaptic
            operations a neuron's outputs drive accordingly (binary and graded: SOPs; real: MACs).
    """

    causal: bool = True
    spike_kind: str = "binary"

    def __init__(self) -> None:
        super().__init__()
        self.streaming = False
        self.state: State = {}

    # -- to implement ------------------------------------------------------------------------------------
    def initial_state(self, x_t: Tensor) -> State:
        """The resting state for one time step shaped like ``x_t`` ([B, ...])."""
        raise NotImplementedError

    def multi_step(self, x_seq: Tensor, state: State) -> tuple[Tensor, State]:
        """Advance ``state`` over ``x_seq`` ([T, B, ...]); return ``(output [T, B, ...], final state)``."""
        raise NotImplementedError

    # -- provided ------------------------------------------------------------------------------------------
    def forward(self, x_seq: Tensor) -> Tensor:
        check_sequence(x_seq, type(self).__name__)
        if self.streaming and not self.causal:
            raise InputError(
                f"{type(self).__name__} is not causal (every time step depends on the whole input sequence), "
                "so it cannot stream one step or chunk at a time; call it on the full [T, B, ...] sequence"
            )
        if self.streaming and self.state:
            state = self.state
            for name, s in state.items():
                if s.shape != x_seq.shape[1:]:
                    raise InputError(
                        f"{type(self).__name__}: streaming state {name!r} has shape {tuple(s.shape)} but this "
                        f"step's input has shape {tuple(x_seq.shape[1:])}; call zoo.reset(model) between sequences"
                    )
        else:
            state = self.initial_state(x_seq[0])
        out, state = self.multi_step(x_seq, state)
        if self.streaming:
            self.state = state
        return out

    def step(self, x_t: Tensor) -> Tensor:
        """One time step ``[B, ...] -> [B, ...]`` carrying state across calls (turns streaming on)."""
        self.streaming = True
        return self.forward(x_t.unsqueeze(0))[0]

    def reset(self) -> None:
        """Forget the stored state (back to rest)."""
        self.state = {}

    def detach_state(self) -> None:
        """Cut the autograd history of the stored state (truncated BPTT while streaming)."""
        self.state = {k: v.detach() for k, v in self.state.items()}


def _stateful_modules(module: nn.Module) -> Iterator[nn.Module]:
    for m in module.modules():
        if isinstance(m, BaseNeuron) or callable(getattr(m, "reset_state", None)):
            yield m


def reset(module: nn.Module) -> nn.Module:
    """Clear every neuron state in a module tree (``BaseNeuron`` and any module with ``reset_state()``)."""
    for m in _stateful_modules(module):
        if isinstance(m, BaseNeuron):
            m.reset()
        else:
            m.reset_state()
    return module


def detach_state(module: nn.Module) -> nn.Module:
    """Detach the stored state of every neuron in a module tree from the autograd graph."""
    for m in module.modules():
        if isinstance(m, BaseNeuron):
            m.detach_state()
    return module


@contextlib.contextmanager
def streaming(module: nn.Module) -> Iterator[nn.Module]:
    """Carry neuron state across calls inside the block; reset on entry and on exit."""
    neurons = [m for m in module.modules() if isinstance(m, BaseNeuron)]
    before = [m.streaming for m in neurons]
    reset(module)
    for m in neurons:
        m.streaming = True
    try:
        yield module
    finally:
        for m, b in zip(neurons, before):
            m.streaming = b
        reset(module)


def resolve_surrogate(surrogate: Any, alpha: float | None, who: str) -> nn.Module:
    """A surrogate module from a registered name (``zoo.list_surrogates()``), or the module itself."""
    if isinstance(surrogate, nn.Module):
        return surrogate
    if isinstance(surrogate, str):
        return create("surrogate", surrogate, **({} if alpha is None else {"alpha": alpha}))
    raise ConfigError(
        f"{who}: surrogate must be a registered name (zoo.list_surrogates()) or a module, got "
        f"{type(surrogate).__name__}"
    )


__all__ = [
    "SPIKE_KINDS",
    "BaseNeuron",
    "State",
    "check_sequence",
    "detach_state",
    "reset",
    "resolve_surrogate",
    "streaming",
]
