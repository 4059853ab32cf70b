"""DPCNN-VGG9 (PCNN neurons + RFTD-BN), the LIF wide-VGG9 baseline and the digits DPCNN: one family,
:class:`VGGSNN`, whose registered variants are a table in :mod:`zoo_dpcnn.plugin`.

VGG9 (our reading of the paper's VGG9, the VGG9 of the BNTT/tdBN SNN papers; the paper's table was not
available)::

    64C3-64C3-AP2-128C3-128C3-AP2-256C3-256C3-256C3-AP2-FC1024-FC(num_classes)

Each ``C3`` block is ``conv 3x3 (no bias) -> norm -> neuron`` on ``[T, B, C, H, W]``; ``AP2`` is 2x2 average
pooling; the hidden ``FC1024`` block is ``linear (no bias) -> norm -> neuron``; the output layer is a linear
readout averaged over the T steps. A static image is repeated T times (direct coding).

* ``dpcnn_vgg9``: PCNN neurons, inter-channel coupling (a ``C x C x 3 x 3`` kernel) in every conv block, an
  uncoupled PCNN in the hidden FC block, RFTD-BN.
* ``dpcnn_vgg9_lif_wide``: LIF neurons (zoo-core's ``lif``), every conv layer twice as wide (``width_mult=2``),
  the same FC1024, plain BN shared over time.
* ``dpcnn_digits``: ``16C3-AP2-32C3-AP2-FC10`` for 8x8 digits with PCNN neurons (inter coupling) and RFTD-BN,
  the plugin's CPU demo.

With these definitions the abstract's neuron and synapse ratios come out at 50.1% and 52.7% (paper: 50%, 53%;
``tools/bench_dpcnn.py``, :mod:`zoo_dpcnn.counting`).

State-dict layout: ``features.{i}.conv.weight``, ``features.{i}.bn.{weight,bias,running_mean,running_var}``
(``[T, C]`` rows), ``features.{i}.neuron.coupling.weight``; ``classifier.0.{fc,bn,neuron}``,
``classifier.1.{weight,bias}`` (without the hidden FC block: ``classifier.0.{weight,bias}``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import zoo_core as zoo
from torch import Tensor, nn
from zoo_core.sdk import (
    ConfigError,
    InputError,
    SpikingClassifier,
    StepWise,
    check_choice,
    check_positive,
    check_positive_int,
)

from .neuron import PCNN
from .norm import RFTDBatchNorm

VGG9 = (64, 64, "A", 128, 128, "A", 256, 256, 256, "A")
NORMS = ("rftd", "bn", "none")


def make_norm(kind: str, channels: int, T: int) -> nn.Module:
    """``"rftd"``: per-step RFTD-BN; ``"bn"``: BN shared over time (``RFTDBatchNorm(time_dependent=False)``)."""
    if kind == "rftd":
        return RFTDBatchNorm(channels, T)
    if kind == "bn":
        return RFTDBatchNorm(channels, T, time_dependent=False)
    if kind == "none":
        return nn.Identity()
    raise ConfigError(f"norm must be one of {NORMS}, got {kind!r}")


class SpikingBlock(nn.Module):
    """``synapse (conv or linear) -> norm -> neuron`` on ``[T, B, ...]``."""

    def __init__(self, synapse: nn.Module, norm: nn.Module, neuron: nn.Module) -> None:
        super().__init__()
        self.synapse_name = "conv" if isinstance(synapse, nn.Conv2d) else "fc"
        self.add_module(self.synapse_name, synapse)
        self.bn = norm
        self.neuron = neuron

    def forward(self, x: Tensor) -> Tensor:
        t, b = x.shape[:2]
        y = getattr(self, self.synapse_name)(x.flatten(0, 1)).unflatten(0, (t, b))
        return self.neuron(self.bn(y))


class VGGSNN(SpikingClassifier):
    """A VGG-style SNN: conv blocks and ``"A"`` (2x2 average pooling), an optional hidden FC block, a readout.

    Args (keyword-only; the defaults are DPCNN-VGG9 on CIFAR-10):
        T, num_classes, in_chans, img_size: time steps, classes, input channels and (square) image size.
        width_mult: multiplies every conv width (2 for the "wide" baseline).
        fc_hidden: width of the hidden FC block (``None``: no hidden block).
        norm: ``"rftd"``, ``"bn"`` or ``"none"``.
        neuron: ``"pcnn"`` or the name of any registered neuron (``zoo.create_neuron``).
        coupling, coupling_kernel: PCNN coupling of the conv blocks (``fc_coupling`` for the hidden FC block).
        neuron_kwargs: further constructor arguments of every neuron.
        cfg: channels of the conv blocks (before ``width_mult``) and ``"A"`` for pooling.
    """

    head_name = "classifier"

    def __init__(
        self,
        *,
        T: int = 4,
        num_classes: int = 10,
        in_chans: int = 3,
        img_size: int = 32,
        width_mult: float = 1.0,
        fc_hidden: int | None = 1024,
        norm: str = "rftd",
        neuron: str = "pcnn",
        coupling: str = "inter",
        coupling_kernel: int = 3,
        fc_coupling: str = "none",
        neuron_kwargs: dict[str, Any] | None = None,
        cfg: Sequence[int | str] = VGG9,
    ) -> None:
        super().__init__(T=T, num_classes=num_classes, in_chans=in_chans, img_size=img_size)
        who = type(self).__name__
        img_size = check_positive_int(img_size, "img_size", who)
        width_mult = check_positive(width_mult, "width_mult", who)
        pools = sum(1 for c in cfg if c == "A")
        if img_size % (2**pools):
            raise ConfigError(
                f"{who}: img_size must be divisible by {2**pools} ({pools} poolings), got {img_size}"
            )
        check_choice(norm, "norm", who, NORMS)
        kw = dict(neuron_kwargs or {})
        clash = sorted(set(kw) & {"channels", "coupling", "kernel_size", "ndim"})
        if neuron == "pcnn" and clash:
            raise ConfigError(
                f"{who}: neuron_kwargs may not set {clash}; the model sets them per layer "
                "(use the model's coupling / coupling_kernel / fc_coupling arguments)"
            )
        self.neuron_name = neuron

        def make_neuron(channels: int, ndim: int, coupling_mode: str) -> nn.Module:
            if neuron == "pcnn":
                return PCNN(channels, coupling_mode, coupling_kernel, ndim, **kw)
            return zoo.create_neuron(neuron, **kw)

        layers: list[nn.Module] = []
        c_in, size = in_chans, img_size
        for c in cfg:
            if c == "A":
                layers.append(StepWise(nn.AvgPool2d(2)))
                size //= 2
                continue
            c_out = max(1, round(check_positive_int(c, "cfg[i]", who) * width_mult))
            conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
            layers.append(SpikingBlock(conv, make_norm(norm, c_out, T), make_neuron(c_out, 3, coupling)))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        flat = c_in * size * size
        head: list[nn.Module] = []
        if fc_hidden is not None:
            fc = nn.Linear(flat, fc_hidden, bias=False)
            head.append(
                SpikingBlock(fc, make_norm(norm, fc_hidden, T), make_neuron(fc_hidden, 1, fc_coupling))
            )
            flat = fc_hidden
        head.append(nn.Linear(flat, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward_steps(self, x: Tensor) -> Tensor:
        """Per-step logits ``[T, B, num_classes]``."""
        seq = self.encode(x)
        if tuple(seq.shape[-2:]) != (self.img_size, self.img_size):
            raise InputError(
                f"{type(self).__name__}: expected {self.img_size}x{self.img_size} images, got shape "
                f"{tuple(x.shape)}; build the model with img_size={seq.shape[-1]}"
            )
        return self.classifier(self.features(seq).flatten(2))


__all__ = ["VGG9", "VGGSNN", "SpikingBlock", "make_norm"]
