"""zoo.profile: MACs/SOPs against hand-computed counts, firing rates, energy, counting rules, no side effects."""

import copy
import json

import pytest
import torch
from torch import nn

import zoo_core as zoo
from zoo_core.errors import RegistrationConflictError
from zoo_core.layers import StepWise
from zoo_core.plugins import hookimpl, runtime
from zoo_core.profiling import conv_fanout


def _conv(c_in, c_out, k=3, **kw):
    return nn.Conv2d(c_in, c_out, k, bias=False, **kw)


def _spike(shape, *positions):
    x = torch.zeros(shape)
    for p in positions:
        x[p] = 1.0
    return x


# ----------------------------------------------------------------------------------------------- linear
def test_linear_fed_by_spikes_counts_nonzeros_times_out_features():
    lin = nn.Linear(5, 4)
    # [T=2, B=3, 5] with 7 spikes
    x = torch.zeros(2, 3, 5)
    for t, b, i in [(0, 0, 0), (0, 0, 4), (0, 2, 1), (1, 1, 1), (1, 1, 2), (1, 2, 3), (1, 0, 0)]:
        x[t, b, i] = 1.0
    p = zoo.profile(lin, x, batch_size=3)
    lp = p.layers[0]
    assert lp.spike_input is True and lp.role == "synaptic"
    assert lp.total_sops == 7 * 4 and lp.total_macs == 0
    assert p.sops == pytest.approx(28 / 3) and p.macs == 0
    assert p.batch_size == 3


def test_linear_fed_by_analog_values_counts_dense_macs():
    lin = nn.Linear(5, 4)
    x = torch.zeros(2, 3, 5)
    x[0, 0, 0] = 0.5  # one value outside {0, 1} makes the whole call analog
    p = zoo.profile(lin, x, batch_size=3)
    assert p.layers[0].spike_input is False
    assert p.total_macs == 2 * 3 * 4 * 5 and p.total_sops == 0
    assert p.macs == 2 * 4 * 5


# ----------------------------------------------------------------------------------------------- conv
@pytest.mark.parametrize(
    ("pos", "positions"),
    [((0, 0), 4), ((2, 2), 9), ((0, 2), 6), ((4, 4), 4), ((4, 1), 6)],
)
def test_conv3x3_pad1_single_spike_fanout_depends_on_border(pos, positions):
    conv = _conv(2, 3, padding=1)
    x = _spike((1, 2, 5, 5), (0, 1, *pos))
    p = zoo.profile(conv, x)
    assert p.layers[0].spike_input is True
    assert p.sops == positions * 3  # positions reached x C_out
    assert p.macs == 0


def test_conv_stride2_fanout():
    # Conv 3x3, stride 2, pad 1 on 5x5 -> 3x3 outputs with windows rows/cols [-1..1], [1..3], [3..5].
    # A spike at (1,1) lies in windows 0 and 1 on both axes: 4 outputs; at (2,2) only in window 1: 1 output.
    conv = _conv(1, 2, stride=2, padding=1)
    x = _spike((1, 1, 5, 5), (0, 0, 1, 1), (0, 0, 2, 2))
    p = zoo.profile(conv, x)
    assert p.sops == (4 + 1) * 2
    # analog input: output elements (2 x 3 x 3) x C_in x 9
    p = zoo.profile(conv, torch.full((1, 1, 5, 5), 0.5))
    assert p.macs == 2 * 3 * 3 * 1 * 9 and p.sops == 0


