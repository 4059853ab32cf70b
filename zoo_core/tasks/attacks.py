r"""White-box adversarial attacks for any zoo classifier: FGSM and PGD in :math:`L_\infty` on inputs in [0, 1].

Every attack works in the model's input space (images in [0, 1]; a zoo model normalises inside, so ``eps`` is
in pixel units: ``8/255`` is the usual CIFAR budget). The model runs in eval mode (its train/eval flag is
restored afterwards) and the loss is the cross-entropy of its logits:

.. math::

    \text{FGSM:}\quad x' &= \mathrm{clip}_{[0,1]}\big(x + \epsilon\,\mathrm{sign}\,\nabla_x \mathcal{L}(f(x), y)\big) \\
    \text{PGD:}\quad x_0 &= \mathrm{clip}_{[0,1]}(x + U(-\epsilon, \epsilon)) \text{ (random start) or } x, \\
    x_{k+1} &= \mathrm{clip}_{[0,1]}\Big(x + \mathrm{clip}_{[-\epsilon,\epsilon]}\big(x_k + \alpha\,
        \mathrm{sign}\,\nabla_x \mathcal{L}(f(x_k), y) - x\big)\Big)

(the conventions of torchattacks 3.2.7, which the papers' code uses). For a spiking model the gradient is the
surrogate gradient through time (BPTT) of whatever spike functions the model uses.

Gradient-setting protocol (duck-typed; how an SNN offers several gradient paths)
---------------------------------------------------------------------------------
A surrogate gradient is a choice, so an SNN's robustness depends on which gradient the attacker uses. A model
(or the module passed as ``model``) may offer its choices by implementing

* ``gradient_settings() -> list[str]``: the names of the gradient paths it offers; the first is its default
  (training) setting;
* ``set_gradient_setting(name: str) -> None``: switch every spiking layer to that path (it may change the
  backward pass only, or also the forward where the method defines it so);
* optionally ``get_gradient_setting() -> str``: the current one (used to restore it after an evaluation).

:func:`robust_accuracy` with ``settings=[...]`` runs the attack once per setting, on the same clean batch, with
the model switched to that setting for both crafting and classifying, and counts a sample as robust only if it
is classified correctly under *every* setting (the "ensemble" robust accuracy of Liu et al., ICML 2024,
``val_ensemble``). Afterwards the model is put back into the setting it had before (the official code leaves
it in the last one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from ..errors import ConfigError, InputError
from .base import cast_input, cast_model

__all__ = [
    "ATTACKS",
    "fgsm",
    "gradient_settings",
    "pgd",
    "robust_accuracy",
    "set_gradient_setting",
]

LossFn = Callable[[Tensor, Tensor], Tensor]


# ------------------------------------------------------------------------------------------------ checks
def check_eps(eps: Any, who: str, name: str = "eps") -> float:
    """A finite perturbation budget ``0 <= eps <= 1`` (inputs live in [0, 1])."""
    if isinstance(eps, bool) or not isinstance(eps, int | float) or not math.isfinite(eps):
        raise ConfigError(f"{who}: {name} must be a finite number in [0, 1] (pixel units), got {eps!r}")
    if not 0.0 <= eps <= 1.0:
        raise ConfigError(
            f"{who}: {name} must be in [0, 1] (an L-infinity budget in pixel units of images in [0, 1], "
            f"e.g. 8/255 = {8 / 255:.5f}), got {eps!r}"
        )
    return float(eps)


def _check_batch(x: Any, y: Any, who: str) -> None:
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise InputError(f"{who}: x must be a floating-point tensor of images in [0, 1], got {x!r:.60}")
    if not isinstance(y, Tensor) or y.dtype != torch.int64 or y.dim() != 1:
        raise InputError(f"{who}: y must be an int64 tensor of class labels [B], got {y!r:.60}")
    if x.shape[0] != y.shape[0]:
        raise InputError(f"{who}: x has batch {x.shape[0]} but y has {y.shape[0]} labels")
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{who}: x contains NaN or Inf")
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise InputError(
            f"{who}: inputs must lie in [0, 1] (unnormalised images; zoo models normalise inside), got range "
            f"[{float(x.min()):.4g}, {float(x.max()):.4g}]"
        )


class _EvalMode:
    """Model in eval mode inside the block; its previous train/eval flags restored on exit."""

    def __init__(self, model: nn.Module):
        self.model = model

    def __enter__(self) -> nn.Module:
        self.flags = [(m, m.training) for m in self.model.modules()]
        self.model.eval()
        return self.model

    def __exit__(self, *exc: Any) -> None:
        for m, flag in self.flags:
            m.training = flag


def _loss_grad(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn | None) -> tuple[Tensor, Tensor]:
    """(gradient of the summed loss w.r.t. ``x``, logits). Summed, not averaged: same sign, no underflow."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = F.cross_entropy(logits, y, reduction="sum") if loss_fn is None else loss_fn(logits, y)
        (g,) = torch.autograd.grad(loss, x)
    return g, logits.detach()


