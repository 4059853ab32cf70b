"""The spiking retina simulator: alpha synapse, LIF cell, subunits, the 3-layer network and its data set."""

from __future__ import annotations

import math

import pytest
import torch
import zoo_core as zoo
from zoo_core.sdk import ConfigError

from zoo_neuroprosthesis.simulator import (
    LAYER2_INPUTS,
    RetinaLIFLayer,
    RetinaSimulator,
    RetinaSubunits,
    checkerboard,
    difference_of_gammas,
    subunit_masks,
    temporal_filter,
)


def test_alpha_synapse_timing_area_and_peak() -> None:
    syn = zoo.create_neuron("retina_alpha_synapse").double()
    t0, steps = 5, 300
    s = torch.zeros(steps, 1, dtype=torch.float64)
    s[t0] = 1.0
    i = syn(s)[:, 0]
    assert bool((i[: t0 + 2] == 0).all()) and float(i[t0 + 2]) == pytest.approx(0.01, abs=1e-15)
    assert float(i.sum()) == pytest.approx(1.0, abs=1e-6)  # unit area
    lag = i.argmax().item() - t0
    assert lag in (10, 11) and float(i[t0 + 10]) == pytest.approx(float(i[t0 + 11]), abs=1e-15)  # a tie
    assert float(i.max()) == pytest.approx(0.0387, abs=5e-5)
    k = torch.arange(steps - t0 - 2, dtype=torch.float64)
    assert torch.allclose(i[t0 + 2 :], 0.01 * (k + 1) * 0.9**k, atol=1e-15, rtol=0)  # (dt/tau)^2 (k+1) a^k


def test_alpha_synapse_streams_like_one_call() -> None:
    syn = zoo.create_neuron("retina_alpha_synapse")
    s = (torch.rand(40, 3, 2) < 0.2).float()
    full = syn(s)
    with zoo.streaming(syn):
        parts = torch.cat([syn(s[:7]), syn(s[7:8]), syn(s[8:])])
    assert torch.allclose(parts, full, atol=1e-7, rtol=0)


def test_lif_fixed_point_without_noise() -> None:
    lif = zoo.create_neuron("retina_lif").double()
    below, above = 0.0299, 0.0301  # V_e + R_m I vs V_th = -0.040 (V_e = -0.070)
    out = lif(
        torch.full((2000, 2), 0.0, dtype=torch.float64) + torch.tensor([below, above], dtype=torch.float64)
    )
    assert float(out[:, 0].sum()) == 0.0 and float(out[:, 1].sum()) > 0
    with zoo.streaming(lif):
        lif(torch.full((2000, 1), below, dtype=torch.float64))
        v = lif.state["v"]
    assert float(v) == pytest.approx(-0.070 + below, abs=1e-12)  # V converges to V_e + R_m I


def test_lif_resets_in_the_step_of_the_spike() -> None:
    lif = zoo.create_neuron("retina_lif").double()
    x = torch.zeros(5, 1, dtype=torch.float64)
    x[0] = 0.4  # one step: V = -0.07 + 0.1 (-0 + 0.4) ... crosses -0.04
    with zoo.streaming(lif):
        s = lif(x)
        assert float(s[0]) == 1.0 and float(lif.state["v"]) != -0.075
    with zoo.streaming(lif):
        lif(x[:1])
        assert float(lif.state["v"]) == -0.075  # reset to V_reset in the spike's step
    with pytest.raises(ConfigError, match="v_threshold"):
        zoo.create_neuron("retina_lif", v_threshold=-0.08)


def test_lif_gradient_flows_through_the_surrogate() -> None:
    lif = zoo.create_neuron("retina_lif")
    x = torch.full((30, 4), 0.05, requires_grad=True)
    lif(x).sum().backward()
    assert x.grad is not None and bool((x.grad != 0).any())
    with torch.no_grad():  # the no-grad fast path computes the same spikes
        fast = lif(x)
    assert torch.equal(fast, lif(x.detach().requires_grad_(True)).detach())


def test_temporal_filter_and_subunits() -> None:
    g = difference_of_gammas()
    assert g.shape == (20,) and float(g.norm()) == pytest.approx(1.0, abs=1e-12)
    assert g[:3].abs().max() == 0  # two frames of delay and t = 0: no weight
    assert float(g[3]) < 0 and float(g[:8].sum()) < 0 < float(g[8:].sum())  # OFF: negative lobe first
    x = torch.zeros(30, 1, dtype=torch.float64)
    x[4] = 1.0
    y = temporal_filter(x, g)
    assert torch.allclose(y[4:24, 0], g, atol=1e-14) and float(y[:4].abs().sum()) == 0  # causal, lag k = g[k]
    m = subunit_masks()
    assert m.shape == (6, 8, 8) and bool((m.sum((1, 2)) == 4).all()) and float(m.sum(0).max()) == 1.0
    assert m[0, 2:4, 1:3].sum() == 4 and m[5, 4:6, 5:7].sum() == 4
    assert LAYER2_INPUTS == ((0, 3, 1, 4), (1, 4, 2, 5))


def test_subunit_spikes_follow_the_rectified_drive() -> None:
    sub = RetinaSubunits()
    frames = checkerboard(3000, seed=1)
    r = sub.rates(frames)
    assert bool((r >= 0).all()) and float((r == 0).double().mean()) > 0.3  # rectified
    counts = sub(frames, torch.Generator().manual_seed(0))
    assert set(counts.unique().tolist()) <= {0.0, 1.0, 2.0}  # two Bernoulli draws per frame
    expected = 2 * (r * 0.04).clamp(0, 1)  # mean count = draws x p
    assert float(counts.mean()) == pytest.approx(float(expected.mean()), rel=0.1)
    assert float(counts[r.view(-1, 6) == 0].sum()) == 0  # no drive, no spike


def test_simulator_is_deterministic_and_counts_spikes() -> None:
    sim = RetinaSimulator()
    frames = checkerboard(80, seed=2)
    a, b = sim(frames, seed=3), sim(frames, seed=3)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["subunits"].shape == (80, 6) and a["layer2"].shape == (80, 2) and a["layer3"].shape == (80, 1)
    assert float(a["layer2"].sum()) > 0 and float(a["layer3"].sum()) > 0
    assert not torch.equal(sim(frames, seed=4)["layer2"], a["layer2"])  # another seed: other spikes


def test_lif_layer_places_inputs_mid_frame() -> None:
    layer = RetinaLIFLayer(noise=0.0)
    counts = torch.zeros(3, 1, dtype=torch.float64)
    counts[1] = 4.0  # a strong input in frame 1
    out = layer(counts)
    ms = layer.spikes_ms[:, 0]
    first = int(ms.nonzero()[0])
    assert 40 + 19 + 2 <= first < 80 and float(out[0]) == 0 and float(out[1]) >= 1  # after its arrival
    with pytest.raises(ConfigError):
        RetinaLIFLayer(arrival=40)


def test_retina_snn_dataset_is_small_and_consistent() -> None:
    train = zoo.create_dataset("retina_snn", split="train", n_train=60, n_test=30, T=20)
    test = zoo.create_dataset("retina_snn", split="test", n_train=60, n_test=30, T=20)
    assert len(train) == 60 and len(test) == 30 and train.num_cells == 3
    x, y = train[5]
    assert x.shape == (8, 8, 20) and y.shape == (3,)
    assert torch.equal(x[..., 0], train.frames[5]) and torch.equal(
        y, train.counts[25]
    )  # window n..n+T-1 -> n+T
    assert not torch.equal(train.frames[:30], test.frames[:30])
    assert math.isfinite(float(train.counts.sum()))
