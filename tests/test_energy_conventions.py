"""Energy that is right by default: neurons declare their spike kind, profile counts by it, and named conventions
(a paper's own SOP rules) count by their registered settings. Counts are checked against independent
hand computations (unfold / all-ones convolutions written here)."""

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo_core as zoo
from zoo_core.errors import ConfigError, UnknownNameError
from zoo_core.neurons.base import BaseNeuron
from zoo_core.plugins import runtime
from zoo_core.testing import ConformanceError, check_neuron


class _Kind(BaseNeuron):
    """Stateless: ``0.5 * k`` for ``k = clamp(floor(x / 0.5), 0, 2)`` (graded) or ``x`` itself (real)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.spike_kind = kind

    def forward(self, x):
        if self.spike_kind == "real":
            return torch.relu(x)
        if self.spike_kind == "binary":
            return (x >= 0.5).to(x.dtype)
        return 0.5 * torch.clamp(torch.floor(x / 0.5), 0, 2)


class _Net(nn.Module):
    """stem conv (analog input) -> neuron -> conv -> neuron -> conv, all 3x3 padding 1, time folded in batch."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 3, 3, padding=1, bias=False)
        self.sn1 = _Kind(kind)
        self.conv2 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.sn2 = _Kind(kind)
        self.conv3 = nn.Conv2d(4, 2, 3, padding=1, bias=False)

    def forward(self, x):
        return self.conv3(self.sn2(self.conv2(self.sn1(self.conv1(x)))))


def _inputs(net, x):
    """The input of every conv in a plain forward (for the hand counts)."""
    seen = {}
    hooks = [
        m.register_forward_hook(lambda m, a, o, n=n: seen.__setitem__(n, a[0].detach().clone()))
        for n, m in net.named_children()
        if isinstance(m, nn.Conv2d)
    ]
    with torch.no_grad():
        net(x)
    for h in hooks:
        h.remove()
    return seen


def _fanout(conv, w):
    """sum_i w_i * fan-out_i by unfold: each output position sums the weights in its window, times C_out."""
    cols = F.unfold(w.double(), conv.kernel_size, padding=conv.padding, stride=conv.stride)
    return float(cols.sum()) * conv.out_channels


def _macs(conv, x):
    out = conv(x)
    return out.numel() * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]


def _net(kind):
    torch.manual_seed(0)
    net = _Net(kind)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                m.weight.uniform_(-0.2, 0.6)  # positive on average: the neurons fire at several levels
    return net


X = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(1)) * 3


@pytest.mark.parametrize("kind", ["binary", "graded"])
def test_binary_and_graded_spikes_count_sops_by_default(kind):
    net = _net(kind)
    seen = _inputs(net, X)
    assert kind == "binary" or set(seen["conv2"].unique().tolist()) >= {0.0, 0.5, 1.0}  # really graded
    p = zoo.profile(net, X)
    assert p.layer("conv1").total_macs == _macs(net.conv1, X) and p.layer("conv1").total_sops == 0
    for name in ("conv2", "conv3"):
        conv, x = getattr(net, name), seen[name]
        assert p.layer(name).total_sops == _fanout(conv, (x != 0).double()) and p.layer(name).total_macs == 0
        assert p.layer(name).input_kind == kind
    assert p.energy_pj == pytest.approx((4.6 * p.total_macs + 0.9 * p.total_sops) / 2)
    assert p.energy_convention == "zoo"
    # the default equals the explicit modes that fit the kind; the other mode counts differently
    same = "binary" if kind == "binary" else "events"
    assert zoo.profile(net, X, spikes=same).sops == p.sops
    if kind == "graded":
        assert zoo.profile(net, X, spikes="binary").sops < p.sops  # k theta is not 0/1: MACs there


def test_real_valued_outputs_count_macs_by_default_and_sops_as_events():
    net = _net("real")
    seen = _inputs(net, X)
    p = zoo.profile(net, X)
    for name in ("conv2", "conv3"):
        conv = getattr(net, name)
        assert p.layer(name).total_macs == _macs(conv, seen[name]) and p.layer(name).total_sops == 0
        assert p.layer(name).input_kind == "real"
    events = zoo.profile(net, X, spikes="events")
    assert events.layer("conv2").total_sops == _fanout(net.conv2, (seen["conv2"] != 0).double())


def test_firing_rate_of_graded_spikes_is_the_fraction_of_non_zero_outputs():
    net = _net("graded")
    seen = _inputs(net, X)
    p = zoo.profile(net, X)
    assert p.layer("sn1").firing_rate == pytest.approx(float((seen["conv2"] != 0).double().mean()))


@pytest.fixture
def registered():
    snap = runtime().registries.snapshot()
    yield
    runtime().registries.restore(snap)


