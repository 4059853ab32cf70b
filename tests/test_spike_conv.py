"""``spike_linear`` / ``spike_conv2d``: the ``lut`` and ``gather`` alternates against the dense reference, the
fallback of ``lut`` on input that is not spikes of one amplitude, automatic selection (shape, firing rate, no
gradient), and the :func:`zoo_core.layers.spike_aware` surgery on a SpikingResformer whose neurons fire.

The alternates sum the same products in another order, so they match the reference within float rounding:
float64 to 1e-12, float32 to 1e-5 (weights of scale ``1/sqrt(K)``).
"""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo_core as zoo
from zoo_core.kernels import select
from zoo_core.kernels import spike_conv as sc
from zoo_core.layers import spike_aware
from zoo_core.testing_parity import make_fire

TOL = {torch.float64: (1e-12, 1e-12), torch.float32: (1e-5, 1e-5)}


def _spikes(shape, rate=0.3, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < rate).to(dtype)


def _weight(shape, dtype=torch.float32, seed=1):
    g = torch.Generator().manual_seed(seed)
    fan_in = torch.Size(shape[1:]).numel()
    return (torch.randn(shape, generator=g, dtype=torch.float64) / fan_in**0.5).to(dtype)


def test_registered_with_dense_reference():
    assert set(zoo.list_kernels("spike_*")) == {
        f"{op}:{impl}" for op in ("spike_linear", "spike_conv2d") for impl in ("dense", "lut", "gather")
    }
    for op in ("spike_linear", "spike_conv2d"):
        assert zoo.kernel_info(f"{op}:dense").is_reference
        for impl in ("lut", "gather"):
            info = zoo.kernel_info(f"{op}:{impl}")
            assert not info.is_reference and info.devices == ("cpu",)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize(
    "shape,n,bias", [((37, 64), 48, False), ((2, 5, 24), 7, True), ((1, 8), 1, True)], ids=str
)
@pytest.mark.parametrize("rate", [0.05, 0.5, 1.0])
def test_linear_lut_matches_dense_on_spikes(dtype, shape, n, bias, rate):
    x = _spikes(shape, rate, dtype)
    w = _weight((n, shape[-1]), dtype)
    b = _weight((n, 1), dtype, seed=2)[:, 0] if bias else None
    assert sc.supports_linear(x, w, b)
    got = sc.linear_lut(x, w, b)
    want = sc.linear_dense(x, w, b)
    assert got.shape == want.shape and got.dtype == want.dtype
    torch.testing.assert_close(got, want, rtol=TOL[dtype][0], atol=TOL[dtype][1])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize(
    "cin,cout,k,stride,size",
    [(16, 24, 1, 1, 9), (8, 5, 1, 2, 7), (16, 12, 2, 2, 8), (8, 6, 4, 4, 10), (3, 4, 4, 4, 8)],
    ids=["1x1", "1x1/2", "2x2/2", "4x4/4 ragged", "4x4/4 C=3"],
)
def test_conv2d_lut_matches_dense_on_spikes(dtype, cin, cout, k, stride, size):
    x = _spikes((3, cin, size, size), 0.3, dtype)
    w = _weight((cout, cin, k, k), dtype)
    b = _weight((cout, 1), dtype, seed=3)[:, 0]
    assert sc.supports_conv2d(x, w, b, stride)
    got = sc.conv2d_lut(x, w, b, stride)
    want = sc.conv2d_dense(x, w, b, stride)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=TOL[dtype][0], atol=TOL[dtype][1])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("amplitude", [0.0, 0.37, 2.0, 256.0])
def test_spikes_of_one_amplitude_take_the_lut(dtype, amplitude, monkeypatch):
    calls = []
    real = sc._lut_rows
    monkeypatch.setattr(sc, "_lut_rows", lambda *a: calls.append(a[-1]) or real(*a))
    x = _spikes((3, 16, 5, 5), 0.3, dtype) * amplitude
    w = _weight((6, 16, 1, 1), dtype)
    b = _weight((6, 1), dtype, seed=5)[:, 0]
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(
        sc.conv2d_lut(x, w, b), F.conv2d(x, w, b), rtol=rtol, atol=atol * max(1, amplitude)
    )
    xl = x.permute(0, 2, 3, 1)
    torch.testing.assert_close(
        sc.linear_lut(xl, w[:, :, 0, 0]),
        F.linear(xl, w[:, :, 0, 0]),
        rtol=rtol,
        atol=atol * max(1, amplitude),
    )
    assert calls == [float(torch.tensor(amplitude, dtype=dtype))] * 2  # the lut ran, with this amplitude


