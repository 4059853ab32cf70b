r"""The backbones of LM-HT hybrid training (official ``ann_models``): ResNet-20, VGG-16 and VGG-13.

One module tree, four modes (``mode``):

``ann``
    the QCFS ANN (:class:`zoo_core.sdk.QCFS`, clip parameter ``thresh``, init 8, ``levels`` quantisation steps);
``if``
    the converted IF SNN (:class:`zoo_core.sdk.ConversionIF`, :math:`\rho = 1/2`; the official pipeline
    evaluates it at ``T = 16``);
``lmht``
    the LM-HT SNN of hybrid training (:math:`\rho = 1/2`, the first neuron has ``scale = L``);
``inference``
    the skeleton of the reparameterised LM-HT SNN.

In the SNN modes every conv / BN / linear / pool is wrapped in a per-step container, so keys gain ``.0``
(``conv1.0.0.weight``, ``fc.0.weight``) as in the official converted model (``replace_layer_by_snn_layer``).
:class:`LMHTResNet20` is ``lmht_resnet20`` (official ``ann_models.ResNet.resnet20`` = ``ResNet4Cifar``, first
neuron ``conv1.2``); :class:`LMHTHybridVGG` is ``lmht_vgg16`` (``cfg="vgg16"``) and ``lmht_vgg13_hybrid``
(``cfg="vgg13"``, official ``ann_models.VGG.vgg13``: groups ``[64,64,M] [128,128,M] [256,256,M] [512,512,M]
[512,512,M]``), first neuron ``layer1.2``. The ANN's forward is its own (no time axis for images).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from zoo_core.sdk import (
    QCFS,
    VGG13_CFG,
    VGG16_CFG,
    ConversionIF,
    SeqStepWise,
    check_choice,
    check_positive,
    check_positive_int,
    init_qcfs_vgg,
    qcfs_resnet_stages,
    qcfs_vgg_groups,
    scaled_width,
    wrap_stepwise,
)

from .base import LMHTNet

__all__ = ["LMHTHybridNet", "LMHTHybridVGG", "LMHTResNet20"]


class LMHTHybridNet(LMHTNet):
    """Base of the hybrid-training backbones: one module tree, four modes (see the module docstring).

    ``ann``: QCFS activations (clip ``thresh``); ``if``: :class:`~zoo_core.sdk.ConversionIF`
    (:math:`\\rho = 1/2`); ``lmht``: :class:`~zoo_lmht.neurons.LMHTNeuron` (:math:`\\rho = 1/2`, first neuron
    ``scale = L``); ``inference``: the reparameterised skeleton. In the SNN modes every stateless layer is
    wrapped per step (keys gain ``.0``) exactly as ``replace_layer_by_snn_layer`` does."""

    modes = ("ann", "if", "lmht", "inference")
    first_neuron: ClassVar[str] = ""

    def _setup(self, levels: int, thresh: float) -> None:
        who = type(self).__name__
        self.levels = check_positive_int(levels, "levels", who)
        self.thresh = check_positive(thresh, "thresh", who)

    def _act(self, rank: int = 5) -> nn.Module:
        if self.mode == "ann":
            return QCFS(levels=self.levels, threshold=self.thresh, param_name="thresh")
        if self.mode == "if":
            return ConversionIF(self.thresh, init_mem=0.5)
        return self.neuron(self.thresh, 0.5, rank)

    def neuron_rank(self, name: str) -> int:
        """Rank of the input the activation at ``name`` sees in the SNN (classifier: ``[T, B, N]``)."""
        return 3 if name.startswith("classifier") else 5

    def _finish(self) -> None:
        if self.mode != "ann":
            wrap_stepwise(self, wrapper=SeqStepWise)
        first = self.get_submodule(self.first_neuron)
        if self.mode == "lmht":
            first.scale = float(self.L)
        elif self.mode == "inference":
            first.scale = 1.0

    def forward_net(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def forward_steps(self, x: Tensor) -> Tensor:
        """Per-step logits ``[T, B, num_classes]`` (ANN: per frame)."""
        if self.mode == "ann":
            seq = self.encode(x, 1)
            t, b = seq.shape[:2]
            return self.forward_net(seq.flatten(0, 1)).unflatten(0, (t, b))
        return self.forward_net(self._sequence(x))

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, num_classes]``: the ANN's own output for an image (``mode="ann"``), else the mean over
        time of :meth:`forward_steps`."""
        if self.mode == "ann" and isinstance(x, Tensor) and x.dim() == 4:
            self.encode(x, 1)  # validation
            return self.forward_net(x)
        return self.forward_steps(x).mean(0)

    def forward_features(self, x: Tensor) -> Tensor:
        """What the head receives: ``[T, B, num_features]`` per step; ANN: ``[B, num_features]`` for an image
        (``[T', B, num_features]`` for ``T'`` frames, each run through the ANN)."""
        feats = super().forward_features(x)
        if self.mode == "ann" and not (isinstance(x, Tensor) and x.dim() == 4):
            feats = feats.unflatten(0, tuple(self.encode(x, 1).shape[:2]))
        return feats

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Logits from :meth:`forward_features` (ANN features of an image ``[B, N]``: the head's output)."""
        if not pre_logits and self.mode == "ann" and x.dim() == 2:
            return self.head_module()(x)
        return super().forward_head(x, pre_logits)


def _unwrap(m: nn.Module) -> nn.Module:
    return m[0] if isinstance(m, SeqStepWise) else m


class LMHTResNet20(LMHTHybridNet):
    """ResNet-20 of the hybrid pipeline (official ``ann_models.ResNet.resnet20`` = ``ResNet4Cifar``): stem
    ``conv1`` (conv3x3 + BN + act), the QCFS-code stages ``conv2_x..conv4_x`` (16/32/64 channels, 3 blocks each),
    global average pooling, ``fc``.

    Args (keyword-only):
        T, L, num_classes, in_chans, img_size, mode: see :class:`~zoo_lmht.base.LMHTNet` (modes ``ann``,
            ``if``, ``lmht``, ``inference``).
        levels: QCFS quantisation steps of the ANN.
        thresh: initial QCFS clip; the threshold of the IF / LM-HT neurons built directly in those modes.
        width_mult: channel multiplier (1 = official).
    """

    first_neuron = "conv1.2"
    head_name = "fc"

    def __init__(
        self,
        *,
        T: int = 2,
        L: int = 2,
        num_classes: int = 100,
        levels: int = 8,
        thresh: float = 8.0,
        in_chans: int = 3,
        img_size: int = 32,
        width_mult: float = 1.0,
        mode: str = "lmht",
    ) -> None:
        super().__init__(T=T, L=L, num_classes=num_classes, in_chans=in_chans, img_size=img_size, mode=mode)
        self._setup(levels, thresh)
        self.width_mult = check_positive(width_mult, "width_mult", type(self).__name__)
        widths = [scaled_width(w, self.width_mult) for w in (16, 32, 64)]
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_chans, widths[0], kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            self._act(),
        )
        # the QCFS-code stages, every activation built by this mode's factory
        stages = qcfs_resnet_stages(lambda _c: self._act(), widths[0], widths, (3, 3, 3))
        self.conv2_x, self.conv3_x, self.conv4_x = stages
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[2], num_classes)
        self._finish()

    def stem_sites(self) -> tuple[list[nn.Module], list[str]]:
        return [_unwrap(self.conv1[1])], ["conv1.2"]

    def forward_net(self, x: Tensor) -> Tensor:
        out = self.conv4_x(self.conv3_x(self.conv2_x(self.conv1(x))))
        out = self.avg_pool(out)
        return self.fc(torch.flatten(out, out.dim() - 3))