def test_grouped_conv_reaches_only_its_group():
    conv = _conv(4, 6, padding=1, groups=2)  # each input channel feeds C_out / groups = 3 output channels
    x = _spike((1, 4, 3, 3), (0, 0, 1, 1), (0, 3, 0, 0))
    p = zoo.profile(conv, x)
    assert p.sops == 9 * 3 + 4 * 3
    p = zoo.profile(conv, torch.full((1, 4, 3, 3), 0.3))
    assert p.macs == (6 * 3 * 3) * (4 // 2) * 9


def test_circular_padding_wraps_the_fanout():
    conv = _conv(1, 1, padding=1, padding_mode="circular")
    p = zoo.profile(conv, _spike((1, 1, 3, 3), (0, 0, 0, 0)))
    assert p.sops == 9  # the corner spike reaches every output through the wrap-around


def _brute_force(module, x):
    """Spike by spike through an all-ones copy: (synaptic connections driven, output elements reached)."""
    m = copy.deepcopy(module)
    with torch.no_grad():
        m.weight.fill_(1.0)
        m.bias = None
        connections = reached = 0
        for idx in x.nonzero().tolist():
            one = torch.zeros_like(x)
            one[tuple(idx)] = 1.0
            out = m(one)
            connections += round(out.sum().item())
            reached += int((out != 0).sum())
    return connections, reached


@pytest.mark.parametrize(
    "make",
    [
        lambda: nn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2, bias=False),
        lambda: nn.Conv2d(3, 3, 3, stride=3, padding=2, bias=False, padding_mode="reflect"),
        lambda: nn.Conv1d(2, 3, 5, stride=2, padding=3, bias=False),
        lambda: nn.ConvTranspose2d(2, 4, 3, stride=2, padding=1, output_padding=1, groups=2, bias=False),
    ],
)
def test_conv_sops_match_spike_by_spike_brute_force(make):
    torch.manual_seed(0)
    conv = make()
    shape = (2, conv.in_channels, 7) if isinstance(conv, nn.Conv1d) else (2, conv.in_channels, 6, 7)
    x = (torch.rand(shape) < 0.3).float()
    p = zoo.profile(conv, x)
    connections, reached = _brute_force(conv, x)
    assert p.total_sops == connections > 0
    if conv.padding_mode == "zeros":  # zero padding: each (input, output) pair has at most one kernel tap
        assert connections == reached


def test_reflect_padding_counts_each_kernel_tap():
    # length 4 [a b c d], k=3, reflect pad 1 -> [b a b c d c]: b is read twice by output 0, once by 1 and 2
    conv = nn.Conv1d(1, 1, 3, padding=1, padding_mode="reflect", bias=False)
    assert zoo.profile(conv, _spike((1, 1, 4), (0, 0, 1))).sops == 4
    assert zoo.profile(conv, _spike((1, 1, 4), (0, 0, 0))).sops == 2  # a: outputs 0 and 1


# ----------------------------------------------------------------------------------------------- models
def test_first_conv_of_spiking_cnn_counts_macs_on_an_analog_image():
    T, B, H, W, C_out = 4, 2, 8, 8, 16
    model = zoo.create_model("spiking_cnn", T=T, channels=(C_out, 8)).eval()
    p = zoo.profile(model, torch.rand(B, 1, H, W))
    first = p.layer("features.0.module.0")
    assert first.spike_input is False
    assert first.total_macs == T * B * H * W * C_out * 1 * 9
    assert first.macs == T * H * W * C_out * 1 * 9
    # a [T, B, C, H, W] input: B is dim 1
    p5 = zoo.profile(model, torch.rand(3, B, 1, H, W))
    assert p5.batch_size == B and p5.layer("features.0.module.0").macs == 3 * H * W * C_out * 9
    assert zoo.profile(model, torch.rand(3, B, 1, H, W), batch_size=6).batch_size == 6
    # BN, pooling and flatten are listed and count zero; neurons are listed
    roles = {lp.name: lp.role for lp in p.layers}
    assert roles["features.0.module.1"] == "zero" and roles["features.2.module"] == "zero"
    assert roles["features.1"] == "neuron" and roles["head.module"] == "synaptic"
    assert p.layer("features.0.module.1").total_macs == 0
    assert [lp.name for lp in p.layers][:3] == ["features.0.module.0", "features.0.module.1", "features.1"]


def test_firing_rates_equal_the_spikes_of_the_neurons_called_directly():
    torch.manual_seed(1)
    T = 3
    model = zoo.create_model(
        "spiking_cnn", T=T, channels=(4, 6), neuron="if", neuron_kwargs={"v_threshold": 0.3}
    ).eval()
    x = 3 * torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        seq = x.unsqueeze(0).expand(T, *x.shape)
        s1 = model.features[1](model.features[0](seq))
        s2 = model.features[4](model.features[3](model.features[2](s1)))
    p = zoo.profile(model, x)
    n1, n2 = p.layer("features.1"), p.layer("features.4")
    assert 0 < s1.mean() < 1 and 0 < s2.mean() < 1  # a non-trivial case
    assert n1.firing_rate == pytest.approx(s1.mean().item())
    assert n2.firing_rate == pytest.approx(s2.mean().item())
    assert n1.firing_rates_t == pytest.approx([s1[t].mean().item() for t in range(T)])
    assert n1.neurons == 4 * 8 * 8 and n2.neurons == 6 * 4 * 4
    weighted = (s1.sum() + s2.sum()) / (s1.numel() + s2.numel())
    assert p.mean_firing_rate == pytest.approx(weighted.item())
    assert p.mean_firing_rate != pytest.approx((s1.mean() + s2.mean()).item() / 2)  # weighted, not plain


