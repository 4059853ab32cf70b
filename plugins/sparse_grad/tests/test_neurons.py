"""SparseGradLIF: hand-computed dynamics, surrogate values, BPTR backward, bptt vs bptr."""

from __future__ import annotations

import math

import pytest
import torch
import zoo_core as zoo
from zoo_core.sdk import ConfigError, InputError

from zoo_sparse_grad.neurons import SparseGradLIF


def seq(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).view(-1, 1)


def test_if_dynamics_by_hand() -> None:
    n = zoo.create_neuron("sparse_grad_lif")
    # m: 0.6 | 1.2 -> fire, reset 0 | 1.0 -> fires (H(0) = 1), reset | 0.0 | 0.9
    s = n(seq(0.6, 0.6, 1.0, 0.0, 0.9))
    assert s.dtype == torch.float64
    assert s.view(-1).tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]
    leaky = SparseGradLIF(tau=0.5)  # m: 0.8 | 0.4 + 0.7 = 1.1 fire | 0 + 0.9 | 0.45 + 0.5 = 0.95
    assert leaky(seq(0.8, 0.7, 0.9, 0.5)).view(-1).tolist() == [0.0, 1.0, 0.0, 0.0]


@pytest.mark.parametrize(
    "surrogate,gama,u,expected",
    [
        ("zif", 1.0, -0.25, 0.75),  # (1/g^2) max(g - |u|, 0)
        ("zif", 2.0, 0.5, 0.375),  # (2 - 0.5) / 4
        ("zif", 1.0, 1.5, 0.0),
        ("sig", 4.0, 0.0, 1.0),  # g s (1 - s) at s = 1/2
        ("sig", 4.0, 0.5, 4 * (1 / (1 + math.exp(-2))) * (1 - 1 / (1 + math.exp(-2)))),
        ("atan", 2.0, 0.0, 1.0),  # (g/2) / (1 + 0)
        ("atan", 2.0, 0.5, 1.0 / (1 + (math.pi / 2) ** 2)),
    ],
)
def test_surrogate_derivatives(surrogate: str, gama: float, u: float, expected: float) -> None:
    n = SparseGradLIF(surrogate=surrogate, gama=gama)
    x = seq(1.0 + u).requires_grad_(True)  # one step: m = x, u = m - 1
    n(x).sum().backward()
    assert x.grad.item() == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_gradient_flows_through_reset_and_time() -> None:
    # two steps, zif g=1: s1 = H(x1 - 1), m1' = (1 - s1) x1, s2 = H(m1' + x2 - 1)
    # d s2 / d x1 = zif(u2) * ((1 - s1) - x1 * zif(u1))
    x = seq(1.2, 0.3).requires_grad_(True)
    s = SparseGradLIF()(x)
    s[1].sum().backward()
    u1, s1 = 0.2, 1.0
    u2 = (1 - s1) * 1.2 + 0.3 - 1.0
    z = lambda u: max(1 - abs(u), 0.0)  # noqa: E731
    assert x.grad[0].item() == pytest.approx(z(u2) * ((1 - s1) - 1.2 * z(u1)), rel=1e-12)
    assert x.grad[1].item() == pytest.approx(z(u2), rel=1e-12)


def test_bptr_backward_values_h3() -> None:
    T = 4
    # one column per case, every column has the time mean written above it
    means = torch.tensor([0.5, 1.0, 2.0, 0.0, -0.25, 2.5, 1e-9], dtype=torch.float64)
    expected = torch.tensor([0.5, 0.5, 0.5, 0.7, 0.0, 0.0, 0.5], dtype=torch.float64)
    pattern = torch.tensor([1.5, -0.5, 0.25, 0.75], dtype=torch.float64).view(
        T, 1
    )  # mean 0.5 -> shift to the target mean
    x = pattern - 0.5 + means
    x[:, 3] = 0.0  # exactly 0 (the 0.7 case)
    assert torch.allclose(x.mean(0), means, rtol=0, atol=1e-15)
    x.requires_grad_(True)
    n = SparseGradLIF(mode="bptr")
    g = torch.randn(T, len(means), dtype=torch.float64)
    (n(x) * g).sum().backward()
    assert torch.allclose(x.grad, g * expected, rtol=0, atol=1e-15)


def test_bptt_and_bptr_forwards_agree_unless_membrane_is_exactly_one_h4() -> None:
    x = torch.rand(8, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1.3
    a, b = SparseGradLIF()(x), SparseGradLIF(mode="bptr")(x)
    assert torch.equal(a, b) and a.sum() > 0
    tie = seq(0.5, 0.5, 0.25)  # m = 1.0 exactly at step 2
    assert SparseGradLIF()(tie).view(-1).tolist() == [0.0, 1.0, 0.0]
    assert SparseGradLIF(mode="bptr")(tie).view(-1).tolist() == [0.0, 0.0, 1.0]


def test_bad_configuration_and_bptr_streaming() -> None:
    with pytest.raises(ConfigError, match="surrogate"):
        SparseGradLIF(surrogate="erf")
    with pytest.raises(ConfigError, match="mode"):
        SparseGradLIF(mode="bpttt")
    with pytest.raises(ConfigError, match=r"threshold 1\.0"):
        SparseGradLIF(thresh=0.5, mode="bptr")
    with pytest.raises(ConfigError, match="gama"):
        SparseGradLIF(gama=0.0)
    n = SparseGradLIF(mode="bptr")
    with zoo.streaming(n), pytest.raises(InputError, match="not causal"):
        n.step(torch.rand(2, 3))
