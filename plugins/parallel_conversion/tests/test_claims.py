"""The paper's network-level claims as tests, in float64.

* lossless: the parallel SNN's time-averaged output equals the quantized ANN's, and which broken
  condition breaks it (T != n, rho != 1/2, BN in train mode, sequential IF neurons);
* spikes are sorted in every layer;
* distribution-aware calibration: the channel-wise SNN equals its DA-QCFS ANN and the calibration
  invariant (reference level = T keeps the shifts at 0);
* max-pool after neurons stays exact (a consequence of sorting; our reading) and the readout only depends on
  the time mean.
"""

from __future__ import annotations

import pytest
import torch
import zoo_core as zoo
from torch import nn
from zoo_core.sdk import QCFS, ConversionNeuron

from zoo_parallel_conversion.calibration import DAQCFS

EXACT = 1e-12


def _input(shape, seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _net(randomise, name, **kw):
    torch.manual_seed(0)
    return randomise(zoo.create_model(name, **kw), seed=1).double().eval()


def _convert(ann, calibration=None, **kw):
    rule = zoo.create_learning_rule("parallel_conversion", **kw)
    return rule.convert(ann, calibration), rule


def _spikes(snn, x):
    """Per-neuron outputs [T, B, ...] of one forward pass."""
    outs = []

    def hook(m, i, o):
        outs.append(o.unflatten(0, (m.fold_T, -1)))

    hs = [m.register_forward_hook(hook) for m in snn.modules() if isinstance(m, ConversionNeuron)]
    with torch.no_grad():
        snn(x)
    for h in hs:
        h.remove()
    return outs


@pytest.mark.parametrize(
    ("name", "kw"),
    [("resnet20_qcfs", {"num_classes": 10}), ("vgg16_qcfs", {"num_classes": 10, "width_mult": 0.125})],
)
def test_lossless_and_sorted(randomise, name, kw) -> None:
    """T = n, theta = lambda, rho = 1/2, BN eval, linear ops between neurons: exact, layer by layer."""
    ann = _net(randomise, name, T=4, **kw)
    snn, rule = _convert(ann)
    x = _input((3, 3, 32, 32))
    with torch.no_grad():
        err = float((snn(x) - ann(x)).abs().max())
    assert err < EXACT, err
    assert rule.record["lossless"]["exact"] and rule.record["T"] == 4
    spikes = _spikes(snn, x)
    rates = [float((s != 0).double().mean()) for s in spikes]
    assert min(rates) > 0.01 and max(rates) < 0.99, "the fixture must make every layer fire (non-trivial)"
    for s in spikes:
        assert bool((s[1:].abs() <= s[:-1].abs()).all()), "spike trains must be sorted"


def test_broken_conditions_break_losslessness(randomise) -> None:
    x = _input((2, 3, 32, 32), seed=3)
    ann8 = _net(randomise, "resnet20_qcfs", T=8, num_classes=10)  # ANN quantized with n = 8 levels
    with torch.no_grad():
        ref = ann8(x)
        # T != n: the SNN (T = 4) does not reproduce the n = 8 ANN ...
        snn4, rule = _convert(ann8, T=4)
        assert float((snn4(x) - ref).abs().max()) > 1e-3
        assert any("re-levelled" in w for w in rule.record["warnings"])
        # ... it reproduces the same weights quantized at T = 4 levels
        ann4 = _net(randomise, "resnet20_qcfs", T=4, num_classes=10)
        assert float((snn4(x) - ann4(x)).abs().max()) < EXACT
        # rho != 1/2: the per-step shifts no longer match QCFS's 1/2
        snn_rho, rule = _convert(ann8, init_mem=0.25)
        assert float((snn_rho(x) - ref).abs().max()) > 1e-3 and not rule.record["lossless"]["exact"]
        # sequential IF neurons (the classic conversion) are not lossless either
        snn_if, rule = _convert(ann8, neuron="if")
        assert float((snn_if(x) - ref).abs().max()) > 1e-3 and not rule.record["lossless"]["exact"]
        # the parallel SNN under the conditions is exact
        snn8, _ = _convert(ann8)
        assert float((snn8(x) - ref).abs().max()) < EXACT
        # BN in train mode: the SNN's batch is T*B, statistics differ from the ANN's
        snn8.train()
        ann8.train()
        assert float((snn8(x) - ann8(x)).abs().max()) > 1e-6


def test_calibrated_snn_equals_da_qcfs_ann(randomise) -> None:
    """T (4) != training level (reference 8): calibration, then CW neurons equal the DA-QCFS ANN exactly."""
    ann = _net(randomise, "resnet20_qcfs", T=4, num_classes=10, is_cab=True)
    g = torch.Generator().manual_seed(4)
    calib = [
        (torch.rand(4, 3, 32, 32, generator=g, dtype=torch.float64), torch.zeros(4, dtype=torch.long))
    ] * 3
    snn, rule = _convert(ann, calib, keep_ann=True)
    da = rule.quantized_ann
    shifts = [m for m in da.modules() if isinstance(m, DAQCFS)]
    assert shifts and all(m.use_shifts for m in shifts)
    assert max(float(m.rec_in_mean.abs().max()) for m in shifts) > 0  # calibration moved the shifts
    x = _input((3, 3, 32, 32), seed=5)
    with torch.no_grad():
        assert float((snn(x) - da(x)).abs().max()) < EXACT
        assert float((snn(x) - ann(x)).abs().max()) > 1e-6  # ... and no longer the uncalibrated ANN
    assert rule.record["procedure"] == "qcfs-calibrated" and rule.record["calibration"]["batches"] == 3
    assert rule.record["calibration"]["snn_path_accuracy"] >= 0.0


def test_calibration_invariant_reference_equals_T(randomise) -> None:
    """Calibration invariant: reference level == T and shifts starting at 0 -> both halves coincide, shifts stay exactly 0."""
    ann = _net(randomise, "resnet20_qcfs", T=4, num_classes=10, img_size=8, width_mult=0.5)
    calib = [_input((2, 3, 8, 8), seed=s) for s in range(2)]
    _, rule = _convert(ann, calib, reference_levels=4, keep_ann=True)
    layers = [m for m in rule.quantized_ann.modules() if isinstance(m, DAQCFS)]
    assert layers and all(bool((m.rec_in_mean == 0).all() and (m.rec_th_mean == 0).all()) for m in layers)


def test_maxpool_after_neurons_is_exact_thanks_to_sorting() -> None:
    """Our reading: max over a window of sorted trains is the train of the max count, so a max-pool after a
    parallel neuron keeps the SNN exact (the sequential IF does not)."""
    torch.manual_seed(2)
    ann = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        QCFS(levels=4, threshold=1.0),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1),
        QCFS(levels=4, threshold=1.0),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    ).double()
    x = _input((4, 3, 8, 8), seed=6)
    with torch.no_grad():
        ref = ann(x)
        snn, rule = _convert(ann)
        assert float((snn(x) - ref).abs().max()) < EXACT
        snn_if, _ = _convert(ann, neuron="if")
        assert float((snn_if(x) - ref).abs().max()) > 1e-3
    assert rule.record["traced"] and len(rule.record["sites"]) == 2


def test_readout_depends_on_the_time_mean_only(randomise) -> None:
    """Permuting the T input frames does not change the parallel SNN's output."""
    ann = _net(randomise, "resnet20_qcfs", T=4, num_classes=10, img_size=8, width_mult=0.5)
    snn, _ = _convert(ann)
    frames = _input((4, 2, 3, 8, 8), seed=7)
    with torch.no_grad():
        a, b = snn(frames), snn(frames[torch.tensor([2, 0, 3, 1])])
    assert float((a - b).abs().max()) < EXACT
