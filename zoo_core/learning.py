"""Learning-rule contract.

A learning rule is how a model gets its weights: a training algorithm (surrogate-gradient BPTT, online
learning), a conversion (ANN -> SNN) or a regulariser added to a training step. Rules are registered by name
(``zoo.create_learning_rule("bptt")``) and share this small interface so the training tool can drive any of them.

* :class:`TrainingRule` -- ``prepare(model)`` once, then ``training_step(model, batch, optimizer)`` per batch,
  returning a dict of Python floats (at least ``loss``).
* :class:`ConversionRule` -- ``convert(ann, calibration=None)`` returns a new SNN and fills ``record`` with
  what it did (layers replaced, thresholds chosen, ...).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import ConfigError


class LearningRule:
    """Base class of every learning rule."""

    category: str = "other"

    def __init__(self) -> None:
        self.record: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items() if k != 'record')})"


class TrainingRule(LearningRule):
    """A training algorithm: ``prepare`` once, then ``training_step`` per batch."""

    category = "training"
    #: whether ``training_step`` takes soft targets ``[B, classes]`` (mixup/cutmix) besides class indices
    soft_targets = False

    def prepare(self, model: nn.Module) -> nn.Module:
        """Adapt ``model`` before training (default: unchanged)."""
        return model

    def training_step(
        self, model: nn.Module, batch: tuple[Tensor, Tensor], optimizer: torch.optim.Optimizer
    ) -> dict[str, float]:
        raise NotImplementedError


class ConversionRule(LearningRule):
    """An ANN-to-SNN conversion: ``convert(ann, calibration)`` returns the SNN.

    Contract: ``ann`` is left unchanged (convert a copy); ``calibration`` is an iterable of batches (tensors or
    ``(inputs, targets)`` pairs) that the rule may read more than once; the returned SNN takes the ANN's input
    (``[B, ...]``, repeated over time inside, or a ``[T, B, ...]`` sequence) and returns the ANN's output shape
    (the mean over time), in eval mode. ``record`` is reset by each call and holds JSON-friendly facts; the
    shared keys are ``T``, ``sites`` (one entry per converted activation: ``name``, ``neuron``, ``threshold``),
    ``calibrated``, ``lossless`` (``{"exact": bool, "reason": str}``), ``warnings`` and ``seconds``. Shared
    building blocks are the QCFS activation and module surgery (:mod:`zoo_core.layers`) and the conversion IF
    neuron (:mod:`zoo_core.neurons.conversion`).
    """

    category = "conversion"

    def convert(self, ann: nn.Module, calibration: Iterable[Any] | None = None) -> nn.Module:
        raise NotImplementedError


def class_indices(y: Tensor) -> Tensor:
    """Class indices of targets: ``y`` itself, or the arg-max of soft targets ``[B, classes]`` (mixup/cutmix:
    the larger share of the two mixed classes)."""
    return y.argmax(-1) if y.dim() > 1 else y


class BPTT(TrainingRule):
    r"""Surrogate-gradient backpropagation through time.

    One step: logits :math:`\bar y = \frac{1}{T}\sum_t y_t` (the model's readout),
    :math:`\mathcal{L} = \mathrm{CE}(\bar y, y)` (with optional label smoothing), gradients through the
    unrolled time steps with the neurons' surrogate derivatives, one optimizer step.

    Args:
        label_smoothing: cross-entropy label smoothing.
        grad_clip: clip the global gradient norm to this value (``None``: no clipping).
    """

    soft_targets = True

    def __init__(self, label_smoothing: float = 0.0, grad_clip: float | None = None):
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"bptt: label_smoothing must be in [0, 1), got {label_smoothing!r}")
        self.label_smoothing = label_smoothing
        self.grad_clip = grad_clip

    def training_step(
        self, model: nn.Module, batch: tuple[Tensor, Tensor], optimizer: torch.optim.Optimizer
    ) -> dict[str, float]:
        x, y = batch
        model.train()
        logits = model(x)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), self.grad_clip)
        optimizer.step()
        acc = (logits.detach().argmax(-1) == class_indices(y)).float().mean()
        return {"loss": float(loss.detach()), "acc": float(acc)}
