r"""Multi-view spike-camera scenes: the views (spike clip, camera pose, optional sharp ground truth) the joint
optimisation reads, and the synthetic scene of the CPU demo.

The synthetic scene (:func:`make_synthetic_scene`) is a cloud of grey 3D Gaussians in a unit box seen by a ring of
cameras. During each view's "exposure" the camera moves along a linear SE(3) trajectory (two knots in the camera
frame, as the model's own trajectory); the 177 sharp frames of the clip sample it at
:math:`u = (s - 40)/96` for frames :math:`s = 0..176` (the 40 margin frames on each side extrapolate the motion),
are rendered with the reference rasteriser and turned into spikes by the spike-camera simulator. The ground truth
of a view is its sharp frame at mid-exposure (:math:`u = 0.5`); the pose the optimisation is given is the
mid-exposure pose without the motion (the knots start at the identity), as COLMAP on sharp frames would give.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor
from zoo_core.sdk import ConfigError, check_positive_int

from .se3 import interpolate_linear, se3_exp, se3_matrix
from .spike_camera import CLIP_FRAMES, MARGIN, simulate_spikes
from .splat import Camera, GaussianScene

__all__ = [
    "SpikeScene",
    "SpikeView",
    "look_at",
    "make_synthetic_scene",
    "random_gaussian_cloud",
    "ring_cameras",
]


@dataclass
class SpikeView:
    """One view: ``clip`` ``[177, H, W]`` uint8 spikes, ``c2w`` ``[4, 4]`` camera-to-world (nerfstudio/OpenGL
    convention) at mid-exposure, ``gt`` ``[H, W]`` the sharp grey mid-exposure frame (``None`` when unknown) and,
    for synthetic views, ``knots`` ``[2, 7]``: the true start/end pose deltas."""

    clip: Tensor
    c2w: Tensor
    gt: Tensor | None = None
    knots: Tensor | None = None


@dataclass
class SpikeScene:
    """Views sharing one camera model, the background the frames were rendered on, and a sparse point cloud to
    initialise the Gaussians from (like COLMAP's)."""

    views: list[SpikeView]
    camera: Camera
    points: Tensor
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    meta: dict[str, Any] = field(default_factory=dict)


def look_at(position: Tensor, target: Tensor, up: Tensor | None = None) -> Tensor:
    """Camera-to-world ``[4, 4]`` (OpenGL: x right, y up, the camera looks along -z) at ``position`` facing
    ``target``."""
    up = torch.tensor([0.0, 1.0, 0.0], dtype=position.dtype) if up is None else up
    z = position - target
    z = z / z.norm()
    x = torch.linalg.cross(up, z)
    x = x / x.norm()
    y = torch.linalg.cross(z, x)
    m = torch.eye(4, dtype=position.dtype)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, z, position
    return m


def random_gaussian_cloud(
    num_gaussians: int, generator: torch.Generator, *, grey: bool = True
) -> GaussianScene:
    """``num_gaussians`` Gaussians uniformly in ``[-0.5, 0.5]^3``: scales log-uniform in [0.04, 0.12], random
    orientations, opacities in [0.5, 0.95], colours in [0.15, 1] (grey, or independent per channel)."""
    g = generator
    means = torch.rand(num_gaussians, 3, generator=g) - 0.5
    log_scales = math.log(0.04) + math.log(3.0) * torch.rand(num_gaussians, 3, generator=g)
    colors = 0.15 + 0.85 * torch.rand(num_gaussians, 1 if grey else 3, generator=g)
    scene = GaussianScene(means, colors=colors.expand(-1, 3), log_scales=log_scales, sh_degree=0, generator=g)
    with torch.no_grad():
        scene.opacities.copy_(torch.logit(0.5 + 0.45 * torch.rand(num_gaussians, 1, generator=g)))
    return scene


def ring_cameras(
    num_views: int, size: int, *, distance: float = 2.6, arc_degrees: float = 120.0, fov_degrees: float = 40.0
) -> tuple[Camera, list[Tensor]]:
    """``num_views`` square ``size``-pixel cameras on an arc of ``arc_degrees`` (height 0.5, ``distance`` from the
    origin), looking at the origin: ``(camera, [c2w, ...])``."""
    f = 0.5 * size / math.tan(math.radians(fov_degrees) / 2)
    camera = Camera(fx=f, fy=f, cx=size / 2, cy=size / 2, width=size, height=size)
    c2ws = []
    for v in range(num_views):
        ang = math.radians(-arc_degrees / 2 + arc_degrees * v / max(1, num_views - 1))
        pos = torch.tensor([distance * math.sin(ang), 0.5, distance * math.cos(ang)])
        c2ws.append(look_at(pos, torch.zeros(3)))
    return camera, c2ws


def make_synthetic_scene(
    *,
    seed: int = 0,
    num_views: int = 8,
    size: int = 32,
    num_gaussians: int = 300,
    motion: float = 0.4,
    rotation: float = 0.02,
    distance: float = 2.6,
    arc_degrees: float = 120.0,
    fov_degrees: float = 40.0,
    noise: bool = True,
) -> SpikeScene:
    """The demo scene: ``num_gaussians`` grey Gaussians in ``[-0.5, 0.5]^3``, ``num_views`` cameras on an arc of
    ``arc_degrees`` at ``distance`` looking at the centre, each moving by about ``motion`` (world units) and turning
    by about ``rotation`` radians during the exposure; ``size`` x ``size`` pixels, black background. Deterministic
    in ``seed``."""
    check_positive_int(num_views, "num_views", "make_synthetic_scene")
    check_positive_int(size, "size", "make_synthetic_scene")
    check_positive_int(num_gaussians, "num_gaussians", "make_synthetic_scene")
    if (size * size) % 8:
        raise ConfigError(
            f"make_synthetic_scene: size * size must be a multiple of 8 (.dat frames), got {size}"
        )
    g = torch.Generator().manual_seed(seed)
    gt_scene = random_gaussian_cloud(num_gaussians, g)
    camera, c2ws = ring_cameras(
        num_views, size, distance=distance, arc_degrees=arc_degrees, fov_degrees=fov_degrees
    )
    means = gt_scene.means.detach()
    background = (0.0, 0.0, 0.0)
    views = []
    u = (torch.arange(CLIP_FRAMES, dtype=torch.float32) - MARGIN) / (CLIP_FRAMES - 2 * MARGIN - 1)
    for c2w in c2ws:
        direction = torch.randn(3, generator=g)
        direction[2] *= 0.2  # mostly sideways motion in the image plane
        rho = motion * direction / direction.norm()
        phi = rotation * torch.randn(3, generator=g)
        xi = torch.cat([rho, phi])
        knots = se3_exp(torch.stack([-0.5 * xi, 0.5 * xi]))
        frames = []
        with torch.no_grad():
            deltas = se3_matrix(interpolate_linear(knots, u))
            for s in range(CLIP_FRAMES):
                rgb, _, _ = gt_scene.render(c2w @ deltas[s], camera, background)
                frames.append(rgb.mean(-1))
            frames_t = torch.stack(frames).clamp(0, 1)
            mid = gt_scene.render(
                c2w @ se3_matrix(interpolate_linear(knots, torch.tensor([0.5]))[0]), camera, background
            )
        clip = simulate_spikes(frames_t, noise=noise, generator=g).to(torch.uint8)
        views.append(SpikeView(clip=clip, c2w=c2w, gt=mid[0].mean(-1).clamp(0, 1), knots=knots))
    points = means + 0.02 * torch.randn(num_gaussians, 3, generator=g)
    meta = {
        "seed": seed,
        "num_views": num_views,
        "size": size,
        "num_gaussians": num_gaussians,
        "motion": motion,
        "rotation": rotation,
        "noise": noise,
    }
    return SpikeScene(views=views, camera=camera, points=points, background=background, meta=meta)
