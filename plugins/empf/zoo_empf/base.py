"""Shared model plumbing: the per-step network contract, the shared options, neuron factory and ECA attention.

The official networks are *single-step*: ``model(x_t)`` with stateful neurons, once per time step, BatchNorm
statistics per step. Every zoo EM-PF model keeps exactly that computation in :meth:`EMPFNet.forward_step`
(one step ``[B, C, H, W] -> logits [B, classes]``, neuron state carried in zoo streaming mode) and wraps it:

* ``forward(x)``: ``[B, C, H, W]`` (repeated ``T`` times) or ``[T, B, C, H, W]`` -> mean over the steps of the
  per-step logits (the official evaluation sums them: same argmax), starting from reset state;
* ``forward_steps(x)``: the per-step logits ``[T, B, classes]``;
* ``forward_features(x)``: the per-step input of the classifier head ``[T, B, num_features]``; the head runs
  on it as a sequence in ``forward_head`` (timm's head API of :class:`zoo_core.sdk.SpikingClassifier`);
* the online rule (:mod:`zoo_empf.online`) drives ``forward_step`` itself inside ``zoo.streaming(model)``:
  forward step t, loss, backward, optimiser step, next step.

Inside an outer ``zoo.streaming(model)`` block ``forward`` / ``forward_steps`` continue from the stored state
(the per-step parameter index keeps counting) instead of starting from rest.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn
from zoo_core.sdk import (
    BaseNeuron,
    ConfigError,
    InputError,
    SpikingClassifier,
    check_choice,
    check_positive,
    streaming,
)

from .neurons import MODES, EMPFLIFNeuron, EMPFNeuron
from .quant import BinaryConv, TernaryConv

USE_LIF = ("none", "vanilla", "online", "online-learnable")
WEIGHT_MODES = ("vanilla", "compression")


def scaled(c: int, mult: float) -> int:
    """Channel width ``c`` times ``width_mult`` (at least 1)."""
    return max(1, round(c * mult))


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


class EMPFNet(SpikingClassifier):
    """Base of the EM-PF models: the per-step contract (module docstring) on the core's classifier base.

    A subclass builds its layers after ``super().__init__(T=..., num_classes=..., in_chans=..., img_size=...)``
    (and :meth:`set_options` for the flags of the official architectures), names its classifier in
    ``head_name`` and implements :meth:`step_features` (one step up to the head's input). :meth:`neuron` reads
    ``T``, ``use_lif``, ``mem_bn`` and ``mode``.
    """

    def set_options(
        self,
        *,
        use_ternary: bool,
        use_dvs: bool,
        use_eca: int,
        mem_bn: bool,
        parallel_mode: bool,
        mode: str,
        weight_mode: str,
        use_lif: str,
        width_mult: float,
    ) -> None:
        """Check and store the options the EM-PF architectures share (the official constructors' flags)."""
        who = type(self).__name__
        if use_dvs and self.in_chans != 2:
            raise ConfigError(
                f"{who}: use_dvs=True takes 2-channel event frames (ON/OFF polarity); pass in_chans=2, "
                f"got in_chans={self.in_chans}"
            )
        self.use_ternary, self.use_dvs = bool(use_ternary), bool(use_dvs)
        self.use_eca = check_choice(use_eca, "use_eca", who, (0, 1, 2))
        self.mem_bn, self.parallel_mode = bool(mem_bn), bool(parallel_mode)
        self.mode = check_choice(mode, "mode", who, MODES)
        self.weight_mode = check_choice(weight_mode, "weight_mode", who, WEIGHT_MODES)
        self.use_lif = check_choice(use_lif, "use_lif", who, USE_LIF)
        self.width_mult = check_positive(width_mult, "width_mult", who)

    def neuron(self, channels: int, parallel: bool = False, mem_bn: bool | None = None) -> BaseNeuron:
        """An EM-PF neuron for ``channels`` channels, or the LIF baseline when ``use_lif`` names one."""
        if self.use_lif != "none":
            return EMPFLIFNeuron(
                self.T, online_training="online" in self.use_lif, is_learnable="learnable" in self.use_lif
            )
        return EMPFNeuron(
            self.T, bool(self.mem_bn if mem_bn is None else mem_bn), channels, parallel, self.mode
        )

    # -- one time step ---------------------------------------------------------------------------------------
    def step_features(self, x_t: Tensor) -> Tensor:
        """One time step ``[B, C, H, W]`` up to the head's input ``[B, num_features]``."""
        raise NotImplementedError(f"{type(self).__name__} must implement step_features(x_t)")

    def _step(self, x_t: Tensor) -> Tensor:
        return run_step(self.head_module(), self.step_features(x_t))

    def _streaming(self) -> bool:
        return any(m.streaming for m in self.modules() if isinstance(m, BaseNeuron))

    def _over_steps(self, fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
        """``fn`` on every step of the encoded input, stacked; from reset state unless already streaming."""
        seq = self.encode(x)
        if self._streaming():
            return torch.stack([fn(x_t) for x_t in seq.unbind(0)])
        with streaming(self):
            return torch.stack([fn(x_t) for x_t in seq.unbind(0)])

    # -- the zoo contract -------------------------------------------------------------------------------------
    def encode(self, x: Tensor, T: int | None = None) -> Tensor:
        """``[B, C, H, W]`` -> repeated ``[T, B, C, H, W]``; a ``[T', B, C, H, W]`` sequence (``T' <= T``) as is."""
        seq = super().encode(x, T)
        if seq.shape[0] > self.T:
            raise InputError(
                f"{type(self).__name__}: the neurons have per-step parameters for T={self.T} steps, got a "
                f"sequence of {seq.shape[0]} frames; build the model with T={seq.shape[0]}"
            )
        return seq

    def forward_step(self, x_t: Tensor) -> Tensor:
        """One time step ``[B, C, H, W] -> [B, num_classes]``; call inside ``zoo.streaming(model)``."""
        who = type(self).__name__
        if not self._streaming():
            raise InputError(
                f"{who}.forward_step runs one step of a sequence and needs the neuron state of the previous "
                "steps: call it inside `with zoo.streaming(model):` (or use forward on the whole sequence)"
            )
        if not isinstance(x_t, Tensor) or x_t.dim() != 4:
            raise InputError(
                f"{who}.forward_step: expected one step [B, C, H, W], got {getattr(x_t, 'shape', x_t)}"
            )
        return self._step(self.encode(x_t, 1)[0])

    def forward_steps(self, x: Tensor) -> Tensor:
        """Per-step logits ``[T, B, num_classes]``."""
        return self._over_steps(self._step, x)

    def forward_features(self, x: Tensor) -> Tensor:
        """The head's per-step input ``[T, B, num_features]``; ``forward_head`` runs the head on it."""
        return self._over_steps(self.step_features, x)

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
