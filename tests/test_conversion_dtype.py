"""ConversionIF's threshold across dtypes: exact in float64 after a float32 build, unchanged in float32."""

from __future__ import annotations

import torch

from zoo_core.neurons import ConversionIF

TH = 0.7  # not a float32 number: float32 holds 0.699999988079071


def _hand_trace(x: torch.Tensor, theta: torch.Tensor, rho: float) -> torch.Tensor:
    """V_0 = rho*theta, H_t = V_{t-1} + X_t, S_t = theta*[H_t >= theta], V_t = H_t - S_t, in x's dtype."""
    v = torch.zeros_like(x[0]) + rho * theta
    out = []
    for x_t in x:
        h = v + x_t
        s = (h >= theta).to(x.dtype) * theta
        v = h - s
        out.append(s)
    return torch.stack(out)


def _input(dtype: torch.dtype) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return (torch.rand(8, 3, 16, generator=g, dtype=torch.float64) * 1.6 - 0.2).to(dtype)


def test_float32_build_then_double_has_the_exact_threshold() -> None:
    n = ConversionIF(TH)
    assert n.v_threshold.dtype == torch.float32 and float(n.v_threshold) != TH  # built rounded
    n = n.double()
    assert n.v_threshold.dtype == torch.float64 and float(n.v_threshold) == TH
    assert list(n.state_dict()) == ["v_threshold"] and n.v_threshold.shape == (1,)
    x = _input(torch.float64)
    theta = torch.tensor(TH, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(n(x), _hand_trace(x, theta, 0.5))
    # the same values as a neuron built under the float64 default dtype, also for another init_mem
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        ref = ConversionIF(TH, init_mem=0.3)
    finally:
        torch.set_default_dtype(old)
    with torch.no_grad():
        assert torch.equal(ConversionIF(TH, init_mem=0.3).double()(x), ref(x))


def test_float32_outputs_use_the_float32_threshold() -> None:
    n = ConversionIF(TH, init_mem=0.5)
    assert n.v_threshold.dtype == torch.float32
    x = _input(torch.float32)
    theta = torch.tensor(TH, dtype=torch.float32)
    with torch.no_grad():
        y = n(x)
    assert y.dtype == torch.float32 and torch.equal(y, _hand_trace(x, theta, 0.5))
    assert 0 < int((y != 0).sum()) < y.numel()  # some spikes, not all
    # a float64 round trip and back does not change the float32 neuron either
    with torch.no_grad():
        assert torch.equal(n.double().float()(x), y)


def test_loaded_or_lower_precision_thresholds_are_kept() -> None:
    n = ConversionIF(TH)
    n.load_state_dict({"v_threshold": torch.tensor([TH])})  # a float32 checkpoint: its value is the threshold
    assert float(n.double().v_threshold) == float(torch.tensor(TH, dtype=torch.float32))
    m = ConversionIF(TH).double()
    m.load_state_dict({"v_threshold": torch.tensor([0.3], dtype=torch.float64)})
    assert float(m.float().double().v_threshold) == float(torch.tensor(0.3, dtype=torch.float32))
    h = (
        ConversionIF(TH).half().double()
    )  # float16 rounding is not the constructor's number rounded to float32
    assert float(h.v_threshold) == float(torch.tensor(TH, dtype=torch.float16))
    assert ConversionIF(TH).to("meta").v_threshold.is_meta


def test_tensor_threshold_keeps_its_dtype() -> None:
    th = torch.tensor([TH, 0.3, 1.1], dtype=torch.float64).view(3, 1)
    n = ConversionIF(th)  # built under the default float32 dtype
    assert n.v_threshold.dtype == torch.float64 and torch.equal(n.v_threshold, th)
    x = _input(torch.float64)
    with torch.no_grad():
        assert torch.equal(n(x), _hand_trace(x, th, 0.5))
    assert ConversionIF(torch.tensor([2, 3]).view(2, 1)).v_threshold.dtype == torch.float32  # int: default
