r"""The base of the QCFS architectures: modes, input handling, the activation factory, timm's head API and the
official-checkpoint hooks.

One class per architecture family (:mod:`.vgg`, :mod:`.resnet`, :mod:`.digits`), three modes (constructor
argument ``mode``):

``"ann"`` (default)
    the QCFS ANN (activation :class:`zoo_core.sdk.QCFS` with ``T`` levels, clip ``up``), what is trained.
    A static image ``[B, C, H, W]`` runs once; frames ``[T', B, C, H, W]`` run per frame and the logits are
    averaged over time.
``"parallel"``
    the parallel SNN: every QCFS replaced by a :class:`~zoo_parallel_conversion.neurons.ParallelIF` (or, for
    ``is_cab=True`` conv layers, a :class:`~zoo_parallel_conversion.neurons.ChannelwiseParallelIF`). The image
    is repeated ``T`` times and the network runs on the time-folded batch ``[T*B, ...]`` like the official code;
    logits are the mean over ``T``.
``"if"``
    the sequential IF baseline (:class:`zoo_core.sdk.ConversionIF`, :math:`\theta = \lambda`,
    initial membrane :math:`\lambda/2`), same layout.

Usually one builds the ANN and converts it: ``zoo.create_learning_rule("parallel_conversion").convert(ann)``
returns the same class in ``"parallel"`` mode with the thresholds of the ANN. Building ``mode="parallel"``
directly gives the SNN's skeleton, into which SNN weights (e.g. a weight tag) load.

State-dict keys are the official ones, so official checkpoints load as they are (``zoo.from_official`` also
accepts LM-HT's ``thresh`` naming); the converted SNN's keys are those of the official converted model
(``TxT``/``bias`` per ``ParaInfNeuron``; ``pre_th``/``post_th``/``TxT``/``bias`` per ``ParaInfNeuron_CW_ND``).
Parameter counts equal the official builders' (listed in the plugin's README and asserted in its tests).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from zoo_core.sdk import (
    QCFS,
    ConfigError,
    ConversionIF,
    InputError,
    SpikingClassifier,
    check_choice,
    unwrap_state_dict,
)

from ..calibration import DAQCFS
from ..neurons import ChannelwiseParallelIF, ParallelIF

__all__ = ["MODES", "UP_INIT", "QCFSNet", "from_official", "official_config"]

MODES = ("ann", "parallel", "if")
#: initial QCFS clip (official ``up=8.``)
UP_INIT = 8.0


class QCFSNet(SpikingClassifier):
    """Base of the QCFS architectures: mode handling, input encoding, the activation factory and timm's head
    API on the time-folded network (see the module docstring).

    Args (keyword-only, besides :class:`zoo_core.sdk.SpikingClassifier`'s ``T``, ``num_classes``,
    ``in_chans``, ``img_size``):
        is_cab: distribution-aware layers (DA-QCFS in the ANN, channel-wise neurons in the SNN) on conv maps.
        mode: ``"ann"``, ``"parallel"`` or ``"if"``.
        up_init: initial QCFS clip lambda (also the initial threshold of an SNN skeleton).

    A subclass builds its layers with :meth:`act` and implements :meth:`forward_net`.
    """

    def __init__(
        self,
        *,
        T: int,
        num_classes: int,
        in_chans: int,
        img_size: int,
        is_cab: bool,
        mode: str,
        up_init: float = UP_INIT,
    ) -> None:
        super().__init__(T=T, num_classes=num_classes, in_chans=in_chans, img_size=img_size)
        self.mode = check_choice(mode, "mode", type(self).__name__, MODES)
        self.is_cab = bool(is_cab)
        self.up_init = float(up_init)

    # -- activations -------------------------------------------------------------------------------------
    def act(self, channels: int, conv: bool = True) -> nn.Module:
        """The activation of one layer for the current mode (``conv``: on [B, C, H, W] maps)."""
        T, cab = self.T, self.is_cab and conv
        if self.mode == "ann":
            if cab:
                return DAQCFS(channels, levels=T, threshold=self.up_init)
            return QCFS(levels=T, threshold=self.up_init, param_name="up")
        if self.mode == "if":
            return ConversionIF(self.up_init, init_mem=0.5, fold_T=T)
        if cab:
            return ChannelwiseParallelIF(T, pre_th=self.up_init, channels=channels, folded=True)
        return ParallelIF(T, v_threshold=self.up_init, init_mem=0.5, folded=True)

    # -- forward -------------------------------------------------------------------------------------------
    def forward_net(self, x: Tensor) -> Tensor:
        """The official network: ``[N, C, H, W] -> [N, num_classes]`` (N = B for the ANN, T*B for the SNN)."""
        raise NotImplementedError

    def _single_pass(self, x: Any) -> bool:
        """Whether ``x`` runs through the network once: a static image given to the ANN."""
        return self.mode == "ann" and isinstance(x, Tensor) and x.dim() == 4

    def _folded(self, x: Any) -> tuple[Tensor, int]:
        """The input as a time-folded batch ``[t*B, C, H, W]`` (time outer) and ``t``; an SNN needs ``t = T``."""
        seq = self.encode(x)
        if self.mode != "ann" and seq.shape[0] != self.T:
            raise InputError(
                f"{type(self).__name__}: this {self.mode} SNN runs T={self.T} time steps; got a sequence of "
                f"{seq.shape[0]} frames (build it with T={seq.shape[0]} or resample the frames)"
            )
        t, b = seq.shape[:2]
        return seq.reshape(t * b, *seq.shape[2:]), t

    def _network_input(self, x: Any) -> tuple[Tensor, int]:
        """What the network runs on: a static image given to the ANN as it is (``t = 1``), else
        :meth:`_folded`."""
        if self._single_pass(x):
            self.encode(x, 1)  # validation only
            return x, 1
        return self._folded(x)

    def forward_steps(self, x: Tensor) -> Tensor:
        """Per-step logits ``[T, B, num_classes]`` (the ANN: per frame; a static image is repeated T times)."""
        net_in, t = self._folded(x)
        return self.forward_net(net_in).view(t, net_in.shape[0] // t, -1)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, num_classes]``: the mean over time of :meth:`forward_steps` (ANN, static input: one pass)."""
        if self._single_pass(x):
            return self.forward_net(self._network_input(x)[0])
        return self.forward_steps(x).mean(0)

    # -- timm's head API on the time-folded network ----------------------------------------------------------
    def forward_features(self, x: Tensor) -> Tensor:
        """What the head receives, per step: ``[t, B, ...]`` (``t = 1`` for a static image given to the ANN,
        which runs once). ``forward_head(forward_features(x))`` equals ``forward(x)``."""
        net_in, t = self._network_input(x)
        captured: list[Tensor] = []
        handle = self.head_module().register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
        try:
            self.forward_net(net_in)
        finally:
            handle.remove()
        if len(captured) != 1:
            raise ConfigError(
                f"{type(self).__name__}: the head ran {len(captured)} times in one forward pass"
            )
        return captured[0].unflatten(0, (t, -1))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Logits ``[B, num_classes]`` from :meth:`forward_features`: the head runs on the time-folded
        features (its neurons see all steps) and the logits are averaged over the steps."""
        if pre_logits:
            return x
        t = x.shape[0]
        out = self.head_module()(x.flatten(0, 1))
        return out.view(t, out.shape[0] // t, -1).mean(0)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, T={self.T}, is_cab={self.is_cab}"


# ------------------------------------------------------------------------------------------------ official
def from_official(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Official checkpoint -> zoo layout (the core has already unwrapped ``{"model": ...}`` and ``module.``).

    The layouts are identical; this only renames LM-HT's QCFS clip ``*.thresh`` to ``*.up`` so the
    hybrid-training ANN checkpoints (same architecture) load too.
    """
    out = {}
    for k, v in state_dict.items():
        if k.endswith(".thresh") and k[: -len(".thresh")] + ".up" not in state_dict:
            k = k[: -len(".thresh")] + ".up"
        out[k] = v
    return out