# ------------------------------------------------------------------------------------------------ attacks
def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float, *, loss_fn: LossFn | None = None) -> Tensor:
    r"""Fast gradient sign method: :math:`x' = \mathrm{clip}_{[0,1]}(x + \epsilon\,\mathrm{sign}\,\nabla_x\mathcal{L})`.

    Args:
        model: a classifier taking ``x`` and returning logits ``[B, classes]``.
        x: clean inputs in [0, 1] (any shape the model accepts, batch first).
        y: int64 labels ``[B]``.
        eps: the :math:`L_\infty` budget in [0, 1].
        loss_fn: ``loss_fn(logits, y)`` to ascend (default: summed cross-entropy).

    Returns the adversarial inputs (detached, same shape and dtype as ``x``).
    """
    eps = check_eps(eps, "fgsm")
    _check_batch(x, y, "fgsm")
    with _EvalMode(model):
        g, _ = _loss_grad(model, x, y, loss_fn)
    return (x.detach() + eps * g.sign()).clamp(0.0, 1.0)


def pgd(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    *,
    keep_best: bool = False,
    generator: torch.Generator | None = None,
    loss_fn: LossFn | None = None,
) -> Tensor:
    r"""Projected gradient descent (Madry et al.) in the :math:`L_\infty` ball of radius ``eps`` around ``x``.

    Args:
        steps: gradient steps (>= 1).
        step_size: :math:`\alpha` (default ``eps / 4``).
        random_start: start from a uniform point of the ball (torchattacks' default) instead of ``x``.
        keep_best: success tracking: per sample, return the first iterate (start point included) the model
            misclassifies, else the last iterate. With ``random_start=False`` and ``step_size=eps`` the first
            iterate is exactly :func:`fgsm`'s output, so every sample FGSM fools is fooled here too: robust
            accuracy under such a PGD is never higher than under FGSM.
        generator: random generator of the start point (reproducible attacks).

    Returns the adversarial inputs (detached): always within ``eps`` of ``x`` and in [0, 1].
    """
    eps = check_eps(eps, "pgd")
    _check_batch(x, y, "pgd")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ConfigError(f"pgd: steps must be an integer >= 1, got {steps!r}")
    alpha = eps / 4 if step_size is None else step_size
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha) or alpha < 0:
        raise ConfigError(f"pgd: step_size must be a finite number >= 0 (pixel units), got {step_size!r}")
    x = x.detach()
    adv = x.clone()
    if random_start:
        noise = torch.rand(x.shape, generator=generator, dtype=x.dtype, device="cpu").to(x.device)
        adv = (x + (2 * noise - 1) * eps).clamp(0.0, 1.0)
    best = adv.clone()
    fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    with _EvalMode(model):
        for _ in range(steps):
            g, logits = _loss_grad(model, adv, y, loss_fn)
            if keep_best:  # logits of the current iterate come free with its gradient
                new = (logits.argmax(-1) != y) & ~fooled
                best[new] = adv[new]
                fooled |= new
            adv = adv + alpha * g.sign()
            adv = (x + (adv - x).clamp(-eps, eps)).clamp(0.0, 1.0)
    if not keep_best:
        return adv
    best[~fooled] = adv[~fooled]  # not fooled by an earlier iterate: the last one (fooling or not)
    return best


ATTACKS: dict[str, Callable[..., Tensor]] = {"fgsm": fgsm, "pgd": pgd}


# ------------------------------------------------------------------------------------------------ protocol
def gradient_settings(model: nn.Module) -> list[str]:
    """The gradient settings a model offers (see the module docstring); an error if it offers none."""
    fn = getattr(model, "gradient_settings", None)
    if not callable(fn) or not callable(getattr(model, "set_gradient_setting", None)):
        raise ConfigError(
            f"{type(model).__name__} offers no gradient settings: an ensemble evaluation needs a model with "
            "gradient_settings() and set_gradient_setting(name) (e.g. the sparse_grad_* models)"
        )
    return list(fn())