#: the hybrid (ann_models) VGGs are the QCFS-code VGG-16 / VGG-13, not the direct-training VGG-13
HYBRID_VGG_CFG = {"vgg16": VGG16_CFG, "vgg13": VGG13_CFG}


class LMHTHybridVGG(LMHTHybridNet):
    """VGG of the hybrid pipeline (official ``ann_models.VGG.vgg16`` / ``vgg13``): groups of conv3x3 (bias) + BN
    + act + Dropout, AvgPool 2x2 after each group; classifier (CIFAR) Dropout -> Linear(512, 4096) -> act ->
    Dropout -> Linear(4096, 4096) -> act -> Dropout -> Linear(4096, classes); ``num_classes=200``:
    Linear(2048, 4096) first (no leading Dropout); ``1000``: Linear(25088, 4096) first. Official initialisation.

    Args (keyword-only):
        T, L, num_classes, in_chans, img_size, mode: see :class:`~zoo_lmht.base.LMHTNet` (modes ``ann``,
            ``if``, ``lmht``, ``inference``; ``img_size`` is informational).
        levels, thresh, width_mult: as :class:`LMHTResNet20`.
        dropout: dropout probability of the groups and the classifier.
        cfg: ``"vgg16"`` or ``"vgg13"`` (the group layout).
    """

    first_neuron = "layer1.2"
    head_name = "classifier"

    def __init__(
        self,
        *,
        T: int = 2,
        L: int = 2,
        num_classes: int = 100,
        levels: int = 8,
        thresh: float = 8.0,
        dropout: float = 0.0,
        in_chans: int = 3,
        img_size: int = 32,
        width_mult: float = 1.0,
        mode: str = "lmht",
        cfg: str = "vgg16",
    ) -> None:
        super().__init__(T=T, L=L, num_classes=num_classes, in_chans=in_chans, img_size=img_size, mode=mode)
        who = type(self).__name__
        self._setup(levels, thresh)
        self.cfg = check_choice(cfg, "cfg", who, HYBRID_VGG_CFG)
        self.width_mult = check_positive(width_mult, "width_mult", who)
        groups, c_in = qcfs_vgg_groups(
            HYBRID_VGG_CFG[cfg], in_chans, lambda _c: self._act(), dropout, self.width_mult
        )
        for i, group in enumerate(groups, 1):
            setattr(self, f"layer{i}", group)
        h = scaled_width(4096, self.width_mult)
        lead: list[nn.Module] = []
        if num_classes == 1000:
            feat = c_in * 7 * 7
        elif num_classes == 200:
            feat = c_in * 2 * 2
        else:
            feat, lead = c_in, [nn.Dropout(dropout)]
        self.classifier = nn.Sequential(
            *lead,
            nn.Linear(feat, h),
            self._act(3),
            nn.Dropout(dropout),
            nn.Linear(h, h),
            self._act(3),
            nn.Dropout(dropout),
            nn.Linear(h, num_classes),
        )
        init_qcfs_vgg(self)
        self._finish()

    def stem_sites(self) -> tuple[list[nn.Module], list[str]]:
        return [_unwrap(self.layer1[0]), _unwrap(self.layer1[1])], ["layer1.2"]

    def forward_net(self, x: Tensor) -> Tensor:
        out = self.layer5(self.layer4(self.layer3(self.layer2(self.layer1(x)))))
        return self.classifier(torch.flatten(out, out.dim() - 3))
