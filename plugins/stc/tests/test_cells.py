"""Each neuron's equations on hand-computed traces (float64), and the properties the cell equations imply:
reduction to IF / PLIF, first-step modulators, the memory Jacobian, group locality, gradient_detach, Heaviside
spikes with H(0) = 1."""

import math

import pytest
import torch
import zoo_core as zoo
from zoo_core.sdk import InputError

from zoo_stc.cells import CELLS


def sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def cell(key: str, channels: int = 1, groups: int = 1, k: int = 1, **kw):
    torch.manual_seed(0)
    return CELLS[key](None, channels, kernel_size=k, groups=groups, **kw).double()


def run(c, currents):
    """Drive a cell with per-step currents [T, B, C, H, W]; return spikes and the state trace."""
    st = c.initial_state(currents[0])
    trace = []
    with torch.no_grad():
        for i in currents:
            st = c.update(i, st)
            trace.append({k: v.clone() for k, v in st.items()})
    return trace


def flat(rows):
    return [v for r in rows for v in r]


def cur(*values):
    return torch.tensor(values, dtype=torch.float64).view(-1, 1, 1, 1, 1)


def test_lif_trace_by_hand():
    # m = h/2 + I/2; spikes at m >= 1; h' = m - s
    tr = run(cell("stc_baseline_lif"), cur(1.5, 1.5, 0.2, 4.0))
    hs = [float(t["h"]) for t in tr]
    ss = [float(t["s"]) for t in tr]
    assert ss == [0, 1, 0, 1]
    assert hs == pytest.approx([0.75, 0.125, 0.1625, 1.08125], abs=1e-15)


def test_plif_keeps_the_official_input_factor_and_fixed_flag_corrects_it():
    c = cell("stc_baseline_plif")
    with torch.no_grad():
        c.t_m.fill_(0.5)
    k = sig(0.5)
    tr = run(c, cur(1.0, 1.0))
    # official: m = sig(w) h + (1 - w) I  -> 0.5 at step 1
    m1 = 0.5 * 1.0
    m2 = k * m1 + 0.5
    assert float(tr[0]["h"]) == pytest.approx(m1, abs=1e-15)
    assert float(tr[1]["s"]) == float(m2 >= 1)
    assert float(tr[1]["h"]) == pytest.approx(m2 - float(m2 >= 1), abs=1e-15)
    f = cell("stc_baseline_plif", fixed=True)
    with torch.no_grad():
        f.t_m.fill_(0.5)
    assert float(run(f, cur(1.0))[0]["h"]) == pytest.approx((1 - k) * 1.0, abs=1e-15)


def test_tclif_trace_by_hand():
    c = cell("stc_baseline_tclif")
    with torch.no_grad():
        c.t_m.fill_(0.3)
        c.s_u.fill_(-0.4)
        c.s_p.fill_(0.7)
    su, sp, tm = sig(-0.4), sig(0.7), 0.3
    h = d = g = 0.0
    want = []
    for i in (0.9, 1.3, 0.2, 2.0):
        d = d - h * su + i - tm * g
        h = h + d * sp - g
        g = float(h - 1 >= 0)
        want.append((h, d, g))
    tr = run(c, cur(0.9, 1.3, 0.2, 2.0))
    got = [(float(t["h"]), float(t["d"]), float(t["s"])) for t in tr]
    assert flat(got) == pytest.approx(flat(want), abs=1e-14)
    assert any(w[2] == 1 for w in want) and any(w[2] == 0 for w in want)


def test_lmh_trace_by_hand_and_unused_t_m():
    c = cell("stc_baseline_lmh")
    vals = {"d_u": 0.2, "s_u": -0.6, "d_p": 0.4, "s_p": -1.0}
    with torch.no_grad():
        for k, v in vals.items():
            getattr(c, k).fill_(v)
    h = d = 0.0
    want = []
    for i in (0.8, 0.9, 0.1, 1.7):
        d = d * (sig(0.2) - 0.5) + h * (sig(-0.6) - 0.5) + i
        m = d * (sig(0.4) + 0.5) + h * (sig(-1.0) + 0.5)
        s = float(m >= 1)
        h = m - s
        want.append((h, d, s))
    tr = run(c, cur(0.8, 0.9, 0.1, 1.7))
    assert flat((float(t["h"]), float(t["d"]), float(t["s"])) for t in tr) == pytest.approx(
        flat(want), abs=1e-14
    )
    with torch.no_grad():
        c.t_m.fill_(5.0)  # unused in the official LM-H
    assert [float(t["h"]) for t in run(c, cur(0.8, 0.9, 0.1, 1.7))] == pytest.approx([w[0] for w in want])
    assert not c.t_m.requires_grad


