"""The PCNN neuron: hand-computed traces (float64), reductions, coupling invariants, surrogate, errors, kit."""

from __future__ import annotations

import math

import pytest
import torch
import zoo_core as zoo
from zoo_core.sdk import ConfigError, InputError
from zoo_core.testing import check_neuron

from zoo_dpcnn.neuron import PCNN, SCALARS, classic_kernel, decay_from_alpha

D = torch.float64


def run(n: PCNN, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
    """Spikes and final state of one multi-step call from rest."""
    return n.multi_step(x, n.initial_state(x[0]))


def test_uncoupled_trace_by_hand() -> None:
    # coupling none, [T=3, B=1, C=1]; a_F=0.5, a_E=0.5, V_E=1, E[0]=1, compare with E[t-1] then update
    n = PCNN(coupling="none", ndim=1, a_F=0.5, a_E=0.5, V_E=1.0, e_init=1.0)
    x = torch.tensor([0.8, 0.9, 2.0], dtype=D).view(3, 1, 1)
    # t=1: F = 0.8,            Theta = 1          -> 0;  E1 = 0.5*1          = 0.5
    # t=2: F = 0.5*0.8 + 0.9 = 1.3, Theta = 0.5   -> 1;  E2 = 0.5*0.5 + 1    = 1.25
    # t=3: F = 0.5*1.3 + 2.0 = 2.65, Theta = 1.25 -> 1;  E3 = 0.5*1.25 + 1   = 1.625
    y, s = run(n, x)
    assert y.flatten().tolist() == [0.0, 1.0, 1.0]
    assert s["f"].item() == pytest.approx(2.65, abs=1e-15)
    assert s["e"].item() == pytest.approx(1.625, abs=1e-15)
    assert s["l"].item() == 0.0


def test_threshold_before_and_reset_forms_by_hand() -> None:
    x = torch.tensor([0.8, 0.9, 2.0], dtype=D).view(3, 1, 1)
    # "before": E[t] = a_E E[t-1] + V_E Y[t-1], compare U[t] > E[t]
    # t=1: E1 = 0.5, F = 0.8 -> 1; t=2: E2 = 0.25 + 1 = 1.25, F = 1.3 -> 1; t=3: E3 = 0.625 + 1, F = 2.65 -> 1
    n = PCNN(coupling="none", ndim=1, a_F=0.5, a_E=0.5, V_E=1.0, threshold_update="before")
    y, s = run(n, x)
    assert y.flatten().tolist() == [1.0, 1.0, 1.0]
    assert s["e"].item() == pytest.approx(1.625, abs=1e-15)
    # threshold_mode "reset" with V_E = 3 ("after" order): E = (1-Y) a_E E + Y V_E
    # t=1: Theta 1, F 0.8 -> 0, E1 = 0.5; t=2: F 1.3 > 0.5 -> 1, E2 = 3; t=3: F 2.65 < 3 -> 0, E3 = 1.5
    r = PCNN(coupling="none", ndim=1, a_F=0.5, a_E=0.5, V_E=3.0, threshold_mode="reset")
    y, s = run(r, x)
    assert y.flatten().tolist() == [0.0, 1.0, 0.0]
    assert s["e"].item() == pytest.approx(1.5, abs=1e-15)
    # the additive form differs: E2 = 0.25 + 3 = 3.25, E3 = 0.5*3.25 = 1.625
    a = PCNN(coupling="none", ndim=1, a_F=0.5, a_E=0.5, V_E=3.0)
    assert run(a, x)[1]["e"].item() == pytest.approx(1.625, abs=1e-15)


def test_strict_threshold() -> None:
    x = torch.ones(1, 1, 1, dtype=D)  # U = 1 = Theta exactly
    assert PCNN(coupling="none", ndim=1)(x).item() == 0.0  # classical U > Theta
    assert PCNN(coupling="none", ndim=1, strict=False)(x).item() == 1.0


def test_intra_coupled_trace_by_hand() -> None:
    # [T=3, B=1, C=1, L=3], kernel w = [0.5, 0, 0.25]: K[i] = 0.5 Y[i-1] + 0.25 Y[i+1] (zero padded)
    n = PCNN(
        1, "intra", 3, ndim=2, a_F=0.5, a_L=0.5, V_L=1.0, beta=1.0, a_E=0.5, V_E=2.0, e_init=1.0
    ).double()
    with torch.no_grad():
        n.coupling.weight.copy_(torch.tensor([[[0.5, 0.0, 0.25]]], dtype=D))
    x = torch.tensor([1.5, 0.6, 0.6], dtype=D).view(1, 1, 1, 3).repeat(3, 1, 1, 1)
    # t=1: K=0, F=U=[1.5,.6,.6] vs 1 -> Y1=[1,0,0]; E1 = .5 + 2 Y1 = [2.5,.5,.5]
    # t=2: K=[0,.5,0]; F=[2.25,.9,.9]; L=[0,.5,0]; U=F(1+L)=[2.25,1.35,.9] vs E1 -> Y2=[0,1,1]
    #      E2 = .5 E1 + 2 Y2 = [1.25, 2.25, 2.25]
    # t=3: K=[.25,.25,.5]; F=[2.625,1.05,1.05]; L=.5[0,.5,0]+K=[.25,.5,.5]; U=[3.28125,1.575,1.575]
    #      vs E2 -> Y3=[1,0,0]; E3 = .5 E2 + 2 Y3 = [2.625, 1.125, 1.125]
    y, s = run(n, x)
    assert y[:, 0, 0].tolist() == [[1, 0, 0], [0, 1, 1], [1, 0, 0]]
    torch.testing.assert_close(
        s["f"].flatten(), torch.tensor([2.625, 1.05, 1.05], dtype=D), rtol=0, atol=1e-14
    )
    torch.testing.assert_close(s["l"].flatten(), torch.tensor([0.25, 0.5, 0.5], dtype=D), rtol=0, atol=1e-14)
    torch.testing.assert_close(
        s["e"].flatten(), torch.tensor([2.625, 1.125, 1.125], dtype=D), rtol=0, atol=1e-14
    )


def test_inter_coupled_trace_by_hand_with_feeding_feedback() -> None:
    # [T=2, B=1, C=2], ndim=1 (an FC layer): K = W Y, W = [[0, 1], [2, 0]] (cross-channel only), V_F = 0.5
    n = PCNN(2, "inter", 1, ndim=1, a_F=0.5, a_L=0.5, V_F=0.5, V_L=1.0, beta=1.0, a_E=1.0, V_E=0.0).double()
    with torch.no_grad():
        n.coupling.weight.copy_(torch.tensor([[0.0, 1.0], [2.0, 0.0]], dtype=D).view(2, 2, 1))
    x = torch.tensor([[1.2, 0.6], [0.2, 0.3]], dtype=D).view(2, 1, 2)
    # t=1: F=[1.2,.6] vs 1 -> Y1=[1,0]; t=2: K = W Y1 = [0, 2]; F = .5 F + x + .5 K = [.6+.2, .3+.3+1] = [.8, 1.6]
    #      L = K = [0, 2]; U = F (1 + L) = [.8, 4.8] -> Y2 = [0, 1] (without coupling F[1] = .6 < 1: silent)
    y, s = run(n, x)
    assert y[:, 0].tolist() == [[1, 0], [0, 1]]
    torch.testing.assert_close(s["f"].flatten(), torch.tensor([0.8, 1.6], dtype=D), rtol=0, atol=1e-14)


def test_coupling_off_is_the_uncoupled_neuron_exactly() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(5, 2, 3, 4, 4, generator=g, dtype=D) * 2
    ref = PCNN(coupling="none", a_F=0.7, a_E=0.8, V_E=0.6)(x)
    # an independent loop of the uncoupled form: F = a_F F + X, Y = [F > E], E = a_E E + V_E Y
    f, e, ys = torch.zeros_like(x[0]), torch.ones_like(x[0]), []
    for xt in x:
        f = 0.7 * f + xt
        yt = (f > e).to(D)
        e = 0.8 * e + 0.6 * yt
        ys.append(yt)
    assert torch.equal(ref, torch.stack(ys))
    assert 0 < float(ref.mean()) < 1
    for mode in ("intra", "inter", "both"):
        torch.manual_seed(1)
        kw = dict(a_F=0.7, a_E=0.8, V_E=0.6)
        off = PCNN(3, mode, beta=0.0, V_L=2.0, **kw).double()  # beta = 0: linking has no effect
        assert torch.equal(off(x), ref)
        zero = PCNN(3, mode, beta=2.0, V_F=1.0, coupling_init="zeros", **kw).double()  # K = 0
        assert torch.equal(zero(x), ref)
        on = PCNN(3, mode, beta=2.0, **kw).double()
        assert not torch.equal(on(x), ref)  # the coupling does act


def test_first_step_does_not_depend_on_the_kernel() -> None:
    x = torch.rand(3, 2, 4, 5, 5, dtype=D) * 2
    a = PCNN(4, "inter", beta=1.0).double()
    b = PCNN(4, "inter", beta=1.0).double()
    with torch.no_grad():
        b.coupling.weight.mul_(-5.0)
    ya, yb = a(x), b(x)
    assert torch.equal(ya[0], yb[0]) and not torch.equal(ya, yb)


def test_intra_equivariance_and_block_diagonal_inter() -> None:
    g = torch.Generator().manual_seed(2)
    x = torch.rand(4, 2, 3, 5, 5, generator=g, dtype=D) * 2
    perm = torch.tensor([2, 0, 1])
    intra = PCNN(3, "intra", beta=1.0, V_F=0.3).double()
    with torch.no_grad():
        intra.coupling.weight.copy_(torch.rand(3, 1, 3, 3, generator=g, dtype=D))
    permuted = PCNN(3, "intra", beta=1.0, V_F=0.3).double()
    with torch.no_grad():
        permuted.coupling.weight.copy_(intra.coupling.weight[perm])
    assert torch.equal(permuted(x[:, :, perm]), intra(x)[:, :, perm])
    # intra = inter with the block-diagonal C x C kernel
    inter = PCNN(3, "inter", beta=1.0, V_F=0.3).double()
    with torch.no_grad():
        inter.coupling.weight.zero_()
        for c in range(3):
            inter.coupling.weight[c, c] = intra.coupling.weight[c, 0]
    y_intra, s_intra = run(intra, x)
    y_inter, s_inter = run(inter, x)
    assert torch.equal(y_intra, y_inter)
    for k in s_intra:
        torch.testing.assert_close(s_intra[k], s_inter[k], rtol=0, atol=1e-12)
    # a full kernel breaks permutation equivariance
    with torch.no_grad():
        inter.coupling.weight.copy_(torch.rand(3, 3, 3, 3, generator=g, dtype=D))
        w = inter.coupling.weight.clone()
    link = run(inter, x)[1]["l"]
    with torch.no_grad():
        inter.coupling.weight.copy_(w[perm])  # permute output channels only, not input channels
    assert (run(inter, x[:, :, perm])[1]["l"] - link[:, perm]).abs().max() > 1e-3


def test_surrogate_gradient_by_hand() -> None:
    # one step, uncoupled: Y = 1 - H(Theta - U), dY/dx = atan'(Theta - U) = (a/2) / (1 + (pi/2 a (Theta-U))^2)
    x = torch.tensor([[[0.3, 0.9, 1.4]]], dtype=D, requires_grad=True)
    n = PCNN(coupling="none", ndim=1, e_init=1.0, surrogate="atan", alpha=2.0)
    n(x).sum().backward()
    d = 1.0 - x.detach().flatten()
    expected = (2.0 / 2) / (1 + (math.pi / 2 * 2.0 * d) ** 2)
    torch.testing.assert_close(x.grad.flatten(), expected, rtol=1e-12, atol=0)


def test_learnable_scalars_and_classic_kernel() -> None:
    n = PCNN(4, "intra", learnable=["beta", "a_E", "e_init"], coupling_init="classic")
    names = {k for k, _ in n.named_parameters()}
    assert names == {"beta", "a_E", "e_init", "coupling.weight"}
    k = classic_kernel(3)
    assert k[1, 1] == 0 and k[0, 1] == 1 and k[0, 0] == pytest.approx(1 / math.sqrt(2))
    assert torch.equal(n.coupling.weight[2, 0], k.float())
    full = PCNN(3, "inter", coupling_init="classic")
    assert full.coupling.weight[0, 1].abs().sum() == 0 and torch.equal(full.coupling.weight[1, 1], k.float())
    assert decay_from_alpha(0.2) == pytest.approx(0.8187307531)


def test_bad_arguments_and_inputs() -> None:
    with pytest.raises(ConfigError, match="coupling must be one of"):
        PCNN(4, "lateral")
    with pytest.raises(ConfigError, match="needs channels"):
        PCNN(None, "inter")
    with pytest.raises(ConfigError, match="a_L must lie in"):
        PCNN(4, a_L=1.5)
    with pytest.raises(ConfigError, match="unknown scalars"):
        PCNN(4, learnable=["tau"])
    with pytest.raises(ConfigError, match="odd"):
        PCNN(4, kernel_size=2)
    with pytest.raises(ConfigError, match="finite"):
        PCNN(4, beta=float("nan"))
    n = PCNN(4, "inter")
    with pytest.raises(InputError, match="4 channels"):
        n(torch.rand(2, 1, 3, 5, 5))
    with pytest.raises(InputError, match="5 dimensions"):
        n(torch.rand(2, 1, 4, 5))
    with pytest.raises(InputError):
        n(torch.rand(0, 1, 4, 5, 5))


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"coupling": "none"},
        {"coupling": "intra"},
        {"coupling": "inter", "threshold_update": "before"},
        {"coupling": "inter", "threshold_mode": "reset", "V_F": 0.5, "learnable": ["beta", "V_L", "a_F"]},
        {"coupling": "none", "learnable": list(SCALARS)},
    ],
)
def test_conformance_kit(kw) -> None:
    check_neuron("pcnn", **kw)


def test_registered_and_resettable() -> None:
    n = zoo.create_neuron("pcnn", channels=2, ndim=2)
    assert isinstance(n, PCNN) and n.coupling_mode == "inter"
    x = torch.rand(3, 1, 2, 4) * 2
    with zoo.streaming(n):
        n(x)
        assert set(n.state) == {"f", "l", "e", "y"}
    zoo.reset(n)
    assert n.state == {}


def test_fixed_threshold_leaky_integrator() -> None:
    # V_E = 0, a_E = 1 (and no coupling): a non-resetting leaky integrator with the fixed threshold E[0]
    x = torch.rand(6, 3, 5, dtype=D) * 1.5
    n = PCNN(coupling="none", ndim=1, a_F=0.6, a_E=1.0, V_E=0.0, e_init=1.2)
    f = torch.zeros_like(x[0])
    expected = []
    for xt in x:
        f = 0.6 * f + xt
        expected.append((f > 1.2).to(D))
    assert torch.equal(n(x), torch.stack(expected))
