r"""3D Gaussian splatting in pure torch, with the semantics of the tile rasteriser USP-Gaussian renders with.

**Scene** (:class:`GaussianScene`, nerfstudio's splatfacto parameterisation): means ``[N, 3]``; scales ``[N, 3]``
stored as logs; quaternions ``[N, 4]`` (w, x, y, z; unnormalised, normalised before use); opacities ``[N, 1]`` as
logits; colour as spherical harmonics, ``features_dc`` ``[N, 3]`` and ``features_rest`` ``[N, 15, 3]`` (degree
3); the colour seen from direction :math:`d` is :math:`\max(0, \mathrm{SH}(d) + 0.5)`.

**Projection** (:func:`project_gaussians`), per Gaussian with camera-space mean :math:`t = W\mu + p`:

* culled (radius 0) when :math:`t_z \le 0.01`;
* 3D covariance :math:`\Sigma = R S S^T R^T`; EWA: :math:`\Sigma' = J W \Sigma W^T J^T` with
  :math:`J = \begin{pmatrix} f_x/t_z & 0 & -f_x t_x'/t_z^2 \\ 0 & f_y/t_z & -f_y t_y'/t_z^2\end{pmatrix}`, where
  :math:`t_x'/t_z` and :math:`t_y'/t_z` are clamped to :math:`\pm 1.3 \tan(\mathrm{fov}/2)`
  (:math:`\tan(\mathrm{fov}_x/2) = W/(2 f_x)`);
* :math:`\Sigma_{2D} = \Sigma' + 0.3 I`; compensation :math:`\sqrt{\max(0, \det\Sigma'/\det\Sigma_{2D})}`
  (it multiplies the opacity: the "antialiased" mode); conic :math:`\Sigma_{2D}^{-1} = (a, b, c)`;
* radius :math:`\lceil 3\sqrt{\lambda_{max}}\rceil`, :math:`\lambda = m \pm \sqrt{\max(0.1, m^2 - \det)}`,
  :math:`m = (\Sigma_{00} + \Sigma_{11})/2`;
* centre :math:`(f_x t_x/(t_z + 10^{-6}) + c_x,\ f_y t_y/(t_z + 10^{-6}) + c_y)`;
* tiles of 16 x 16 pixels: the Gaussian is listed in tiles :math:`[\lfloor c/16 - r/16\rfloor,
  \lfloor c/16 + r/16 + 1\rfloor)` per axis (truncation toward zero, clamped to the grid); none -> culled.

**Rasterisation** (:func:`rasterize_gaussians`): pixel :math:`(x, y)` has its centre at :math:`(x + 0.5, y + 0.5)`
and sees the Gaussians listed in its tile, front to back by depth :math:`t_z`:
:math:`\sigma = \tfrac12(a\,d_x^2 + c\,d_y^2) + b\,d_x d_y`, :math:`\alpha = \min(0.999, o\,e^{-\sigma})`;
a Gaussian is skipped when :math:`\sigma < 0` or :math:`\alpha < 1/255`; compositing stops (without the
Gaussian that would cross it) once :math:`T(1 - \alpha) \le 10^{-4}`;
:math:`C = \sum_i \alpha_i T_i c_i + T_{final}\,\mathrm{bg}`, returned clamped at 1 (and the coverage
:math:`1 - T_{final}`).

The reference rasteriser batches the tiles: for each tile the Gaussians listed in it, sorted by depth and padded,
against the tile's 256 pixels; transmittances are exact running products in the forward pass and take their
gradients through the log-space cumulative sum (a cumulative product's backward is slow). It is registered as the
kernel ``usp_gaussian_rasterize`` (reference); :func:`rasterize_loop` is the per-pixel loop it is tested against.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, InputError, dispatch

__all__ = [
    "BLOCK",
    "SH_C0",
    "Camera",
    "GaussianScene",
    "Projected",
    "project_gaussians",
    "quat_to_rotmat",
    "rasterize_gaussians",
    "rasterize_loop",
    "render",
    "spherical_harmonics",
    "viewmat_from_c2w",
]

#: tile width and height in pixels
BLOCK = 16
#: the degree-0 spherical-harmonic constant
SH_C0 = 0.28209479177387814
#: evaluation background (splatfacto's default), a dark blue-grey
EVAL_BACKGROUND = (0.1490, 0.1647, 0.2157)


@dataclass(frozen=True)
class Camera:
    """A pinhole camera: intrinsics in pixels and the image size (width, height)."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if not (
            isinstance(self.width, int)
            and isinstance(self.height, int)
            and self.width > 0
            and self.height > 0
        ):
            raise ConfigError(
                f"Camera: width and height must be positive ints, got {self.width!r} x {self.height!r}"
            )
        if not (self.fx > 0 and self.fy > 0):
            raise ConfigError(f"Camera: focal lengths must be positive, got fx={self.fx!r}, fy={self.fy!r}")