def test_glif_trace_by_hand():
    c = cell("stc_baseline_glif")
    g = c.glif
    # initial values (gates 0.55, 0.65, 0.55; tau 0.25, Vth 0.5, leak 0.0625, conduct 0.5, reVth 0.5), read
    # back from the float32 logits the official code stores
    a, b, cc, tau, vth, leak, cond, rv = (
        float(getattr(g, n).detach().sigmoid().flatten()[0])
        for n in ("alpha", "beta", "gamma", "tau", "Vth", "leak", "conduct", "reVth")
    )
    assert [a, b, cc, tau, vth, leak, cond, rv] == pytest.approx(
        [0.55, 0.65, 0.55, 0.25, 0.5, 0.0625, 0.5, 0.5], abs=1e-6
    )
    u = o = 0.0
    want = []
    for i in (0.7, 0.2, 0.0, 1.0):
        i1 = i * (1 - b * (1 - cond))
        u = (1 - a * (1 - tau)) * u * (1 - cc * o) - (1 - a) * leak + i1 - (1 - cc) * rv * o
        o = float(u - vth > 0)
        want.append((u, o))
    tr = run(c, cur(0.7, 0.2, 0.0, 1.0))
    assert flat((float(t["h"]), float(t["s"])) for t in tr) == pytest.approx(flat(want), abs=1e-14)
    assert any(w[1] == 1 for w in want)


def _gn2(v0: float, v1: float, gamma: float, beta: float) -> tuple[float, float]:
    """GroupNorm of one group of two values (biased variance, eps 1e-5)."""
    mu = (v0 + v1) / 2
    var = ((v0 - mu) ** 2 + (v1 - mu) ** 2) / 2
    return tuple(gamma * (v - mu) / math.sqrt(var + 1e-5) + beta for v in (v0, v1))


def _set_modulators(c, wh, wv, gh, bh, gv, bv):
    with torch.no_grad():
        c.conv_h[0].weight.fill_(wh)
        c.conv_v[0].weight.fill_(wv)
        c.conv_h[1].weight.fill_(gh)
        c.conv_h[1].bias.fill_(bh)
        c.conv_v[1].weight.fill_(gv)
        c.conv_v[1].bias.fill_(bv)


@pytest.mark.parametrize("key", ["stc_lif", "stc_plif", "stc_lmh"])
def test_stc_traces_by_hand(key):
    """One channel, a 1x2 map, 1x1 modulator convs: A = tanh(GN(w g)) computed by hand per pixel."""
    c = cell(key)
    _set_modulators(c, 0.8, -1.1, 0.6, 0.3, 0.9, -0.2)
    k = 0.0
    if key == "stc_plif":
        with torch.no_grad():
            c.t_m.fill_(0.4)
        k = sig(0.4)
    if key == "stc_lmh":
        with torch.no_grad():
            c.d_u.fill_(0.3)
            c.s_u.fill_(-0.2)
            c.d_p.fill_(0.1)
            c.s_p.fill_(-0.5)
    currents = [(1.4, 0.3), (0.9, 1.2), (0.2, 0.1), (1.6, 0.7), (0.5, 1.5)]
    if key == "stc_plif":  # (1 - k) = 0.4 scales the input: drive harder to reach the threshold
        currents = [(2.5 * u, 2.5 * v) for u, v in currents]
    h, d, g = [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]
    want = []
    for i in currents:
        ah = [math.tanh(v) for v in _gn2(0.8 * g[0], 0.8 * g[1], 0.6, 0.3)]
        av = [math.tanh(v) for v in _gn2(-1.1 * g[0], -1.1 * g[1], 0.9, -0.2)]
        for p in range(2):
            if key == "stc_lif":
                m = h[p] * (1 + ah[p]) + i[p] * (1 + av[p])
            elif key == "stc_plif":
                m = h[p] * (1 + ah[p]) * k + i[p] * (1 + av[p]) * (1 - k)
            else:
                d[p] = d[p] * (sig(0.3) - 0.5) + h[p] * (sig(-0.2) - 0.5) + i[p] * (1 + av[p])
                m = d[p] * (sig(0.1) + 0.5) + h[p] * (1 + ah[p]) * (sig(-0.5) + 0.5)
            g[p] = float(m >= 1)
            h[p] = m - g[p]
        want.append((list(h), list(g)))
    x = torch.tensor(currents, dtype=torch.float64).view(len(currents), 1, 1, 1, 2)
    tr = run(c, x)
    got = [(t["h"].flatten().tolist(), t["s"].flatten().tolist()) for t in tr]
    for (gh, gs), (wh, ws) in zip(got, want):
        assert gs == ws
        assert gh == pytest.approx(wh, abs=1e-12)
    assert sum(sum(w[1]) for w in want) >= 2  # the trace exercises both spiking and silent steps


