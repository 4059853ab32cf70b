"""EM-PF's spikes are real-valued (vanilla) or 4-bit graded (compression); the ``empf`` convention prices every
non-zero spike's fan-out at 0.9 pJ, a 4-bit one at 0.9 / 8 pJ, and leaves the analog-fed MACs (NOPs) out."""

import pytest
import torch
import zoo_core as zoo


@pytest.mark.parametrize("mode,kind", [("vanilla", "real"), ("compression", "graded")])
def test_spike_kind_follows_the_mode_and_the_conventions_count_it(mode, kind):
    torch.manual_seed(0)
    cfg = {**zoo.model_info("empf_resnet18").test_config, "mode": mode}
    model = zoo.create_model("empf_resnet18", **cfg).double().eval()
    kinds = {m.spike_kind for m in model.modules() if isinstance(m, zoo.BaseNeuron)}
    assert kinds == {kind}
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    zoo_p = zoo.profile(model, x)
    events = zoo.profile(model, x, spikes="events")
    paper = zoo.profile(model, x, energy="empf")
    assert paper.mean_firing_rate > 0.01
    # the paper's SOPs are the events' SOPs; its energy has no MAC term and 4-bit spikes cost 1/8
    assert paper.sops == pytest.approx(events.sops) and paper.sops > 0
    cost = 0.9 / 8 if kind == "graded" else 0.9
    assert paper.energy_pj == pytest.approx(cost * paper.sops)
    if kind == "real":  # by default real values drive multiplications: MACs, not SOPs
        assert zoo_p.sops == 0 and zoo_p.macs > events.macs
    else:
        assert zoo_p.sops == pytest.approx(events.sops)
