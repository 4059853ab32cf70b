"""The paper's robustness evaluation: ``val_ensemble`` (four gradient settings, all must fail) on zoo data.

Thin layer over :func:`zoo_core.sdk.robust_accuracy`, which implements the attacks and the ensemble rule.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torch.utils.data import DataLoader, Dataset
from zoo_core.sdk import robust_accuracy

from .models import GRADIENT_SETTINGS


def val_ensemble(
    model: nn.Module,
    data: Dataset | DataLoader,
    attack: str = "pgd",
    eps: float = 8 / 255,
    steps: int = 10,
    step_size: float | None = 2.55 / 255,
    random_start: bool = True,
    batch_size: int = 50,
    seed: int = 42,
    progress: bool = False,
) -> dict[str, Any]:
    """Robust accuracy counting a sample only if it survives the attack under all four official settings
    (``bptt:zif:1``, ``bptt:sig:4``, ``bptt:atan:2``, ``bptr:zif:1``). Defaults: the paper's PGD-10 at 8/255,
    step 2.55/255, random start, batch 50, seed 42."""
    return robust_accuracy(
        model,
        data,
        attack=attack,
        eps=eps,
        steps=steps,
        step_size=step_size,
        random_start=random_start,
        settings=list(GRADIENT_SETTINGS),
        batch_size=batch_size,
        seed=seed,
        progress=progress,
    )
