"""The CPU demo: USP-Gaussian's self-supervised Recon-Net, the cascade and the joint optimisation vs TFP on the
synthetic scene; the demo weight folder and the pictures and numbers the plugin README quotes.

    OMP_NUM_THREADS=1 .venv/bin/python plugins/usp_gaussian/scripts/make_demo.py [--steps 400] [--no-weights]

1. Recon-Net (``zoo train usp_multi_spkrecon --dataset usp_synthetic_scene``, rule ``usp_joint`` with
   ``use_3dgs=false``: the multi-window blur-decomposition loss L_spike alone, from spikes only): the demo weights
   ``zoo_usp_gaussian/weights/usp_multi_spkrecon.synthetic_demo`` and its card.
2. Cascade: 3D Gaussians fitted to that Recon-Net's mid-exposure images at the given poses (L_3dgs, no trajectory).
3. Joint: the full rule (Recon-Net + 3D Gaussians from the scene's point cloud + trajectories), same steps and
   recipe, from a fresh Recon-Net.
4. Baselines on the same clips: 2 x TFP41, 2 x TFP97, 2 x TFI.
5. Pictures (``plugins/usp_gaussian/docs/``): per view ground truth, TFP41, TFP97, the demo Recon-Net, the cascade's
   Gaussians, the joint Recon-Net, the joint Gaussians; a real recording (spikezoo) with TFP and the demo Recon-Net.
Prints the sha256 and metrics to paste into ``DEMO_WEIGHTS`` in ``zoo_usp_gaussian/plugin.py``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
import zoo_core as zoo
from zoo_core.sdk import TrainConfig, read_config, train

from zoo_usp_gaussian.data import fetch_spikezoo, spikezoo_base, synthetic_scene
from zoo_usp_gaussian.joint import USPJoint, fit_gaussians
from zoo_usp_gaussian.plugin import DEMO_TAG
from zoo_usp_gaussian.png import write_png
from zoo_usp_gaussian.spike_camera import double_clip, long_tfp, window_tfp
from zoo_usp_gaussian.splat import GaussianScene
from zoo_usp_gaussian.task import evaluate_clips

PLUGIN = Path(__file__).resolve().parents[1]
OUT = PLUGIN / "zoo_usp_gaussian" / "weights" / f"usp_multi_spkrecon.{DEMO_TAG}"
DOCS = PLUGIN / "docs"
#: CPU-sized recipe: the official learning rates suit 30,000 steps; these converge in hundreds (decay over the run)
DEMO_RULE = {
    "decay_steps": None,
    "lr_means": 3e-3,
    "lr_means_final": 3e-5,
    "lr_features_dc": 2.5e-2,
    "lr_opacities": 5e-2,
    "lr_scales": 1e-2,
    "lr_quats": 1e-2,
    "lr_net_final": 3e-5,
    "lr_camera": 5e-3,
    "lr_camera_final": 5e-5,
    "camera_accumulation": 2,
    "background": "black",
    "sh_degree": 0,
}
LR_NET = 3e-3
GS_LRS = {"means": 3e-3, "features_dc": 2.5e-2, "opacities": 5e-2, "scales": 1e-2, "quats": 1e-2}


def _up(img: torch.Tensor, k: int = 4) -> torch.Tensor:
    return F.interpolate(img[None, None], scale_factor=k, mode="nearest")[0, 0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--cascade-gs-steps", type=int, default=400)
    ap.add_argument("--no-weights", action="store_true", help="do not write the demo weight folder")
    args = ap.parse_args()
    torch.set_num_threads(1)
    DOCS.mkdir(exist_ok=True)
    data = synthetic_scene()
    scene = data.scene

    # 1. joint, through the task (zoo train)
    out = None if args.no_weights else str(OUT)
    recon_rule = {**DEMO_RULE, "use_3dgs": False}
    argv = ["usp_multi_spkrecon", "--dataset", "usp_synthetic_scene", "--max-steps", str(args.steps),
            "--lr", str(LR_NET), "--rule-kwargs", json.dumps(recon_rule, separators=(",", ":")), "--seed", "0"]  # fmt: skip
    if out:
        argv += ["--out", "plugins/usp_gaussian/zoo_usp_gaussian/weights/" + OUT.name, "--tag", DEMO_TAG]
    cfg = TrainConfig(model="usp_multi_spkrecon", dataset="usp_synthetic_scene", lr=LR_NET, rule_kwargs=recon_rule,
                      max_steps=args.steps, seed=0, out=out, tag=DEMO_TAG)  # fmt: skip
    first = train(cfg, "zoo train " + " ".join(shlex.quote(a) for a in argv), return_model=True)
    net = first["model"]

    # 2. cascade: Gaussians fitted to the Recon-Net's images
    with torch.no_grad():
        images = [net(v.clip[None].float())[0, 0] for v in scene.views]
    gs_c = GaussianScene(scene.points.float(), sh_degree=0, generator=torch.Generator().manual_seed(0))
    fit_gaussians(
        gs_c, images, [v.c2w for v in scene.views], scene, args.cascade_gs_steps, lrs=GS_LRS, seed=0
    )
    gs_c_metrics = USPJoint.evaluate_gaussians(gs_c, None, scene)

    # 3. joint: the full rule from a fresh Recon-Net
    torch.manual_seed(0)
    net_j = zoo.create_model("usp_multi_spkrecon")
    res = USPJoint(**{**DEMO_RULE, "lr_net": LR_NET}).fit(net_j, scene, args.steps, seed=0, log_every=50)
    rep_j = evaluate_clips(net_j, data, dtype="float64")
    gs_j_metrics = USPJoint.evaluate_gaussians(res.gaussians, res.trajectory, scene)

    metrics = {
        **first["metrics"],
        "cascade_gs_psnr": gs_c_metrics["psnr"],
        "cascade_gs_ssim": gs_c_metrics["ssim"],
        "joint_recon_psnr": rep_j["metrics"]["psnr"],
        "joint_recon_ssim": rep_j["metrics"]["ssim"],
        "joint_gs_psnr": gs_j_metrics["psnr"],
        "joint_gs_ssim": gs_j_metrics["ssim"],
        **first["baselines"],
    }
    if out:  # the card gets the cascade and joint numbers too (same weights, same training record)
        cfg_json = read_config(OUT)
        training = {**cfg_json["training"], "notes": cfg_json["training"]["notes"] + "; cascade_gs_* and joint_* were "
                    "measured by plugins/usp_gaussian/scripts/make_demo.py (same steps and recipe)"}  # fmt: skip
        zoo.save_pretrained(net, OUT, tag=DEMO_TAG, extra_config={
            "metrics": metrics, "evaluation": cfg_json["evaluation"], "training": training})  # fmt: skip

    # 4. pictures
    rows = []
    with torch.no_grad():
        for i, v in enumerate(scene.views[:4]):
            clip = v.clip.float()
            c2w = res.trajectory.virtual_c2w(v.c2w, i, "mid")
            tiles = [
                v.gt,
                double_clip(window_tfp(clip, 88)),
                double_clip(long_tfp(clip)),
                double_clip(images[i]),
                double_clip(gs_c.render(v.c2w, scene.camera, scene.background)[0].mean(-1)),
                double_clip(net_j(clip[None])[0, 0]),
                double_clip(res.gaussians.render(c2w, scene.camera, scene.background)[0].mean(-1)),
            ]
            rows.append(torch.cat([_up(t.float()) for t in tiles], 1))
    write_png(DOCS / "demo_views.png", torch.cat(rows, 0))

    # the real recording: TFP and the demo Recon-Net on a 96 x 128 crop
    fetch_spikezoo()
    real = spikezoo_base("test", crop=[60, 120, 96, 128])
    real_rep = evaluate_clips(net, real, dtype="float64")
    clip, gt = real[0]
    with torch.no_grad():
        rec = double_clip(net(clip[None])[0, 0])
    write_png(
        DOCS / "real_clip.png",
        torch.cat([_up(t, 2) for t in (gt[0], double_clip(window_tfp(clip, 88)), rec)], 1),
    )
    real_full = evaluate_clips(None, spikezoo_base("test"), dtype="float64")

    summary = {
        "steps": args.steps,
        "synthetic": metrics,
        "joint_seconds": res.seconds,
        "recon_seconds": first["seconds"],
        "real_crop": {"recon": real_rep["metrics"], **real_rep["baselines"]},
        "real_full_baselines": real_full["baselines"],
    }
    (DOCS / "demo_results.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps(summary, indent=1))
    if out:
        print(
            json.dumps(
                {"sha256": read_config(OUT)["files"], "metrics": read_config(OUT)["metrics"]}, indent=1
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
