r"""Sparse-gradient regularisation (SR, Liu et al. ICML 2024): the regulariser and its training rule.

For logits :math:`z = f(x)` and labels :math:`y`, per sample :math:`i`:

.. math::

    m_i &= \arg\max_{j \ne y_i} z_{ij}, \qquad
    p_i(x) = \frac{e^{z_{i y_i}}}{e^{z_{i y_i}} + e^{z_{i m_i}}} = \sigma(z_{i y_i} - z_{i m_i}) \\
    g &= \nabla_x \textstyle\sum_i p_i(x) \ \text{(surrogate gradients, first order)}, \qquad v = \mathrm{sign}(g)
        \ \text{(a constant)} \\
    R &= \frac1B \sum_i \Big(\frac{p_i(x + h v) - p_i(x)}{h}\Big)^2 \quad (m_i \text{ re-used at } x + hv),
        \qquad \mathcal L = \mathrm{CE}(z, y) + \lambda R

For a smooth model :math:`(p(x + h\,\mathrm{sign}\,g) - p(x))/h \to g \cdot \mathrm{sign}\, g = \|g\|_1`, so
:math:`R` estimates the squared :math:`L_1` norm of the input gradient of the two-class probability without
double back-propagation. Both forwards run in train mode and gradients flow through both; ``x + hv`` is not
clamped to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from zoo_core.sdk import (
    ConfigError,
    InputError,
    TrainingRule,
    check_choice,
    check_eps,
    check_number,
    check_positive,
    check_positive_int,
    fgsm,
    pgd,
)


def two_class_prob(logits: Tensor, y: Tensor, m: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``(p, m)``: ``p_i = sigmoid(z_{i,y_i} - z_{i,m_i})`` with ``m_i`` the strongest wrong class (or given)."""
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise InputError(f"two_class_prob: logits must be [B, classes >= 2], got {tuple(logits.shape)}")
    if m is None:
        wrong = logits.detach().clone()
        wrong.scatter_(1, y[:, None], float("-inf"))
        m = wrong.argmax(1)
    zy = logits.gather(1, y[:, None])[:, 0]
    zm = logits.gather(1, m[:, None])[:, 0]
    return torch.sigmoid(zy - zm), m


@dataclass
class SRTerms:
    """The intermediates of one regulariser evaluation (all but ``ce``/``reg``/``logits*``/``p*`` detached)."""

    logits: Tensor
    ce: Tensor
    p: Tensor
    m: Tensor
    grad: Tensor
    direction: Tensor
    x2: Tensor
    logits2: Tensor
    p2: Tensor
    reg: Tensor


def sr_terms(model: nn.Module, x: Tensor, y: Tensor, h: float = 0.01) -> SRTerms:
    """Steps 1-5 of the SR training step (module docstring) on ``model`` in its current mode."""
    check_positive(h, "h (pixel units)", "sparse_grad")
    x = x.detach().requires_grad_(True)
    logits = model(x)
    p, m = two_class_prob(logits, y)
    ce = F.cross_entropy(logits, y)
    (g,) = torch.autograd.grad(p.sum(), x, retain_graph=True)
    v = g.sign()
    x2 = x.detach() + h * v
    logits2 = model(x2)
    p2, _ = two_class_prob(logits2, y, m)
    reg = ((p2 - p) / h).square().mean()
    return SRTerms(logits, ce, p, m, g.detach(), v, x2, logits2, p2, reg)


def sr_regulariser(model: nn.Module, x: Tensor, y: Tensor, h: float = 0.01) -> Tensor:
    """The regulariser :math:`R` alone (differentiable w.r.t. the model's parameters)."""
    return sr_terms(model, x, y, h).reg


class SparseGradRule(TrainingRule):
    r"""One SR training step: optional adversarial example, then :math:`\mathrm{CE} + \lambda R`, SGD step.

    Args:
        lamb: :math:`\lambda` (0: the official undefended baseline; the paper's values are not known here, 0.01
            is the value of our digits demo).
        h: finite-difference step in pixel units (paper/official: 0.01).
        attack: ``None``, ``"fgsm"`` or ``"pgd"``: replace the batch by adversarial examples made with the model
            in eval mode first (the official adversarial-training option, combinable with SR).
        eps: attack budget in [0, 1] pixel units (official: 8/255 from ``--eps 8``).
        attack_steps, attack_step_size: PGD iterations and step (official: 7 and 2.55/255).
    """

    category = "regulariser"

    def __init__(
        self,
        lamb: float = 0.01,
        h: float = 0.01,
        attack: str | None = None,
        eps: float = 8 / 255,
        attack_steps: int = 7,
        attack_step_size: float = 2.55 / 255,
    ):
        super().__init__()
        who = "sparse_grad"
        self.lamb = check_number(lamb, "lamb", who)
        if self.lamb < 0:
            raise ConfigError(f"{who}: lamb must be >= 0, got {lamb!r}")
        self.h = check_positive(h, "h", who)
        self.attack = check_choice(attack, "attack", who, (None, "fgsm", "pgd"))
        self.eps = check_eps(eps, who)
        self.attack_steps = check_positive_int(attack_steps, "attack_steps", who)
        self.attack_step_size = check_positive(attack_step_size, "attack_step_size", who)

    def adversarial(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        """Step 0: the adversarial batch (model in eval mode while crafting; mode restored)."""
        if self.attack == "fgsm":
            return fgsm(model, x, y, self.eps)
        return pgd(model, x, y, self.eps, self.attack_steps, self.attack_step_size, random_start=True)

    def training_step(
        self, model: nn.Module, batch: tuple[Tensor, Tensor], optimizer: torch.optim.Optimizer
    ) -> dict[str, float]:
        x, y = batch
        if self.attack is not None:
            x = self.adversarial(model, x, y)
        model.train()
        optimizer.zero_grad(set_to_none=True)
        # computed also for lamb = 0, as the official train_reg does (the second train-mode forward updates the
        # BatchNorm running statistics too, so lamb = 0 is the official undefended baseline, not plain BPTT)
        t = sr_terms(model, x, y, self.h)
        logits, ce, reg = t.logits, t.ce, t.reg
        loss = ce + self.lamb * reg
        loss.backward()
        optimizer.step()
        acc = (logits.detach().argmax(-1) == y).float().mean()
        return {
            "loss": float(loss.detach()),
            "ce": float(ce.detach()),
            "reg": float(reg.detach()),
            "acc": float(acc),
        }
