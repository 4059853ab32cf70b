r"""The task ``spike-3d-reconstruction``: spike-camera clips to sharp images, learned jointly with a 3D scene.

Its models are the Recon-Nets: a 177-frame spike clip ``[B, 177, H, W]`` in, the grey image at mid-exposure
``[B, 1, H, W]`` out (half intensity, as the spikes). Evaluation (``zoo eval``) follows the paper's protocol: the
output is multiplied by 2 and clipped to [0, 1], then PSNR (data range 1) and SSIM (11x11 Gaussian window,
:math:`\sigma` = 1.5) against the grey ground truth, per view, averaged over views; beside the model the classical
baselines measured the same way: TFP over the 41-frame window (``tfp41``), over the 97 exposure frames
(``tfp97``) and TFI at mid-exposure (``tfi``). Training (``zoo train``) is the joint optimisation of the learning
rule ``usp_joint`` (Recon-Net + 3D Gaussians + per-view trajectories, from spikes only) on a multi-view scene;
its card records the Gaussians' mid-exposure renders (``gs_*``) and the baselines beside the Recon-Net.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import zoo_core as zoo
from torch import Tensor, nn
from torch.utils.data import Dataset
from zoo_core.sdk import (
    CARD_DTYPE,
    TRAIN_BASICS,
    ConfigError,
    IOSpec,
    Metric,
    Task,
    TensorSpec,
    TrainConfig,
    WeightInfo,
    card_evaluation,
    cast_model,
)

from .losses import psnr, ssim
from .spike_camera import CLIP_FRAMES, double_clip, long_tfp, middle_tfi, window_tfp

__all__ = ["BASELINES", "SpikeReconstruction", "evaluate_clips"]

#: the conformance kit's input size (the nets are fully convolutional: any H x W works)
KIT_SIZE = 16
#: baselines measured beside every model: name -> what it is
BASELINES = {
    "tfp41": "2 x TFP over the 41-frame window at mid-exposure (frames 68..108)",
    "tfp97": "2 x TFP over the 97 exposure frames (40..136), the blurry training target",
    "tfi": "2 x TFI at mid-exposure (frame 88, search window 20)",
}
_COMPARISONS = {
    "gs_psnr": "the jointly optimised 3D Gaussians rendered at mid-exposure (x2, clipped) vs the ground truth",
    "gs_ssim": "SSIM of those renders",
    "cascade_gs_psnr": "the cascade's second stage: 3D Gaussians fitted to this Recon-Net's mid-exposure images at the "
    "given poses, rendered at mid-exposure",
    "cascade_gs_ssim": "SSIM of the cascade's Gaussians",
    "joint_recon_psnr": "the full joint optimisation (Recon-Net + 3D Gaussians + trajectories, same steps and "
    "recipe): its Recon-Net at mid-exposure",
    "joint_recon_ssim": "SSIM of the jointly trained Recon-Net",
    "joint_gs_psnr": "the full joint optimisation: its 3D Gaussians rendered at mid-exposure",
    "joint_gs_ssim": "SSIM of the jointly optimised Gaussians",
    **{f"{k}_psnr": f"baseline: {v}" for k, v in BASELINES.items()},
    **{f"{k}_ssim": f"SSIM of the baseline {k}" for k in BASELINES},
}


def _metrics(pred: Tensor, gt: Tensor) -> tuple[float, float]:
    p, g = pred.double(), gt.double()
    return psnr(p, g), float(ssim(p.reshape(1, 1, *p.shape[-2:]), g.reshape(1, 1, *g.shape[-2:])))


@torch.no_grad()
def evaluate_clips(model: nn.Module | None, data: Dataset, dtype: str | None = None) -> dict[str, Any]:
    """Per-view PSNR / SSIM (x2 and clipped, against the ground truth) of ``model`` (skipped when ``None``) and of
    the baselines, averaged over the views of ``data`` (``(clip [177, H, W], gt [1, H, W])`` samples)."""
    if model is not None:
        model = cast_model(model, dtype).eval()
    fdtype = torch.float64 if dtype == "float64" else torch.float32
    sums: dict[str, list[float]] = {}
    n = 0
    t_model = 0.0
    for i in range(len(data)):  # type: ignore[arg-type]
        clip, gt = data[i]
        if clip.dim() != 3 or clip.shape[0] != CLIP_FRAMES:
            raise ConfigError(
                f"spike-3d-reconstruction: samples must be clips [177, H, W], got {tuple(clip.shape)}"
            )
        clip = clip.to(fdtype)
        gt = gt.to(fdtype).reshape(clip.shape[-2:])
        mid = CLIP_FRAMES // 2
        preds: dict[str, Tensor] = {
            "tfp41": window_tfp(clip, mid),
            "tfp97": long_tfp(clip),
            "tfi": middle_tfi(clip[None], mid, 20)[0, 0].to(fdtype),
        }
        if model is not None:
            t0 = time.perf_counter()
            preds["model"] = model(clip[None])[0, 0]
            t_model += time.perf_counter() - t0
        for k, p in preds.items():
            ps, ss = _metrics(double_clip(p), gt)
            sums.setdefault(f"{k}_psnr", []).append(ps)
            sums.setdefault(f"{k}_ssim", []).append(ss)
        n += 1
    if n == 0:
        raise ConfigError("spike-3d-reconstruction: the data set is empty")
    mean = {k: sum(v) / len(v) for k, v in sums.items()}
    out: dict[str, Any] = {"samples": n, "dtype": dtype, "per_view": sums, "seconds": t_model}
    if model is not None:
        out["metrics"] = {"psnr": mean["model_psnr"], "ssim": mean["model_ssim"]}
    out["baselines"] = {k: v for k, v in mean.items() if not k.startswith("model_")}
    return out


class SpikeReconstruction(Task):
    """Spike-camera clips to mid-exposure images, trained jointly with a 3D Gaussian scene (module docstring)."""

    name = "spike-3d-reconstruction"
    io = IOSpec(
        inputs=(
            TensorSpec(
                name="spikes",
                shape=("B", CLIP_FRAMES, "H", "W"),
                kind="binary",
                description="a spike-camera clip of 177 frames (time as channels); any H x W",
                free={"H": KIT_SIZE, "W": KIT_SIZE},
            ),
        ),
        output=TensorSpec(
            name="image",
            shape=("B", 1, "H", "W"),
            description="grey image at mid-exposure, half intensity (x2 and clip for display/metrics)",
            free={"H": KIT_SIZE, "W": KIT_SIZE},
        ),
        description="spike clip [B, 177, H, W] in, mid-exposure image [B, 1, H, W] out (H x W: any size; the "
        "conformance kit runs 16 x 16 and 32 x 32)",
    )
    metrics = (
        Metric(
            name="psnr",
            direction="higher",
            definition="PSNR (dB, data range 1) of clip(2 x output, 0, 1) against the grey ground truth, mean over views",
        ),
        Metric(
            name="ssim",
            direction="higher",
            definition="SSIM (11x11 Gaussian window, sigma 1.5, K = 0.01/0.03) of the same images, mean over views",
        ),
    )
    default_dataset = "usp_synthetic_scene"

    def eval_data(
        self,
        model: nn.Module,
        *,
        dataset: str | None,
        split: str,
        weights: WeightInfo | None = None,
        weights_config: dict[str, Any] | None = None,
    ) -> tuple[str, Dataset]:
        training = (weights_config or {}).get("training") or {}
        name = self.eval_dataset_name(dataset, weights, weights_config)
        self.accept_dataset(name)
        kwargs = dict(training.get("dataset_kwargs") or {}) if name == training.get("dataset") else {}
        return name, zoo.create_dataset(name, split=split, **kwargs)

    def evaluate(self, model: nn.Module, data: Dataset, **options: Any) -> dict[str, Any]:
        return evaluate_clips(model, data, dtype=options.get("dtype"))

    def format_report(self, title: str, report: dict[str, Any]) -> list[str]:
        lines = [title, f"  {'':<10}{'PSNR (dB)':>10}{'SSIM':>8}"]
        m = report.get("metrics", {})
        if m:
            lines.append(f"  {'model':<10}{m['psnr']:>10.2f}{m['ssim']:>8.4f}")
        b = report.get("baselines", {})
        for k in BASELINES:
            if f"{k}_psnr" in b:
                lines.append(f"  {k:<10}{b[f'{k}_psnr']:>10.2f}{b[f'{k}_ssim']:>8.4f}")
        lines.append(
            "  (images x2 and clipped to [0, 1] before the metrics: spikes fire at about half the intensity)"
        )
        return lines

    def describe_comparison(self, key: str) -> str:
        return _COMPARISONS.get(key, "")

    def card_usage(self, full_name: str, args: dict[str, Any]) -> list[str]:
        return [
            "clip = torch.zeros(1, 177, 32, 32)  # spike frames (time as channels), e.g. zoo_usp_gaussian.spike_camera.read_dat",
            "image = (2 * model(clip)).clip(0, 1)  # [1, 1, 32, 32] mid-exposure image",
        ]

    def check_model(self, who: str, model: nn.Module, inputs: Any, config: dict) -> None:
        """Any image size works (fully convolutional) and a clip without spikes stays finite."""
        x = torch.zeros(1, CLIP_FRAMES, 8, 12)
        with torch.no_grad():
            y = model.eval()(x)
        if tuple(y.shape) != (1, 1, 8, 12) or not bool(torch.isfinite(y).all()):
            raise AssertionError(
                f"{who}: check 'any image size' failed: [1, 177, 8, 12] gave {tuple(y.shape)}"
            )

    def bad_inputs(self, x: Tensor) -> list[tuple[str, Tensor]]:
        return [("a clip of 30 frames (shorter than a 41-frame window)", x[:, :30])]

    # -------------------------------------------------------------------------------------------------- training
    #: what :meth:`train` takes (the rule's own optimisers, one scene): ``zoo train`` refuses the other settings
    train_settings = TRAIN_BASICS

    def train(
        self, cfg: TrainConfig, command: str | None = None, return_model: bool = False
    ) -> dict[str, Any]:
        """The joint optimisation (learning rule ``usp_joint``, ``--rule-kwargs`` its hyper-parameters) on a
        registered scene (``--dataset``, default ``usp_synthetic_scene``). Steps: ``--max-steps`` (else
        ``--epochs`` x views); ``--lr`` is the Recon-Net's initial learning rate. The card records the Recon-Net's
        metrics (float64) beside the baselines and the Gaussians' renders."""
        from .joint import USPJoint

        rule_name = "usp_joint" if cfg.learning_rule == "bptt" else cfg.learning_rule
        rule = zoo.create_learning_rule(rule_name, **{"lr_net": cfg.lr, **cfg.rule_kwargs})
        if not isinstance(rule, USPJoint):
            raise ConfigError(
                f"spike-3d-reconstruction trains with the rule usp_joint (or one built on it), got {rule_name!r}"
            )
        torch.manual_seed(cfg.seed)
        model = zoo.create_model(cfg.model, **cfg.model_kwargs)
        dataset = self.accept_dataset(cfg.dataset or self.default_dataset)
        data = zoo.create_dataset(dataset, split="train")
        scene = getattr(data, "scene", None)
        if scene is None:
            raise ConfigError(
                f"spike-3d-reconstruction: data set {dataset!r} carries no multi-view scene to train on"
            )
        steps = cfg.max_steps if cfg.max_steps is not None else cfg.epochs * len(scene.views)
        res = rule.fit(
            model, scene, steps, seed=cfg.seed, log_every=max(1, steps // 20) if cfg.verbose else 0
        )
        report = evaluate_clips(model, zoo.create_dataset(dataset, split="test"), dtype=CARD_DTYPE)
        gs_metrics = {}
        if res.gaussians is not None:
            gs_metrics = USPJoint.evaluate_gaussians(res.gaussians, res.trajectory, scene)
        result: dict[str, Any] = {**report, "steps": steps, "seconds": res.seconds, "history": res.history}
        result["gaussians"] = gs_metrics
        if cfg.verbose:
            print("\n".join(self.format_report(f"{cfg.model} after {steps} steps", report)), flush=True)
            if gs_metrics:
                print(
                    f"  3D Gaussians at mid-exposure: {gs_metrics['psnr']:.2f} dB, SSIM {gs_metrics['ssim']:.4f}"
                )
        if cfg.out:
            metrics = {
                **report["metrics"],
                **{f"gs_{k}": v for k, v in gs_metrics.items()},
                **report["baselines"],
            }
            training = {
                "command": command or "",
                "dataset": dataset,
                "dataset_name": zoo.dataset_info(dataset).title or dataset,
                "split": "the scene's views (the evaluation views are the training views, as in the paper's protocol)",
                "seed": cfg.seed,
                "learning_rule": f"{rule_name} {rule.config_dict()}",
                "steps": steps,
                "optimizer": "Adam (eps 1e-15) per parameter group, log-linear decays (see the rule)",
                "eval_split": "test",
                "seconds": round(res.seconds, 1),
                "notes": "metrics in float64 on clip(2 x image, 0, 1); gs_* are the jointly optimised Gaussians "
                "(not part of this weight folder); tfp*/tfi are the classical baselines on the same clips",
            }
            extra = {"metrics": metrics, "evaluation": card_evaluation(model, cfg.tag), "training": training}
            zoo.save_pretrained(model, cfg.out, tag=cfg.tag, extra_config=extra)
        if return_model:
            result["model"] = model
            result["joint"] = res
        return result
