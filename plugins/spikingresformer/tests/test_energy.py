"""SOPs and energy in the paper's convention, checked by hand on a tiny configuration."""

from __future__ import annotations

import pytest
import torch
import zoo_core as zoo
from zoo_core.testing_parity import make_fire

from zoo_spikingresformer import paper_energy
from zoo_spikingresformer.layers import SeqConv2d, SpikingMatmul


def _covering(i, size_out, k, s, p):
    """Output positions along one axis whose window (kernel k, stride s, padding p) contains input index i."""
    return sum(1 for o in range(size_out) if o * s - p <= i <= o * s - p + k - 1)


def hand_conv_sops(conv, x, y):
    """Every non-zero input element drives (covering outputs along H) x (along W) x (C_out / groups) adds."""
    k, s, p = conv.kernel_size[0], conv.stride[0], conv.padding[0]
    nnz = (x != 0).sum(dim=(0, 1, 2))  # per input position, over T, B, channels
    ho, wo = y.shape[-2:]
    total = 0
    for i in range(x.shape[-2]):
        for j in range(x.shape[-1]):
            total += int(nnz[i, j]) * _covering(i, ho, k, s, p) * _covering(j, wo, k, s, p)
    return total * (conv.out_channels // conv.groups)


def test_sops_by_hand_tiny_configuration():
    torch.manual_seed(0)
    T, B = 2, 3
    calibration = torch.rand((4, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    m = make_fire(zoo.create_model("spikingresformer_digits", T=T), calibration, seed=0)  # every block fires
    x = torch.rand(B, 1, 8, 8)
    calls = []
    names = {mod: n for n, mod in m.named_modules()}
    hooks = [
        mod.register_forward_hook(lambda mod, i, o: calls.append((names[mod], mod, i, o)))
        for mod in m.modules()
        if isinstance(mod, SeqConv2d | SpikingMatmul)
    ]
    with torch.no_grad():
        m(x)
    for h in hooks:
        h.remove()
    hand = {}
    for name, mod, inputs, out in calls:
        if isinstance(mod, SpikingMatmul):
            left, right = inputs
            assert set(right.unique().tolist()) <= {0.0, 1.0}
            hand[name] = left.shape[-2] * int((right != 0).sum())  # ones(left) @ right, summed
        elif name != "prologue.0":
            assert set(inputs[0].unique().tolist()) <= {0.0, 1.0}
            hand[name] = hand_conv_sops(mod, inputs[0], out)
    # the two DSSA products of stage 1: M x nnz(S) and d x nnz(A)
    assert hand["layers.0.0.matmul1"] % 16 == 0 and hand["layers.0.0.matmul2"] % 16 == 0
    p = zoo.profile(m, x)
    assert all(count > 0 for count in hand.values()), hand
    for name, count in hand.items():
        lp = p.layer(name)
        assert lp.total_sops == count, name
        assert lp.total_macs == 0 and lp.spike_input is True
    stem = p.layer("prologue.0")
    assert stem.total_sops == 0 and stem.total_macs == T * B * 16 * 8 * 8 * 1 * 9  # analog input: MACs
    head = p.layer("classifier")
    assert head.total_sops == 0 and head.total_macs == T * B * 10 * 64
    assert p.sops == pytest.approx(sum(hand.values()) / B)
    e = paper_energy(p)
    assert e["sops"] == pytest.approx(sum(hand.values()) / B)
    assert e["energy_pj"] == pytest.approx(0.9 * sum(hand.values()) / B)
    assert e["energy_mj"] == pytest.approx(e["energy_pj"] * 1e-9)
    assert paper_energy(m, x) == e  # model + inputs: profiles first
    # every DSSA product was counted by the plugin's rule
    assert p.layer("layers.2.1.matmul2").rule == "spikingresformer_matmul"


def test_paper_energy_skips_stem_and_head_even_for_spike_input():
    torch.manual_seed(0)
    m = zoo.create_model("spikingresformer_digits", T=2, input_mean=None, input_std=None)
    m.train()
    with torch.no_grad():
        m(torch.rand(8, 1, 8, 8))
    m.eval()
    x = (torch.rand(2, 2, 1, 8, 8) < 0.4).float()  # binary event frames: the stem is fed by spikes
    p = zoo.profile(m, x)
    assert p.layer("prologue.0").total_sops > 0
    e = paper_energy(p)
    skipped = p.layer("prologue.0").sops + p.layer("classifier").sops
    assert e["sops"] == pytest.approx(p.sops - skipped)
