"""The ``lmht`` energy convention equals the official SOP monitor (monitor.py of hzc1208/LMHT_SNN@d9e0db3:
every Conv2d / Linear except the module named ``conv1`` counts conv2d(x, ones_like(weight)).sum(), the linear
likewise; power = 0.9 pJ x SOPs), re-implemented here from that description on the same forward pass."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import zoo_core as zoo


def _official_sops(model: nn.Module, x: torch.Tensor) -> float:
    total = [0.0]

    def conv(m, a, o):
        total[0] += float(
            F.conv2d(a[0], torch.ones_like(m.weight), None, m.stride, m.padding, m.dilation, m.groups).sum()
        )

    def lin(m, a, o):
        total[0] += float(F.linear(a[0], torch.ones_like(m.weight)).sum())

    hooks = []
    for name, m in model.named_modules():
        if name == "conv1":
            continue
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(lin))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return total[0]


@pytest.mark.parametrize("name", ["lmht_resnet18", "lmht_vgg13"])
def test_lmht_convention_is_the_official_monitor(name):
    torch.manual_seed(0)
    cfg = zoo.model_info(name).test_config
    model = zoo.create_model(name, **cfg).double().eval()
    size = cfg.get("img_size", 32)
    x = torch.rand(3, 3, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    p = zoo.profile(model, x, energy="lmht")
    assert p.mean_firing_rate > 0.01  # the neurons fire: the equality is not vacuous
    ref = _official_sops(model, x) / 3
    assert p.sops == pytest.approx(ref, rel=1e-12) and ref > 0
    assert p.energy_pj == pytest.approx(0.9 * ref, rel=1e-12) and p.macs == 0
    names = {lp.name for lp in p.layers if lp.excluded}
    assert names == ({"conv1"} if any(n == "conv1" for n, _ in model.named_modules()) else set())


def test_lmht_neurons_are_graded_and_the_default_counts_events():
    model = zoo.create_model("lmht_cnn_digits.digits_t2", pretrained=True).double().eval()
    assert {m.spike_kind for m in model.modules() if isinstance(m, zoo.BaseNeuron)} == {"graded"}
    x = torch.rand(4, 1, 8, 8, dtype=torch.float64)
    assert zoo.profile(model, x).convention.startswith("Spike kinds as the neurons declare them")
    assert zoo.list_energy_conventions(model="lmht_resnet18") == ["lmht", "zoo"]