@pytest.mark.parametrize(
    "values",
    [
        [0.0, 0.5, 1.0],
        [0.0, 1.0, 2.0],
        [0.0, -1.0],
        [0.0, 1.0, 1e-30],
        [0.0, 1.0, float("nan")],
        [0.0, float("inf")],
    ],
    ids=["graded", "two levels", "negative", "tiny", "nan", "inf"],
)
def test_other_input_runs_the_reference(values, monkeypatch):
    monkeypatch.setattr(sc, "_lut_rows", None)  # never reached
    g = torch.Generator().manual_seed(4)
    v = torch.tensor(values, dtype=torch.float64)
    x = v[torch.randint(len(values), (6, 16), generator=g)]
    x[0, : len(values)] = v  # every value present
    assert not sc.is_binary(x)
    w = _weight((5, 16), torch.float64)
    torch.testing.assert_close(sc.linear_lut(x, w), F.linear(x, w), rtol=0, atol=0, equal_nan=True)
    xc = x.view(6, 16, 1, 1)
    wc = w.view(5, 16, 1, 1)
    torch.testing.assert_close(sc.conv2d_lut(xc, wc), F.conv2d(xc, wc), rtol=0, atol=0, equal_nan=True)


def test_is_binary():
    assert sc.is_binary(torch.tensor([0.0, 1.0, -0.0])) and sc.is_binary(torch.zeros(0))
    for bad in ([0.0, 0.5], [1.0, 2.0], [0.0, -1.0], [float("nan")], [1.0 - 1e-7]):
        assert not sc.is_binary(torch.tensor(bad))


