"""The CIFAR normalisation constants are the official TensorNormalization's values exactly (float64 checks)."""

from __future__ import annotations

import pytest
import torch
import zoo_core as zoo

from zoo_sparse_grad.models import official_constants

OFFICIAL = {  # data_loaders.py of the official code: (mean, std), turned into torch.tensor by TensorNormalization
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    "cifar100": ((0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761)),
}
SMALL = {
    "sparse_grad_vgg11": {"T": 2, "img_size": 8, "width_mult": 1 / 32},
    "sparse_grad_wrn16": {"T": 2, "img_size": 8, "stem_width": 4, "widen_factor": 1},
}


def _float32_values(values: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(torch.tensor(values, dtype=torch.float32).double().tolist())


@pytest.mark.parametrize("name", sorted(SMALL))
def test_default_constants_are_the_official_float32_values(name: str) -> None:
    mean, std = OFFICIAL["cifar10"]
    model = zoo.create_model(name, **SMALL[name]).double()  # built under the default float32 dtype
    assert model.norm_mean == _float32_values(mean) and model.norm_std == _float32_values(std)
    assert model.norm_mean != mean  # 0.4914 is not a float32 number: the rounding is really there
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    m64 = torch.tensor(mean, dtype=torch.float32).double().view(3, 1, 1)
    s64 = torch.tensor(std, dtype=torch.float32).double().view(3, 1, 1)
    assert torch.equal(model.encode(x)[0], (x - m64) / s64)  # official normalizex: sub, then div


def test_float64_default_dtype_keeps_the_decimals_as_the_official_code() -> None:
    mean, std = OFFICIAL["cifar100"]
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:  # the official torch.tensor(mean) is float64 then, i.e. the exact decimals
        model = zoo.create_model("sparse_grad_vgg11", **SMALL["sparse_grad_vgg11"], mean=mean, std=std)
    finally:
        torch.set_default_dtype(old)
    assert model.norm_mean == mean and model.norm_std == std
    assert official_constants(mean) == _float32_values(mean)  # back under float32
    assert official_constants(torch.tensor(mean, dtype=torch.float64)) == mean  # a tensor keeps its dtype