def viewmat_from_c2w(c2w: Tensor) -> Tensor:
    r"""World-to-camera ``[4, 4]`` of a nerfstudio (OpenGL: x right, y up, z backward) camera-to-world ``[3|4, 4]``:
    :math:`R = R_{c2w}\,\mathrm{diag}(1, -1, -1)`, :math:`W = R^T`, :math:`p = -R^T t` (y and z flipped to the
    rasteriser's convention, inverted analytically)."""
    if c2w.dim() != 2 or c2w.shape[-1] != 4 or c2w.shape[0] not in (3, 4):
        raise InputError(f"viewmat_from_c2w: expected c2w [3, 4] or [4, 4], got {tuple(c2w.shape)}")
    R = c2w[:3, :3]
    T = c2w[:3, 3:4]
    R = R @ torch.diag(torch.tensor([1, -1, -1], device=c2w.device, dtype=R.dtype))
    R_inv = R.T
    T_inv = -R_inv @ T
    top = torch.cat([R_inv, T_inv], 1)
    bottom = torch.tensor([[0, 0, 0, 1]], dtype=c2w.dtype, device=c2w.device)
    return torch.cat([top, bottom], 0)


def quat_to_rotmat(q: Tensor) -> Tensor:
    """Rotation matrices ``[N, 3, 3]`` of quaternions ``[N, 4]`` in (w, x, y, z) order (used as given)."""
    w, x, y, z = q.unbind(-1)
    return torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        -1,
    ).reshape(*q.shape[:-1], 3, 3)  # fmt: skip


@dataclass
class Projected:
    """Screen-space Gaussians (:func:`project_gaussians`): centres ``xys`` ``[N, 2]``, ``depths`` ``[N]``, integer
    ``radii`` ``[N]`` (0 = culled), ``conics`` ``[N, 3]`` (a, b, c), ``compensation`` ``[N]`` and the tile range
    ``tiles`` ``[N, 4]`` (x_min, x_max, y_min, y_max; max exclusive)."""

    xys: Tensor
    depths: Tensor
    radii: Tensor
    conics: Tensor
    compensation: Tensor
    tiles: Tensor

    @property
    def num_tiles_hit(self) -> Tensor:
        return (self.tiles[:, 1] - self.tiles[:, 0]) * (self.tiles[:, 3] - self.tiles[:, 2])


def _tile_bbox(xys: Tensor, radius: Tensor, tiles_x: int, tiles_y: int, block: int) -> Tensor:
    """Tile ranges ``[N, 4]`` (x_min, x_max, y_min, y_max): trunc(c/b - r/b) .. trunc(c/b + r/b + 1), clamped."""
    c = xys.detach() / block
    r = (radius / block).unsqueeze(-1)
    lo = torch.trunc(c - r).long()
    hi = torch.trunc(c + r + 1).long()
    bx = torch.tensor([tiles_x, tiles_y], device=xys.device)
    lo = torch.minimum(lo.clamp(min=0), bx)
    hi = torch.minimum(hi.clamp(min=0), bx)
    return torch.stack([lo[:, 0], hi[:, 0], lo[:, 1], hi[:, 1]], -1)