@pytest.mark.parametrize("fn", [sc.linear_lut, sc.linear_gather], ids=["lut", "gather"])
def test_weight_caches_follow_weight_updates(fn):
    x = _spikes((9, 16), 0.5, torch.float64)
    w = _weight((4, 16), torch.float64)
    first = fn(x, w)
    with torch.no_grad():
        w.mul_(-2.0)  # in place: same storage, new version
    torch.testing.assert_close(fn(x, w), -2.0 * first, rtol=1e-12, atol=1e-12)
    with torch.inference_mode():  # inference tensors have no version counter: nothing is cached
        wi = _weight((4, 16), torch.float64).clone()
        first = fn(x, wi)
        wi.mul_(3.0)
        torch.testing.assert_close(fn(x, wi), 3.0 * first, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize(
    "levels", [[0.0, 1.0], [0.0, 0.5, 1.0, 3.0], [0.0, -1.5, 2.0]], ids=["binary", "graded", "signed"]
)
def test_gather_matches_dense_on_any_input(dtype, levels):
    g = torch.Generator().manual_seed(7)
    v = torch.tensor(levels, dtype=dtype)
    p = torch.tensor([0.8] + [0.2 / (len(levels) - 1)] * (len(levels) - 1))
    x = v[torch.multinomial(p, 4 * 16 * 6 * 6, replacement=True, generator=g)].view(4, 16, 6, 6)
    x[0, 0] = 0.0  # some rows without any active input
    w = _weight((10, 16, 1, 1), dtype)
    b = _weight((10, 1), dtype, seed=8)[:, 0]
    rtol, atol = TOL[dtype]
    torch.testing.assert_close(sc.conv2d_gather(x, w, b, 2), F.conv2d(x, w, b, 2), rtol=rtol, atol=atol)
    w2 = _weight((10, 16, 2, 2), dtype)
    torch.testing.assert_close(
        sc.conv2d_gather(x, w2, None, 2), F.conv2d(x, w2, None, 2), rtol=rtol, atol=atol
    )
    xl = x.permute(0, 2, 3, 1)
    wl = w[:, :, 0, 0]
    torch.testing.assert_close(sc.linear_gather(xl, wl, b), F.linear(xl, wl, b), rtol=rtol, atol=atol)


def test_automatic_selection_by_shape_rate_and_grad():
    wide = nn.Linear(64, max(sc.MIN_OUT_FEATURES, 64 * sc.MIN_EXPANSION), bias=False)
    narrow = nn.Linear(64, 64, bias=False)
    square = nn.Linear(sc.MIN_OUT_FEATURES, sc.MIN_OUT_FEATURES, bias=False)
    x = _spikes((sc.MIN_ROWS, 64), 0.2)
    with torch.no_grad():
        assert select("spike_linear", x, wide.weight).impl == "lut"
        assert select("spike_linear", _spikes((sc.MIN_ROWS, 64), 0.05), wide.weight).impl == "gather"
        assert select("spike_linear", _spikes((sc.MIN_ROWS, 64), 0.45), wide.weight).impl == "dense"
        assert select("spike_linear", x, narrow.weight).impl == "dense"
        assert (
            select("spike_linear", _spikes((sc.MIN_ROWS, sc.MIN_OUT_FEATURES), 0.2), square.weight).impl
            == "dense"
        )
        assert select("spike_linear", x[:16], wide.weight).impl == "dense"  # too few rows
    # a weight that needs a gradient: the inference-only alternates are never chosen, a forced one falls back
    assert select("spike_linear", x, wide.weight).impl == "dense"
    with pytest.warns(RuntimeWarning, match="cannot run"):
        assert select("spike_linear", x, wide.weight, kernel="lut").impl == "dense"
    xc = _spikes((2, 64, 64, 64), 0.2)
    assert not sc.supports_conv2d(xc, torch.zeros(256, 64, 3, 3), None, 1, 1)  # padded 3x3: dense only
    with torch.no_grad():
        assert select("spike_conv2d", xc, torch.zeros(256, 64, 1, 1), None, 1, 0, 1, 1).impl == "lut"
        # a patch conv can run the alternates but measured slower: never picked automatically
        w4 = torch.zeros(256, 64, 4, 4)
        assert sc.supports_conv2d(xc, w4, None, 4) and select("spike_conv2d", xc, w4, None, 4).impl == "dense"


def _fired(model: nn.Module) -> nn.Module:
    """``model`` (float64) with weights under which every neuron layer fires (:func:`make_fire`, seed 0)."""
    x = torch.rand((4, model.in_chans, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return make_fire(model, x, seed=0)


@pytest.fixture(scope="module")
def resformer():
    if "spikingresformer_dvsg" not in zoo.list_models():
        pytest.skip("the spikingresformer plugin is not installed")
    return _fired(zoo.create_model("spikingresformer_dvsg", img_size=8, T=4).double())


@pytest.mark.parametrize("kernel", ["lut", "gather"])
def test_spike_aware_model_equals_dense_where_neurons_fire(resformer, monkeypatch, kernel):
    m = resformer
    x = torch.rand((3, m.in_chans, 8, 8), generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    rates = []
    hooks = [
        n.register_forward_hook(lambda mod, i, o: rates.append(float(o.mean())))
        for n in m.modules()
        if isinstance(n, zoo.sdk.BaseNeuron)
    ]
    keys = list(m.state_dict())
    with torch.no_grad():
        want = m(x)
    for h in hooks:
        h.remove()
    assert min(rates) > 0.01 and max(rates) < 0.9, rates  # every neuron layer fires, none saturates

    calls = []
    inner = "_lut_rows" if kernel == "lut" else "_gather_rows"
    real = getattr(sc, inner)
    monkeypatch.setattr(sc, inner, lambda *a: calls.append(a[0].shape) or real(*a))
    changed = spike_aware(m, kernel=kernel)
    try:
        assert any("Wproj" in n for n in changed) and any("up" in n for n in changed)
        assert not any(".conv." in n for n in changed)  # padded 3x3 convs stay dense
        assert list(m.state_dict()) == keys
        with torch.no_grad():
            got = m(x)
        # the alternate ran on every changed layer (lut: all but the head, which reads pooled reals)
        assert len(calls) == len(changed) - (kernel == "lut")
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)
    finally:
        assert spike_aware(m, enable=False) == changed
    with torch.no_grad():
        assert torch.equal(m(x), want)  # undone: the dense model again, bit for bit


def test_spike_aware_training_keeps_gradients(resformer):
    m = resformer
    x = torch.rand((2, m.in_chans, 8, 8), generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    spike_aware(m)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # nothing forced, nothing falls back noisily
            out = m(x).sum()
        out.backward()
        grads = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
    finally:
        spike_aware(m, enable=False)
        m.zero_grad(set_to_none=True)
    m(x).sum().backward()
    for n, p in m.named_parameters():
        if p.grad is not None:
            assert torch.equal(grads[n], p.grad), n  # under grad every call runs the dense reference
    m.zero_grad(set_to_none=True)
