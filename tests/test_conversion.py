"""Core conversion pieces: QCFS, the conversion IF neuron, initial membrane, non-causal neurons, surgery helpers."""

import pytest
import torch
from torch import nn

import zoo_core as zoo
from zoo_core.errors import ConfigError, InputError
from zoo_core.layers import StepWise
from zoo_core.neurons import IF, LIF, BaseNeuron
from zoo_core.sdk import (
    QCFS,
    ConversionIF,
    SeqStepWise,
    find_qcfs,
    floor_ste,
    fold_time,
    is_qcfs,
    replace_modules,
    unfold_time,
    wrap_stepwise,
)
from zoo_core.testing import ConformanceError, check_neuron


# ------------------------------------------------------------------------------------------------ QCFS
def test_qcfs_formula_levels_and_clip(f64):
    q = QCFS(levels=4, threshold=2.0)
    x = torch.linspace(-1, 3, 101)
    y = q(x).detach()
    expected = 2.0 * torch.clamp(torch.floor(x * 4 / 2.0 + 0.5) / 4, 0, 1)
    assert torch.equal(y, expected)
    assert set(torch.unique(y).tolist()) <= {0.0, 0.5, 1.0, 1.5, 2.0}
    # shift 0: the floor quantizer without shift
    q0 = QCFS(levels=4, threshold=2.0, shift=0.0)
    with torch.no_grad():
        assert float(q0(torch.tensor([0.49]))) == 0.0 and float(q(torch.tensor([0.26]))) == 0.5


def test_qcfs_official_state_dict_names_and_threshold_kinds():
    assert list(QCFS().state_dict()) == ["up"]  # parallel conversion's name
    q = QCFS(threshold=3.0, param_name="thresh")  # LM-HT's name
    assert list(q.state_dict()) == ["thresh"] and isinstance(q.thresh, nn.Parameter)
    assert q.thresh.shape == (1,) and float(q.threshold.detach()) == 3.0
    per_channel = QCFS(levels=8, threshold=torch.rand(5, 1, 1) + 0.5)  # training-free: a fixed buffer
    assert "up" in dict(per_channel.named_buffers()) and not list(per_channel.parameters())
    assert per_channel(torch.rand(2, 5, 3, 3)).shape == (2, 5, 3, 3)
    assert q.t == q.levels == 4
    q.t = 8
    assert q.levels == 8
    for bad in ({"levels": 0}, {"threshold": float("nan")}, {"param_name": "a.b"}):
        with pytest.raises(ConfigError):
            QCFS(**bad)


