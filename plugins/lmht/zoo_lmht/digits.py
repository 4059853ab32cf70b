"""``lmht_cnn_digits``: the plugin's small demo CNN for 8x8 digits (weights ``lmht_cnn_digits.digits_t2``)."""

from __future__ import annotations

from torch import Tensor, nn

from zoo_core.sdk import ConfigError, SeqStepWise

from .base import LMHTNet

__all__ = ["LMHTDigitsCNN"]


class LMHTDigitsCNN(LMHTNet):
    """Small LM-HT CNN for 8x8 digits: per-step conv3x3(1->c1)+BN -> LM-HT -> AvgPool2 -> conv3x3(c1->c2)+BN ->
    LM-HT -> AvgPool2 -> Linear(4 c2, classes); the image is repeated ``T`` times before the first conv;
    direct-training neurons (:math:`\\theta = 2/L`, initial membrane 0).

    Args (keyword-only):
        T, L, num_classes, in_chans, img_size, mode: see :class:`~zoo_lmht.base.LMHTNet` (``img_size`` a
            multiple of 4).
        channels: the two conv widths ``(c1, c2)``.
    """

    head_name = "classifier"

    def __init__(
        self,
        *,
        T: int = 2,
        L: int = 2,
        num_classes: int = 10,
        in_chans: int = 1,
        img_size: int = 8,
        channels: tuple[int, int] | list[int] = (16, 32),
        mode: str = "lmht",
    ) -> None:
        super().__init__(T=T, L=L, num_classes=num_classes, in_chans=in_chans, img_size=img_size, mode=mode)
        who = type(self).__name__
        if len(channels) != 2 or any(isinstance(c, bool) or int(c) < 1 for c in channels):
            raise ConfigError(f"{who}: channels must be two positive ints, got {channels!r}")
        if img_size < 4 or img_size % 4:
            raise ConfigError(f"{who}: img_size must be a multiple of 4, got {img_size}")
        c1, c2 = (int(c) for c in channels)
        self.features = nn.Sequential(
            SeqStepWise(nn.Conv2d(in_chans, c1, 3, padding=1, bias=False), nn.BatchNorm2d(c1)),
            self.neuron(None, 0.0),
            SeqStepWise(nn.AvgPool2d(2)),
            SeqStepWise(nn.Conv2d(c1, c2, 3, padding=1, bias=False), nn.BatchNorm2d(c2)),
            self.neuron(None, 0.0),
            SeqStepWise(nn.AvgPool2d(2)),
        )
        side = img_size // 4
        self.classifier = SeqStepWise(nn.Flatten(), nn.Linear(c2 * side * side, num_classes))
        if mode == "inference":
            self.features[1].scale = 1.0 / self.L

    def stem_sites(self) -> tuple[list[nn.Module], list[str]]:
        return [self.features[0][1]], ["features.1"]

    def forward_steps(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(self._sequence(x)))
