"""The sequential IF baseline (``neuron="if"``) of a model built in float32 and cast with ``.double()``: every
threshold is the float64 clip exactly (the official ``IFNeuron(th=up.item())`` keeps that Python float)."""

from __future__ import annotations

import torch
import zoo_core as zoo
from zoo_core.sdk import ConversionIF

CLIPS = (0.7, 0.3, 1.1)  # none of them a float32 number


def _ann(T: int = 4) -> torch.nn.Module:
    ann = zoo.create_model("qcfs_cnn_digits", T=T, channels=[4, 8, 8]).double().eval()  # built in float32
    ups = [p for n, p in ann.named_parameters() if n.endswith(".up")]
    assert len(ups) == len(CLIPS)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p, v in zip(ups, CLIPS, strict=True):
            p.fill_(v)  # float64 clips, not float32-rounded
        for m in ann.modules():
            if isinstance(m, torch.nn.Conv2d):  # large enough weights that every layer fires
                m.weight.copy_(torch.randn(m.weight.shape, generator=g, dtype=torch.float64) * 0.8)
    return ann


def test_if_baseline_thresholds_are_the_float64_clips() -> None:
    snn = zoo.create_learning_rule("parallel_conversion", neuron="if").convert(_ann())
    neurons = [m for m in snn.modules() if isinstance(m, ConversionIF)]
    assert [float(m.v_threshold) for m in neurons] == list(CLIPS)
    assert all(m.v_threshold.dtype == torch.float64 and m.v_threshold.shape == (1,) for m in neurons)


def test_if_baseline_equals_a_float64_build() -> None:
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    ann32 = _ann()
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        ann64 = zoo.create_model("qcfs_cnn_digits", T=4, channels=[4, 8, 8]).eval()
        ann64.load_state_dict(ann32.state_dict())
        snn64 = zoo.create_learning_rule("parallel_conversion", neuron="if").convert(ann64)
    finally:
        torch.set_default_dtype(old)
    snn32 = zoo.create_learning_rule("parallel_conversion", neuron="if").convert(ann32)
    spikes: dict[str, list[torch.Tensor]] = {"32": [], "64": []}
    for key, snn in (("32", snn32), ("64", snn64)):
        for m in snn.modules():
            if isinstance(m, ConversionIF):
                m.register_forward_hook(lambda _m, _i, out, key=key: spikes[key].append(out))
    with torch.no_grad():
        assert torch.equal(snn32.forward_steps(x), snn64.forward_steps(x))
    assert len(spikes["32"]) == len(CLIPS) and all(bool((s != 0).any()) for s in spikes["32"])  # all fire
    assert all(torch.equal(a, b) for a, b in zip(spikes["32"], spikes["64"], strict=True))