def test_reduction_to_if_and_plif_when_modulator_norms_are_zero():
    """GN gamma = beta = 0 makes A_h = A_v = 0: STC-LIF = IF (m = h + I), STC-PLIF = correct PLIF."""
    x = torch.rand(6, 2, 16, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1.5
    for key in ("stc_lif", "stc_plif"):
        c = cell(key, channels=16, groups=16, k=5)
        _set_modulators(c, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        with torch.no_grad():
            c.conv_h[0].weight.normal_()
            c.conv_v[0].weight.normal_()
        tr = run(c, x)
        k = 1.0 if key == "stc_lif" else 0.5
        h = torch.zeros_like(x[0])
        for t, xt in enumerate(x):
            m = k * h + (1 - k if key == "stc_plif" else 1.0) * xt
            s = (m >= 1).double()
            h = m - s
            assert torch.equal(tr[t]["s"], s) and torch.allclose(tr[t]["h"], h, atol=1e-14)


def test_first_step_modulators_equal_tanh_of_the_norm_bias():
    """With zero state, A = tanh(beta_GN), not 0."""
    c = cell("stc_lif", channels=16, groups=16, k=5)
    with torch.no_grad():
        c.conv_h[1].bias.uniform_(-1, 1)
        c.conv_v[1].bias.uniform_(-1, 1)
    ah, av = c.modulators(torch.zeros(2, 16, 4, 4, dtype=torch.float64))
    assert torch.equal(ah, torch.tanh(c.conv_h[1].bias).view(1, -1, 1, 1).expand_as(ah))
    assert torch.equal(av, torch.tanh(c.conv_v[1].bias).view(1, -1, 1, 1).expand_as(av))


@pytest.mark.parametrize("key", ["stc_lif", "stc_plif"])
def test_memory_jacobian(key):
    """d m / d h_prev = (1 + A_h) (STC-LIF) or k (1 + A_h) (STC-PLIF), elementwise."""
    c = cell(key, channels=16, groups=16, k=3)
    with torch.no_grad():
        c.conv_h[1].bias.uniform_(-1, 1)
        if key == "stc_plif":
            c.t_m.fill_(0.7)
    g = torch.Generator().manual_seed(1)
    s_prev = (torch.rand(1, 16, 4, 4, generator=g) < 0.4).double()
    h = torch.randn(1, 16, 4, 4, generator=g, dtype=torch.float64).requires_grad_(True)
    i = torch.randn(1, 16, 4, 4, generator=g, dtype=torch.float64)
    st = c.update(i, {"h": h, "s": s_prev})
    m = st["h"] + st["s"]  # = the membrane before the reset (the surrogate terms of -s and +s cancel)
    (grad,) = torch.autograd.grad(m.sum(), h)
    ah, _ = c.modulators(s_prev)
    want = (1 + ah) * (torch.sigmoid(c.t_m) if key == "stc_plif" else 1.0)
    assert torch.allclose(grad, want.detach(), atol=1e-12)
    assert bool((want > 0).all()) and bool(
        (want < (2 if key == "stc_lif" else 2 * torch.sigmoid(c.t_m).item())).all()
    )


def test_group_locality_and_no_spatial_locality():
    """A spike change in group j leaves other groups' modulators unchanged; within the group the
    GroupNorm statistics spread the change over the whole map."""
    c = cell("stc_lif", channels=32, groups=16, k=5)
    with torch.no_grad():
        c.conv_h[1].weight.uniform_(0.5, 1.5)
    g = torch.Generator().manual_seed(2)
    s = (torch.rand(1, 32, 9, 9, generator=g) < 0.3).double()
    s2 = s.clone()
    s2[0, 4, 0, 0] = 1 - s2[0, 4, 0, 0]  # channel 4 is in group 2 (channels 4, 5)
    with torch.no_grad():
        a1, _ = c.modulators(s)
        a2, _ = c.modulators(s2)
    diff = (a1 - a2).abs().amax((0, 2, 3))
    assert float(diff[[i for i in range(32) if i not in (4, 5)]].max()) == 0.0
    assert float((a1 - a2)[0, 4:6, 8, 8].abs().max()) > 0  # the far corner of the same group changes


def test_gradient_detach_changes_gradients_only():
    """Same forward with gradient_detach 0/1; with 1 no gradient flows through the autapse."""
    x = torch.rand(4, 1, 16, 4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2
    outs, grads = [], []
    for gd in (False, True):
        c = cell("stc_lif", channels=16, groups=16, k=3, gradient_detach=gd)
        xi = x.clone().requires_grad_(True)
        st = c.initial_state(x[0])
        ys = []
        for xt in xi:
            st = c.update(xt, st)
            ys.append(st["s"])
        y = torch.stack(ys)
        (y * torch.arange(1, 5, dtype=torch.float64).view(4, 1, 1, 1, 1)).sum().backward()
        outs.append(y.detach())
        grads.append(xi.grad.clone())
    assert torch.equal(outs[0], outs[1])
    assert not torch.allclose(grads[0][0], grads[1][0])  # the first input's later influence via g differs


def test_spikes_are_binary_and_fire_at_threshold():
    """S is Heaviside with H(0) = 1 (a membrane exactly at threshold fires); GLIF is strict."""
    for key in ("stc_baseline_lif", "stc_lif", "stc_baseline_plif"):
        c = cell(key)
        if key == "stc_baseline_plif":
            with torch.no_grad():
                c.t_m.fill_(0.0)
        i = {"stc_baseline_lif": 2.0, "stc_lif": 1.0, "stc_baseline_plif": 1.0}[key]
        tr = run(c, torch.full((1, 1, 1, 1, 2), i, dtype=torch.float64))
        assert tr[0]["s"].tolist() == [[[[1.0, 1.0]]]] and tr[0]["h"].abs().max() == 0.0
    g = cell("stc_baseline_glif")
    with torch.no_grad():
        g.glif.beta.fill_(-100.0)  # gate b = 0: the input passes unscaled
        g.glif.alpha.fill_(100.0)  # a = 1: no leak term
    tr = run(g, cur(0.5))
    assert float(tr[0]["h"]) == pytest.approx(0.5) and float(tr[0]["s"]) == 0.0
    x = torch.randn(5, 2, 16, 3, 3, dtype=torch.float64) * 2
    for key in CELLS:
        for t in run(cell(key, channels=16, groups=16, k=3), x):
            assert set(t["s"].unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("name", ["stc_lif", "stc_plif", "stc_lmh", "stc_baseline_glif", "stc_baseline_plif"])
def test_registered_neuron_equals_its_cell(name):
    n = zoo.create_neuron(name, channels=16, kernel_size=3).double()
    c = cell(name, channels=16, groups=16, k=3)
    c.load_state_dict(n.state_dict())  # the same (official) parameter names
    x = torch.rand(5, 2, 16, 4, 4, dtype=torch.float64) * 2
    ref = torch.stack([t["s"] for t in run(c, x)])
    with torch.no_grad():
        assert torch.equal(n(x), ref)
    with pytest.raises(InputError, match="channels at dim 2"):
        n(torch.rand(5, 2, 8, 4, 4))


def test_neuron_with_front_end_is_the_official_cell():
    """``in_channels`` adds conv_x: the keys are the official cell's and the output equals the model's cell."""
    m = zoo.create_model("spiking_predictor_stc_lmh_mmnist", num_hidden=[16], img_size=8).double()
    official_cell = m.cell_list[0]
    n = zoo.create_neuron("stc_lmh", channels=16, in_channels=4).double()
    assert list(n.state_dict()) == list(official_cell.state_dict())
    n.load_state_dict(official_cell.state_dict())
    x = torch.rand(6, 2, 4, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        st = official_cell.initial_state(torch.zeros(2, 16, 4, 4, dtype=torch.float64))
        ref = []
        for xt in x:
            st = official_cell(xt, st)
            ref.append(st["s"])
        assert torch.equal(n(x), torch.stack(ref))
