"""Neurons and surrogates: hand-computed traces, an independent per-step loop, analytic surrogate derivatives."""

import math

import pytest
import torch

import zoo_core as zoo
from zoo_core.errors import InputError
from zoo_core.neurons import IF, LIF, PLIF

# ---------------------------------------------------------------------------------------------- surrogates
ANALYTIC = {
    "atan": lambda x, a: (a / 2) / (1 + (math.pi / 2 * a * x) ** 2),
    "sigmoid": lambda x, a: a * torch.sigmoid(a * x) * (1 - torch.sigmoid(a * x)),
    "rectangular": lambda x, a: a * (x.abs() < 1 / (2 * a)).double(),
    "triangular": lambda x, a: torch.clamp(a - a * a * x.abs(), min=0),
    "erf": lambda x, a: a / math.sqrt(math.pi) * torch.exp(-((a * x) ** 2)),
}


def test_all_surrogates_registered():
    assert zoo.list_surrogates() == sorted(ANALYTIC)


@pytest.mark.parametrize("name", sorted(ANALYTIC))
@pytest.mark.parametrize("alpha", [0.5, 2.0, 5.0])
def test_surrogate_forward_is_heaviside_and_backward_analytic(name, alpha):
    sg = zoo.create_surrogate(name, alpha=alpha)
    x = torch.linspace(-3, 3, 601, dtype=torch.float64, requires_grad=True)
    s = sg(x)
    assert torch.equal(s, (x >= 0).double()), "forward must be the Heaviside step with >= (0 fires)"
    assert sg(torch.zeros(3)).tolist() == [1.0, 1.0, 1.0], "a membrane exactly at threshold fires"
    assert sg(torch.tensor([-1e-12])).item() == 0.0
    (g,) = torch.autograd.grad(s.sum(), x)
    torch.testing.assert_close(g, ANALYTIC[name](x.detach(), alpha), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", sorted(ANALYTIC))
def test_surrogate_derivative_has_unit_area(name):
    sg = zoo.create_surrogate(name, alpha=3.0)
    x = torch.linspace(-60, 60, 2_000_001, dtype=torch.float64)
    area = torch.trapezoid(sg.derivative(x), x).item()
    assert area == pytest.approx(1.0, abs=2e-2 if name == "atan" else 1e-3)  # atan has heavy tails


def test_surrogate_defaults_and_bad_alpha():
    assert zoo.create_surrogate("atan").alpha == 2.0
    assert zoo.surrogate_info("sigmoid").defaults == {"alpha": 4.0}
    with pytest.raises(ValueError, match="alpha"):
        zoo.create_surrogate("atan", alpha=-1.0)


# ---------------------------------------------------------------------------------------------- hand traces
def _run(neuron, inputs):
    x = torch.tensor(inputs, dtype=torch.float64).reshape(-1, 1)
    with zoo.streaming(neuron):
        spikes, vs = [], []
        for xt in x.unbind(0):
            spikes.append(neuron.step(xt).item())
            vs.append(neuron.state["v"].item())
    return spikes, vs


def test_lif_hand_trace_hard_reset():
    # tau=2, v_th=1, hard reset to 0, constant 1.5: H = 0.75, 1.125, 0.75, 1.125 -> spikes 0, 1, 0, 1
    n = zoo.create_neuron("lif", tau=2.0, v_threshold=1.0, v_reset=0.0)
    spikes, vs = _run(n, [1.5] * 4)
    assert spikes == [0, 1, 0, 1]
    assert vs == [0.75, 0.0, 0.75, 0.0]
    assert n(torch.full((4, 1), 1.5)).flatten().tolist() == [0, 1, 0, 1]


def test_lif_hand_trace_soft_reset():
    # H1 = 0.75; H2 = 1.125 -> V = 0.125; H3 = 0.8125; H4 = 1.15625 -> V = 0.15625
    spikes, vs = _run(LIF(tau=2.0, v_reset=None), [1.5] * 4)
    assert spikes == [0, 1, 0, 1]
    assert vs == [0.75, 0.125, 0.8125, 0.15625]


def test_lif_without_input_decay():
    # H = V (1 - 1/tau) + X with X = 0.6: 0.6, 0.9, 1.05 (fire -> 0), 0.6
    spikes, vs = _run(LIF(tau=2.0, decay_input=False), [0.6] * 4)
    assert spikes == [0, 0, 1, 0]
    assert vs == pytest.approx([0.6, 0.9, 0.0, 0.6])


def test_lif_nonzero_reset_potential():
    # v starts at v_reset = -0.5 and leaks towards it: H1 = -0.5 + (2 - 0) / 2 = 0.5;
    # H2 = 0.5 + (2 - 1.0) / 2 = 1.0 fires -> -0.5; H3 = -0.5 + (0 - 0) / 2 = -0.5; H4 = -0.5 + (1 - 0) / 2 = 0
    spikes, vs = _run(LIF(tau=2.0, v_reset=-0.5), [2.0, 2.0, 0.0, 1.0])
    assert spikes == [0, 1, 0, 0]
    assert vs == [0.5, -0.5, -0.5, 0.0]


def test_if_threshold_is_inclusive_and_resets():
    spikes, vs = _run(IF(), [0.4, 0.4, 0.2, 1.0])  # 0.4, 0.8, 1.0 (>= fires), 1.0 fires
    assert spikes == [0, 0, 1, 1]
    assert vs == [0.4, 0.8, 0.0, 0.0]
    spikes, vs = _run(IF(v_reset=None), [0.7, 0.7, 0.7])  # soft: 0.7, 1.4 -> 0.4, 1.1 -> 0.1
    assert spikes == [0, 1, 1]
    assert vs == pytest.approx([0.7, 0.4, 0.1])


def test_lif_steady_state_before_first_spike():
    # tau = 2, v0 = 0, constant input I: H[t] = I (1 - 2^-t) while no spike
    n = LIF(tau=2.0, v_threshold=10.0)
    _, vs = _run(n, [3.0] * 6)
    assert vs == [3.0 * (1 - 2.0**-t) for t in range(1, 7)]


# ---------------------------------------------------------------------------------------------- loop equivalence
def _explicit_loop(x, tau, v_th, v_reset, decay_input, kind):
    """Independent per-element, per-step implementation of the documented equations (Python floats)."""
    T, N = x.shape
    out = torch.zeros_like(x)
    for i in range(N):
        v = 0.0 if v_reset is None else v_reset
        vr = 0.0 if v_reset is None else v_reset
        for t in range(T):
            xi = x[t, i].item()
            if kind == "if":
                h = v + xi
            elif decay_input:
                h = v + (xi - (v - vr)) / tau
            else:
                h = v - (v - vr) / tau + xi
            s = 1.0 if h >= v_th else 0.0
            v = h - s * v_th if v_reset is None else (1 - s) * h + s * v_reset
            out[t, i] = s
    return out


@pytest.mark.parametrize("kind", ["if", "lif", "plif"])
@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("v_reset", [0.0, None, -0.3])
def test_multistep_equals_explicit_loop(kind, decay_input, v_reset):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(12, 50, generator=g, dtype=torch.float64) * 1.6 - 0.1
    if kind == "if":
        n, tau = IF(v_threshold=0.9, v_reset=v_reset), None
    elif kind == "lif":
        n, tau = LIF(tau=1.7, decay_input=decay_input, v_threshold=0.9, v_reset=v_reset), 1.7
    else:
        n, tau = PLIF(init_tau=3.0, decay_input=decay_input, v_threshold=0.9, v_reset=v_reset), 3.0
        n.double()
    got = n(x)
    want = _explicit_loop(x, tau, 0.9, v_reset, decay_input, kind)
    assert torch.equal(got, want)


def test_plif_parameter_and_equivalence_to_lif():
    p = PLIF(init_tau=2.0)
    assert p.w.shape == () and p.w.item() == 0.0 and p.tau == pytest.approx(2.0)
    assert PLIF(init_tau=4.0).w.item() == pytest.approx(-math.log(3.0))
    x = torch.rand(8, 4, 16, dtype=torch.float64) * 2
    assert torch.equal(p.double()(x), LIF(tau=2.0)(x))
    with pytest.raises(ValueError, match="init_tau"):
        PLIF(init_tau=1.0)


def test_plif_time_constant_gets_gradient():
    p = PLIF()
    x = torch.rand(6, 2, 8) * 2
    p(x).sum().backward()
    assert p.w.grad is not None and p.w.grad.abs().item() > 0


# ---------------------------------------------------------------------------------------------- gradients
def test_single_step_gradient_is_surrogate_over_tau():
    # one step from rest: H = x / tau, S = Theta(H - 1), dS/dx = sg'(x/tau - 1) / tau
    x = torch.tensor([[0.3, 1.9, 2.0, 2.4]], dtype=torch.float64, requires_grad=True)
    n = LIF(tau=2.0, surrogate="atan", alpha=2.0)
    n(x).sum().backward()
    h = x.detach() / 2.0
    want = ANALYTIC["atan"](h - 1.0, 2.0) / 2.0
    torch.testing.assert_close(x.grad, want)


def test_gradient_through_time_matches_manual_bptt():
    # Two steps, detach_reset=True, hard reset to 0, tau=2: dS2/dx1 = sg'(H2-1) * (1 - S1) * (1 - 1/tau) / tau
    x = torch.tensor([[0.8], [1.5]], dtype=torch.float64, requires_grad=True)
    n = LIF(tau=2.0, detach_reset=True, surrogate="sigmoid", alpha=4.0)
    s = n(x)
    g1, g2 = torch.autograd.grad(s[1].sum(), x)[0].flatten().tolist()
    h1 = 0.4
    h2 = h1 + (1.5 - h1) / 2
    sg2 = ANALYTIC["sigmoid"](torch.tensor(h2 - 1.0), 4.0).item()
    assert g2 == pytest.approx(sg2 / 2)
    assert g1 == pytest.approx(sg2 * (1 - 0.0) * 0.5 / 2)


def test_detach_reset_changes_only_the_gradient():
    x = torch.rand(10, 3, 7, dtype=torch.float64) * 2
    a, b = LIF(detach_reset=False), LIF(detach_reset=True)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    sa, sb = a(xa), b(xb)
    assert torch.equal(sa, sb)
    sa.sum().backward()
    sb.sum().backward()
    assert not torch.allclose(xa.grad, xb.grad)


# ---------------------------------------------------------------------------------------------- state, dtype
def test_forward_starts_from_rest_and_streaming_is_explicit():
    n = LIF()
    x = torch.full((2, 1), 1.5)
    assert n(x).flatten().tolist() == [0, 1]
    assert n(x).flatten().tolist() == [0, 1], "a second call must start from rest"
    assert n.state == {}
    with zoo.streaming(n):
        first = n(x).flatten().tolist()
        second = n(x).flatten().tolist()  # continues: v = 0 after the spike at step 2 -> same pattern
        third = n(torch.full((1, 1), 0.5)).flatten().tolist()
    assert (first, second, third) == ([0, 1], [0, 1], [0])
    assert n.state == {} and not n.streaming


def test_streaming_state_shape_mismatch_is_explained():
    n = LIF()
    with zoo.streaming(n):
        n(torch.rand(2, 3, 4))
        with pytest.raises(InputError, match=r"zoo\.reset"):
            n(torch.rand(2, 5, 4))


def test_reset_walks_the_module_tree():
    model = zoo.create_model("spiking_cnn")
    with zoo.streaming(model):
        model(torch.rand(1, 2, 1, 8, 8))
        states = [m.state for m in model.modules() if isinstance(m, zoo.BaseNeuron)]
        assert states and all(s for s in states)
        zoo.reset(model)
        assert all(not m.state for m in model.modules() if isinstance(m, zoo.BaseNeuron))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_dtype_preserved(dtype):
    x = (torch.rand(4, 2, 3) * 2).to(dtype)
    for n in (IF(), LIF(), PLIF().to(dtype)):
        assert n(x).dtype == dtype


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.rand(5), "at least 2"),
        (torch.rand(0, 2), "T"),
        (torch.ones(3, 2, dtype=torch.int32), "floating"),
    ],
)
def test_bad_input_is_rejected(x, match):
    with pytest.raises(InputError, match=match):
        LIF()(x)


@pytest.mark.parametrize("kw", [{"tau": 0.0}, {"tau": float("nan")}, {"v_threshold": float("inf")}])
def test_bad_arguments_are_rejected(kw):
    with pytest.raises(ValueError):
        LIF(**kw)


def test_unknown_surrogate_name():
    with pytest.raises(LookupError, match="closest: atan"):
        LIF(surrogate="atam")
