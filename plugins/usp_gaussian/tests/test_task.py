"""The task spike-3d-reconstruction, the usp_joint rule and zoo train / zoo eval on the tiny synthetic scene; the
spike-camera pixel neuron."""

from __future__ import annotations

import json

import pytest
import torch
import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import ConfigError
from zoo_core.testing import check_neuron

from zoo_usp_gaussian import spike_camera as sc
from zoo_usp_gaussian.joint import USPJoint
from zoo_usp_gaussian.task import evaluate_clips

TINY = "usp_synthetic_scene_tiny"


@pytest.fixture(scope="module")
def tiny():
    return zoo.create_dataset(TINY)


def test_registrations() -> None:
    assert "spike-3d-reconstruction" in zoo.list_tasks()
    info = zoo.task_info("spike-3d-reconstruction")
    assert [m.name for m in info.metrics] == ["psnr", "ssim"]
    assert zoo.model_info("usp_multi_spkrecon").task == "spike-3d-reconstruction"
    assert "usp_joint" in zoo.list_learning_rules()
    assert {"usp_synthetic_scene", TINY, "spikezoo_base"} <= set(zoo.list_datasets())


def test_tiny_scene(tiny) -> None:
    scene = tiny.scene
    assert len(tiny) == 2 and scene.camera.width == 16
    clip, gt = tiny[0]
    assert clip.shape == (177, 16, 16) and gt.shape == (1, 16, 16)
    assert set(clip.unique().tolist()) <= {0.0, 1.0}
    # the spikes encode the scene: the exposure TFP correlates with the sharp mid frame
    tfp = sc.long_tfp(clip)
    assert float(torch.corrcoef(torch.stack([tfp.flatten(), gt.flatten()]))[0, 1]) > 0.8


def test_evaluate_baselines_and_model(tiny) -> None:
    rep = evaluate_clips(None, tiny, dtype="float64")
    assert rep["samples"] == 2 and "metrics" not in rep
    b = rep["baselines"]
    assert b["tfp41_psnr"] > 15 and 0 < b["tfp41_ssim"] <= 1

    # a model that returns TFP41 itself scores exactly the TFP41 baseline
    class TFP41(torch.nn.Module):
        def forward(self, x):
            return sc.window_tfp(x, 88)[:, None]

    rep = evaluate_clips(TFP41(), tiny, dtype="float64")
    assert rep["metrics"]["psnr"] == pytest.approx(b["tfp41_psnr"], abs=1e-9)


def test_joint_rule_trains_every_part(tiny) -> None:
    torch.manual_seed(0)
    net = zoo.create_model("usp_multi_spkrecon")
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rule = zoo.create_learning_rule("usp_joint", num_virtual_views=7, decay_steps=None, camera_accumulation=2,
                                    lr_means=3e-3, background="black", sh_degree=1)  # fmt: skip
    res = rule.fit(net, tiny.scene, 4, seed=0)
    assert len(res.history) == 4 and all(h["loss"] == h["loss"] for h in res.history)
    assert {"3dgs_reblur", "scale_reg", "spike_reblur", "joint"} <= set(res.history[0])
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert (
        float(res.trajectory.pose_adjustment.detach().abs().max()) > 1e-4
    )  # the camera knots moved (2 Adam steps)
    assert not torch.equal(res.gaussians.means.detach(), tiny.scene.points)
    m = USPJoint.evaluate_gaussians(res.gaussians, res.trajectory, tiny.scene)
    assert m["psnr"] > 5 and 0 < m["ssim"] <= 1
    with pytest.raises(ConfigError):
        zoo.create_learning_rule("usp_joint", use_3dgs=False, use_spike=False)
    with pytest.raises(ConfigError):
        zoo.create_learning_rule("usp_joint", learning_rate=1.0)
    with pytest.raises(ConfigError):
        rule.training_step(net, None, None)


def test_zoo_train_and_eval(tmp_path, capsys) -> None:
    out = tmp_path / "w"
    rc = main(["train", "usp_spkrecon", "--dataset", TINY, "--max-steps", "2", "--lr", "1e-3", "--seed", "0",
               "--rule-kwargs", '{"num_virtual_views":7,"background":"black","sh_degree":0}',
               "--out", str(out), "--tag", "tiny"])  # fmt: skip
    assert rc == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["evaluation"]["dtype"] == "float64"
    assert {"psnr", "ssim", "gs_psnr", "tfp41_psnr", "tfp97_psnr", "tfi_psnr"} <= set(cfg["metrics"])
    assert cfg["training"]["dataset"] == TINY
    capsys.readouterr()
    assert main(["eval", "usp_spkrecon", "--weights", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dataset"] == TINY and report["dtype"] == "float64"
    assert report["metrics"]["psnr"] == pytest.approx(cfg["metrics"]["psnr"], rel=1e-9)
    card = (out / "README.md").read_text()
    assert "tfp41_psnr" in card and "jointly optimised" in card


def test_spike_camera_pixel_neuron() -> None:
    check_neuron("spike_camera_pixel")
    frames = torch.rand(60, 5, 6, generator=torch.Generator().manual_seed(0))
    neuron = zoo.create_neuron("spike_camera_pixel")
    ours = neuron(frames.reshape(60, 1, 30)).reshape(60, 5, 6)
    ref = sc.simulate_spikes(frames, noise=False, g0=torch.zeros(5, 6))
    assert torch.equal(ours.to(torch.int16), ref)