class _Step(nn.Module):
    def forward(self, x):
        return (x > 0).float()


def _mixed_mlp():
    first = nn.Linear(4, 3, bias=False)
    with torch.no_grad():
        first.weight.copy_(torch.eye(3, 4))
    return nn.Sequential(first, _Step(), nn.Linear(3, 5))


def test_energy_is_4p6_pj_per_mac_plus_0p9_pj_per_sop_per_sample():
    x = torch.tensor([[0.5, -1.0, 2.0, 7.0], [-1.0, -1.0, -1.0, 3.0]])
    # layer 0 (analog): 2 x 3 x 4 = 24 MACs; its output [[.5,-1,2],[-1,-1,-1]] -> spikes [[1,0,1],[0,0,0]]
    # layer 2 (spikes): 2 nonzeros x 5 = 10 SOPs; per sample (B = 2): 12 MACs, 5 SOPs
    p = zoo.profile(_mixed_mlp(), x)
    assert (p.total_macs, p.total_sops) == (24, 10)
    assert (p.macs, p.sops) == (12, 5)
    assert p.energy_pj == pytest.approx(4.6 * 12 + 0.9 * 5)
    assert p.energy_mj == pytest.approx((4.6 * 12 + 0.9 * 5) * 1e-9)
    assert p.layers[0].energy_pj == pytest.approx(4.6 * 12)
    assert p.layers[2].energy_pj == pytest.approx(0.9 * 5)
    assert p.mean_firing_rate is None  # no BaseNeuron in this model
    custom = zoo.profile(_mixed_mlp(), x, e_mac_pj=1.0, e_sop_pj=10.0)
    assert custom.energy_pj == pytest.approx(12 + 50)


def test_table_and_dict_state_the_convention():
    model = zoo.create_model("spiking_cnn", T=2, channels=(4,))
    p = zoo.profile(model, torch.rand(2, 1, 8, 8))
    text = str(p)
    for needed in ("features.0.module.0", "Conv2d", "LIF", "SOPs", "MACs", "mJ", "4.6 pJ", "0.9 pJ", "{0,1}"):
        assert needed in text
    assert "fan-out" in p.convention and "Horowitz" in p.convention
    d = json.loads(json.dumps(p.to_dict()))
    assert d["layers"][0]["name"] == "features.0.module.0" and d["macs"] == p.macs
    assert d["energy_mj"] == pytest.approx(p.energy_mj)


