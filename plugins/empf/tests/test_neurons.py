"""EM-PF neurons: hand-computed values, the reset identity, parallel mode, mem-BN folding."""

from __future__ import annotations

import pytest
import torch
import zoo_core as zoo
from zoo_core.sdk import InputError
from zoo_core.testing import check_neuron

from zoo_empf import EMPFLIFNeuron, EMPFNeuron, quantize_4bit

D = torch.float64


@pytest.mark.parametrize(
    "name, kw",
    [
        ("empf", {}),
        ("empf", {"mem_bn": True, "num_features": 4}),
        ("empf", {"parallel_mode": True, "mode": "compression"}),
        ("empf", {"mode": "compression"}),
        ("empf_lif", {}),
        ("empf_lif", {"online_training": False}),
    ],
)
def test_conformance(name: str, kw: dict) -> None:
    check_neuron(name, **kw)


def test_hand_computed_values() -> None:
    # theta = lambda = 1/2 at init. u0 = 1.2 -> s = 0.7, m = 0.5; u1 = 0.25 + 0.3 -> s = 0.05, m = 0.5;
    # u2 = 0.25 + 0.9 -> s = 0.65
    x = torch.tensor([1.2, 0.3, 0.9], dtype=D).view(3, 1, 1)
    y = EMPFNeuron(T=3).to(D)(x).flatten()
    assert torch.allclose(y, torch.tensor([0.7, 0.05, 0.65], dtype=D), atol=1e-15)
    # LIF baseline: theta = 1, decay 1/2, spikes theta * H, soft reset: u = 1.2 (1, m 0.2), 0.4 (0), 1.1 (1)
    y = EMPFLIFNeuron(T=3).to(D)(x).flatten()
    assert torch.equal(y, torch.tensor([1.0, 0.0, 1.0], dtype=D))
    # 4-bit: 0.7 -> round(2.8)/4 = 0.75, 0.05 -> 0, 0.65 -> round(2.6)/4 = 0.75; saturates at 3.75
    y = EMPFNeuron(T=3, mode="compression").to(D)(x).flatten()
    assert torch.equal(y, torch.tensor([0.75, 0.0, 0.75], dtype=D))
    assert float(quantize_4bit(torch.tensor([9.0]))) == 3.75


def _random_neuron(seed: int, **kw) -> EMPFNeuron:
    g = torch.Generator().manual_seed(seed)
    n = EMPFNeuron(T=4, **kw).to(D)
    with torch.no_grad():
        n.v_th.copy_(torch.randn(4, generator=g, dtype=D))
        if hasattr(n, "alpha"):
            n.alpha.copy_(torch.randn(4, generator=g, dtype=D))
    return n


def test_reset_identity_against_closed_form() -> None:
    """s = relu(u - theta), m = u - s equals min(u, theta) (one rounding) and s >= 0, m <= theta."""
    n = _random_neuron(0)
    x = torch.randn(4, 3, 5, 6, generator=torch.Generator().manual_seed(1), dtype=D)
    theta, lam = torch.sigmoid(n.v_th.detach()), torch.sigmoid(n.alpha.detach())
    m = torch.zeros_like(x[0])
    outs = []
    with zoo.streaming(n):
        for t in range(4):
            outs.append(n.step(x[t]))
            u = lam[t] * m + x[t]
            m = torch.minimum(u, theta[t])  # the closed form, independent of the neuron's u - s
            s_ref = u - m
            assert (outs[-1] >= 0).all()
            assert torch.allclose(outs[-1], s_ref, rtol=0, atol=1e-15)
            assert torch.allclose(n.state["v"], m, rtol=0, atol=1e-15)
            assert bool((n.state["v"] <= theta[t] + 1e-15).all())


def test_compression_resets_with_unquantised_spike() -> None:
    """With 4-bit spikes the emitted value is Q4(s) but the membrane keeps u - s (the unquantised s)."""
    van, comp = _random_neuron(2), _random_neuron(2, mode="compression")
    x = torch.rand(4, 2, 50, generator=torch.Generator().manual_seed(3), dtype=D) * 3
    s = van(x)
    q = comp(x)
    assert torch.equal(q, quantize_4bit(s))
    assert not torch.equal(q, s)  # the values differ where 4 (u - theta) is not an integer


def test_parallel_neuron_is_stateless_and_uses_first_threshold() -> None:
    """Parallel neuron: permuting the time steps permutes the outputs; the threshold is sigmoid(v_th[0]) at
    every step."""
    n = _random_neuron(4, parallel_mode=True)
    assert not hasattr(n, "alpha")
    x = torch.randn(4, 3, 7, generator=torch.Generator().manual_seed(5), dtype=D)
    perm = torch.tensor([2, 0, 3, 1])
    assert torch.equal(n(x[perm]), n(x)[perm])
    assert torch.equal(n(x), torch.relu(x - torch.sigmoid(n.v_th[0])))
    # a stateful neuron is not permutation-equivariant
    m = _random_neuron(4)
    assert not torch.allclose(m(x[perm]), m(x)[perm])


def test_mem_bn_eval_folding() -> None:
    """Eval-mode mem-BN folded into per-channel decay / gain / shift gives the same outputs."""
    g = torch.Generator().manual_seed(6)
    n = _random_neuron(6, mem_bn=True, num_features=5)
    with torch.no_grad():
        n.bn_ratio.copy_(torch.randn(4, generator=g, dtype=D))
        n.mem_ratio.copy_(torch.randn(4, generator=g, dtype=D))
        for bn in n.bn:
            bn.weight.copy_(torch.rand(5, generator=g, dtype=D) + 0.5)
            bn.bias.copy_(torch.randn(5, generator=g, dtype=D) * 0.2)
            bn.running_mean.copy_(torch.randn(5, generator=g, dtype=D) * 0.3)
            bn.running_var.copy_(torch.rand(5, generator=g, dtype=D) + 0.5)
    n.eval()
    x = torch.randn(4, 3, 5, 4, 4, generator=g, dtype=D)
    folded = n.fold_mem_bn()
    ref = n(x)
    assert torch.allclose(folded(x), ref, rtol=0, atol=1e-12)
    assert ref.abs().max() > 0.1  # the comparison is not between zeros
    n.train()  # batch statistics differ from running ones: the fold is for inference only
    assert not torch.allclose(n(x), ref, atol=1e-6)


def test_time_index_streams_and_overflow_is_an_error() -> None:
    n = _random_neuron(7)
    x = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(8), dtype=D)
    with zoo.streaming(n):
        chunks = torch.cat([n(x[:1]), n(x[1:3]), n(x[3:])])
        with pytest.raises(InputError, match="T=4"):
            n(x[:1])  # a fifth step has no per-step parameters
    assert torch.equal(chunks, n(x))
    with pytest.raises(InputError, match="T=4"):
        n(torch.cat([x, x[:1]]))


def test_gradients_exact_relu_and_params() -> None:
    """The spike derivative is exactly 1[u > theta] (no surrogate); v_th gets -1 per firing element."""
    n = EMPFNeuron(T=1).to(D)
    x = torch.tensor([[0.2, 0.7, 1.5]], dtype=D).unsqueeze(0).requires_grad_(True)
    n(x).sum().backward()
    assert torch.equal(x.grad.flatten(), torch.tensor([0.0, 1.0, 1.0], dtype=D))
    assert torch.allclose(n.v_th.grad, torch.tensor([-2 * 0.25], dtype=D))  # sigmoid'(0) = 1/4, two firing
