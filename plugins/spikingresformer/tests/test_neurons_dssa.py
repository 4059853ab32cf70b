"""The neurons (exact LIF / PLIF traces, the official settings) and DSSA (scale and head-split identities, the
firing-rate buffers and their warning)."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import zoo_core as zoo
from zoo_core.sdk import LIF, PLIF

from zoo_spikingresformer.dssa import DSSA, FiringRateWarning
from zoo_spikingresformer.layers import make_neuron


# ----------------------------------------------------------------------------------------------- neurons
@pytest.mark.parametrize("kind", ["lif", "plif"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_lif_trace_exact(kind, dtype):
    n = make_neuron(kind)
    with zoo.streaming(n):
        spikes, v = [], []
        for x_t in torch.full((4, 1), 1.5, dtype=dtype):
            x_t = x_t.detach()
            spikes.append(float(n.step(x_t).detach()))
            v.append(float(n.state["v"].detach()))
    assert spikes == [0.0, 1.0, 0.0, 1.0]  # H = 0.75, 1.125 -> reset, 0.75, 1.125 -> reset
    assert v == [0.75, 0.0, 0.75, 0.0]
    assert n(torch.full((4, 1), 1.5, dtype=dtype)).flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
    # constant 1.0 never fires: H_t = 1 - 2^-t
    assert not n(torch.ones(16, 3, dtype=dtype)).any()


def test_neuron_configuration_is_official():
    lif, plif = make_neuron("lif"), make_neuron("plif")
    assert type(lif) is LIF and type(plif) is PLIF
    assert (lif.tau, lif.decay_input, lif.v_threshold, lif.v_reset, lif.detach_reset) == (
        2.0,
        True,
        1.0,
        0.0,
        True,
    )
    assert lif.surrogate.name == "atan" and lif.surrogate.alpha == 2.0
    assert (plif.decay_input, plif.v_threshold, plif.v_reset, plif.detach_reset) == (True, 1.0, 0.0, True)
    assert plif.surrogate.alpha == 2.0
    assert list(lif.state_dict()) == []
    sd = plif.state_dict()
    assert list(sd) == ["w"] and sd["w"].shape == () and float(sd["w"]) == 0.0  # -ln(2 - 1); sigmoid = 0.5
    # ATan(alpha=2) surrogate: dS/dH = 1 / (1 + (pi (H - 1))^2); one step from rest: H = X / 2
    x = torch.tensor([[2.5]], dtype=torch.float64, requires_grad=True)
    lif(x).sum().backward()
    assert float(x.grad) == pytest.approx(0.5 / (1 + (torch.pi * 0.25) ** 2), rel=1e-14)


# ----------------------------------------------------------------------------------------------- DSSA
def _dssa(dim=12, heads=3, size=4, patch=2, seed=0):
    torch.manual_seed(seed)
    m = DSSA(dim, heads, (size // patch) ** 2, patch).double()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for w in (m.W.weight, m.Wproj.weight):
            w.normal_(0.0, 0.5, generator=g)
        for bn in (m.norm.bn, m.norm_proj.bn):
            bn.weight.uniform_(0.5, 1.5, generator=g)
            bn.bias.normal_(0.0, 0.3, generator=g)
            bn.running_mean.normal_(0.0, 0.1, generator=g)
            bn.running_var.uniform_(0.5, 1.5, generator=g)
        m.firing_rate_x.uniform_(0.05, 0.4, generator=g)
        m.firing_rate_attn.uniform_(0.05, 0.4, generator=g)
    x = torch.randn(3, 2, dim, size, size, generator=g, dtype=torch.float64) * 1.5 + 0.5
    return m.eval(), x


def _spikes_out(m, x):
    got = {}
    h = m.activation_out.register_forward_hook(lambda mod, i, o: got.setdefault("o", o))
    with torch.no_grad():
        y = m(x)
    h.remove()
    return y, got["o"]


@pytest.mark.parametrize("buffer", ["firing_rate_x", "firing_rate_attn"])
def test_dssa_scale_identity_bit_exact(buffer):
    m, x = _dssa()
    d = m.head_dim
    _, ref_spikes = _spikes_out(m, x)
    assert 0.02 < float(ref_spikes.mean()) < 0.98  # a non-trivial case
    for head in range(m.num_heads):
        a, b = copy.deepcopy(m), copy.deepcopy(m)
        with torch.no_grad():
            getattr(a, buffer)[0, 0, head] *= 4
            lo = 2 * d * head + (
                0 if buffer == "firing_rate_x" else d
            )  # Y1: [2di, 2di+d); Y2: [2di+d, 2d(i+1))
            b.norm.bn.weight[lo : lo + d] /= 2
            b.norm.bn.bias[lo : lo + d] /= 2
        ya, sa = _spikes_out(a, x)
        yb, sb = _spikes_out(b, x)
        assert torch.equal(sa, sb) and torch.equal(ya, yb)
        assert not torch.equal(sa, ref_spikes)  # the change matters


def test_dssa_head_split_identity_bit_exact():
    m, x = _dssa()
    T, B, _, H, W = x.shape
    h, d = m.num_heads, m.head_dim
    _, full = _spikes_out(m, x)
    lif = make_neuron("lif")
    with torch.no_grad():
        s = m.activation_in(x)
        heads = []
        for i in range(h):
            rows = slice(2 * d * i, 2 * d * (i + 1))
            conv = torch.nn.functional.conv2d(s.flatten(0, 1), m.W.weight[rows], stride=m.patch_size)
            bn = m.norm.bn
            y = torch.nn.functional.batch_norm(
                conv,
                bn.running_mean[rows],
                bn.running_var[rows],
                bn.weight[rows],
                bn.bias[rows],
                False,
                0.0,
                bn.eps,
            )
            y = y.view(T, B, 2 * d, -1)
            y1, y2 = y[:, :, :d], y[:, :, d:]
            si = s[:, :, d * i : d * (i + 1)].reshape(T, B, d, -1)
            attn = lif(
                torch.matmul(y1.transpose(-1, -2), si) * (1.0 / torch.sqrt(m.firing_rate_x[0, 0, i] * d))
            )
            o = torch.matmul(y2, attn) * (1.0 / torch.sqrt(m.firing_rate_attn[0, 0, i] * m.length))
            heads.append(lif(o.reshape(T, B, d, H, W)))
    assert torch.equal(torch.cat(heads, dim=2), full)


def test_firing_rate_buffers_init_and_ema():
    m, x = _dssa()
    with torch.no_grad():
        m.firing_rate_x.zero_()
        m.firing_rate_attn.zero_()
    assert set(m.state_dict()) >= {"firing_rate_x", "firing_rate_attn"}
    assert m.firing_rate_x.shape == (1, 1, 3, 1, 1)
    got = {}
    hooks = [
        m.activation_in.register_forward_hook(lambda mod, i, o: got.__setitem__("s", o)),
        m.activation_attn.register_forward_hook(lambda mod, i, o: got.__setitem__("a", o)),
    ]

    def rates():
        T, B = got["s"].shape[:2]
        rs = got["s"].reshape(T, B, 3, 4, -1).mean((0, 1, 3, 4), keepdim=True)
        return rs, got["a"].mean((0, 1, 3, 4), keepdim=True)

    m.train()
    with torch.no_grad():
        m(x)
    rs, ra = rates()
    assert (rs > 0).all() and (ra > 0).all()
    assert float((m.firing_rate_x - rs).abs().max()) == 0.0  # first forward: exactly the batch rate
    assert float((m.firing_rate_attn - ra).abs().max()) == 0.0
    before_x, before_a = m.firing_rate_x.clone(), m.firing_rate_attn.clone()
    x2 = x.flip(0) * 1.3
    with torch.no_grad():
        m(x2)
    rs, ra = rates()
    assert torch.equal(m.firing_rate_x, before_x * 0.999 + rs * (1 - 0.999))
    assert torch.equal(m.firing_rate_attn, before_a * 0.999 + ra * (1 - 0.999))
    # eval mode uses the buffers as they are and leaves them alone
    m.eval()
    snap = m.firing_rate_x.clone()
    with torch.no_grad():
        m(x)
    assert torch.equal(m.firing_rate_x, snap)
    for hk in hooks:
        hk.remove()


def test_loaded_nonzero_buffer_is_not_reinitialised():
    m, x = _dssa()
    loaded = m.firing_rate_x.clone()
    fresh = copy.deepcopy(m)
    fresh.rate_x_initialised = False  # python attribute, not in the state dict
    assert "rate_x_initialised" not in str(list(fresh.state_dict()))
    fresh.load_state_dict(m.state_dict())
    got = {}
    fresh.activation_in.register_forward_hook(lambda mod, i, o: got.__setitem__("s", o))
    fresh.train()
    with torch.no_grad():
        fresh(x)
    T, B = got["s"].shape[:2]
    rs = got["s"].reshape(T, B, 3, 4, -1).mean((0, 1, 3, 4), keepdim=True)
    assert torch.equal(fresh.firing_rate_x, loaded * 0.999 + rs * (1 - 0.999))


def test_zero_buffers_warn_once_in_eval():
    m, x = _dssa()
    with torch.no_grad():
        m.firing_rate_attn.zero_()
    with pytest.warns(FiringRateWarning, match="zero"), torch.no_grad():
        y = m(x)
    assert torch.isfinite(y).all()  # spikes saturate to 0/1: finite but meaningless
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.no_grad():
            m(x)  # once only
    # a whole fresh model warns once, naming its DSSA blocks
    model = zoo.create_model("spikingresformer_digits")
    model.eval()
    with pytest.warns(FiringRateWarning, match="DSSA blocks") as rec, torch.no_grad():
        model(torch.rand(2, 1, 8, 8))
    assert len([w for w in rec if issubclass(w.category, FiringRateWarning)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with torch.no_grad():
            model(torch.rand(2, 1, 8, 8))
