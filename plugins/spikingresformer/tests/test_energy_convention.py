"""The ``spikingresformer`` convention is the paper's count (paper_energy, checked against the official monitor
in test_energy.py): SOPs of every layer but the stem and classifier, 0.9 pJ each, no MAC term."""

import pytest
import torch
import zoo_core as zoo

from zoo_spikingresformer import paper_energy


def test_convention_equals_paper_energy_on_the_demo_weights():
    model = zoo.create_model("spikingresformer_digits.digits_t4", pretrained=True).double().eval()
    x = torch.rand(8, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ref = paper_energy(zoo.profile(model, x))
    p = zoo.profile(model, x, energy="spikingresformer")
    assert p.mean_firing_rate > 0.01
    assert p.sops == pytest.approx(ref["sops"], rel=1e-12) and p.energy_pj == pytest.approx(ref["energy_pj"])
    assert {lp.name for lp in p.layers if lp.excluded} == {"prologue.0", "classifier"}
    assert p.macs == 0
