"""One profiled pass counts every energy convention: ``profile_conventions`` gives, for each convention, exactly
the profile a separate ``zoo.profile(..., energy=NAME)`` pass gives (every layer record and total), and
``evaluate(also_energy=...)`` profiles each batch once whatever the number of conventions."""

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

import zoo_core as zoo
from zoo_core.errors import ConfigError, UnknownNameError
from zoo_core.neurons.base import BaseNeuron
from zoo_core.profiling import profile_conventions
from zoo_core.tasks.classification import evaluate

#: the core's convention and the papers' (value-weighted SOPs, per-kind SOP prices, excluded layers)
PAPERS = ("lmht", "empf", "spikingresformer")


class _Graded(BaseNeuron):
    """Stateless graded neuron: ``0.5 * clamp(floor(x / 0.5), 0, 2)`` (values 0, 0.5, 1)."""

    spike_kind = "graded"

    def forward(self, x):
        return 0.5 * torch.clamp(torch.floor(x / 0.5), 0, 2)


class _Real(BaseNeuron):
    """Stateless real-valued neuron (ReLU)."""

    spike_kind = "real"

    def forward(self, x):
        return torch.relu(x)


class _Mixed(nn.Module):
    """An analog stem, graded and real-valued spikes and a classifier: every input kind, named ``conv1``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.sn1 = _Graded()
        self.conv2 = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.sn2 = _Real()
        self.fc = nn.Linear(4 * 4 * 4, 10)
        self.forwards = 0

    def forward(self, x):
        self.forwards += 1
        return self.fc(self.sn2(self.conv2(self.sn1(self.conv1(x)))).flatten(1))


def _core_model():
    torch.manual_seed(0)
    return _Mixed().double().eval()


def _model(name):
    if name == "core":
        return _core_model()
    if zoo.split_tag(name)[0] not in zoo.list_models():
        pytest.skip(f"the plugin of {name} is not installed")
    return zoo.create_model(name, pretrained=True).double().eval()


def _conventions():
    missing = [n for n in PAPERS if n not in zoo.list_energy_conventions()]
    if missing:
        pytest.skip(f"the plugins of the conventions {missing} are not installed")
    return ("zoo", *PAPERS)


@pytest.mark.parametrize(
    "name",
    ["core", "spiking_cnn.digits_t4", "lmht_cnn_digits.digits_t2", "empf_digits.digits_t4",
     "spikingresformer_digits.digits_t4"],
)  # fmt: skip
@pytest.mark.parametrize("spikes", ["auto", "events"])
def test_one_pass_equals_a_separate_pass_per_convention(name, spikes):
    names = _conventions()
    model = _model(name)
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2
    together = profile_conventions(model, x, names, spikes=spikes)
    assert list(together) == list(names)
    for n in names:
        alone = zoo.profile(model, x, spikes=spikes, energy=n)
        assert together[n].to_dict() == alone.to_dict()  # every layer record and total, exactly
        assert str(together[n]) == str(alone)
    # not vacuous: the conventions count this pass differently (modes, prices, exclusions)
    assert len({(p.sops, p.macs, p.energy_pj) for p in together.values()}) >= 3
    assert together["zoo"].mean_firing_rate > 0.01


def test_the_pass_counts_each_mode_of_a_call_once_and_runs_the_model_once():
    _conventions()
    model = _core_model()
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2)) * 2
    ps = profile_conventions(model, x, ["zoo", "lmht", "empf", "lmht"])  # a repeat counts once
    assert model.forwards == 1 and list(ps) == ["zoo", "lmht", "empf"]
    # the real-valued input of fc: zoo counts MACs, lmht its values' fan-out, empf its non-zeros' fan-out
    fc = {n: p.layer("fc") for n, p in ps.items()}
    assert fc["zoo"].sops == 0 and fc["zoo"].macs == 2 * 10 * 64 / 2
    assert fc["lmht"].macs == 0 and fc["empf"].macs == 0
    assert fc["lmht"].sops != fc["empf"].sops > 0
    assert [lp.name for lp in ps["lmht"].layers if lp.excluded] == ["conv1"]
    assert not any(lp.excluded for lp in ps["zoo"].layers)
    assert ps["zoo"].to_dict() == profile_conventions(model, x, "zoo")["zoo"].to_dict()


def test_bad_convention_lists_are_clear_errors():
    model = _core_model()
    x = torch.rand(2, 1, 8, 8, dtype=torch.float64)
    with pytest.raises(ConfigError, match="names no energy convention"):
        profile_conventions(model, x, [])
    with pytest.raises(ConfigError, match="energies must be convention names"):
        profile_conventions(model, x, 3)
    with pytest.raises(ConfigError, match="expected a registered name"):
        profile_conventions(model, x, ["zoo", 3])
    with pytest.raises(UnknownNameError):
        profile_conventions(model, x, ["zoo", "no_such_convention"])
    assert model.forwards == 0  # every check comes before the pass


def test_evaluate_profiles_each_batch_once_whatever_the_conventions():
    names = _conventions()
    model = _core_model()
    g = torch.Generator().manual_seed(3)
    data = TensorDataset(torch.rand(10, 1, 8, 8, dtype=torch.float64, generator=g) * 2, torch.arange(10) % 10)
    report = evaluate(model, data, batch_size=4, progress=False, also_energy=names[1:])
    assert model.forwards == 3 + 3  # 3 batches: the accuracy pass and one profiled pass each
    for n in names[1:]:  # each convention's figures: a separate profile per batch, weighted by its samples
        sums = {"sops": 0.0, "macs": 0.0, "energy_pj": 0.0}
        for i in range(0, 10, 4):
            p = zoo.profile(model, data.tensors[0][i : i + 4], energy=n)
            for k in sums:
                sums[k] += getattr(p, k) * p.batch_size
        got = report["energy_conventions"][n]
        assert {k: got[k] for k in sums} == {k: v / 10 for k, v in sums.items()}
        assert got["convention"] == p.convention


def test_top_level_name_is_the_profiling_function():
    assert zoo.profile_conventions is profile_conventions
    assert "profile_conventions" in zoo.__all__