def project_gaussians(
    means: Tensor,
    scales: Tensor,
    quats: Tensor,
    viewmat: Tensor,
    camera: Camera,
    *,
    glob_scale: float = 1.0,
    clip_thresh: float = 0.01,
    block: int = BLOCK,
) -> Projected:
    """Project 3D Gaussians (``scales`` already exponentiated, ``quats`` (w, x, y, z) already normalised) with the
    world-to-camera ``viewmat`` ``[4, 4]`` (or ``[3, 4]``) into ``camera`` (module docstring). Differentiable in
    ``means``, ``scales``, ``quats`` and ``viewmat``."""
    if (
        means.dim() != 2
        or means.shape[-1] != 3
        or scales.shape != means.shape
        or quats.shape != (means.shape[0], 4)
    ):
        raise InputError(
            f"project_gaussians: expected means [N, 3], scales [N, 3], quats [N, 4], got {tuple(means.shape)}, "
            f"{tuple(scales.shape)}, {tuple(quats.shape)}"
        )
    Wm = viewmat[:3, :3]
    p = viewmat[:3, 3]
    t = means @ Wm.T + p  # camera-space means [N, 3]
    tz = t[:, 2]
    fx, fy, cx, cy = camera.fx, camera.fy, camera.cx, camera.cy
    tan_fovx = 0.5 * camera.width / fx
    tan_fovy = 0.5 * camera.height / fy
    lim_x, lim_y = 1.3 * tan_fovx, 1.3 * tan_fovy
    near = tz <= clip_thresh
    tz_safe = torch.where(near, torch.ones_like(tz), tz)  # culled anyway; keeps gradients finite
    tx = tz_safe * torch.clamp(t[:, 0] / tz_safe, -lim_x, lim_x)
    ty = tz_safe * torch.clamp(t[:, 1] / tz_safe, -lim_y, lim_y)
    rz = 1.0 / tz_safe
    rz2 = rz * rz
    zero = torch.zeros_like(tz)
    J = torch.stack([fx * rz, zero, -fx * tx * rz2, zero, fy * rz, -fy * ty * rz2], -1).reshape(-1, 2, 3)
    R = quat_to_rotmat(quats)
    M = R * (glob_scale * scales).unsqueeze(-2)  # R S (columns scaled)
    cov3d = M @ M.transpose(-1, -2)
    T = J @ Wm
    cov = T @ cov3d @ T.transpose(-1, -2)
    c00, c01, c11 = cov[:, 0, 0], cov[:, 0, 1], cov[:, 1, 1]
    det_orig = c00 * c11 - c01 * c01
    a, b, c = c00 + 0.3, c01, c11 + 0.3
    det = a * c - b * b
    singular = det == 0
    det_safe = torch.where(singular, torch.ones_like(det), det)
    ratio = det_orig / det_safe
    positive = ratio > 0
    # sqrt(max(0, ratio)), written so that no 0 * inf reaches a gradient
    comp = torch.where(
        positive, torch.sqrt(torch.where(positive, ratio, torch.ones_like(ratio))), torch.zeros_like(ratio)
    )
    inv_det = 1.0 / det_safe
    conics = torch.stack([c * inv_det, -b * inv_det, a * inv_det], -1)
    mid = 0.5 * (a + c)
    disc = torch.sqrt(torch.clamp(mid * mid - det, min=0.1))
    lam = torch.maximum(mid + disc, mid - disc)
    radius = torch.ceil(3.0 * torch.sqrt(lam)).detach()
    rw = 1.0 / (tz_safe + 1e-6)
    xys = torch.stack([t[:, 0] * rw * fx + cx, t[:, 1] * rw * fy + cy], -1)
    tiles_x = (camera.width + block - 1) // block
    tiles_y = (camera.height + block - 1) // block
    tiles = _tile_bbox(xys, radius, tiles_x, tiles_y, block)
    area = (tiles[:, 1] - tiles[:, 0]) * (tiles[:, 3] - tiles[:, 2])
    alive = ~near & ~singular & (area > 0)
    radii = torch.where(alive, radius.long(), torch.zeros_like(radius, dtype=torch.long))
    tiles = torch.where(alive.unsqueeze(-1), tiles, torch.zeros_like(tiles))
    return Projected(xys=xys, depths=tz, radii=radii, conics=conics, compensation=comp, tiles=tiles)


def _check_raster_inputs(p: Projected, colors: Tensor, opacities: Tensor, background: Tensor) -> None:
    N = p.xys.shape[0]
    if colors.dim() != 2 or colors.shape[0] != N:
        raise InputError(
            f"rasterize_gaussians: colors must be [N, C] with N = {N}, got {tuple(colors.shape)}"
        )
    if opacities.reshape(-1).shape[0] != N:
        raise InputError(
            f"rasterize_gaussians: opacities must hold N = {N} values, got {tuple(opacities.shape)}"
        )
    if background.shape != (colors.shape[1],):
        raise InputError(
            f"rasterize_gaussians: background must be [{colors.shape[1]}] (one value per colour channel), got "
            f"{tuple(background.shape)}"
        )


