"""``spiking_cnn``: the core's small reference classifier.

A plain convolutional SNN for 1- or 3-channel images that takes any registered neuron by name. The demo
weights, the neuron benchmark and the tests use it. Layer order, per stage ``i``::

    [T,B,C,H,W] -> Conv3x3(C_{i-1} -> C_i, no bias) -> BN (over T*B) -> neuron -> MaxPool 2x2
    ... -> AdaptiveMaxPool(2) -> flatten -> Linear(4 C_last -> num_classes) -> mean over T

A static image ``[B,C,H,W]`` is repeated ``T`` times (direct coding); ``[T,B,C,H,W]`` frames are used as is.
Max pooling keeps spikes binary, so every layer after the first conv is fed by spikes (synaptic operations,
not multiply-accumulates, in :func:`zoo_core.profile`).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from ..errors import ConfigError
from ..layers import StepWise
from ..plugins import create
from .base import SpikingClassifier


class SpikingCNN(SpikingClassifier):
    """Small convolutional SNN.

    Args:
        num_classes: number of output classes.
        in_chans: input channels (1 or 3; any positive number works).
        img_size: input height/width (informational: the head pools to 2x2, so any size >= 4 works).
        T: time steps a static image is repeated for.
        channels: output channels of each conv stage.
        neuron: registered neuron name (``zoo.list_neurons()``).
        neuron_kwargs: arguments of that neuron (e.g. ``{"tau": 2.0}``).
    """

    head_name = "head"

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_chans: int = 1,
        img_size: int = 8,
        T: int = 4,
        channels: tuple[int, ...] | list[int] = (16, 32),
        neuron: str = "lif",
        neuron_kwargs: dict[str, Any] | None = None,
    ):
        super().__init__(T=T, num_classes=num_classes, in_chans=in_chans, img_size=img_size)
        if not channels or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in channels):
            raise ConfigError(
                f"SpikingCNN: channels must be a non-empty list of positive ints, got {channels!r}"
            )
        layers: list[nn.Module] = []
        c_in = in_chans
        for c in channels:
            layers += [
                StepWise(nn.Conv2d(c_in, int(c), 3, padding=1, bias=False), nn.BatchNorm2d(int(c))),
                create("neuron", neuron, **(neuron_kwargs or {})),
                StepWise(nn.MaxPool2d(2, ceil_mode=True)),
            ]
            c_in = int(c)
        self.features = nn.Sequential(*layers)
        self.pool = StepWise(nn.AdaptiveMaxPool2d(2), nn.Flatten(1))
        self.head = StepWise(nn.Linear(4 * c_in, num_classes))

    @property
    def feature_info(self) -> list[dict[str, Any]]:
        """The stages, timm's way (``features_only=True`` through :func:`zoo_core.register_with_timm`): the
        output of each conv stage, spikes after its 2x2 max pool, ``[T, B, C_i, H / 2^i, W / 2^i]``."""
        convs = [m for m in self.features.modules() if isinstance(m, nn.Conv2d)]
        return [
            {"module": f"features.{3 * i + 2}", "num_chs": conv.out_channels, "reduction": 2 ** (i + 1)}
            for i, conv in enumerate(convs)
        ]

    def forward_steps(self, x: Tensor) -> Tensor:
        """Per-step logits ``[T, B, num_classes]``."""
        return self.head(self.pool(self.features(self.encode(x))))
