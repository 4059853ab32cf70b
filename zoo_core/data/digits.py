"""Built-in datasets that work with no network.

``digits``: scikit-learn's 8x8 handwritten digits (1,797 images shipped inside scikit-learn), scaled to [0, 1]
as ``[N, 1, 8, 8]`` float32 with int64 labels, split into train/test by a stratified, seeded split.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch.utils.data import TensorDataset

from ..errors import ConfigError


def digits(
    split: Literal["train", "test", "all"] = "train", test_fraction: float = 0.2, seed: int = 0
) -> TensorDataset:
    """scikit-learn's 8x8 digits as a ``TensorDataset`` of ``([1, 8, 8] in [0, 1], label)``.

    The train/test split is stratified by class and fixed by ``seed``, so the same arguments always give the
    same samples; train and test never overlap.
    """
    if split not in ("train", "test", "all"):
        raise ConfigError(f"digits: split must be 'train', 'test' or 'all', got {split!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"digits: test_fraction must be in (0, 1), got {test_fraction!r}")
    from sklearn.datasets import load_digits  # scikit-learn loads only when the data set is built
    from sklearn.model_selection import train_test_split  # (the same)

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    if split == "all":
        return TensorDataset(x, y)
    idx_train, idx_test = train_test_split(
        range(len(y)), test_size=test_fraction, random_state=seed, stratify=data.target
    )
    idx = torch.tensor(idx_train if split == "train" else idx_test)
    return TensorDataset(x[idx], y[idx])


def digits_70_30(split: Literal["train", "test", "all"] = "train", seed: int = 0) -> TensorDataset:
    """:func:`digits` with a 70/30 split (1,257 train / 540 test images at ``seed=0``): the split of the
    sparse-gradient and EM-PF papers' digits recipes, registered under its own name so that ``zoo eval`` of
    weights trained on it never tests on training images."""
    return digits(split=split, test_fraction=0.3, seed=seed)
