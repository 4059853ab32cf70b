"""The parallel neurons: the paper's neuron-level claims, in float64, and the zoo contract."""

from __future__ import annotations

import pytest
import torch
import zoo_core as zoo
from zoo_core.sdk import QCFS, ConversionIF, InputError
from zoo_core.testing import check_neuron

from zoo_parallel_conversion.calibration import DAQCFS
from zoo_parallel_conversion.neurons import ChannelwiseParallelIF, ParallelIF, parallel_spike_count


def _x(shape, seed=0, lo=-0.5, hi=2.5):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=torch.float64) * (hi - lo) + lo


def test_plugin_is_installed_and_loaded() -> None:
    plugins = {p.name: p for p in zoo.list_plugins()}
    assert plugins["parallel_conversion"].ok, plugins["parallel_conversion"].status
    assert zoo.neuron_info("parallel_if").plugin == "parallel_conversion"
    assert zoo.learning_rule_info("parallel_conversion").category == "conversion"
    assert zoo.learning_rule_info("parallel_conversion").paper.year == 2025


@pytest.mark.parametrize("name", ["parallel_if", "parallel_if_cw"])
def test_neuron_conformance(name) -> None:
    check_neuron(name)  # non-causal: the kit checks that streaming is refused


def test_worked_example_parallel_vs_sequential() -> None:
    # T=4, theta=1, mean input 0.6: N = floor(2.4 + 0.5) = 2 -> parallel 1,1,0,0; IF (V0 = .5) 1,0,1,0
    x = torch.full((4, 1), 0.6, dtype=torch.float64)
    assert ParallelIF(T=4).double()(x).flatten().tolist() == [1.0, 1.0, 0.0, 0.0]
    assert ConversionIF(1.0).double()(x).flatten().tolist() == [1.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("T", [1, 3, 4, 8, 16])
def test_claim_binary_sorted_and_rate_equals_qcfs(T) -> None:
    """Outputs in {0, theta}; non-increasing over steps; mean_T == theta*clip(floor(T m/theta + 1/2), 0, T)/T."""
    theta = 1.375  # exactly representable in float32 (QCFS's parameter is created in float32)
    n = ParallelIF(T=T, v_threshold=theta).double()
    x = _x((T, 5, 3, 4, 4), seed=T)  # arbitrary time-varying input: only its mean matters
    with torch.no_grad():
        s = n(x)
    assert set(torch.unique(s).tolist()) <= {0.0, theta}
    assert bool((s[1:] <= s[:-1]).all()), "spikes must be sorted (all spikes first)"
    m = x.mean(0)
    expected = theta * torch.clamp(torch.floor(T * m / theta + 0.5), 0, T) / T
    assert torch.allclose(s.mean(0), expected, rtol=0, atol=1e-12)
    with torch.no_grad():
        qcfs = QCFS(levels=T, threshold=theta).double()(m)
    assert torch.allclose(s.mean(0), qcfs, rtol=0, atol=1e-12)  # lossless w.r.t. QCFS (lambda=theta, n=T)
    assert torch.equal(s.sum(0) / theta, parallel_spike_count(m, theta, T))


def test_claim_step_x_fires_iff_count_at_least_x() -> None:
    T, theta = 6, 0.8
    x = _x((T, 400), seed=3)
    with torch.no_grad():
        s = ParallelIF(T=T, v_threshold=theta).double()(x) / theta
    N = parallel_spike_count(x.mean(0), theta, T)
    steps = torch.arange(1, T + 1, dtype=torch.float64).view(T, 1)
    assert torch.equal(s, (N.unsqueeze(0) >= steps).double())


def test_claim_parallel_equals_sequential_if_for_a_constant_current_only() -> None:
    """Constant current: same spike count as the sequential IF (any T); the order differs unless N in {0, T}.
    Time-varying current: the counts differ in general (why the sequential SNN is not lossless)."""
    T, theta = 8, 1.0
    const = _x((1, 1000), seed=4).expand(T, -1)
    with torch.no_grad():
        p = ParallelIF(T=T, v_threshold=theta).double()(const)
        q = ConversionIF(theta).double()(const)
    assert torch.equal(p.sum(0), q.sum(0))
    full_or_empty = (p.sum(0) == 0) | (p.sum(0) == T)
    assert torch.equal(p[:, full_or_empty], q[:, full_or_empty])
    assert not torch.equal(p, q)
    varying = _x((T, 1000), seed=5)
    with torch.no_grad():
        pv = ParallelIF(T=T, v_threshold=theta).double()(varying)
        qv = ConversionIF(theta).double()(varying)
    assert not torch.equal(pv.sum(0), qv.sum(0))


def test_claim_channelwise_equals_da_qcfs_iff_threshold_positive() -> None:
    """CW parallel neuron == DA-QCFS exactly for lambda_c > 0; broken for lambda_c <= 0."""
    T, C = 4, 6
    g = torch.Generator().manual_seed(7)
    lam = torch.tensor([0.5, 1.0, 2.0, 3.0, -0.7, -2.0], dtype=torch.float64).view(C, 1, 1)
    psi = 0.1 * torch.randn(C, 1, 1, generator=g, dtype=torch.float64)
    phi = 0.1 * torch.randn(C, 1, 1, generator=g, dtype=torch.float64)
    da = DAQCFS(C, levels=T, threshold=lam, relu_reference=True).double()
    da.rec_in_mean, da.rec_th_mean, da.use_shifts = psi, phi, True
    cw = ChannelwiseParallelIF(T, pre_th=lam, post_bias=phi, bias=0.5 * lam + psi * T)
    x = _x((T, 8, C, 5, 5), seed=8, lo=-3.5, hi=3.5)
    with torch.no_grad():
        rate, ann = cw(x).mean(0), da(x.mean(0))
    err = (rate - ann).abs().amax(dim=(0, 2, 3))
    assert float(err[:4].max()) < 1e-12  # lambda_c > 0: exact
    assert float(err[4:].min()) > 0.1  # lambda_c < 0: the division flips the inequality
    s = cw(x)[:, :, :4].abs()
    assert bool((s[1:] <= s[:-1]).all())  # sorted too (for lambda_c > 0; a negative one reverses the order)


def test_threshold_restored_from_state_dict_and_folded_layout() -> None:
    n = ParallelIF(T=4, v_threshold=2.75, folded=True)
    assert list(n.state_dict()) == ["TxT", "bias"]  # the official buffers, shapes [T, 1]
    assert n.TxT.shape == n.bias.shape == (4, 1)
    other = ParallelIF(T=4, v_threshold=8.0, folded=True)
    other.load_state_dict(n.state_dict())
    assert other.v_threshold == 2.75
    x = _x((4 * 3, 2, 3, 3), seed=9).float()  # [T*B, ...]
    assert torch.equal(other(x), n(x)) and n(x).shape == x.shape
    with pytest.raises(InputError):
        ParallelIF(T=4)(torch.ones(3, 2))  # T mismatch
    with pytest.raises(InputError, match="not causal"), zoo.streaming(n):
        ParallelIF(T=4).step(torch.ones(2))


def test_surrogate_gradient_reaches_the_input() -> None:
    x = _x((4, 50), seed=10).requires_grad_(True)
    ParallelIF(T=4).double()(x).sum().backward()
    assert x.grad is not None and bool((x.grad != 0).any())
