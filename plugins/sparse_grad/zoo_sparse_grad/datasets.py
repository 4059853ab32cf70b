"""``digits_70_30``: scikit-learn digits in [0, 1], stratified 70/30 split with random_state 0 (spec h.6)."""

from __future__ import annotations

from torch.utils.data import TensorDataset
from zoo_core.datasets import digits


def digits_70_30(split: str = "train", seed: int = 0) -> TensorDataset:
    """The core ``digits`` data set with ``test_fraction=0.3`` (``train_test_split(..., test_size=0.3,
    random_state=seed, stratify=labels)``): 1,257 train and 540 test images ``[1, 8, 8]``."""
    return digits(split=split, test_fraction=0.3, seed=seed)  # type: ignore[arg-type]
