"""The spike camera: simulator (the official rules and the spec's rate and TFP figures), .dat files, TFP and TFI."""

from __future__ import annotations

import math

import pytest
import torch
from zoo_core.sdk import ConfigError, InputError

from zoo_usp_gaussian import spike_camera as sc


def _official_simulate(frames: list[torch.Tensor], g0: torch.Tensor, gaussian: torch.Tensor) -> torch.Tensor:
    """The official simulator's rules written out naively (float32 membrane, strict threshold, mod reset, the
    inherent noise of a cumulative sum of normal draws OR-ed in)."""
    vth = 4.0
    eta, lam, cpd, clk = 10 ** (-13) * 1.09, 10 ** (-4) * 1.83, 10.0 ** (-15) * 15, 10.0 ** (6) * 10
    k = (2 / clk) * eta / (lam * cpd)
    T, (H, W) = len(frames), frames[0].shape
    vol = torch.zeros(H, W)
    rec = torch.zeros(T + 1, H, W, dtype=torch.int16)
    for n in range(T + 1):
        g = g0 if n == 0 else frames[n - 1]
        vol += g * k * 250
        fire = vol > vth
        rec[n][fire] = 1
        vol[fire] = vol[fire] % vth
    spikes = rec[1:]
    size = H * W * T
    noise = torch.zeros(size, dtype=torch.int16)
    keys = torch.cumsum(gaussian, 0)
    noise[keys[keys < size - 1].long()] = 1
    return torch.bitwise_or(spikes.permute(1, 2, 0), noise.reshape(H, W, T)).permute(2, 0, 1)


def test_constants() -> None:
    assert pytest.approx(7.941712e-3, rel=1e-6) == sc.K_SENSOR
    assert pytest.approx(1.985428, rel=1e-6) == sc.GAIN
    assert pytest.approx(0.4964, abs=1e-4) == sc.GAIN / sc.V_THRESHOLD


def test_simulator_equals_the_official_rules_and_rng_order() -> None:
    frames = torch.rand(30, 8, 16, generator=torch.Generator().manual_seed(3))
    torch.manual_seed(7)
    ours = sc.simulate_spikes(frames)
    torch.manual_seed(7)  # the official order of draws: g0 = rand(H, W), then normal(140, 50, H*W*T)
    g0 = torch.rand(8, 16)
    gaussian = torch.normal(140.0, 50.0, size=(8 * 16 * 30,))
    ref = _official_simulate(list(frames), g0, gaussian)
    assert ours.dtype == torch.int16 and ours.shape == (30, 8, 16)
    assert torch.equal(ours, ref)
    assert torch.equal(sc.simulate_spikes(frames, g0=g0, gaussian=gaussian), ref)


def test_first_frame_never_fires_and_full_intensity_fires_every_other_frame() -> None:
    frames = torch.ones(200, 4, 4)
    s = sc.simulate_spikes(frames, noise=False, g0=torch.zeros(4, 4))
    # v: 1.985, 3.971, 5.956 -> fire at the 3rd frame; afterwards about every 2nd frame
    assert s[:2].sum() == 0 and bool((s[2] == 1).all())
    assert float(s.float().mean()) == pytest.approx(sc.GAIN / 4, abs=0.01)
    # no spikes without light (and without noise)
    assert sc.simulate_spikes(torch.zeros(50, 4, 4), noise=False).sum() == 0


def test_rate_is_0_4964_of_the_intensity_plus_the_noise() -> None:
    g = torch.Generator().manual_seed(0)
    tex = 0.1 + 0.8 * torch.rand(64, 64, generator=g)
    frames = tex.expand(177, 64, 64).contiguous()
    clean = sc.simulate_spikes(frames, noise=False, generator=g).float().mean() / tex.mean()
    noisy = sc.simulate_spikes(frames, generator=g).float().mean() / tex.mean()
    # the spec: rate / I -> 0.4964 (177 frames lose under half a spike per pixel to the initial phase);
    # noise adds about 1/140 = 0.0071 of all pixel-frames (measured 0.502 in the spec)
    assert float(clean) == pytest.approx(0.4964, abs=0.005)
    assert float(noisy) == pytest.approx(0.502, abs=0.005)
    noise = sc.inherent_noise(177, 64, 64, generator=torch.Generator().manual_seed(1))
    assert float(noise.float().mean()) == pytest.approx(1 / 140, rel=0.05)