def test_qcfs_straight_through_gradient():
    x = torch.tensor([0.3, 1.1, 2.9, -0.5], requires_grad=True)
    floor_ste(x).sum().backward()
    assert torch.equal(x.grad, torch.ones(4))  # floor passes gradients straight through
    q = QCFS(levels=4, threshold=2.0)
    x = torch.tensor([0.3, 1.1, 2.5, -0.5], requires_grad=True)
    q(x).sum().backward()
    # inside the clip range: d/dx = 1 (STE); clipped: 0; lambda receives a gradient
    assert torch.equal(x.grad, torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert q.up.grad is not None and torch.isfinite(q.up.grad).all()


def test_find_qcfs_sees_duck_typed_official_modules():
    class OfficialQCFS(nn.Module):  # the official class: `up` parameter, `t` levels
        def __init__(self):
            super().__init__()
            self.up = nn.Parameter(torch.tensor([8.0]))
            self.t = 4

    net = nn.Sequential(nn.Linear(2, 2), OfficialQCFS(), nn.Linear(2, 2), QCFS(levels=8, threshold=2.0))
    sites = find_qcfs(net)
    assert [(s.name, s.levels, float(s.threshold.detach())) for s in sites] == [("1", 4, 8.0), ("3", 8, 2.0)]
    assert is_qcfs(net[1]) and not is_qcfs(nn.ReLU())


# ------------------------------------------------------------------------------------------------ IF
def test_conversion_if_hand_trace():
    # theta = 2, V0 = 1, X = 0.9: H = 1.9, 2.8 (fire, V = 0.8), 1.7, 2.6 (fire) -> spikes of amplitude 2
    n = zoo.create_neuron("if_conversion", v_threshold=2.0)
    assert n(torch.full((4, 1), 0.9)).flatten().tolist() == [0.0, 2.0, 0.0, 2.0]
    assert list(n.state_dict()) == ["v_threshold"] and n.v_threshold.shape == (1,)


def test_conversion_if_is_core_if_with_initial_membrane(f64):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(7, 3, 5, generator=g, dtype=torch.float64)
    conv = ConversionIF(v_threshold=1.5, init_mem=0.5)
    core = IF(v_threshold=1.5, v_reset=None, v_init=0.75)
    assert isinstance(conv, IF)
    assert torch.equal(conv(x), 1.5 * core(x))


def test_conversion_if_constant_input_equals_qcfs(f64):
    g = torch.Generator().manual_seed(1)
    theta, T = 1.7, 8
    x = torch.rand(500, generator=g, dtype=torch.float64) * 2.4 - 0.2  # below 0, inside, above theta
    rate = ConversionIF(theta)(x.expand(T, -1)).mean(0)
    assert torch.allclose(rate, QCFS(levels=T, threshold=theta)(x).detach(), rtol=0, atol=1e-12)


def test_conversion_if_per_channel_threshold_and_folded_layout():
    th = torch.tensor([1.0, 2.0]).view(2, 1, 1)
    n = ConversionIF(th, fold_T=4)
    x = torch.full((4 * 3, 2, 1, 1), 0.7)  # [T*B, C, 1, 1], B = 3
    y = unfold_time(n(x), 4)
    assert y.shape == (4, 3, 2, 1, 1)
    assert y[:, 0, 0].flatten().tolist() == [1.0, 0.0, 1.0, 1.0]  # V0 = .5: 1.2, .9, 1.6, 1.3
    assert y[:, 0, 1].flatten().tolist() == [0.0, 2.0, 0.0, 0.0]  # V0 = 1: 1.7, 2.4 (fire), 1.1, 1.8
    assert torch.equal(n.v_threshold, th)
    with pytest.raises(InputError, match="multiple of T=4"):
        n(torch.ones(6, 2, 1, 1))


def test_conversion_if_surrogate_window_is_theta_scaled():
    n = ConversionIF(2.0)
    x = torch.tensor([[-0.5, 0.2, 1.0, 1.9, 2.5]], requires_grad=True)  # one step, V0 = 1: H = 1 + x
    n(x).sum().backward()
    # d(theta * S)/dH = 1 on |H - theta| < theta/2, i.e. H in (1, 3): H = 0.5, 1.2, 2.0, 2.9, 3.5
    assert x.grad.flatten().tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]


def _window_grad(n, x):
    x = x.clone().requires_grad_()
    n(x).sum().backward()
    return x.grad


def test_conversion_if_surrogate_window_follows_the_threshold_it_holds(f64):
    """The official IFNeuron's window 0.5 theta <= H <= 1.5 theta uses its current threshold: a neuron built
    with 8.0 (a model's default) that loads a state dict with theta = 2 has the window of one built with 2."""
    x = torch.tensor([[-0.5, 0.2, 1.0, 1.9, 2.5, 6.0]])  # one step, V0 = 1 for theta = 2: H = 1 + x
    loaded = ConversionIF(8.0)
    loaded.load_state_dict(ConversionIF(2.0).state_dict())
    assert loaded.v_threshold.item() == 2.0
    assert _window_grad(loaded, x).flatten().tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    # an edited buffer, and a threshold kept exact through .double() (1/theta not from its float32 rounding)
    with torch.no_grad():
        loaded.v_threshold.fill_(4.0)  # V0 = 2, H = 2 + x; window (2, 6)
    assert _window_grad(loaded, x).flatten().tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    exact = ConversionIF(0.1).double()
    _window_grad(exact, torch.zeros(1, 1, dtype=torch.float64))
    assert exact.surrogate.alpha == 1 / 0.1
    # an explicit alpha stays
    fixed = ConversionIF(8.0, alpha=0.25)
    fixed.load_state_dict(ConversionIF(2.0).state_dict())
    _window_grad(fixed, x)
    assert fixed.surrogate.alpha == 0.25