def _tile_lists(p: Projected, tiles_x: int, tiles_y: int) -> tuple[Tensor, Tensor]:
    """Per tile, the ids of the Gaussians listed in it sorted by depth (stable), padded: ``(ids [n_tiles, K],
    valid [n_tiles, K])``."""
    N = p.xys.shape[0]
    dev = p.xys.device
    ty, tx = torch.meshgrid(
        torch.arange(tiles_y, device=dev), torch.arange(tiles_x, device=dev), indexing="ij"
    )
    tx, ty = tx.reshape(-1, 1), ty.reshape(-1, 1)
    order = torch.sort(p.depths.detach(), stable=True).indices
    t = p.tiles[order]
    member = (
        (tx >= t[:, 0]) & (tx < t[:, 1]) & (ty >= t[:, 2]) & (ty < t[:, 3]) & (p.radii[order] > 0)
    )  # [n_tiles, N] in depth order
    K = int(member.sum(1).max()) if N else 0
    if K == 0:
        return torch.zeros(member.shape[0], 0, dtype=torch.long, device=dev), member[:, :0]
    rank = torch.arange(N, device=dev).expand_as(member)
    key = torch.where(member, rank, torch.full_like(rank, N))
    first = torch.sort(key, dim=1).values[:, :K]
    valid = first < N
    ids = order[first.clamp(max=N - 1)]
    return ids, valid


