"""Small composable layers shared by models: per-step wrappers and input encoding."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .errors import ConfigError, InputError


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


def check_time_steps(T: object, who: str) -> int:
    """Validate a number of time steps (an int >= 1)."""
    if isinstance(T, bool) or not isinstance(T, int) or T < 1:
        raise ConfigError(f"{who}: T (number of time steps) must be an integer >= 1, got {T!r}")
    return T


def check_positive_int(value: object, name: str, who: str) -> int:
    """Validate a size-like argument (an int >= 1, not a bool); the error names ``who`` and ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{who}: {name} must be a positive integer, got {value!r}")
    return value


def check_finite(x: Tensor, who: str) -> None:
    if not bool(torch.isfinite(x).all()):
        bad = "NaN" if bool(torch.isnan(x).any()) else "Inf"
        raise InputError(
            f"{who}: the input contains {bad} values; clean or mask them before the forward pass"
        )


def encode_image_input(x: Tensor, T: int, in_chans: int, who: str) -> Tensor:
    """Turn a classifier input into ``[T, B, C, H, W]``.

    ``[B, C, H, W]`` (a static image) is repeated ``T`` times (direct coding); ``[T', B, C, H, W]`` (frames or
    events, time first) is used as is. Raises :class:`InputError` on any other shape, the wrong number of
    channels, an empty time dimension, a non-float dtype, or NaN/Inf values.
    """
    if not isinstance(x, Tensor):
        raise InputError(f"{who}: expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() not in (4, 5):
        raise InputError(
            f"{who}: expected an image batch [B, C, H, W] or a sequence [T, B, C, H, W], got shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise InputError(f"{who}: expected a floating-point input (call .float()), got {x.dtype}")
    if x.shape[-3] != in_chans:
        raise InputError(
            f"{who}: expected {in_chans} input channels (dim -3), got {x.shape[-3]} in shape {tuple(x.shape)}"
        )
    if x.dim() == 5 and x.shape[0] < 1:
        raise InputError(f"{who}: the time dimension T (dim 0) of a [T, B, C, H, W] input must be >= 1")
    if x.numel() == 0:
        raise InputError(f"{who}: the input is empty (shape {tuple(x.shape)})")
    check_finite(x, who)
    if x.dim() == 4:
        return x.unsqueeze(0).expand(T, *x.shape)
    return x