# ----------------------------------------------------------------------------------------------- rules
class _Mix(nn.Module):
    """A layer the built-in logic knows nothing about (a functional matmul)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(3, 3))

    def forward(self, x):
        return x @ self.w


class _MultiLevelConv(nn.Conv2d):
    """A conv fed by integer (multi-level) spikes."""


def test_unknown_parametrised_layer_is_flagged_then_counted_by_an_in_process_rule():
    model = nn.Sequential(_Mix())
    x = torch.rand(2, 3)
    plain = zoo.profile(model, x)
    assert plain.macs == 0 and "no counting rule" in plain.layers[0].note

    calls = []

    def rule(module, inputs, output):
        calls.append((module, inputs[0].shape, output.shape))
        return {"macs": inputs[0].shape[0] * 9, "sops": 1}

    zoo.register_counting_rule(_Mix, rule, name="mix_rule")
    try:
        p = zoo.profile(model, x)
        assert calls == [(model[0], (2, 3), (2, 3))]
        assert (p.total_macs, p.total_sops) == (18, 1)
        assert p.layers[0].rule == "mix_rule" and p.layers[0].role == "rule" and not p.layers[0].note
        assert zoo.entry_info("counting_rule", "mix_rule").module_type.endswith("test_profile._Mix")
        with pytest.raises(RegistrationConflictError, match="'mix_rule'"):
            zoo.register_counting_rule(_Mix, rule, name="another_rule")
    finally:
        zoo.unregister("counting_rule", "mix_rule")
    assert zoo.profile(model, x).macs == 0


def test_rule_overrides_builtin_conv_and_counts_multilevel_spikes():
    conv = _MultiLevelConv(1, 2, 3, padding=1, bias=False)
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 2.0  # a 2-level spike in the centre
    assert zoo.profile(conv, x).macs == 2 * 25 * 9  # built-in: 2 is not a spike -> dense MACs

    @zoo.register_counting_rule(_MultiLevelConv)
    def multilevel(module, inputs, output):
        x = inputs[0]
        if not bool((x == x.round()).all()):
            return None  # not integer spikes: fall back to the built-in count
        return {"sops": conv_fanout(module, x), "spike_input": True}  # value v counts v SOPs

    name = "tests_test_profile_multilevelconv"
    try:
        assert zoo.entry_info("counting_rule", name).plugin == __name__
        p = zoo.profile(conv, x)
        assert (p.sops, p.macs) == (2 * 9 * 2, 0) and p.layers[0].spike_input is True
        assert zoo.profile(conv, x * 0.3).macs == 2 * 25 * 9  # the rule returned None
    finally:
        zoo.unregister("counting_rule", name)


def test_plugin_hook_registers_a_counting_rule():
    class Plugin:
        ZOO_API_VERSION = "1.1"

        @hookimpl
        def register_counting_rules(self, register):
            register("mix_by_plugin", lambda m, i, o: {"sops": 5}, module_type=_Mix)

    rt = runtime()
    plugin = Plugin()
    info = rt.load_plugin("counting_plugin", plugin)
    try:
        assert info.ok and info.registered == {"counting_rule": ["mix_by_plugin"]}
        entry = zoo.entry_info("counting_rule", "mix_by_plugin")
        assert entry.plugin == "counting_plugin"
        assert entry.module_type == f"{_Mix.__module__}.{_Mix.__qualname__}"
        assert zoo.profile(nn.Sequential(_Mix()), torch.rand(1, 3)).sops == 5
    finally:
        rt.registries["counting_rule"].remove_owner("counting_plugin")
        rt.pm.unregister(plugin)
        rt.plugins.pop("counting_plugin", None)


def test_rule_inside_a_block_skips_its_children_but_keeps_its_neurons():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = StepWise(nn.Linear(3, 3))
            self.lif = zoo.create_neuron("if", v_threshold=0.5)

        def forward(self, x):
            return self.lif(self.fc(x))

    zoo.register_counting_rule(Block, lambda m, i, o: {"macs": 100}, name="block_rule")
    try:
        p = zoo.profile(Block(), torch.rand(2, 4, 3), batch_size=4)
        assert [(lp.name, lp.role) for lp in p.layers] == [("lif", "neuron"), ("(root)", "rule")]
        assert p.total_macs == 100  # the inner Linear is not counted on top of the rule
        assert p.layer("lif").firing_rate is not None
    finally:
        zoo.unregister("counting_rule", "block_rule")


# ----------------------------------------------------------------------------------------------- no side effects
def _hook_free(model):
    return all(
        not m._forward_hooks and not m._forward_hooks_with_kwargs and not m._forward_pre_hooks
        for m in model.modules()
    )


@pytest.mark.parametrize("training", [True, False])
def test_mode_buffers_and_hooks_are_unchanged(training):
    model = zoo.create_model("spiking_cnn", T=2, channels=(4,)).train(training)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    zoo.profile(model, torch.rand(2, 1, 8, 8))
    assert _hook_free(model)
    assert all(m.training is training for m in model.modules())
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN running stats restored in train mode


class _Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def test_hooks_and_buffers_are_restored_when_forward_raises():
    model = nn.Sequential(StepWise(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)), zoo.create_neuron("lif"), _Boom())
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match="boom"):
        zoo.profile(model, torch.rand(2, 1, 1, 5, 5))
    assert _hook_free(model)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert model.training


def test_streaming_state_is_restored_and_batch_size_checked():
    lif = zoo.create_neuron("lif")
    with zoo.streaming(lif):
        lif.step(torch.full((1, 3), 1.5))  # v = 0.75
        state = {k: v.clone() for k, v in lif.state.items()}
        x = torch.tensor([1.5, 0.0]).view(2, 1, 1).expand(2, 1, 3)
        p = zoo.profile(lif, x, batch_size=1)
        assert p.layers[0].firing_rates_t == [1.0, 0.0]  # from v = 0.75 (from rest: 0, 0); v ends at 0
        assert torch.equal(lif.state["v"], state["v"])
    with pytest.raises(ValueError, match="batch_size"):
        zoo.profile(lif, torch.rand(2, 1, 3), batch_size=0)
    with pytest.raises(TypeError, match=r"nn\.Module"):
        zoo.profile(lambda x: x, torch.rand(1))


# ----------------------------------------------------------------------------------------------- graded spikes
def _graded_neuron():
    """A stateless neuron emitting graded spikes theta * k, k in {0, 1, 2} (as LM-HT / conversion neurons)."""
    from zoo_core.neurons.base import BaseNeuron

    class Graded(BaseNeuron):
        def forward(self, x):
            return 0.5 * torch.clamp(torch.floor(x / 0.5), 0, 2)

    return Graded()


def _brute_conv_sops(conv, x):
    """Sum over output elements of the non-zero inputs in its receptive field (all C_in), times C_out."""
    cols = torch.nn.functional.unfold(
        (x != 0).double(), conv.kernel_size, padding=conv.padding, stride=conv.stride
    )
    return float(cols.sum()) * conv.out_channels


def test_events_mode_counts_graded_neuron_outputs_as_sops():
    torch.manual_seed(0)
    conv1, conv2 = _conv(1, 3, padding=1), _conv(3, 4, padding=1, stride=2)
    neuron, lin = _graded_neuron(), nn.Linear(4 * 3 * 3, 5)
    net = nn.Sequential(conv1, neuron, conv2, nn.Flatten(), lin)
    x = torch.rand(2, 1, 6, 6) * 3
    with torch.no_grad():
        s = neuron(conv1(x))
        h = conv2(s)
    assert set(s.unique().tolist()) > {0.0, 0.5} and not ((s == 0) | (s == 1)).all()  # graded, not binary
    p = zoo.profile(net, x, spikes="events")
    by = {lp.name: lp for lp in p.layers}
    assert by["0"].total_macs == 2 * 3 * 36 * 9 and by["0"].total_sops == 0  # the analog image: MACs
    assert by["2"].total_sops == _brute_conv_sops(conv2, s) and by["2"].total_macs == 0
    assert by["4"].total_macs == 2 * 5 * 36 and by["4"].total_sops == 0  # fed by a conv (analog): MACs
    assert by["1"].firing_rate == pytest.approx(float((s != 0).double().mean()))
    assert (
        p.convention.startswith("Graded spikes as events")
        and "Firing rate = fraction of non-zero" in p.convention
    )
    binary = zoo.profile(net, x)  # default: graded values are not spikes, everything is MACs
    assert binary.convention.startswith("Only synaptic layers")
    assert binary.total_sops == 0 and binary.layer("2").total_macs == h.numel() * 3 * 9


def test_events_mode_follows_views_and_time_slices_but_not_new_tensors():
    neuron, lin = _graded_neuron(), nn.Linear(6, 2)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.sn, self.fc, self.fc2, self.pool = neuron, lin, nn.Linear(3, 2), nn.AvgPool1d(2)

        def forward(self, x):  # x: [T, B, 6]
            s = self.sn(x)
            a = sum(self.fc(st) for st in s.unbind(0))  # time slices of the neuron output: events
            b = self.fc2(self.pool(s.flatten(0, 1).unsqueeze(1)).squeeze(1))  # pooled: a new tensor, MACs
            return a, b

    x = torch.tensor([[[0.6, 0.0, 1.2, 0.1, 0.0, 0.5]], [[0.0, 0.0, 0.0, 1.0, 0.0, 0.0]]])
    p = zoo.profile(Net(), x, batch_size=1, spikes="events")
    assert p.layer("fc").total_sops == 4 * 2 and p.layer("fc").total_macs == 0  # 4 non-zero values
    assert p.layer("fc2").total_macs == 2 * 2 * 3 and p.layer("fc2").total_sops == 0
    with pytest.raises(ValueError, match=r"spikes must be one of \('auto', 'binary', 'events'\)"):
        zoo.profile(Net(), x, batch_size=1, spikes="graded")