def set_gradient_setting(model: nn.Module, name: str) -> None:
    """Switch ``model`` to gradient setting ``name`` (an error naming the offered ones if unknown)."""
    offered = gradient_settings(model)
    if name not in offered:
        raise ConfigError(f"unknown gradient setting {name!r} for {type(model).__name__}; offered: {offered}")
    model.set_gradient_setting(name)  # type: ignore[operator]


def _current_setting(model: nn.Module) -> str | None:
    get = getattr(model, "get_gradient_setting", None)
    return get() if callable(get) else None


# ------------------------------------------------------------------------------------------------ evaluation
def robust_accuracy(
    model: nn.Module,
    data: Dataset | DataLoader,
    attack: str = "fgsm",
    eps: float = 8 / 255,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    settings: Sequence[str] | None = None,
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = False,
    device: str | torch.device = "cpu",
    dtype: str | None = None,
) -> dict[str, Any]:
    """Clean and robust accuracy of ``model`` on ``data`` under ``attack`` (``"fgsm"`` or ``"pgd"``).

    ``dtype="float64"`` attacks a float64 copy of the model with float64 inputs (and PGD's random start drawn in
    float64): the precision cards record their robust accuracies in, so they hold on any CPU.

    With ``settings`` (names from the model's ``gradient_settings()``) a sample is robust only if it is
    classified correctly after the attack under every setting (module docstring); ``per_setting`` reports each
    setting alone. Returns ``{"clean_accuracy", "robust_accuracy", "per_setting", "samples", ...}``.
    """
    if attack not in ATTACKS:
        raise ConfigError(f"unknown attack {attack!r}; choose one of {sorted(ATTACKS)}")
    eps = check_eps(eps, "robust_accuracy")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"robust_accuracy: batch_size must be an integer >= 1, got {batch_size!r}")
    names: list[str | None] = [None]
    before = None
    if settings is not None:
        offered = gradient_settings(model)
        unknown = [s for s in settings if s not in offered]
        if unknown or not settings:
            raise ConfigError(
                f"robust_accuracy: settings {list(settings)!r} are not a non-empty subset of the model's "
                f"gradient settings {offered}"
            )
        names, before = list(settings), _current_setting(model)
    kwargs: dict[str, Any] = {}
    if attack == "pgd":
        gen = torch.Generator().manual_seed(seed)
        kwargs = {"steps": steps, "step_size": step_size, "random_start": random_start, "generator": gen}
    from tqdm import tqdm  # progress bars load with the first attack

    loader = data if isinstance(data, DataLoader) else DataLoader(data, batch_size=batch_size)
    model = cast_model(model, dtype).to(device)
    clean = robust = total = 0
    per = {str(n): 0 for n in names}
    try:
        for x, y in tqdm(loader, desc=f"{attack} eps={eps:.4g}", disable=None if progress else True):
            x, y = cast_input(x, dtype).to(device), y.to(device)
            with _EvalMode(model), torch.no_grad():
                if names[0] is not None:
                    set_gradient_setting(model, names[0])
                clean += int((model(x).argmax(-1) == y).sum())
            ok = torch.ones_like(y, dtype=torch.bool)
            for n in names:
                if n is not None:
                    set_gradient_setting(model, n)
                adv = ATTACKS[attack](model, x, y, eps, **kwargs)
                with _EvalMode(model), torch.no_grad():
                    hit = model(adv).argmax(-1) == y
                per[str(n)] += int(hit.sum())
                ok &= hit
            robust += int(ok.sum())
            total += len(y)
    finally:
        if before is not None:
            model.set_gradient_setting(before)  # type: ignore[operator]
    n = max(total, 1)
    return {
        "attack": attack,
        "eps": eps,
        **(
            {"steps": steps, "step_size": eps / 4 if step_size is None else step_size}
            if attack == "pgd"
            else {}
        ),
        **({"random_start": random_start, "seed": seed} if attack == "pgd" else {}),
        "settings": [s for s in names if s is not None],
        "samples": total,
        "dtype": dtype,
        "clean_accuracy": clean / n,
        "robust_accuracy": robust / n,
        "per_setting": {k: v / n for k, v in per.items()} if settings is not None else {},
    }