def test_a_values_convention_weights_each_input_by_its_value_and_leaves_layers_out(registered):
    zoo.register_energy_convention(
        "test_values",
        count=dict.fromkeys(("binary", "graded", "real", "analog"), "values"),
        e_mac_pj=0.0,
        e_sop_pj={"binary": 0.5},
        exclude=("conv1",),
        description="test",
    )
    net = _net("graded")
    seen = _inputs(net, X)
    p = zoo.profile(net, X, energy="test_values")
    hand = {n: _fanout(getattr(net, n), seen[n].abs()) for n in ("conv1", "conv2", "conv3")}
    assert p.layer("conv1").excluded and p.layer("conv1").total_sops == pytest.approx(hand["conv1"])
    assert p.total_sops == pytest.approx(hand["conv2"] + hand["conv3"])  # conv1 left out of the totals
    assert p.total_macs == 0 and p.energy_pj == pytest.approx(0.5 * p.total_sops / 2)
    assert p.energy_convention == "test_values" and "layers left out: conv1" in p.convention


def test_exclusion_matches_whole_paths_and_first_last_tokens(registered):
    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = _net("binary")
            self.conv1 = nn.Conv2d(2, 2, 1, bias=False)

        def forward(self, x):
            return self.conv1(self.block(x))

    zoo.register_energy_convention("test_exact", count={}, exclude=("conv1",), description="t")
    zoo.register_energy_convention("test_ends", count={}, exclude=("<first>", "<last>"), description="t")
    m = Outer()
    exact = {lp.name for lp in zoo.profile(m, X, energy="test_exact").layers if lp.excluded}
    ends = {lp.name for lp in zoo.profile(m, X, energy="test_ends").layers if lp.excluded}
    assert exact == {"conv1"}  # not block.conv1
    assert ends == {"block.conv1", "conv1"}


def test_sop_energy_per_spike_kind(registered):
    zoo.register_energy_convention(
        "test_costs", count={}, e_sop_pj={"binary": 0.9, "graded": 0.1}, e_mac_pj=1.0, description="t"
    )
    net = _net("graded")
    p = zoo.profile(net, X, energy="test_costs")
    assert set(p.sops_by_kind) == {"graded"}
    assert p.energy_pj == pytest.approx(p.macs * 1.0 + p.sops * 0.1)
    assert "0.1 pJ x" in str(p)


def test_unknown_convention_and_bad_registrations_are_clear_errors(registered):
    with pytest.raises(UnknownNameError, match="zoo"):
        zoo.profile(_net("binary"), X, energy="nope")
    with pytest.raises(ConfigError, match="mode"):
        zoo.register_energy_convention("test_bad", count={"binary": "spikes"}, description="t")
    with pytest.raises(ConfigError, match="input kind"):
        zoo.register_energy_convention("test_bad2", count={"events": "sops"}, description="t")
    with pytest.raises(ConfigError, match="e_sop_pj"):
        zoo.register_energy_convention("test_bad3", count={}, e_sop_pj={"binary": -1}, description="t")
    with pytest.raises(ConfigError, match="e_mac_pj"):
        zoo.profile(_net("binary"), X, e_mac_pj=float("nan"))


def test_undeclared_kind_is_an_error_naming_the_choices():
    net = _net("binary")
    net.sn1.spike_kind = "ternary"
    with pytest.raises(ConfigError, match=r"_Kind.spike_kind is 'ternary'.*binary"):
        zoo.profile(net, X)


def test_conformance_kit_refuses_a_binary_declaration_with_graded_outputs(registered):
    class Graded(BaseNeuron):  # stateless: 0.5 x a surrogate spike; declares nothing, i.e. binary
        def __init__(self):
            super().__init__()
            self.surrogate = zoo.create_surrogate("sigmoid")

        def initial_state(self, x_t):
            return {}

        def multi_step(self, x_seq, state):
            return 0.5 * self.surrogate(x_seq - 1.0), state

    zoo.register_neuron("test_graded", owner="tests")(Graded)
    with pytest.raises(ConformanceError, match="binary spikes"):
        check_neuron("test_graded")
    Graded.spike_kind = "graded"
    check_neuron("test_graded")


def test_declared_kinds_of_the_zoo_neurons():
    assert zoo.create_neuron("if_conversion").spike_kind == "graded"
    assert zoo.create_neuron("lif").spike_kind == "binary"


def test_conventions_are_listed_and_described():
    assert "zoo" in zoo.list_energy_conventions()
    info = zoo.energy_convention_info("zoo")
    assert info.count["real"] == "macs" and info.e_mac_pj == 4.6 and not info.exclude
    assert zoo.list_energy_conventions(model="spiking_cnn") == ["zoo"]


def test_zoo_eval_energy_flag(capsys):
    from zoo_core.cli import main

    assert main(["eval", "spiking_cnn.digits_t4", "--pretrained", "--json", "--energy", "zoo"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["energy_convention"] == "zoo"
    assert main(["eval", "spiking_cnn.digits_t4", "--pretrained", "--energy", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0] and "zoo" in err[0]
