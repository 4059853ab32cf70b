r"""SE(3) in plain torch and the two-knot linear camera trajectory of each view's exposure.

Conventions (those of pypose, which the official code uses): a tangent vector of se(3) is
:math:`\xi = (\rho, \phi)` (translation part first, ``[..., 6]``); a pose of SE(3) is stored as
:math:`(t, q)` with the unit quaternion :math:`q = (x, y, z, w)` (``[..., 7]``, w last: not the (w, x, y, z) of the
Gaussians' quaternions); an so(3) vector :math:`\phi` is ``[..., 3]``.

.. math::

    \mathrm{Exp}(\rho, \phi) = (J_l(\phi)\rho,\ q(\phi)), \quad
    q(\phi) = \Big(\tfrac{\sin(\theta/2)}{\theta}\phi,\ \cos(\theta/2)\Big), \quad \theta = \|\phi\|, \\
    J_l(\phi) = I + \tfrac{1 - \cos\theta}{\theta^2}[\phi]_\times + \tfrac{\theta - \sin\theta}{\theta^3}[\phi]_\times^2

with the series :math:`\tfrac12 - \theta^2/48 + \theta^4/3840`, :math:`1 - \theta^2/8 + \theta^4/384`,
:math:`\tfrac12 - \theta^2/24`, :math:`\tfrac16 - \theta^2/120` below machine epsilon, and
:math:`\mathrm{Log}(t, q) = (J_l^{-1}(\phi)\,t,\ \phi)` with :math:`\phi = 2\,\mathrm{atan}(\|v\|/w)\,v/\|v\|`
for :math:`q = (v, w)` (:math:`\pm\pi v/\|v\|` when :math:`w \approx 0`, :math:`2(1/w - \|v\|^2/(3w^3))v` when
:math:`v \approx 0`). Forward values follow pypose's formulas operation by operation; gradients are the ordinary
derivatives of these formulas (pypose replaces some of them by tangent-space Jacobians).

Trajectory (BAD-Gaussians' "linear" mode): each view has two knots :math:`\xi_0, \xi_1` (``[N, 2, 6]``), poses
:math:`T_k = \mathrm{Exp}(\xi_k)`; at time :math:`u \in [0, 1]`

.. math:: t(u) = (1-u)\,t_0 + u\,t_1, \qquad q(u) = q_0 \otimes \mathrm{Exp}\big(u\,\mathrm{Log}(q_0^{-1} \otimes q_1)\big)

and the virtual camera-to-world is :math:`C_{2W} \cdot M(T(u))` (the delta right-multiplied: it acts in the
camera frame). The ``V`` virtual views use :math:`u_i = i/(V-1)`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, InputError, check_positive, check_positive_int

__all__ = [
    "PoseTrajectory",
    "interpolate_linear",
    "interpolate_mid",
    "quat_act",
    "quat_inv",
    "quat_mul",
    "se3_exp",
    "se3_log",
    "se3_matrix",
    "skew",
    "so3_exp",
    "so3_jl",
    "so3_jl_inv",
    "so3_log",
]


def _eps(x: Tensor) -> float:
    return torch.finfo(x.dtype).eps


def _last(x: Tensor, n: int, who: str) -> None:
    if not isinstance(x, Tensor) or x.dim() < 1 or x.shape[-1] != n or not x.is_floating_point():
        got = f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise InputError(f"{who}: expected a float tensor [..., {n}], got {got}")


def skew(v: Tensor) -> Tensor:
    r""":math:`[v]_\times` ``[..., 3, 3]`` of ``v`` ``[..., 3]``: rows (0, -z, y), (z, 0, -x), (-y, x, 0)."""
    _last(v, 3, "skew")
    x, y, z = v.unbind(-1)
    o = torch.zeros_like(x)
    return torch.stack([o, -z, y, z, o, -x, -y, x, o], -1).reshape(*v.shape[:-1], 3, 3)


def so3_jl(phi: Tensor) -> Tensor:
    r"""Left Jacobian :math:`J_l(\phi)` ``[..., 3, 3]`` (series below machine epsilon)."""
    _last(phi, 3, "so3_jl")
    K = skew(phi)
    theta = torch.linalg.norm(phi, dim=-1, keepdim=True).unsqueeze(-1)
    theta2 = theta**2
    big = theta > _eps(theta)
    ts = torch.where(big, theta, torch.ones_like(theta))  # a safe value where the series is used
    coef1 = torch.where(big, (1 - ts.cos()) / (ts * ts), 0.5 - (1.0 / 24.0) * theta2)
    coef2 = torch.where(big, (ts - ts.sin()) / (ts * ts * ts), 1.0 / 6.0 - (1.0 / 120) * theta2)
    eye = torch.eye(3, dtype=phi.dtype, device=phi.device).expand(*phi.shape[:-1], 3, 3)
    return eye + coef1 * K + coef2 * (K @ K)


def so3_jl_inv(phi: Tensor) -> Tensor:
    r"""Inverse left Jacobian :math:`I - \tfrac12[\phi]_\times + \frac{1 - \theta\cos(\theta/2)/(2\sin(\theta/2))}
    {\theta^2}[\phi]_\times^2` (coefficient 1/12 below machine epsilon)."""
    _last(phi, 3, "so3_jl_inv")
    K = skew(phi)
    theta = torch.linalg.norm(phi, dim=-1, keepdim=True).unsqueeze(-1)
    big = theta > _eps(theta)
    ts = torch.where(big, theta, torch.ones_like(theta))
    coef2 = torch.where(big, (1.0 - ts * (0.5 * ts).cos() / (2.0 * (0.5 * ts).sin())) / (ts * ts), 1.0 / 12.0)
    eye = torch.eye(3, dtype=phi.dtype, device=phi.device).expand(*phi.shape[:-1], 3, 3)
    return eye - 0.5 * K + coef2 * (K @ K)


def so3_exp(phi: Tensor) -> Tensor:
    r""":math:`\mathrm{Exp}(\phi)` as a unit quaternion ``[..., 4]`` (x, y, z, w)."""
    _last(phi, 3, "so3_exp")
    theta = torch.norm(phi, 2, dim=-1, keepdim=True)
    theta2 = theta * theta
    theta4 = theta2 * theta2
    big = theta > _eps(theta)
    ts = torch.where(big, theta, torch.ones_like(theta))
    imag = torch.where(big, torch.sin(0.5 * ts) / ts, 0.5 - (1.0 / 48.0) * theta2 + (1.0 / 3840.0) * theta4)
    real = torch.where(big, torch.cos(0.5 * ts), 1.0 - (1.0 / 8.0) * theta2 + (1.0 / 384.0) * theta4)
    return torch.cat([phi * imag, real], -1)


def so3_log(q: Tensor) -> Tensor:
    r""":math:`\mathrm{Log}(q)` ``[..., 3]`` of a unit quaternion ``[..., 4]`` (x, y, z, w)."""
    _last(q, 4, "so3_log")
    eps = _eps(q)
    v, w = q[..., :3], q[..., 3:]
    vn = torch.norm(v, 2, dim=-1, keepdim=True)
    v_big, w_big = vn > eps, w.abs() > eps
    vs = torch.where(v_big, vn, torch.ones_like(vn))
    ws = torch.where(w_big | ~v_big, w, torch.ones_like(w))
    ws = torch.where(ws == 0, torch.ones_like(ws), ws)
    pm = torch.sign(torch.sign(w) * 2 + 1)  # +1 for w >= 0, -1 below (pypose's pm)
    f1 = 2.0 * torch.atan(vs / ws) / vs
    f2 = pm * torch.pi / vs
    f3 = 2.0 * (1.0 / ws - vn * vn / (3 * ws**3))
    factor = torch.where(v_big & w_big, f1, torch.where(v_big, f2, f3))
    return factor * v


def quat_mul(a: Tensor, b: Tensor) -> Tensor:
    """Hamilton product of quaternions ``[..., 4]`` (x, y, z, w): the rotation ``a`` after ``b``."""
    av, aw, bv, bw = a[..., :3], a[..., 3:], b[..., :3], b[..., 3:]
    v = aw * bv + av * bw + torch.linalg.cross(av, bv, dim=-1)
    w = aw * bw - (av * bv).sum(dim=-1, keepdim=True)
    return torch.cat([v, w], -1)


def quat_inv(q: Tensor) -> Tensor:
    """Inverse of a unit quaternion (x, y, z, w): the conjugate."""
    return torch.cat((-q[..., :3], q[..., 3:]), -1)


def quat_act(q: Tensor, p: Tensor) -> Tensor:
    r"""Rotate points ``p`` ``[..., 3]`` by ``q``: :math:`p + w\,u + v \times u` with :math:`u = 2\,v \times p`."""
    v, w = q[..., :3], q[..., 3:]
    u = torch.linalg.cross(v, p, dim=-1)
    u = u + u
    return p + w * u + torch.linalg.cross(v, u, dim=-1)


def se3_exp(xi: Tensor) -> Tensor:
    r""":math:`\mathrm{Exp}(\rho, \phi) = (J_l(\phi)\rho, q(\phi))` ``[..., 7]``."""
    _last(xi, 6, "se3_exp")
    t = (so3_jl(xi[..., 3:]) @ xi[..., :3].unsqueeze(-1)).squeeze(-1)
    return torch.cat([t, so3_exp(xi[..., 3:])], -1)


def se3_log(X: Tensor) -> Tensor:
    r""":math:`\mathrm{Log}(t, q) = (J_l^{-1}(\phi)\,t, \phi)`, :math:`\phi = \mathrm{Log}(q)` ``[..., 6]``."""
    _last(X, 7, "se3_log")
    phi = so3_log(X[..., 3:])
    tau = (so3_jl_inv(phi) @ X[..., :3].unsqueeze(-1)).squeeze(-1)
    return torch.cat([tau, phi], -1)


def se3_matrix(X: Tensor) -> Tensor:
    """The 4x4 matrix ``[..., 4, 4]`` of poses ``[..., 7]``: columns ``R e_j`` (the quaternion acting on the basis
    vectors) and ``t``, last row (0, 0, 0, 1)."""
    _last(X, 7, "se3_matrix")
    t, q = X[..., :3], X[..., 3:]
    eye = torch.eye(3, dtype=X.dtype, device=X.device)
    cols = quat_act(q.unsqueeze(-2), eye.expand(*X.shape[:-1], 3, 3))  # [..., 3 (basis j), 3]
    zero = torch.zeros(*X.shape[:-1], 1, 3, dtype=X.dtype, device=X.device)
    top = torch.cat([cols, t.unsqueeze(-2)], -2).transpose(-1, -2)  # [..., 3, 4]
    bottom = torch.cat([zero, torch.ones(*X.shape[:-1], 1, 1, dtype=X.dtype, device=X.device)], -1)
    return torch.cat([top, bottom], -2)


def interpolate_linear(knots: Tensor, u: Tensor) -> Tensor:
    r"""Poses ``[..., V, 7]`` on the linear trajectory between the two knots ``knots`` ``[..., 2, 7]`` at the
    times ``u`` ``[V]`` (or ``[..., V]``): :math:`t = (1-u)t_0 + u t_1`,
    :math:`q = q_0 \otimes \mathrm{Exp}(u\,\mathrm{Log}(q_0^{-1} \otimes q_1))`."""
    if knots.dim() < 2 or knots.shape[-2:] != (2, 7):
        raise InputError(f"interpolate_linear: expected knots [..., 2, 7], got {tuple(knots.shape)}")
    start, end = knots[..., 0, :], knots[..., 1, :]
    batch = start.shape[:-1]
    V = u.shape[-1]
    if u.dim() == 1:
        u = u.tile((*batch, 1))
    t0, q0, t1, q1 = start[..., :3], start[..., 3:], end[..., :3], end[..., 3:]
    one_minus = (1 - u).to(knots.dtype)
    uu = u.to(knots.dtype)
    t = one_minus.unsqueeze(-1) * t0.unsqueeze(-2) + uu.unsqueeze(-1) * t1.unsqueeze(-2)
    r = so3_log(quat_mul(quat_inv(q0), q1))
    q_t = so3_exp(uu.unsqueeze(-1) * r.unsqueeze(-2))
    q = quat_mul(q0.unsqueeze(-2).expand(*batch, V, 4), q_t)
    return torch.cat([t, q], -1)


def interpolate_mid(knots: Tensor) -> Tensor:
    r"""The pose half-way between the knots ``[..., 2, 7]``: :math:`t = (t_0 + t_1) \cdot 0.5`,
    :math:`q = q_0 \otimes \mathrm{Exp}(0.5\,\mathrm{Log}(q_0^{-1} q_1))` (the evaluation's "mid" mode)."""
    if knots.dim() < 2 or knots.shape[-2:] != (2, 7):
        raise InputError(f"interpolate_mid: expected knots [..., 2, 7], got {tuple(knots.shape)}")
    start, end = knots[..., 0, :], knots[..., 1, :]
    t = (start[..., :3] + end[..., :3]) * 0.5
    r = so3_log(quat_mul(quat_inv(start[..., 3:]), end[..., 3:]))
    q = quat_mul(start[..., 3:], so3_exp(r * 0.5))
    return torch.cat([t, q], -1)


class PoseTrajectory(nn.Module):
    r"""Per-view exposure trajectories: ``pose_adjustment`` ``[num_views, 2, 6]``, the se(3) knots of each view.

    Initialised like the official camera optimiser (pypose ``randn_se3`` with ``sigma = noise``: a random unit
    axis times an angle :math:`\mathcal N(0, \sigma^2)`, then a translation :math:`\mathcal N(0, \sigma^2)` per
    axis; the noise keeps the Log away from its singular point). :meth:`deltas` gives the pose deltas of the
    virtual views, :meth:`virtual_c2w` applies them to a view's camera-to-world matrix (right-multiplied).
    """

    def __init__(
        self,
        num_views: int,
        *,
        num_virtual_views: int = 13,
        noise: float = 1e-5,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        self.num_views = check_positive_int(num_views, "num_views", "PoseTrajectory")
        self.num_virtual_views = check_positive_int(num_virtual_views, "num_virtual_views", "PoseTrajectory")
        if num_virtual_views < 2:
            raise ConfigError(f"PoseTrajectory: num_virtual_views must be >= 2, got {num_virtual_views}")
        check_positive(noise, "noise", "PoseTrajectory")
        size = (num_views, 2)
        axis = torch.randn(*size, 3, generator=generator)
        angle = noise * torch.randn(*size, 1, generator=generator)
        rot = axis / axis.norm(dim=-1, keepdim=True) * angle
        trans = noise * torch.randn(*size, 3, generator=generator)
        self.pose_adjustment = nn.Parameter(torch.cat([trans, rot], -1))

    def knots(self, views: Tensor | list[int] | int) -> Tensor:
        """The two knot poses ``[n, 2, 7]`` of the given views."""
        idx = torch.as_tensor(views, dtype=torch.long).reshape(-1)
        if bool(((idx < 0) | (idx >= self.num_views)).any()):
            raise InputError(f"PoseTrajectory: view index out of range [0, {self.num_views}): {idx.tolist()}")
        return se3_exp(self.pose_adjustment[idx])

    def deltas(self, views: Tensor | list[int] | int, mode: str = "uniform") -> Tensor:
        """Pose deltas as 4x4 matrices: ``[n, V, 4, 4]`` (``mode="uniform"``: the V virtual views at
        ``u = linspace(0, 1, V)``), or ``[n, 4, 4]`` for ``"start"``, ``"mid"``, ``"end"``."""
        k = self.knots(views)
        if mode == "uniform":
            u = torch.linspace(
                0, 1, self.num_virtual_views, device=k.device
            )  # default dtype, as the official
            return se3_matrix(interpolate_linear(k, u))
        if mode == "mid":
            return se3_matrix(interpolate_mid(k))
        if mode == "start":
            return se3_matrix(k[:, 0])
        if mode == "end":
            return se3_matrix(k[:, 1])
        raise ConfigError(f"PoseTrajectory: mode must be uniform, start, mid or end, got {mode!r}")

    def virtual_c2w(self, c2w: Tensor, view: int, mode: str = "uniform") -> Tensor:
        """Camera-to-world matrices of the virtual cameras of view ``view``: ``c2w @ delta`` (``c2w`` ``[3, 4]`` or
        ``[4, 4]``); ``[V, 4, 4]`` for ``"uniform"``, ``[4, 4]`` otherwise."""
        if c2w.shape == (3, 4):
            c2w = torch.cat([c2w, torch.tensor([[0, 0, 0, 1]], dtype=c2w.dtype, device=c2w.device)], 0)
        if c2w.shape != (4, 4):
            raise InputError(f"PoseTrajectory: c2w must be [3, 4] or [4, 4], got {tuple(c2w.shape)}")
        d = self.deltas(view, mode)[0].to(c2w.dtype)
        return c2w @ d
