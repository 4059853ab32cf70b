"""Neuron and synapse counts of DPCNN-VGG9 and the LIF wide-VGG9 against an independent count; the profiler rule."""

from __future__ import annotations

import torch
import zoo_core as zoo
from torch import nn

from zoo_dpcnn.counting import count_neurons, count_synapses
from zoo_dpcnn.neuron import PCNN

NARROW = [64, 64, 128, 128, 256, 256, 256]
SIZES = [32, 32, 16, 16, 8, 8, 8]  # feature-map side of each conv layer (32x32 input, pools after 2, 4, 7)


def independent_counts(widths: list[int], coupled: bool) -> tuple[int, int]:
    """(neurons per sample and step, synaptic weights) of VGG9 by arithmetic on the layer list."""
    neurons = sum(c * s * s for c, s in zip(widths, SIZES)) + 1024
    c_in = [3, *widths[:-1]]
    ff = sum(i * o * 9 for i, o in zip(c_in, widths)) + widths[-1] * 4 * 4 * 1024 + 1024 * 10
    coupling = sum(c * c * 9 for c in widths) if coupled else 0
    return neurons, ff + coupling


def test_counts_equal_the_independent_count_and_the_paper_ratios() -> None:
    x = torch.rand(1, 3, 32, 32)
    d = zoo.create_model("dpcnn_vgg9", T=1)
    w = zoo.create_model("dpcnn_vgg9_lif_wide", T=1)
    nd, sd = independent_counts(NARROW, True)
    nw, sw = independent_counts([2 * c for c in NARROW], False)
    assert count_neurons(d, x)["total"] == nd == 246_784
    assert count_neurons(w, x)["total"] == nw == 492_544
    assert count_synapses(d)["total"] == sd == 8_076_992
    assert count_synapses(w)["total"] == sw == 15_332_736
    assert count_synapses(d)["coupling"] == sum(c * c * 9 for c in NARROW)
    assert abs(nd / nw - 0.50) < 0.01  # paper: 50%
    assert abs(sd / sw - 0.53) < 0.01  # paper: 53%


def test_connections_count() -> None:
    m = zoo.create_model("dpcnn_digits", T=2, cfg=[2, "A", 3, "A"])
    c = count_synapses(m, torch.rand(1, 1, 8, 8))
    # conv1: 8*8 outputs * 2 ch * 9 * 1; coupling1: 8*8*2 * 9 * 2; conv2: 4*4*3 * 9 * 2; coupling2: 4*4*3*9*3; fc 3*2*2*10
    expected = 64 * 2 * 9 + 64 * 2 * 18 + 16 * 3 * 18 + 16 * 3 * 27 + 12 * 10
    assert c["connections"] == expected


def test_profiler_counts_coupling_sops() -> None:
    torch.manual_seed(0)
    n = PCNN(2, "inter", ndim=3).double()
    x = torch.rand(3, 1, 2, 4, 4, dtype=torch.float64) * 2
    with torch.no_grad():
        y = n(x)
    p = zoo.profile(nn.Sequential(n), x)  # public API: the plugin's rule counts the coupling conv
    layer = p.layers[0]
    assert layer.rule == "pcnn_coupling" and layer.firing_rate == float(y.mean())
    # independent: every spike at steps 1..T-1 reaches each in-bounds 3x3 neighbour in all C=2 output maps
    expected = 0
    for t in range(2):
        for c in range(2):
            for i in range(4):
                for j in range(4):
                    if y[t, 0, c, i, j]:
                        nb = sum(
                            1 for di in (-1, 0, 1) for dj in (-1, 0, 1) if 0 <= i + di < 4 and 0 <= j + dj < 4
                        )
                        expected += nb * 2
    assert expected > 0 and layer.total_sops == expected
