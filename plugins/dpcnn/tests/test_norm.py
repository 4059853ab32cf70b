"""RFTD-BN against its documented definition: per-step BN statistics / affine, tdBN fold, scale, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from zoo_core.sdk import ConfigError, InputError

from zoo_dpcnn.norm import RFTDBatchNorm

D = torch.float64


def _randomise_affine(bn: RFTDBatchNorm, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(bn.weight.shape, generator=g, dtype=bn.weight.dtype) + 0.5)
        bn.bias.copy_(torch.randn(bn.bias.shape, generator=g, dtype=bn.bias.dtype))


def test_time_dependent_equals_one_batchnorm_per_step() -> None:
    T, C = 3, 4
    g = torch.Generator().manual_seed(1)
    bn = RFTDBatchNorm(C, T, momentum=0.3, lam=0.5, v_th=2.0).double()  # lam * v_th = 1
    _randomise_affine(bn)
    refs = [nn.BatchNorm2d(C, momentum=0.3).double() for _ in range(T)]
    for t, r in enumerate(refs):
        with torch.no_grad():
            r.weight.copy_(bn.weight[t])
            r.bias.copy_(bn.bias[t])
    for _ in range(2):  # two training steps: batch statistics and running-statistics updates per step
        x = torch.randn(T, 5, C, 3, 3, generator=g, dtype=D) * torch.tensor([1.0, 3.0, 0.5], dtype=D).view(
            3, 1, 1, 1, 1
        )
        y = bn.train()(x)
        for t in range(T):
            torch.testing.assert_close(y[t], refs[t].train()(x[t]), rtol=0, atol=1e-12)
    for t in range(T):
        torch.testing.assert_close(bn.running_mean[t], refs[t].running_mean, rtol=0, atol=1e-14)
        torch.testing.assert_close(bn.running_var[t], refs[t].running_var, rtol=0, atol=1e-14)
    assert not torch.allclose(bn.running_var[0], bn.running_var[1])  # the steps really differ
    x = torch.randn(T, 2, C, 3, 3, generator=g, dtype=D)
    y = bn.eval()(x)
    for t in range(T):
        torch.testing.assert_close(y[t], refs[t].eval()(x[t]), rtol=0, atol=1e-12)


def test_eval_formula_with_threshold_scale() -> None:
    T, C = 2, 3
    bn = RFTDBatchNorm(C, T, lam=2.0, v_th=1.5).double().eval()
    _randomise_affine(bn, 3)
    with torch.no_grad():
        bn.running_mean.copy_(torch.arange(T * C, dtype=D).view(T, C) * 0.1)
        bn.running_var.copy_(torch.arange(T * C, dtype=D).view(T, C) * 0.2 + 0.5)
    x = torch.randn(T, 4, C, dtype=D)  # a fully connected layer's [T, B, C]
    y = bn(x)
    for t in range(T):
        xh = (x[t] - bn.running_mean[t]) / torch.sqrt(bn.running_var[t] + 1e-5)
        torch.testing.assert_close(y[t], bn.weight[t] * (3.0 * xh) + bn.bias[t], rtol=0, atol=1e-12)


def test_shared_over_time_is_batchnorm_on_the_fold() -> None:
    T, C = 3, 2
    bn = RFTDBatchNorm(C, T, time_dependent=False).double()
    assert bn.weight.shape == (1, C) and bn.running_mean.shape == (1, C)
    ref = nn.BatchNorm2d(C).double()
    x = torch.randn(T, 4, C, 3, 3, dtype=D)
    torch.testing.assert_close(bn(x), ref(x.flatten(0, 1)).unflatten(0, (T, 4)), rtol=0, atol=1e-12)
    torch.testing.assert_close(bn.running_var[0], ref.running_var, rtol=0, atol=1e-14)
    assert bn(torch.randn(5, 4, C, 3, 3, dtype=D)).shape[0] == 5  # any number of steps


def test_errors() -> None:
    bn = RFTDBatchNorm(3, 4)
    with pytest.raises(InputError, match="T=4"):
        bn(torch.randn(2, 2, 3, 5, 5))
    with pytest.raises(InputError, match="3 channels"):
        bn(torch.randn(4, 2, 2, 5, 5))
    with pytest.raises(ConfigError, match="T must be a positive int"):
        RFTDBatchNorm(3, 0)
    with pytest.raises(ConfigError, match="momentum"):
        RFTDBatchNorm(3, 2, momentum=0.0)
