"""Spiking neurons: the multi-step base class, surrogate gradients and the built-in IF/LIF/PLIF."""

from .base import BaseNeuron, State, check_sequence, detach_state, reset, streaming
from .lif import IF, LIF, PLIF
from .surrogate import SURROGATES, Surrogate

__all__ = [
    "IF",
    "LIF",
    "PLIF",
    "SURROGATES",
    "BaseNeuron",
    "State",
    "Surrogate",
    "check_sequence",
    "detach_state",
    "reset",
    "streaming",
]
