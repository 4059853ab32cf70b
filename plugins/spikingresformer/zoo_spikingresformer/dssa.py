r"""Dual Spike Self-Attention (DSSA), the attention of SpikingResformer, with firing-rate-aware scaling.

For an input ``X`` of shape ``[T, B, C, H, W]`` (the real-valued residual stream), ``h`` heads of size
``d = C / h`` and a patch size ``p`` (``M = (img_size_at_stage // p)^2`` patches, fixed at construction)::

    S   = LIF_in(X)                                     spikes, [T,B,C,H,W]
    Y   = BN(Conv_{p x p, stride p}(S))                 C -> 2C channels, M positions    (W, norm)
    Y   -> [T,B,h,2d,M];  Y1 = Y[:, :, i, :d],  Y2 = Y[:, :, i, d:]     per head i (interleaved split:
                                                        Y1 = channels [2di, 2di+d), Y2 = [2di+d, 2d(i+1)))
    S   -> [T,B,h,d,N], N = H W                         head i = channels [di, d(i+1))
    A   = LIF_attn((Y1^T S) * c1),  c1 = 1 / sqrt(r_x * d)           [T,B,h,M,N]   (matmul1)
    O   = LIF_out(reshape_{[T,B,C,H,W]}((Y2 A) * c2)),  c2 = 1 / sqrt(r_attn * M)    (matmul2)
    out = BN(Conv1x1(O)) + X                                                       (Wproj, norm_proj)

``r_x`` and ``r_attn`` are the per-head buffers ``firing_rate_x`` / ``firing_rate_attn`` (shape
``[1, 1, h, 1, 1]``). In training mode each forward measures the batch rate (mean of ``S`` over
``T, B, d, N`` per head; of ``A`` over ``T, B, M, N``), sets a still-zero buffer to it on the first training
forward, then updates ``r <- 0.999 r + 0.001 r_batch`` and uses the updated buffer. In eval mode the buffers are
used as they are; zero buffers (a model never trained nor loaded) make the scales infinite, which is reported
once with a :class:`FiringRateWarning`.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, InputError, check_positive_int

from .layers import BN, Conv1x1, SeqConv2d, SpikingMatmul, make_neuron

__all__ = ["DSSA", "FiringRateWarning"]

#: EMA momentum of the firing-rate buffers (official value)
FIRING_RATE_MOMENTUM = 0.999


class FiringRateWarning(UserWarning):
    """DSSA ran in eval mode with zero firing-rate buffers: its attention scales are infinite."""


ZERO_RATE_MESSAGE = (
    "firing-rate buffers (firing_rate_x / firing_rate_attn) are zero in eval mode, so the attention "
    "scales 1/sqrt(rate * n) are infinite and the output is meaningless; load trained weights "
    "(zoo.create_model(..., pretrained=True) / zoo.from_official) or run training-mode forwards first"
)


class DSSA(nn.Module):
    """Multi-head dual spike self-attention block (``MHDSSA``), residual included.

    Args:
        dim: channels ``C`` of the input and output.
        num_heads: heads ``h`` (``C % h == 0``).
        length: ``M``, the number of patches the attention is scaled for (the official ``lenth``
            argument, ``(img_size_at_stage // patch_size) ** 2``, fixed at construction).
        patch_size: ``p``, kernel size and stride of the conv ``W``.
        neuron: ``"lif"`` or ``"plif"`` (the official neuron settings).
    """

    def __init__(self, dim: int, num_heads: int, length: int, patch_size: int, neuron: str = "lif") -> None:
        super().__init__()
        for arg, v in (
            ("dim", dim),
            ("num_heads", num_heads),
            ("length", length),
            ("patch_size", patch_size),
        ):
            check_positive_int(v, arg, "DSSA")
        if dim % num_heads:
            raise ConfigError(f"DSSA: dim {dim} must be divisible by num_heads {num_heads}")
        self.dim = dim
        self.num_heads = num_heads
        self.length = length
        self.patch_size = patch_size
        self.momentum = FIRING_RATE_MOMENTUM
        self.register_buffer("firing_rate_x", torch.zeros(1, 1, num_heads, 1, 1))
        self.register_buffer("firing_rate_attn", torch.zeros(1, 1, num_heads, 1, 1))
        # python attributes (not saved): has a training forward initialised the buffers already?
        self.rate_x_initialised = False
        self.rate_attn_initialised = False
        self.zero_rate_warned = False
        # construction order = official order (same state-dict key order, same RNG use at init)
        self.activation_in = make_neuron(neuron)
        self.W = SeqConv2d(dim, dim * 2, patch_size, patch_size)
        self.norm = BN(dim * 2)
        self.matmul1 = SpikingMatmul("r")
        self.matmul2 = SpikingMatmul("r")
        self.activation_attn = make_neuron(neuron)
        self.activation_out = make_neuron(neuron)
        self.Wproj = Conv1x1(dim, dim)
        self.norm_proj = BN(dim)

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    def _update_rate(self, name: str, spikes: Tensor) -> None:
        """Training mode: first-forward initialisation, then the 0.999 EMA of the per-head firing rate."""
        buf: Tensor = getattr(self, name)
        rate = spikes.detach().mean((0, 1, 3, 4), keepdim=True)
        flag = "rate_x_initialised" if name == "firing_rate_x" else "rate_attn_initialised"
        with torch.no_grad():
            if not getattr(self, flag) and bool(torch.all(buf == 0)):
                buf.copy_(rate)
            setattr(self, flag, True)
            buf.copy_(buf * self.momentum + rate * (1 - self.momentum))

    def has_zero_rates(self) -> bool:
        """Whether a head's firing-rate buffer is still zero (its eval-mode scale would be infinite)."""
        return bool((self.firing_rate_x == 0).any() or (self.firing_rate_attn == 0).any())

    def _warn_if_zero(self) -> None:
        if not self.zero_rate_warned and self.has_zero_rates():
            self.zero_rate_warned = True
            warnings.warn(f"DSSA: {ZERO_RATE_MESSAGE}", FiringRateWarning, stacklevel=3)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 5 or x.shape[2] != self.dim:
            raise InputError(f"DSSA: expected [T, B, {self.dim}, H, W], got shape {tuple(x.shape)}")
        T, B, C, H, W = x.shape
        h, d = self.num_heads, C // self.num_heads
        shortcut = x
        s = self.activation_in(x)
        y = self.norm(self.W(s))
        y = y.reshape(T, B, h, 2 * d, -1)
        y1, y2 = y[:, :, :, :d, :], y[:, :, :, d:, :]
        s = s.reshape(T, B, h, d, -1)

        if self.training:
            self._update_rate("firing_rate_x", s)
        else:
            self._warn_if_zero()
        scale1 = 1.0 / torch.sqrt(self.firing_rate_x * d)
        attn = self.matmul1(y1.transpose(-1, -2), s)
        attn = attn * scale1
        attn = self.activation_attn(attn)

        if self.training:
            self._update_rate("firing_rate_attn", attn)
        scale2 = 1.0 / torch.sqrt(self.firing_rate_attn * self.length)
        out = self.matmul2(y2, attn)
        out = out * scale2
        out = out.reshape(T, B, C, H, W)
        out = self.activation_out(out)

        out = self.norm_proj(self.Wproj(out))
        return out + shortcut

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_heads={self.num_heads}, length={self.length}, patch_size={self.patch_size}, "
            f"momentum={self.momentum}"
        )
