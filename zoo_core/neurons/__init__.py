"""Spiking neurons: the multi-step base class, surrogate spike functions, the built-in IF/LIF/PLIF and the
conversion IF neuron."""

from .base import (
    SPIKE_KINDS,
    BaseNeuron,
    State,
    check_sequence,
    detach_state,
    reset,
    resolve_surrogate,
    streaming,
)
from .conversion import ConversionIF, ConversionNeuron, fold_time, unfold_time
from .lif import IF, LIF, PLIF
from .surrogate import SURROGATES, Surrogate

__all__ = [
    "IF",
    "LIF",
    "PLIF",
    "SPIKE_KINDS",
    "SURROGATES",
    "BaseNeuron",
    "ConversionIF",
    "ConversionNeuron",
    "State",
    "Surrogate",
    "check_sequence",
    "detach_state",
    "fold_time",
    "reset",
    "resolve_surrogate",
    "streaming",
    "unfold_time",
]
