r"""The joint optimisation of USP-Gaussian (learning rule ``usp_joint``): Recon-Net + 3D Gaussians + per-view
exposure trajectories, self-supervised from spikes only.

One iteration takes one random view (its 177-frame clip, its mid-exposure camera-to-world ``C``):

1. the trajectory gives the ``V`` virtual cameras :math:`C \cdot M(T(u_i))`, :math:`u_i = i/(V-1)`;
2. the Gaussians render them, ``img`` ``[V, H, W, 3]`` (background random per step unless configured);
3. the Recon-Net reconstructs the ``V`` windows centred at :math:`40 + i\lfloor 96/(V-1)\rfloor`,
   ``rec`` ``[V, H, W, 3]``;
4. :math:`\mathcal L = w_{3dgs}\mathcal L_{3dgs} + \mathcal L_{scale} + w_{spike}\mathcal L_{spike} +
   w_{joint}\mathcal L_{joint}` (:mod:`zoo_usp_gaussian.losses`), all weights 1, one backward pass;
5. Adam (eps 1e-15) per parameter group; means, Recon-Net and camera learning rates decay log-linearly,
   :math:`\mathrm{lr}(t) = \exp((1-t')\ln \mathrm{lr}_0 + t' \ln \mathrm{lr}_1)`, :math:`t' = \min(1, t/\text{decay\_steps})`;
   the camera gradients are accumulated over ``camera_accumulation`` steps (zero at ``step % n == 0``, Adam
   step at ``step % n == n - 1``).

Ablations of the official code: ``use_3dgs=False`` trains the Recon-Net alone (``L_spike`` only: the first
stage of the cascade), ``use_spike=False`` the Gaussians alone, ``use_flip=False`` drops the minimum over the
time orientation, ``use_multi_reblur=False`` replaces ``L_spike`` by 0.8 L1 + 0.2 (1 - SSIM) of the mean Recon-Net
image against the long TFP. Not implemented: splatfacto's densification (split / duplicate / cull / opacity reset);
the Gaussian count stays that of the initial point cloud.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, TrainingRule

from .losses import joint_loss, loss_3dgs, psnr, scale_regulariser, spike_reblur_loss, ssim
from .recon import view_centers
from .scene import SpikeScene, random_gaussian_cloud, ring_cameras
from .se3 import PoseTrajectory
from .spike_camera import double_clip, long_tfp
from .splat import EVAL_BACKGROUND, GaussianScene

__all__ = ["JointConfig", "JointResult", "USPJoint", "fit_gaussians", "lr_at", "rasteriser_fit_check"]


def lr_at(step: int, lr0: float, lr1: float | None, decay_steps: int) -> float:
    """Log-linear decay from ``lr0`` to ``lr1`` over ``decay_steps`` (constant when ``lr1`` is None)."""
    if lr1 is None:
        return lr0
    t = min(max(step / max(1, decay_steps), 0.0), 1.0)
    return math.exp((1 - t) * math.log(lr0) + t * math.log(lr1))


@dataclass
class JointConfig:
    """Hyper-parameters of the joint optimisation. Defaults: the official recipe (30,000 steps; learning rates of
    splatfacto 1.0.3 and the published command). ``decay_steps=None`` decays over the run's own steps."""

    num_virtual_views: int = 13
    lr_means: float = 1.6e-4
    lr_means_final: float = 1.6e-6
    lr_features_dc: float = 2.5e-3
    lr_features_rest: float = 1.25e-4
    lr_opacities: float = 0.05
    lr_scales: float = 5e-3
    lr_quats: float = 1e-3
    lr_camera: float = 1e-3
    lr_camera_final: float = 1e-5
    camera_accumulation: int = 25
    lr_net: float = 1e-3
    lr_net_final: float = 1e-5
    decay_steps: int | None = 30_000
    sh_degree: int = 3
    sh_degree_interval: int = 1000
    background: str = "random"
    init_opacity: float = 0.1
    pose_noise: float = 1e-5
    use_3dgs: bool = True
    use_spike: bool = True
    use_flip: bool = True
    use_multi_reblur: bool = True
    weight_3dgs: float = 1.0
    weight_spike: float = 1.0
    weight_joint: float = 1.0

    def __post_init__(self) -> None:
        if self.num_virtual_views < 2:
            raise ConfigError(f"usp_joint: num_virtual_views must be >= 2, got {self.num_virtual_views}")
        if self.camera_accumulation < 1:
            raise ConfigError(f"usp_joint: camera_accumulation must be >= 1, got {self.camera_accumulation}")
        if self.background not in ("random", "black", "white", "eval"):
            raise ConfigError(
                f"usp_joint: background must be random, black, white or eval, got {self.background!r}"
            )
        if not (self.use_3dgs or self.use_spike):
            raise ConfigError("usp_joint: use_3dgs and use_spike cannot both be off (nothing to train)")
        if not 0 <= self.sh_degree <= 3:
            raise ConfigError(f"usp_joint: sh_degree must be 0..3, got {self.sh_degree}")


