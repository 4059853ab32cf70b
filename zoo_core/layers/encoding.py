"""Input encoding of classifiers: a static image or a frame sequence becomes the ``[T, B, C, H, W]`` input."""

from __future__ import annotations

from torch import Tensor

from ..checks import check_finite
from ..errors import InputError

__all__ = ["encode_image_input"]


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
