r"""The base of every LM-HT classifier: configuration checks, the neuron factory and the readout.

:class:`LMHTNet` is a :class:`zoo_core.sdk.SpikingClassifier` (keyword-only ``T`` / ``num_classes`` / ``in_chans``
/ ``img_size`` checks, logits = mean over time of :meth:`~LMHTNet.forward_steps`, timm's head API through
``head_name``) with the LM-HT arguments ``L`` (threshold levels) and ``mode``:

``mode="lmht"``
    the training network: every activation an :class:`~zoo_lmht.neurons.LMHTNeuron` (:math:`\theta = 2/L`,
    initial membrane 0 for direct training), ``T`` steps.
``mode="inference"``
    the skeleton of the reparameterised network (:func:`zoo_lmht.reparam.reparameterize`): ``T' = L T`` steps
    of :class:`~zoo_lmht.neurons.LMHTInferenceNeuron`, so ``model.T`` is ``L * T`` and ``model.T_train`` is
    ``T``; a reparameterised state dict loads into it.

The hybrid-training backbones (:mod:`zoo_lmht.hybrid`) add ``mode="ann"`` and ``mode="if"``.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from zoo_core.sdk import InputError, SpikingClassifier, check_choice, check_positive_int

from .neurons import LMHTInferenceNeuron, LMHTNeuron

__all__ = ["LMHTNet"]


class LMHTNet(SpikingClassifier):
    """Shared: configuration checks, the neuron factory, readout (keyword-only arguments as in
    :class:`zoo_core.sdk.SpikingClassifier`, plus ``L`` and ``mode``; ``img_size`` must be an int here)."""

    modes: ClassVar[tuple[str, ...]] = ("lmht", "inference")

    def __init__(self, *, T: int, L: int, num_classes: int, in_chans: int, img_size: int, mode: str) -> None:
        who = type(self).__name__
        check_choice(mode, "mode", who, self.modes)
        super().__init__(
            T=T,
            num_classes=num_classes,
            in_chans=in_chans,
            img_size=check_positive_int(img_size, "img_size", who),
        )
        self.mode = mode
        self.T_train = self.T
        self.L = check_positive_int(L, "L", who)
        if mode == "inference":
            self.T = self.L * self.T_train

    def neuron(self, v_threshold: float | None, init_mem: float, rank: int = 5) -> nn.Module:
        """The activation of this mode: an LM-HT neuron (``v_threshold=None``: :math:`2/L`) for inputs of
        ``rank`` dimensions, or its inference neuron over ``L T`` steps."""
        if self.mode == "inference":
            th = 2.0 / self.L if v_threshold is None else v_threshold
            return LMHTInferenceNeuron(self.L, self.L * self.T_train, th, 0.0)
        # conv neurons see [T, B, C, H, W] and use `mask`; `mask_linear` is kept (state-dict layout) but frozen,
        # as it never receives a gradient in the official code either. Classifier neurons (rank 3) use
        # `mask_linear`, indexed along time only (the official [T, T, 1, 1, 1] shape mis-broadcasts on [T, B, N]).
        return LMHTNeuron(self.L, self.T_train, v_threshold, init_mem, input_rank=rank)

    def _sequence(self, x: Tensor) -> Tensor:
        """The input as ``[T, B, C, H, W]``; a frame sequence must have exactly ``T`` steps."""
        seq = self.encode(x)
        if seq.shape[0] != self.T:
            raise InputError(
                f"{type(self).__name__}: this SNN runs T={self.T} time steps (its neurons mix all steps); got a "
                f"sequence of {seq.shape[0]} frames"
            )
        return seq

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, T={self.T}, L={self.L}"
