"""Shared model plumbing: the per-step network contract, neuron factory and ECA attention.

The official networks are *single-step*: ``model(x_t)`` with stateful neurons, once per time step, BatchNorm
statistics per step. Every zoo EM-PF model keeps exactly that computation in :meth:`EMPFNet.forward_step`
(one step ``[B, C, H, W] -> logits [B, classes]``, neuron state carried in zoo streaming mode) and wraps it:

* ``forward(x)``: ``[B, C, H, W]`` (repeated ``T`` times) or ``[T, B, C, H, W]`` -> mean over the steps of the
  per-step logits (the official evaluation sums them: same argmax), starting from reset state;
* ``forward_steps(x)``: the per-step logits ``[T, B, classes]``;
* the online rule (:mod:`zoo_empf.online`) drives ``forward_step`` itself inside ``zoo.streaming(model)``:
  forward step t, loss, backward, optimiser step, next step.

Inside an outer ``zoo.streaming(model)`` block ``forward`` / ``forward_steps`` continue from the stored state
(the per-step parameter index keeps counting) instead of starting from rest.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import (
    BaseNeuron,
    ConfigError,
    InputError,
    check_positive_int,
    check_time_steps,
    encode_image_input,
    streaming,
)

from .neurons import EMPFLIFNeuron, EMPFNeuron
from .quant import BinaryConv, TernaryConv

USE_LIF = ("none", "vanilla", "online", "online-learnable")
WEIGHT_MODES = ("vanilla", "compression")


def choice(v: Any, options: tuple[Any, ...], name: str, who: str) -> Any:
    if v not in options:
        raise ConfigError(f"{who}: {name} must be one of {options}, got {v!r}")
    return v


def run_step(module: nn.Module, x: Tensor) -> Tensor:
    """Apply ``module`` to one time step ``[B, ...]``: neurons get a length-1 sequence, layers the step itself."""
    if isinstance(module, BaseNeuron):
        return module(x.unsqueeze(0))[0]
    if isinstance(module, nn.Sequential):
        for m in module:
            x = run_step(m, x)
        return x
    return module(x)


class ECAAttention(nn.Module):
    r"""ECA channel attention ("SECA" in the paper): :math:`x \cdot \sigma(\mathrm{conv1d}_k(\mathrm{GAP}(x)))`,
    a 1-D convolution (kernel 5, bias) across channels, shared over time steps."""

    def __init__(self, kernel_size: int = 5) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, kernel_size=kernel_size, padding=(kernel_size - 1) // 2)

    def forward(self, x: Tensor) -> Tensor:
        y = x.mean(dim=(2, 3)).unsqueeze(1)  # [B, 1, C]
        y = torch.sigmoid(self.conv(y)).transpose(1, 2).unsqueeze(-1)  # [B, C, 1, 1]
        return x * y


def qconv(cin: int, cout: int, k: int, stride: int, use_ternary: bool, weight_mode: str) -> nn.Module:
    """3x3 (pad 1) or 1x1 (pad 0) quantised conv; a plain bias-free ``nn.Conv2d`` for ``weight_mode='vanilla'``."""
    pad = 1 if k == 3 else 0
    if weight_mode == "vanilla":
        return nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False)
    cls = TernaryConv if use_ternary else BinaryConv
    return cls(cin, cout, k, stride, pad)


class EMPFNet(nn.Module):
    """Base of the EM-PF models: checks, input encoding, the per-step contract (module docstring)."""

    zoo_family = "empf"

    def __init__(self, who: str, T: int, num_classes: int, in_chans: int, img_size: int) -> None:
        super().__init__()
        self._who = who
        self.T = check_time_steps(T, who)
        self.num_classes = check_positive_int(num_classes, "num_classes", who)
        self.in_chans = check_positive_int(in_chans, "in_chans", who)
        self.img_size = check_positive_int(img_size, "img_size", who)

    def check_dvs(self, use_dvs: bool) -> None:
        if use_dvs and self.in_chans != 2:
            raise ConfigError(
                f"{self._who}: use_dvs=True takes 2-channel event frames (ON/OFF polarity); pass in_chans=2, "
                f"got in_chans={self.in_chans}"
            )

    def neuron(
        self, channels: int, parallel: bool = False, mem_bn: bool | None = None, use_lif: str = "none"
    ) -> BaseNeuron:
        if use_lif != "none":
            return EMPFLIFNeuron(
                self.T, online_training="online" in use_lif, is_learnable="learnable" in use_lif
            )
        return EMPFNeuron(
            self.T, bool(self.mem_bn if mem_bn is None else mem_bn), channels, parallel, self.mode
        )

    def _step(self, x_t: Tensor) -> Tensor:
        raise NotImplementedError

    def _streaming(self) -> bool:
        return any(m.streaming for m in self.modules() if isinstance(m, BaseNeuron))

    def encode(self, x: Tensor) -> Tensor:
        """``[B, C, H, W]`` -> repeated ``[T, B, C, H, W]``; a ``[T', B, C, H, W]`` sequence (``T' <= T``) as is."""
        seq = encode_image_input(x, self.T, self.in_chans, self._who)
        if seq.shape[0] > self.T:
            raise InputError(
                f"{self._who}: the neurons have per-step parameters for T={self.T} steps, got a sequence of "
                f"{seq.shape[0]} frames; build the model with T={seq.shape[0]}"
            )
        return seq

    def forward_step(self, x_t: Tensor) -> Tensor:
        """One time step ``[B, C, H, W] -> [B, num_classes]``; call inside ``zoo.streaming(model)``."""
        if not self._streaming():
            raise InputError(
                f"{self._who}.forward_step runs one step of a sequence and needs the neuron state of the previous "
                "steps: call it inside `with zoo.streaming(model):` (or use forward on the whole sequence)"
            )
        if not isinstance(x_t, Tensor) or x_t.dim() != 4:
            raise InputError(
                f"{self._who}.forward_step: expected one step [B, C, H, W], got {getattr(x_t, 'shape', x_t)}"
            )
        return self._step(encode_image_input(x_t, 1, self.in_chans, self._who)[0])

    def forward_steps(self, x: Tensor) -> Tensor:
        """Per-step logits ``[T, B, num_classes]``."""
        seq = self.encode(x)
        if self._streaming():
            return torch.stack([self._step(x_t) for x_t in seq.unbind(0)])
        with streaming(self):
            return torch.stack([self._step(x_t) for x_t in seq.unbind(0)])

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, num_classes]``: the mean over time of :meth:`forward_steps`."""
        return self.forward_steps(x).mean(0)

    def init_weights(self, bn_and_linear: bool = False) -> None:
        """Official init: kaiming-normal (fan-out) for full-precision ``nn.Conv2d`` (quantised convs keep their
        uniform(0, 1e-3)); for VGG also BN weight 1 / bias 0 and Linear bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and not isinstance(m, BinaryConv | TernaryConv):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif bn_and_linear and isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif bn_and_linear and isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)