def official_config(state_dict: dict[str, Tensor]) -> dict[str, Any]:
    """Constructor overrides implied by an official state dict: ``num_classes``, ``in_chans``, ``is_cab``
    (``rec_*`` buffers present) and, for VGG-16, ``img_size`` (classifier input 512 -> 32, 25088 -> 224).
    ``T`` is not stored in official checkpoints; pass it yourself. A wrapped checkpoint (``{"model": ...}``,
    ``module.`` prefixes) is unwrapped first."""
    state_dict = unwrap_state_dict(state_dict)
    cfg: dict[str, Any] = {"is_cab": any(k.endswith("rec_in_mean") for k in state_dict)}
    head = next((k for k in ("fc.weight", "classifier.7.weight") if k in state_dict), None)
    if head is not None:
        cfg["num_classes"] = int(state_dict[head].shape[0])
    stem = next((k for k in ("conv1.0.weight", "layer1.0.weight") if k in state_dict), None)
    if stem is not None:
        cfg["in_chans"] = int(state_dict[stem].shape[1])
    if "classifier.1.weight" in state_dict and "layer5.0.weight" in state_dict:
        c5 = int(state_dict["layer5.0.weight"].shape[0])
        side = round((int(state_dict["classifier.1.weight"].shape[1]) / c5) ** 0.5)
        cfg["img_size"] = 32 * max(1, side)
    return cfg
