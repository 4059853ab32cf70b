"""Per-step wrappers: run a stateless layer on every time step of a ``[T, B, ...]`` sequence at once."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["StepWise"]


class StepWise(nn.Module):
    """Apply a stateless module to every time step at once, folding ``[T, B, ...]`` into ``[T*B, ...]``.

    BatchNorm inside sees the ``T*B`` samples jointly (statistics shared across time steps), which is what
    SpikingJelly's ``SeqToANNContainer`` and the group's official models do.
    """

    def __init__(self, *modules: nn.Module):
        super().__init__()
        self.module = modules[0] if len(modules) == 1 else nn.Sequential(*modules)

    def forward(self, x: Tensor) -> Tensor:
        t, b = x.shape[:2]
        y = self.module(x.flatten(0, 1))
        return y.unflatten(0, (t, b))