@dataclass
class JointResult:
    """What :meth:`USPJoint.fit` returns: the trained pieces and the per-step losses."""

    net: nn.Module | None
    gaussians: GaussianScene | None
    trajectory: PoseTrajectory | None
    history: list[dict[str, float]]
    seconds: float


class USPJoint(TrainingRule):
    """The USP-Gaussian joint rule (module docstring). ``fit(net, scene, steps)`` trains; ``evaluate`` measures the
    Recon-Net and the Gaussians at mid-exposure. Models of the task ``spike-3d-reconstruction`` train with it
    through ``zoo train``; it has no per-batch ``training_step`` for other tasks."""

    def __init__(self, **kwargs: Any):
        super().__init__()
        known = {f.name for f in fields(JointConfig)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ConfigError(f"usp_joint: unknown argument(s) {unknown}; known: {', '.join(sorted(known))}")
        self.config = JointConfig(**kwargs)

    def training_step(self, model: nn.Module, batch: Any, optimizer: Any) -> dict[str, float]:
        raise ConfigError(
            "usp_joint trains a Recon-Net jointly with a 3D Gaussian scene on multi-view spike clips: use it through "
            "`zoo train <usp model>` (task spike-3d-reconstruction), not as a per-batch classification rule"
        )

    # -------------------------------------------------------------------------------------------------- fit
    def _background(self, dtype: torch.dtype, generator: torch.Generator) -> Tensor:
        b = self.config.background
        if b == "random":
            return torch.rand(3, generator=generator, dtype=dtype)
        if b == "black":
            return torch.zeros(3, dtype=dtype)
        if b == "white":
            return torch.ones(3, dtype=dtype)
        return torch.tensor(EVAL_BACKGROUND, dtype=dtype)

    def fit(
        self,
        net: nn.Module | None,
        scene: SpikeScene,
        steps: int,
        *,
        seed: int = 0,
        gaussians: GaussianScene | None = None,
        log_every: int = 0,
    ) -> JointResult:
        """Run ``steps`` iterations on ``scene`` (one random view each). ``net`` is trained in place (``None`` only
        with ``use_spike=False``); the Gaussians start from ``scene.points`` unless given."""
        cfg = self.config
        if cfg.use_spike and net is None:
            raise ConfigError("usp_joint: use_spike needs a Recon-Net")
        g = torch.Generator().manual_seed(seed)
        V = cfg.num_virtual_views
        centers = view_centers(V)
        decay = cfg.decay_steps or steps
        n_views = len(scene.views)
        clips = [v.clip.to(torch.float32) for v in scene.views]
        targets = [long_tfp(c)[..., None].repeat(1, 1, 3) for c in clips]
        gs = traj = None
        opt_gs: dict[str, torch.optim.Adam] = {}
        opt_cam = opt_net = None
        if cfg.use_3dgs:
            gs = gaussians or GaussianScene(
                scene.points.to(torch.float32), opacity=cfg.init_opacity, sh_degree=cfg.sh_degree, generator=g
            )
            traj = PoseTrajectory(n_views, num_virtual_views=V, noise=cfg.pose_noise, generator=g)
            lrs = {
                "means": cfg.lr_means,
                "features_dc": cfg.lr_features_dc,
                "features_rest": cfg.lr_features_rest,
                "opacities": cfg.lr_opacities,
                "scales": cfg.lr_scales,
                "quats": cfg.lr_quats,
            }
            opt_gs = {k: torch.optim.Adam([getattr(gs, k)], lr=lr, eps=1e-15) for k, lr in lrs.items()}
            opt_cam = torch.optim.Adam(traj.parameters(), lr=cfg.lr_camera, eps=1e-15)
        if cfg.use_spike:
            assert net is not None
            net.train()
            opt_net = torch.optim.Adam(net.parameters(), lr=cfg.lr_net, eps=1e-15)
        history: list[dict[str, float]] = []
        t0 = time.perf_counter()
        for step in range(steps):
            view = int(torch.randint(n_views, (1,), generator=g))
            clip, target = clips[view], targets[view]
            losses: dict[str, Tensor] = {}
            img = rec = None
            if gs is not None and traj is not None:
                bg = self._background(torch.float32, g)
                c2ws = traj.virtual_c2w(scene.views[view].c2w.to(torch.float32), view, "uniform")
                deg = min(step // cfg.sh_degree_interval, cfg.sh_degree)
                img = torch.stack([gs.render(c, scene.camera, bg, sh_degree=deg)[0] for c in c2ws])
                losses["scale_reg"] = scale_regulariser(gs.scales, step)
                losses["3dgs_reblur"] = cfg.weight_3dgs * loss_3dgs(img.mean(0), target)
            if net is not None and cfg.use_spike:
                r = net.reconstruct_views(clip[None], centers)  # type: ignore[operator]
                rec = r[:, 0, 0][..., None].repeat(1, 1, 1, 3)
                if cfg.use_multi_reblur:
                    losses["spike_reblur"] = cfg.weight_spike * spike_reblur_loss(clip, rec)
                else:
                    losses["spike_reblur"] = cfg.weight_spike * loss_3dgs(rec.mean(0), target)
            if img is not None and rec is not None:
                losses["joint"] = cfg.weight_joint * joint_loss(img, rec, flip=cfg.use_flip)
            loss = sum(losses.values())
            assert isinstance(loss, Tensor)
            for k, o in opt_gs.items():
                for group in o.param_groups:
                    group["lr"] = (
                        lr_at(step, cfg.lr_means, cfg.lr_means_final, decay) if k == "means" else group["lr"]
                    )
                o.zero_grad(set_to_none=True)
            if opt_net is not None:
                for group in opt_net.param_groups:
                    group["lr"] = lr_at(step, cfg.lr_net, cfg.lr_net_final, decay)
                opt_net.zero_grad(set_to_none=True)
            if opt_cam is not None:
                for group in opt_cam.param_groups:
                    group["lr"] = lr_at(step, cfg.lr_camera, cfg.lr_camera_final, decay)
                if step % cfg.camera_accumulation == 0:
                    opt_cam.zero_grad(set_to_none=True)
            loss.backward()
            for o in opt_gs.values():
                o.step()
            if opt_net is not None:
                opt_net.step()
            if opt_cam is not None and step % cfg.camera_accumulation == cfg.camera_accumulation - 1:
                opt_cam.step()
            record = {
                "step": float(step),
                "loss": float(loss.detach()),
                **{k: float(v.detach()) for k, v in losses.items()},
            }
            history.append(record)
            if log_every and (step % log_every == 0 or step == steps - 1):
                print(" ".join(f"{k}={v:.4g}" for k, v in record.items()), flush=True)
        if net is not None:
            net.eval()
        return JointResult(
            net=net, gaussians=gs, trajectory=traj, history=history, seconds=time.perf_counter() - t0
        )

    # -------------------------------------------------------------------------------------------------- eval
    @staticmethod
    @torch.no_grad()
    def evaluate_gaussians(
        gs: GaussianScene,
        traj: PoseTrajectory | None,
        scene: SpikeScene,
        background: tuple[float, float, float] | None = None,
    ) -> dict[str, float]:
        """PSNR / SSIM of the mid-exposure renders (x2, clipped) against the views' ground truth, averaged over
        views, on ``background`` (default: the scene's, the one its frames were made on). Without a trajectory the
        given poses are rendered."""
        ps, ss = [], []
        for i, v in enumerate(scene.views):
            c2w = v.c2w.to(gs.means.dtype)
            if traj is not None:
                c2w = traj.virtual_c2w(c2w, i, "mid")
            rgb = gs.render(c2w, scene.camera, scene.background if background is None else background)[0]
            pred = double_clip(rgb.mean(-1))
            assert v.gt is not None
            gt = v.gt.to(pred.dtype)
            ps.append(psnr(pred, gt))
            ss.append(float(ssim(pred[None, None].double(), gt[None, None].double())))
        return {"psnr": sum(ps) / len(ps), "ssim": sum(ss) / len(ss)}

    def config_dict(self) -> dict[str, Any]:
        return asdict(self.config)


def fit_gaussians(
    gs: GaussianScene,
    images: list[Tensor],
    c2ws: list[Tensor],
    scene: SpikeScene,
    steps: int,
    *,
    lrs: dict[str, float] | None = None,
    loss: str = "l1_ssim",
    background: tuple[float, float, float] | None = None,
    seed: int = 0,
) -> list[float]:
    """Fit ``gs`` to fixed ``images`` ``[H, W]`` or ``[H, W, 3]`` seen from known ``c2ws`` (one random view per
    step, Adam per parameter group, ``lrs`` per group name): the second stage of the cascade, and the rasteriser's
    fitting check. ``loss``: ``"l1_ssim"`` (the 3DGS loss) or ``"l1"``. Returns the per-step losses."""
    lrs = {
        "means": 3e-3,
        "features_dc": 5e-2,
        "features_rest": 1.25e-4,
        "opacities": 5e-2,
        "scales": 1e-2,
        "quats": 1e-2,
    } | (lrs or {})
    opts = [torch.optim.Adam([getattr(gs, k)], lr=lr, eps=1e-15) for k, lr in lrs.items()]
    g = torch.Generator().manual_seed(seed)
    bg = scene.background if background is None else background
    targets = [im[..., None].repeat(1, 1, 3) if im.dim() == 2 else im for im in images]
    out = []
    for _ in range(steps):
        i = int(torch.randint(len(images), (1,), generator=g))
        rgb = gs.render(c2ws[i].to(gs.means.dtype), scene.camera, bg)[0]
        t = targets[i].to(rgb.dtype)
        lv = loss_3dgs(rgb, t) if loss == "l1_ssim" else torch.abs(rgb - t).mean()
        for o in opts:
            o.zero_grad(set_to_none=True)
        lv.backward()
        for o in opts:
            o.step()
        out.append(float(lv.detach()))
    return out


def rasteriser_fit_check(steps: int = 200, *, seed: int = 0, every: int = 50) -> dict[int, float]:
    """The rasteriser alone: 1,000 random Gaussians fitted to sharp renders of 8 views (a 120-degree arc) of 300
    coloured Gaussians at 32x32 with known poses (L1; Adam: means 3e-3, quats and scales 1e-2, colour and opacity
    5e-2; one random view per step). Returns the mean PSNR over the 8 views at step 0 and every ``every`` steps."""
    g = torch.Generator().manual_seed(seed)
    gt = random_gaussian_cloud(300, g, grey=False)
    camera, c2ws = ring_cameras(8, 32)
    bg = (0.0, 0.0, 0.0)
    with torch.no_grad():
        targets = [gt.render(c, camera, bg)[0] for c in c2ws]
    holder = SpikeScene(views=[], camera=camera, points=torch.zeros(1, 3), background=bg)
    model = GaussianScene(torch.rand(1000, 3, generator=g) - 0.5, sh_degree=0, generator=g)
    lrs = {"means": 3e-3, "quats": 1e-2, "scales": 1e-2, "features_dc": 5e-2, "opacities": 5e-2}

    def score() -> float:
        with torch.no_grad():
            return sum(psnr(model.render(c, camera, bg)[0], t) for c, t in zip(c2ws, targets)) / len(c2ws)

    curve = {0: score()}
    done = 0
    while done < steps:
        n = min(every, steps - done)
        fit_gaussians(model, targets, c2ws, holder, n, lrs=lrs, loss="l1", seed=seed + done)
        done += n
        curve[done] = score()
    return curve
