r"""LM-HT VGGs for direct STBP training (official ``models/VGG.py``): VGG-13 and CIFARNet.

One class, :class:`LMHTVGG`, builds both (registered in :mod:`zoo_lmht.plugin`):

``lmht_vgg13`` (``cfg="vgg13"``; ImageNet-200 head by default, the paper's setting)
    groups ``[64,64,M] [128,128,M] [256,256,M] [512,512,512,M] [512,MM]`` of per-step (conv3x3 with bias + BN)
    -> neuron -> Dropout, ``M`` = AvgPool 2x2, ``MM`` = global average pooling.
``lmht_cifarnet`` (``cfg="cifarnet"``, official ``cifarnet``)
    groups ``[128] [256,M] [512,M] [1024] [512]``, classifier Linear(512*8*8, 1024) -> neuron -> Dropout ->
    Linear(1024, 512) -> neuron -> Dropout -> Linear(512, classes) (keys ``classifier.{0,3,6}.0``, neurons
    ``classifier.{1,4}``); 45,007,882 + 70 parameters for CIFAR-10 at T = 2.

The image is repeated ``T`` times before the first conv. The classifier neurons see ``[T, B, N]`` and use
``mask_linear`` along time only (the released ``[T, T, 1, 1, 1]`` shape mis-broadcasts there, so the released
code cannot run these classifiers).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from zoo_core.sdk import ConfigError, SeqStepWise, check_choice, check_positive, init_qcfs_vgg, scaled_width

from .base import LMHTNet

__all__ = ["LMHTVGG", "VGG_CFG"]

#: group layouts of the direct-training VGGs (``M``: AvgPool 2x2, ``MM``: global average pooling)
VGG_CFG = {
    "vgg13": ([64, 64, "M"], [128, 128, "M"], [256, 256, "M"], [512, 512, 512, "M"], [512, "MM"]),
    "cifarnet": ([128], [256, "M"], [512, "M"], [1024], [512]),
}


class LMHTVGG(LMHTNet):
    """LM-HT VGG for direct training (official ``models.VGG.VGG``).

    ``cfg="vgg13"``: classifier ``num_classes=200`` (ImageNet-200): one Linear(512, 200) (keys
    ``classifier.0.*``); ``1000``: Linear(25088, 4096) first (as released; it does not fit the pooled 512
    features); otherwise Linear(512, 4096) -> neuron -> Dropout -> Linear(4096, 4096) -> neuron -> Dropout ->
    Linear(4096, classes). ``cfg="cifarnet"``: the CIFARNet classifier (see the module docstring; ``img_size``
    must be a multiple of 4).

    Args (keyword-only):
        T, L, num_classes, in_chans, img_size, mode: see :class:`~zoo_lmht.base.LMHTNet`.
        dropout: dropout probability of the groups and the classifier.
        width_mult: channel multiplier (1 = official).
        cfg: ``"vgg13"`` or ``"cifarnet"`` (:data:`VGG_CFG`).
    """

    head_name = "classifier"

    def __init__(
        self,
        *,
        T: int = 2,
        L: int = 2,
        num_classes: int = 200,
        dropout: float = 0.0,
        in_chans: int = 3,
        img_size: int = 64,
        width_mult: float = 1.0,
        mode: str = "lmht",
        cfg: str = "vgg13",
    ) -> None:
        super().__init__(T=T, L=L, num_classes=num_classes, in_chans=in_chans, img_size=img_size, mode=mode)
        who = type(self).__name__
        self.cfg = check_choice(cfg, "cfg", who, VGG_CFG)
        self.width_mult = check_positive(width_mult, "width_mult", who)
        c_in = in_chans
        for i, group in enumerate(VGG_CFG[cfg], 1):
            layers: list[nn.Module] = []
            for v in group:
                if v == "M":
                    layers.append(SeqStepWise(nn.AvgPool2d(kernel_size=2, stride=2)))
                elif v == "MM":
                    layers.append(SeqStepWise(nn.AdaptiveAvgPool2d((1, 1))))
                else:
                    c = scaled_width(int(v), self.width_mult)
                    layers += [
                        SeqStepWise(nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c)),
                        self.neuron(None, 0.0),
                        SeqStepWise(nn.Dropout(dropout)),
                    ]
                    c_in = c
            setattr(self, f"layer{i}", nn.Sequential(*layers))
        self.classifier: nn.Module
        if cfg == "cifarnet":  # official: 512*8*8 -> 1024 -> 512 -> classes (two AvgPools: img_size / 4)
            if img_size % 4:
                raise ConfigError(f"{who}: img_size must be a multiple of 4, got {img_size}")
            feat = c_in * (img_size // 4) ** 2
            self.classifier = self._mlp(
                feat, scaled_width(1024, self.width_mult), scaled_width(512, self.width_mult), dropout
            )
        elif num_classes == 200:
            self.classifier = SeqStepWise(nn.Linear(c_in, num_classes))
        else:
            feat = c_in * 7 * 7 if num_classes == 1000 else c_in
            h = scaled_width(4096, self.width_mult)
            self.classifier = self._mlp(feat, h, h, dropout)
        init_qcfs_vgg(self)
        if mode == "inference":
            self.layer1[1].scale = 1.0 / self.L

    def _mlp(self, feat: int, h1: int, h2: int, dropout: float) -> nn.Sequential:
        """Per-step Linear(feat, h1) -> neuron -> Dropout -> Linear(h1, h2) -> neuron -> Dropout -> Linear(h2,
        classes) (keys ``classifier.{0,3,6}.0``, neurons ``classifier.{1,4}`` seeing ``[T, B, N]``)."""
        return nn.Sequential(
            SeqStepWise(nn.Linear(feat, h1)),
            self.neuron(None, 0.0, 3),
            SeqStepWise(nn.Dropout(dropout)),
            SeqStepWise(nn.Linear(h1, h2)),
            self.neuron(None, 0.0, 3),
            SeqStepWise(nn.Dropout(dropout)),
            SeqStepWise(nn.Linear(h2, self.num_classes)),
        )

    def stem_sites(self) -> tuple[list[nn.Module], list[str]]:
        """Official ``main.py``: ``layer1[0][0].bias``, ``layer1[0][1].bias`` / ``running_mean`` times L,
        ``layer1[1].scale = 1/L``."""
        return [self.layer1[0][0], self.layer1[0][1]], ["layer1.1"]

    def forward_steps(self, x: Tensor) -> Tensor:
        out = self._sequence(x)
        out = self.layer5(self.layer4(self.layer3(self.layer2(self.layer1(out)))))
        return self.classifier(torch.flatten(out, 2))