def rasterize_gaussians(
    p: Projected,
    colors: Tensor,
    opacities: Tensor,
    height: int,
    width: int,
    background: Tensor,
    *,
    block: int = BLOCK,
    max_elements: int = 1 << 22,
) -> tuple[Tensor, Tensor]:
    """The reference tile rasteriser: ``(rgb [H, W, C] clamped at 1, coverage [H, W])`` (module docstring).
    ``opacities`` ``[N]`` or ``[N, 1]`` are the final per-Gaussian opacities (sigmoid x compensation);
    ``max_elements`` bounds the pixel x Gaussian pairs processed at once (memory)."""
    _check_raster_inputs(p, colors, opacities, background)
    tiles_x = (width + block - 1) // block
    tiles_y = (height + block - 1) // block
    ids, valid = _tile_lists(p, tiles_x, tiles_y)
    n_tiles, K = ids.shape
    C = colors.shape[1]
    dtype = colors.dtype
    dev = colors.device
    opac = opacities.reshape(-1)
    # pixel centres of every tile, [n_tiles, b*b, 2]; pixels outside the image are dropped at the end
    iy, ix = torch.meshgrid(torch.arange(block, device=dev), torch.arange(block, device=dev), indexing="ij")
    tyy, txx = torch.meshgrid(
        torch.arange(tiles_y, device=dev), torch.arange(tiles_x, device=dev), indexing="ij"
    )
    px = (txx.reshape(-1, 1) * block + ix.reshape(1, -1)).to(dtype) + 0.5
    py = (tyy.reshape(-1, 1) * block + iy.reshape(1, -1)).to(dtype) + 0.5
    out_rgb, out_T = [], []
    chunk = max(1, max_elements // max(1, block * block * max(K, 1)))
    for s in range(0, n_tiles, chunk):
        e = min(n_tiles, s + chunk)
        rgb_c, T_c = _rasterize_chunk(
            ids[s:e], valid[s:e], px[s:e], py[s:e], p.xys, p.conics, opac, colors, background
        )
        out_rgb.append(rgb_c)
        out_T.append(T_c)
    rgb = torch.cat(out_rgb, 0)  # [n_tiles, b*b, C]
    T = torch.cat(out_T, 0)
    rgb = (
        rgb.reshape(tiles_y, tiles_x, block, block, C).permute(0, 2, 1, 3, 4).reshape(tiles_y * block, -1, C)
    )
    T = T.reshape(tiles_y, tiles_x, block, block).permute(0, 2, 1, 3).reshape(tiles_y * block, -1)
    rgb, T = rgb[:height, :width], T[:height, :width]
    return torch.clamp(rgb, max=1.0), 1 - T


def _rasterize_chunk(
    ids: Tensor,
    valid: Tensor,
    px: Tensor,
    py: Tensor,
    xys: Tensor,
    conics: Tensor,
    opac: Tensor,
    colors: Tensor,
    background: Tensor,
) -> tuple[Tensor, Tensor]:
    """Composite tiles ``[n, K]`` of Gaussians (depth order, ``valid`` marks padding) over their pixels ``[n, P]``."""
    K = ids.shape[1]
    C = colors.shape[1]
    if K == 0:
        T = torch.ones(px.shape, dtype=colors.dtype, device=colors.device)
        return background.expand(*px.shape, C) * 1.0, T
    xy = xys[ids]  # [n, K, 2]
    con = conics[ids]  # [n, K, 3]
    o = opac[ids]  # [n, K]
    col = colors[ids]  # [n, K, C]
    dx = xy[:, None, :, 0] - px[:, :, None]  # [n, P, K]
    dy = xy[:, None, :, 1] - py[:, :, None]
    sigma = 0.5 * (con[:, None, :, 0] * dx * dx + con[:, None, :, 2] * dy * dy) + con[:, None, :, 1] * dx * dy
    alpha = torch.clamp(o[:, None, :] * torch.exp(-sigma), max=0.999)
    use = valid[:, None, :] & (sigma >= 0) & (alpha >= 1.0 / 255.0)
    alpha = torch.where(use, alpha, torch.zeros_like(alpha))
    # the stopping rule on exact running products (as the per-pixel loop multiplies them)
    with torch.no_grad():
        T_incl = torch.cumprod(1 - alpha, dim=-1)
        keep = T_incl > 1e-4
    alpha = torch.where(keep, alpha, torch.zeros_like(alpha))
    one_minus = 1 - alpha
    with torch.no_grad():
        prod = torch.cumprod(one_minus, dim=-1)
    log_cum = torch.cumsum(torch.log(one_minus), dim=-1)
    log_T = torch.exp(log_cum)
    T_incl = prod + (log_T - log_T.detach())  # forward: the exact products; gradient: the log-space form
    T_excl = torch.cat([torch.ones_like(T_incl[..., :1]), T_incl[..., :-1]], -1)
    w = alpha * T_excl  # [n, P, K]
    rgb = torch.einsum("npk,nkc->npc", w, col)
    T_final = T_incl[..., -1]
    return rgb + T_final[..., None] * background, T_final


def rasterize_loop(
    p: Projected,
    colors: Tensor,
    opacities: Tensor,
    height: int,
    width: int,
    background: Tensor,
    *,
    block: int = BLOCK,
) -> tuple[Tensor, Tensor]:
    """The per-pixel loop (the CUDA kernel's rules, one pixel and one Gaussian at a time, in Python floats): the
    oracle the reference rasteriser is tested against, and the benchmark's baseline. Not differentiable."""
    _check_raster_inputs(p, colors, opacities, background)
    tiles_x = (width + block - 1) // block
    order = torch.sort(p.depths.detach(), stable=True).indices.tolist()
    xys = p.xys.detach().double().tolist()
    con = p.conics.detach().double().tolist()
    op = opacities.detach().reshape(-1).double().tolist()
    col = colors.detach().double().tolist()
    tl = p.tiles.tolist()
    radii = p.radii.tolist()
    bg = background.detach().double().tolist()
    C = len(bg)
    lists: dict[int, list[int]] = {}
    for g in order:
        if radii[g] <= 0:
            continue
        x0, x1, y0, y1 = tl[g]
        for ty in range(y0, y1):
            for tx in range(x0, x1):
                lists.setdefault(ty * tiles_x + tx, []).append(g)
    rgb = [[[0.0] * C for _ in range(width)] for _ in range(height)]
    cover = [[0.0] * width for _ in range(height)]
    for y in range(height):
        for x in range(width):
            pxc, pyc = x + 0.5, y + 0.5
            T = 1.0
            acc = [0.0] * C
            for g in lists.get((y // block) * tiles_x + x // block, []):
                dx, dy = xys[g][0] - pxc, xys[g][1] - pyc
                a, b, c = con[g]
                sigma = 0.5 * (a * dx * dx + c * dy * dy) + b * dx * dy
                alpha = min(0.999, op[g] * math.exp(-sigma))
                if sigma < 0 or alpha < 1.0 / 255.0:
                    continue
                next_T = T * (1 - alpha)
                if next_T <= 1e-4:
                    break
                for k in range(C):
                    acc[k] += col[g][k] * alpha * T
                T = next_T
            for k in range(C):
                rgb[y][x][k] = min(acc[k] + T * bg[k], 1.0)
            cover[y][x] = 1 - T
    return torch.tensor(rgb, dtype=torch.float64), torch.tensor(cover, dtype=torch.float64)


# ---------------------------------------------------------------------------------------------- colour
_C1 = 0.48860251190292
_C2 = (-1.092548430592079, 0.5462742152960395, 0.9461746957575601, 0.3153915652525201)
_C3 = (
    -2.285228997322329,
    0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
    1.865881662950577,
    1.119528997770346,
)


def spherical_harmonics(degree: int, viewdirs: Tensor, coeffs: Tensor) -> Tensor:
    r"""Colours ``[N, C]`` of SH coefficients ``coeffs`` ``[N, D, C]`` seen along ``viewdirs`` ``[N, 3]`` using
    bands ``0..degree`` (<= 3; the real SH basis of gsplat's "fast" evaluation, directions normalised)."""
    if not 0 <= degree <= 3:
        raise ConfigError(f"spherical_harmonics: degree must be 0..3, got {degree!r}")
    need = (degree + 1) ** 2
    if coeffs.dim() != 3 or coeffs.shape[1] < need:
        raise InputError(
            f"spherical_harmonics: degree {degree} needs coeffs [N, >= {need}, C], got {tuple(coeffs.shape)}"
        )
    out = 0.2820947917738781 * coeffs[:, 0]
    if degree < 1:
        return out
    d = viewdirs / torch.sqrt((viewdirs * viewdirs).sum(-1, keepdim=True))
    x, y, z = d[:, 0:1], d[:, 1:2], d[:, 2:3]
    out = out + _C1 * (-y * coeffs[:, 1] + z * coeffs[:, 2] - x * coeffs[:, 3])
    if degree < 2:
        return out
    z2 = z * z
    t0b = _C2[0] * z
    fc1 = x * x - y * y
    fs1 = 2.0 * x * y
    sh6 = _C2[2] * z2 - _C2[3]
    sh7, sh5 = t0b * x, t0b * y
    sh8, sh4 = _C2[1] * fc1, _C2[1] * fs1
    out = (
        out
        + sh4 * coeffs[:, 4]
        + sh5 * coeffs[:, 5]
        + sh6 * coeffs[:, 6]
        + sh7 * coeffs[:, 7]
        + sh8 * coeffs[:, 8]
    )
    if degree < 3:
        return out
    t0c = _C3[0] * z2 + _C3[1]
    t1b = _C3[2] * z
    fc2 = x * fc1 - y * fs1
    fs2 = x * fs1 + y * fc1
    sh12 = z * (_C3[4] * z2 - _C3[5])
    sh13, sh11 = t0c * x, t0c * y
    sh14, sh10 = t1b * fc1, t1b * fs1
    sh15, sh9 = _C3[3] * fc2, _C3[3] * fs2
    return (
        out + sh9 * coeffs[:, 9] + sh10 * coeffs[:, 10] + sh11 * coeffs[:, 11] + sh12 * coeffs[:, 12]
        + sh13 * coeffs[:, 13] + sh14 * coeffs[:, 14] + sh15 * coeffs[:, 15]
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------- scene
def _random_quats(n: int, generator: torch.Generator | None) -> Tensor:
    """Uniformly random unit quaternions (w, x, y, z) from three uniforms (Shoemake's method)."""
    u, v, w = torch.rand(3, n, generator=generator)
    return torch.stack(
        [
            torch.sqrt(1 - u) * torch.sin(2 * math.pi * v),
            torch.sqrt(1 - u) * torch.cos(2 * math.pi * v),
            torch.sqrt(u) * torch.sin(2 * math.pi * w),
            torch.sqrt(u) * torch.cos(2 * math.pi * w),
        ],
        -1,
    )


class GaussianScene(nn.Module):
    """A 3D Gaussian scene in the splatfacto parameterisation (module docstring)."""

    def __init__(
        self,
        means: Tensor,
        *,
        colors: Tensor | None = None,
        log_scales: Tensor | None = None,
        quats: Tensor | None = None,
        opacity: float = 0.1,
        sh_degree: int = 3,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        if means.dim() != 2 or means.shape[-1] != 3 or means.shape[0] < 1:
            raise InputError(f"GaussianScene: means must be [N, 3] with N >= 1, got {tuple(means.shape)}")
        if not 0 <= sh_degree <= 3:
            raise ConfigError(f"GaussianScene: sh_degree must be 0..3, got {sh_degree!r}")
        if not 0 < opacity < 1:
            raise ConfigError(f"GaussianScene: opacity must lie in (0, 1), got {opacity!r}")
        N = means.shape[0]
        dt = means.dtype
        self.sh_degree = sh_degree
        if log_scales is None:
            k = min(3, N - 1)
            if k == 0:
                log_scales = torch.full((N, 3), math.log(0.01), dtype=dt)
            else:
                d = torch.cdist(means, means)
                d = d + torch.eye(N, dtype=dt) * d.max().clamp(min=1.0) * 10
                nn_dist = d.topk(k, largest=False).values.mean(-1)
                log_scales = torch.log(nn_dist).unsqueeze(-1).repeat(1, 3)
        if quats is None:
            quats = _random_quats(N, generator).to(dt)
        if colors is None:
            colors = torch.rand(N, 3, generator=generator, dtype=dt)
        dim_sh = (sh_degree + 1) ** 2
        self.means = nn.Parameter(means.clone())
        self.scales = nn.Parameter(log_scales.clone().to(dt))
        self.quats = nn.Parameter(quats.clone().to(dt))
        self.opacities = nn.Parameter(torch.full((N, 1), math.log(opacity / (1 - opacity)), dtype=dt))
        self.features_dc = nn.Parameter(((colors - 0.5) / SH_C0).to(dt))
        self.features_rest = nn.Parameter(torch.zeros(N, dim_sh - 1, 3, dtype=dt))

    @property
    def num_gaussians(self) -> int:
        return int(self.means.shape[0])

    def render(
        self,
        c2w: Tensor,
        camera: Camera,
        background: Sequence[float] | Tensor = EVAL_BACKGROUND,
        *,
        sh_degree: int | None = None,
        kernel: str | None = None,
    ) -> tuple[Tensor, Tensor, Projected]:
        """Render the view of camera-to-world ``c2w`` (nerfstudio convention): ``(rgb [H, W, 3], coverage [H, W],
        projected)``. ``sh_degree``: the active SH degree (default: all of the scene's)."""
        deg = self.sh_degree if sh_degree is None else min(sh_degree, self.sh_degree)
        viewmat = viewmat_from_c2w(c2w)
        q = self.quats / self.quats.norm(dim=-1, keepdim=True)
        proj = project_gaussians(self.means, torch.exp(self.scales), q, viewmat, camera)
        colors = torch.cat((self.features_dc[:, None, :], self.features_rest), dim=1)
        viewdirs = self.means.detach() - c2w.detach()[:3, 3]
        viewdirs = viewdirs / viewdirs.norm(dim=-1, keepdim=True)
        rgbs = torch.clamp(spherical_harmonics(deg, viewdirs, colors) + 0.5, min=0.0)
        opac = torch.sigmoid(self.opacities) * proj.compensation[:, None]
        bg = torch.as_tensor(background, dtype=self.means.dtype, device=self.means.device)
        rgb, cover = render(proj, rgbs, opac, camera, bg, kernel=kernel)
        return rgb, cover, proj


def render(
    proj: Projected,
    colors: Tensor,
    opacities: Tensor,
    camera: Camera,
    background: Tensor,
    *,
    kernel: str | None = None,
) -> tuple[Tensor, Tensor]:
    """Rasterise projected Gaussians with the registered kernel ``usp_gaussian_rasterize`` (its reference unless
    ``kernel`` or ``ZOO_KERNELS`` picks another)."""
    return dispatch(
        "usp_gaussian_rasterize",
        proj,
        colors,
        opacities,
        camera.height,
        camera.width,
        background,
        kernel=kernel,
    )  # type: ignore[no-any-return]
