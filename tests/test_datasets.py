"""The built-in digits data sets: exactly scikit-learn's stratified splits."""

import numpy as np
import pytest

import zoo_core as zoo


def test_digits_70_30_is_the_sklearn_split() -> None:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    xtr, xte, ytr, yte = train_test_split(
        d.data / 16.0, d.target, test_size=0.3, random_state=0, stratify=d.target
    )
    for split, xs, ys in (("train", xtr, ytr), ("test", xte, yte)):
        data = zoo.create_dataset("digits_70_30", split=split)
        assert len(data) == len(ys) == {"train": 1257, "test": 540}[split]
        assert np.allclose(data.tensors[0].flatten(1).numpy(), xs, atol=1e-7)
        assert np.array_equal(data.tensors[1].numpy(), ys)


@pytest.mark.parametrize("name,test_size", [("digits", 360), ("digits_70_30", 540)])
def test_splits_partition_the_data(name: str, test_size: int) -> None:
    train, test = (zoo.create_dataset(name, split=s) for s in ("train", "test"))
    assert len(test) == test_size and len(train) + len(test) == 1797
    rows = {tuple(r) for r in train.tensors[0].flatten(1).tolist()}
    # digits has duplicate images; a test image equal to a training image must be such a duplicate
    all_rows = [tuple(r) for r in zoo.create_dataset(name, split="all").tensors[0].flatten(1).tolist()]
    dup = {r for r in all_rows if all_rows.count(r) > 1}
    assert all(tuple(r) not in rows or tuple(r) in dup for r in test.tensors[0].flatten(1).tolist())