def test_v_init_for_builtin_neurons():
    x = torch.full((3, 1), 0.4)
    assert IF(v_threshold=1.0, v_reset=None, v_init=0.5)(x).flatten().tolist() == [0.0, 1.0, 0.0]
    assert IF(v_threshold=1.0, v_reset=None)(x).flatten().tolist() == [0.0, 0.0, 1.0]
    lif = LIF(tau=2.0, v_init=0.9)  # H1 = 0.9 + (0.4 - 0.9)/2 = 0.65, no spike
    assert lif(x).flatten().tolist()[0] == 0.0
    with pytest.raises(ValueError, match="v_init"):
        IF(v_init=float("inf"))
    check_neuron("lif", v_init=0.3)


# ------------------------------------------------------------------------------------------------ non-causal
class MeanNeuron(BaseNeuron):
    """Non-causal on purpose: every step fires on the mean input of all steps."""

    causal = False

    def initial_state(self, x_t):
        return {}

    def multi_step(self, x_seq, state):
        sur = zoo.create_surrogate("atan")
        return sur(x_seq.mean(0, keepdim=True).expand_as(x_seq) - 1.0), state


class CheatingMeanNeuron(MeanNeuron):
    causal = True  # claims causality it does not have


@pytest.fixture
def mean_neurons():
    zoo.register_neuron("test_mean_neuron", owner="tests", test_config={})(MeanNeuron)
    zoo.register_neuron("test_cheating_mean", owner="tests")(CheatingMeanNeuron)
    yield
    zoo.unregister("neuron", "test_mean_neuron")
    zoo.unregister("neuron", "test_cheating_mean")


def test_non_causal_neuron_refuses_streaming_and_passes_the_kit(mean_neurons):
    n = zoo.create_neuron("test_mean_neuron")
    with pytest.raises(InputError, match="not causal"), zoo.streaming(n):
        n.step(torch.ones(2))
    check_neuron("test_mean_neuron")
    with pytest.raises(ConformanceError, match="streaming"):
        check_neuron("test_cheating_mean")


def test_neuron_test_config_is_used_by_the_kit():
    info = zoo.neuron_info("parallel_if") if "parallel_if" in zoo.list_neurons() else None
    if info is None:
        pytest.skip("parallel_conversion plugin not installed")
    assert info.test_config == {"T": 6}


# ------------------------------------------------------------------------------------------------ surgery
def test_replace_modules_and_wrap_stepwise():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Sequential(nn.Linear(2, 2), nn.ReLU()))
    done = replace_modules(net, lambda n, m: isinstance(m, nn.ReLU), lambda n, m: QCFS(levels=2))
    assert [r.name for r in done] == ["1", "2.1"]
    assert isinstance(net[1], QCFS) and isinstance(net[2][1], QCFS)
    assert list(net.state_dict()) == ["0.weight", "0.bias", "1.up", "2.0.weight", "2.0.bias", "2.1.up"]
    wrapped = wrap_stepwise(net)
    assert [r.name for r in wrapped] == ["0", "2.0"]
    assert isinstance(net[0], StepWise) and "0.module.weight" in net.state_dict()
    x = torch.rand(3, 2, 1, 5, 5)  # [T, B, C, H, W]
    assert net[0](x).shape == (3, 2, 2, 3, 3)
    assert wrap_stepwise(net) == []  # idempotent
    sj = nn.Sequential(nn.Conv2d(1, 2, 3), QCFS())
    wrap_stepwise(sj, wrapper=SeqStepWise)  # SpikingJelly's SeqToANNContainer layout: keys gain ".0"
    assert "0.0.weight" in sj.state_dict() and sj[0](torch.rand(3, 2, 1, 5, 5)).shape == (3, 2, 2, 3, 3)


def test_fold_unfold_time():
    x = torch.arange(24.0).view(3, 2, 4)
    assert torch.equal(unfold_time(fold_time(x), 3), x)
    with pytest.raises(InputError):
        unfold_time(torch.ones(5, 2), 3)
