r"""1-bit and 1.5-bit synaptic weights, deployment folding and the paper's parameter-memory accounting.

:class:`BinaryConv` (official ``BinaryConv``): :math:`W_b = a_o\,\mathrm{sign}(W)` with
:math:`a_o = \mathrm{mean}_{i,k,l} |W_{o,i,k,l}|` per output channel (no gradient through :math:`a_o`);
backward: straight-through :math:`\partial W_b / \partial W = [\,|W| \le 1\,]` (the gradient of
:math:`\mathrm{clamp}(W, -1, 1)`).

:class:`TernaryConv` (official ``TernaryConv``, TWN): :math:`\tilde W = \mathrm{clamp}(W, -1, 1)`,
:math:`\Delta = 0.7\,\mathrm{mean}|\tilde W|` over the whole tensor,
:math:`\alpha = \mathrm{mean}\{|\tilde W| : |\tilde W| > \Delta\}`,
:math:`W_t = \alpha([\tilde W > \Delta] - [\tilde W < -\Delta])`; backward: identity, zero where
:math:`W \ge 1` or :math:`W \le -1`.

Both subclass ``nn.Conv2d`` (no bias) so profilers and surgery see a convolution; the parameter ``weight`` holds
the latent real weights while training. :func:`deploy` (official ``reset_BConv``) overwrites it with the
quantised values and switches the layer to a plain convolution; both quantisers are idempotent, so a deployed
state dict also loads into a training-mode model. Initialisation: uniform(0, 1e-3), as the official code.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["BinaryConv", "TernaryConv", "binarize", "deploy", "param_memory", "ternarize"]


class _SignSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, w: Tensor) -> Tensor:
        ctx.save_for_backward(w)
        dims = tuple(range(1, w.dim()))
        scale = w.abs().mean(dim=dims, keepdim=True)
        return scale * torch.sign(w)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        (w,) = ctx.saved_tensors
        return grad * (w.abs() <= 1).to(grad.dtype)


class _TWN(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, w: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
        ctx.save_for_backward(w, lo, hi)
        c = torch.minimum(torch.maximum(w, lo), hi)
        delta = 0.7 * c.abs().mean()
        mask = c.abs() > delta
        # all-zero tensor: the official code divides 0 by 0 (NaN); we give alpha = 0
        alpha = (c.abs() * mask).sum() / mask.sum().clamp_min(1)
        return alpha * ((c > delta).to(w.dtype) - (c < -delta).to(w.dtype))

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None, None]:
        w, lo, hi = ctx.saved_tensors
        return grad * ((w < hi) & (w > lo)).to(grad.dtype), None, None


def binarize(w: Tensor) -> Tensor:
    """:math:`a_o\\,\\mathrm{sign}(W)` with the straight-through gradient of ``clamp(W, -1, 1)``."""
    return _SignSTE.apply(w)


def ternarize(w: Tensor, clip: Tensor | None = None) -> Tensor:
    """TWN weights ``{-alpha, 0, alpha}`` of ``w`` clipped to ``clip = [lo, hi]`` (default ``[-1, 1]``)."""
    if clip is None:
        clip = torch.tensor([-1.0, 1.0], dtype=w.dtype, device=w.device)
    clip = clip.to(w.dtype)
    return _TWN.apply(w, clip[0], clip[1])


class _QuantConv(nn.Conv2d):
    """Shared: a bias-free conv whose forward quantises ``weight`` unless :attr:`deployed`."""

    #: bytes per weight in the paper's "Param (MB)" column
    bytes_per_weight: float = 4.0

    def __init__(self, in_chn: int, out_chn: int, kernel_size: int = 3, stride: int = 1, padding: int = 1):
        super().__init__(in_chn, out_chn, kernel_size, stride=stride, padding=padding, bias=False)
        self.deployed = False
        with torch.no_grad():
            self.weight.copy_(torch.rand(self.weight.shape) * 1e-3)

    def quantized_weight(self) -> Tensor:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        w = self.weight if self.deployed else self.quantized_weight()
        return F.conv2d(x, w, None, self.stride, self.padding)

    @torch.no_grad()
    def deploy(self) -> None:
        """Store the quantised weights in ``weight`` and run as a plain convolution from now on."""
        if not self.deployed:
            self.weight.copy_(self.quantized_weight())
            self.deployed = True

    def extra_repr(self) -> str:
        return super().extra_repr() + (", deployed" if self.deployed else "")


class BinaryConv(_QuantConv):
    """1-bit conv (:math:`a_o\\,\\mathrm{sign}(W)`, per-output-channel scale); see the module docstring."""

    bytes_per_weight = 0.25

    def quantized_weight(self) -> Tensor:
        return binarize(self.weight)


class TernaryConv(_QuantConv):
    """1.5-bit conv (TWN, one scale per layer); buffer ``weight_clip_val = [-1, 1]`` as the official layer."""

    bytes_per_weight = 0.375

    def __init__(self, in_chn: int, out_chn: int, kernel_size: int = 3, stride: int = 1, padding: int = 1):
        super().__init__(in_chn, out_chn, kernel_size, stride, padding)
        self.register_buffer("weight_clip_val", torch.tensor([-1.0, 1.0]))

    def quantized_weight(self) -> Tensor:
        return ternarize(self.weight, self.weight_clip_val)


def deploy(model: nn.Module) -> nn.Module:
    """Fold every quantised conv of ``model`` in place (official ``reset_BConv``); returns ``model``."""
    for m in model.modules():
        if isinstance(m, _QuantConv):
            m.deploy()
    return model


def param_memory(model: nn.Module) -> dict[str, float]:
    """The paper's "Param (MB)": every parameter except BatchNorm and neuron parameters, charged 0.25 bytes in a
    :class:`BinaryConv`, 0.375 in a :class:`TernaryConv` and 4 otherwise (official ``print_model_param_info``;
    MB = 10^6 bytes). ``base_*`` charges 4 bytes everywhere (the full-precision model)."""
    from zoo_core.sdk import BaseNeuron

    total = base = 0.0
    count = 0
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm | BaseNeuron):
            continue
        n = sum(p.numel() for p in m.parameters(recurse=False))
        count += n
        total += n * (m.bytes_per_weight if isinstance(m, _QuantConv) else 4.0)
        base += n * 4.0
    return {"params": count, "bytes": total, "mb": total / 1e6, "base_bytes": base, "base_mb": base / 1e6}