def test_tfp_of_a_static_texture_sharpens_with_more_frames() -> None:
    """The spec's figures (2 x TFP vs a static 64x64 texture in 0.1..0.9, noise on): 31.6 / 37.7 / 41.1 dB for 41 /
    97 / 177 frames. Its texture is not given; on ours (uniform random) they come out 30.5 / 36.0 / 40.7 dB."""
    tex = 0.1 + 0.8 * torch.rand(64, 64, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    s = sc.simulate_spikes(tex.expand(177, 64, 64).contiguous())
    dbs = [
        10 * math.log10(1 / float(((2 * sc.tfp(s, a, b) - tex) ** 2).mean()))
        for a, b in [(68, 108), (40, 136), (0, 176)]
    ]
    for got, spec in zip(dbs, (31.6, 37.7, 41.1)):
        assert got == pytest.approx(spec, abs=2.0)
    assert dbs[0] + 4 < dbs[1] < dbs[2] - 3


def test_tfp_of_a_moving_texture_favours_the_short_window() -> None:
    """A texture panning 0.25 px per frame: the 97-frame TFP blurs it, the 41-frame window is sharper (spec: 22.8 vs
    24.5 dB against the mid-exposure frame)."""
    g = torch.Generator().manual_seed(0)
    base = torch.nn.functional.avg_pool2d(torch.rand(1, 1, 64, 128, generator=g), 3, 1, 1)[0, 0]
    base = 0.1 + 0.8 * (base - base.min()) / (base.max() - base.min())
    xs = torch.arange(64, dtype=torch.float32)
    frames = []
    for t in range(177):
        pos = xs + 0.25 * t
        i0 = pos.floor().long()
        w = pos - i0
        frames.append(base[:, i0] * (1 - w) + base[:, i0 + 1] * w)
    frames_t = torch.stack(frames)
    torch.manual_seed(0)
    s = sc.simulate_spikes(frames_t)
    mid = frames_t[88]

    def db(p: torch.Tensor) -> float:
        return 10 * math.log10(1 / float(((sc.double_clip(p) - mid) ** 2).mean()))

    assert db(sc.window_tfp(s, 88)) > db(sc.long_tfp(s)) + 0.5


def test_dat_round_trip_bit_order_and_flip(tmp_path) -> None:
    spikes = (torch.rand(5, 8, 16, generator=torch.Generator().manual_seed(0)) < 0.3).to(torch.int16)
    path = sc.write_dat(tmp_path / "a.dat", spikes)
    assert path.stat().st_size == 5 * 8 * 16 // 8
    assert torch.equal(sc.read_dat(path, 8, 16).to(torch.int16), spikes)
    # layout: the stored frame is upside down; pixel p of the stored frame is bit p % 8 of byte p // 8 (LSB first)
    one = torch.zeros(1, 8, 16, dtype=torch.uint8)
    one[0, 7, 3] = 1  # last row -> first stored row, column 3 -> bit 3 of byte 0
    raw = sc.write_dat(tmp_path / "b.dat", one).read_bytes()
    assert raw[0] == 1 << 3 and sum(raw) == 8
    assert torch.equal(
        sc.read_dat(tmp_path / "b.dat", 8, 16, flip=False)[0, 0, 3], torch.tensor(1, dtype=torch.uint8)
    )
    assert sc.read_dat(path, 8, 16, frames=2).shape == (2, 8, 16)
    with pytest.raises(InputError):
        sc.read_dat(path, 8, 16, frames=6)
    with pytest.raises(ConfigError):
        sc.read_dat(path, 5, 5)
    with pytest.raises(InputError):
        sc.write_dat(tmp_path / "c.dat", torch.full((1, 8, 8), 2))


def test_tfp_windows() -> None:
    clip = torch.arange(177, dtype=torch.float32)[:, None, None].expand(177, 2, 2)
    assert float(sc.long_tfp(clip)[0, 0]) == pytest.approx(sum(range(40, 137)) / 97)
    assert float(sc.window_tfp(clip, 88)[0, 0]) == pytest.approx(88.0)
    assert float(sc.visual_tfp(clip, 88)[0, 0]) == pytest.approx(sum(range(68, 110)) / 42)  # 42 frames
    with pytest.raises(InputError):
        sc.tfp(clip, 100, 200)


def _tfi_loop(spike: torch.Tensor, middle: int, window: int) -> torch.Tensor:
    """TFI per pixel by its definition (index 0 counts as "no spike", as in the official code)."""
    B, C, H, W = spike.shape
    out = torch.zeros(B, 1, H, W)
    for b in range(B):
        for y in range(H):
            for x in range(W):
                left = next(
                    (i for i in range(middle, middle - window, -1) if i >= 0 and spike[b, i, y, x] > 0), 0
                )
                right = next(
                    (i for i in range(middle + 1, middle + window + 1) if i < C and spike[b, i, y, x] > 0), 0
                )
                left = left if left != 0 else middle - window
                right = right if right != 0 else middle + window
                out[b, 0, y, x] = 1.0 / (right - left)
    return out


@pytest.mark.parametrize(("middle", "window"), [(10, 4), (2, 5), (18, 6), (0, 3)])
def test_tfi_matches_its_definition_and_the_edge_cases(middle, window) -> None:
    spike = (torch.rand(2, 20, 3, 4, generator=torch.Generator().manual_seed(middle)) < 0.25).float()
    spike[0, 0] = 1  # a spike at frame 0 counts as missing
    assert torch.equal(sc.middle_tfi(spike, middle, window), _tfi_loop(spike, middle, window))
    with pytest.raises(InputError):
        sc.middle_tfi(spike, 20, 3)


def test_grey_conversions() -> None:
    rgb = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert sc.spike_grey(rgb).tolist() == pytest.approx([0.3, 0.59, 0.11])
    assert sc.gt_grey(rgb).tolist() == pytest.approx([0.2989, 0.587, 0.114])


def test_bad_input_is_refused() -> None:
    with pytest.raises(InputError):
        sc.simulate_spikes(torch.rand(4, 4))
    with pytest.raises(InputError):
        sc.simulate_spikes(torch.full((2, 4, 4), float("nan")))
    with pytest.raises(InputError):
        sc.simulate_spikes(torch.rand(2, 4, 4), g0=torch.rand(3, 3))
