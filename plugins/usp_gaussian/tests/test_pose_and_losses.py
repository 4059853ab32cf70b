"""SE(3) and the exposure trajectory (against pypose where installed, round trips always), and the losses (their
definitions, the spec's invariances, pytorch_msssim's SSIM)."""

from __future__ import annotations

import math

import pytest
import torch
from zoo_core.sdk import ConfigError, InputError

from zoo_usp_gaussian import losses, se3


def _xi(seed: int = 0, n: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xi = torch.randn(n, 2, 6, generator=g, dtype=torch.float64) * torch.tensor([0.3, 0.3, 0.3, 0.6, 0.6, 0.6])
    xi[0] *= 1e-10  # below the series threshold
    return xi


def test_exp_log_round_trips() -> None:
    xi = _xi()
    assert torch.allclose(se3.se3_log(se3.se3_exp(xi)), xi, atol=1e-12, rtol=0)
    q = se3.so3_exp(xi[..., 3:])
    assert torch.allclose(q.norm(dim=-1), torch.ones(q.shape[:-1], dtype=torch.float64), atol=1e-15)
    assert torch.allclose(se3.so3_log(q), xi[..., 3:], atol=1e-12, rtol=0)
    # the matrix is a rigid motion whose translation is t
    m = se3.se3_matrix(se3.se3_exp(xi))
    R = m[..., :3, :3]
    assert torch.allclose(R @ R.transpose(-1, -2), torch.eye(3, dtype=torch.float64).expand_as(R), atol=1e-14)
    assert torch.allclose(torch.linalg.det(R), torch.ones(R.shape[:-2], dtype=torch.float64), atol=1e-14)
    assert torch.equal(m[..., :3, 3], se3.se3_exp(xi)[..., :3])
    # Rodrigues: the rotation of phi = (0, 0, a) turns x towards y by a
    Ra = se3.se3_matrix(se3.se3_exp(torch.tensor([0, 0, 0, 0, 0, 0.3], dtype=torch.float64)))
    assert torch.allclose(Ra[:3, 0], torch.tensor([math.cos(0.3), math.sin(0.3), 0], dtype=torch.float64))


def test_trajectory_endpoints_and_mid() -> None:
    knots = se3.se3_exp(_xi(1))
    u = torch.linspace(0, 1, 13, dtype=torch.float64)
    path = se3.interpolate_linear(knots, u)
    assert torch.allclose(path[:, 0], knots[:, 0], atol=1e-14)
    assert torch.allclose(se3.se3_matrix(path[:, -1]), se3.se3_matrix(knots[:, 1]), atol=1e-13)
    mid = se3.interpolate_mid(knots)
    assert torch.allclose(se3.se3_matrix(mid), se3.se3_matrix(path[:, 6]), atol=1e-13)
    # constant angular speed along the path: equal rotation steps between neighbours
    steps = se3.so3_log(se3.quat_mul(se3.quat_inv(path[:, :-1, 3:]), path[:, 1:, 3:])).norm(dim=-1)
    assert torch.allclose(steps, steps[:, :1].expand_as(steps), atol=1e-12)


def test_trajectory_equals_pypose_and_the_bad_gaussians_formula() -> None:
    pp = pytest.importorskip("pypose")
    xi = _xi(2)
    K = pp.se3(xi).Exp()
    assert torch.equal(se3.se3_exp(xi), K.tensor())
    assert torch.equal(se3.se3_log(K.tensor()), K.Log().tensor())
    u = torch.linspace(0, 1, 13, dtype=torch.float64).tile((xi.shape[0], 1))
    t0, q0 = K[..., 0, :].translation(), K[..., 0, :].rotation()
    t1, q1 = K[..., 1, :].translation(), K[..., 1, :].rotation()
    t = pp.bvv(1 - u, t0) + pp.bvv(u, t1)
    q = q0.unsqueeze(-2).tile((13, 1)) @ pp.Exp(pp.so3(pp.bvv(u, (q0.Inv() @ q1).Log())))
    ref = pp.SE3(torch.cat([t, q], -1))
    ours = se3.interpolate_linear(K.tensor(), u[0])
    assert torch.equal(ours, ref.tensor())
    assert torch.equal(se3.se3_matrix(ours), ref.matrix())


def test_pose_trajectory_module() -> None:
    traj = se3.PoseTrajectory(3, num_virtual_views=13, generator=torch.Generator().manual_seed(0))
    assert traj.pose_adjustment.shape == (3, 2, 6)
    assert float(traj.pose_adjustment.detach().abs().max()) < 1e-4  # N(0, 1e-5) initial noise
    with torch.no_grad():
        traj.pose_adjustment.zero_()
        traj.pose_adjustment[1, 1, 0] = 0.6  # view 1 moves 0.6 along the camera's x during its exposure
    c2w = torch.eye(4)
    c2w[:3, 3] = torch.tensor([1.0, 2.0, 3.0])
    views = traj.virtual_c2w(c2w, 1)
    assert views.shape == (13, 4, 4)
    assert torch.allclose(views[:, 0, 3], 1.0 + 0.6 * torch.linspace(0, 1, 13), atol=1e-6)
    assert torch.allclose(traj.virtual_c2w(c2w, 1, "mid")[0, 3], torch.tensor(1.3))
    assert torch.equal(traj.virtual_c2w(c2w, 0), c2w.expand(13, 4, 4))  # identity knots: no motion
    with pytest.raises(InputError):
        traj.knots([3])
    with pytest.raises(ConfigError):
        traj.deltas(0, "sideways")


def test_ssim_equals_pytorch_msssim() -> None:
    msssim = pytest.importorskip("pytorch_msssim")
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 24, 30, generator=g, dtype=torch.float64).unbind(0)
    x, y = x[None], y[None]
    ref = msssim.SSIM(data_range=1.0, size_average=True, channel=3)(x, y)
    assert torch.equal(losses.ssim(x, y), ref)


def test_ssim_of_identical_images_is_one() -> None:
    x = torch.rand(1, 1, 20, 20, dtype=torch.float64)
    assert float(losses.ssim(x, x)) == pytest.approx(1.0, abs=1e-12)


def test_loss_3dgs_definition() -> None:
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 16, 16, 3, generator=g, dtype=torch.float64).unbind(0)
    expect = 0.8 * (a - b).abs().mean() + 0.2 * (
        1 - losses.ssim(a.permute(2, 0, 1)[None], b.permute(2, 0, 1)[None])
    )
    assert torch.equal(losses.loss_3dgs(a, b), expect)
    assert float(losses.loss_3dgs(a, a)) == pytest.approx(0.0, abs=1e-12)


def test_scale_regulariser() -> None:
    iso = torch.log(torch.tensor([[0.1, 0.2, 0.5], [1.0, 1.0, 1.0]]))  # ratios 5 and 1: <= 10
    assert float(losses.scale_regulariser(iso, 0)) == 0.0
    flat = torch.log(torch.tensor([[0.01, 1.0, 1.0], [1.0, 1.0, 1.0]]))  # ratio 100 -> 0.1 * mean(90, 0)
    assert float(losses.scale_regulariser(flat, 20)) == pytest.approx(0.1 * 45.0, rel=1e-5)
    assert float(losses.scale_regulariser(flat, 21)) == 0.0  # only every 10th step


def test_spike_reblur_with_zero_reconstruction_is_the_mean_rate() -> None:
    g = torch.Generator().manual_seed(2)
    spike = (torch.rand(177, 6, 5, generator=g) < 0.4).double()
    rec = torch.zeros(13, 6, 5, 3, dtype=torch.float64)
    windows = [(64, 112), (56, 120), (48, 128), (40, 136)]
    expect = sum(float(spike[a : b + 1].mean()) for a, b in windows) / 4
    assert float(losses.spike_reblur_loss(spike, rec)) == pytest.approx(expect, rel=1e-12)


def test_spike_reblur_definition() -> None:
    g = torch.Generator().manual_seed(3)
    spike = (torch.rand(177, 4, 4, generator=g) < 0.4).double()
    rec = torch.rand(13, 4, 4, 3, generator=g, dtype=torch.float64)
    terms = []
    for k in (3, 4, 5, 6):
        a, b = 6 - k, 6 + k
        sb = spike[40 + 8 * a : 40 + 8 * b + 1].mean(0)[..., None]
        terms.append((sb - rec[a : b + 1].mean(0)).abs().mean())
    assert float(losses.spike_reblur_loss(spike, rec)) == pytest.approx(float(sum(terms) / 4), rel=1e-12)
    # 7 virtual views: k = 1..3, stride 16
    rec7 = rec[:7]
    terms7 = []
    for k in (1, 2, 3):
        a, b = 3 - k, 3 + k
        sb = spike[40 + 16 * a : 40 + 16 * b + 1].mean(0)[..., None]
        terms7.append((sb - rec7[a : b + 1].mean(0)).abs().mean())
    assert float(losses.spike_reblur_loss(spike, rec7)) == pytest.approx(float(sum(terms7) / 3), rel=1e-12)


def test_joint_loss_is_the_min_over_orientations() -> None:
    g = torch.Generator().manual_seed(4)
    img, rec = torch.rand(2, 13, 4, 4, 3, generator=g, dtype=torch.float64).unbind(0)
    assert torch.equal(losses.joint_loss(img, rec), losses.joint_loss(torch.flip(img, [0]), rec))
    fwd, bwd = (img - rec).abs().mean(), (torch.flip(img, [0]) - rec).abs().mean()
    assert float(losses.joint_loss(img, rec)) == float(min(fwd, bwd))
    assert float(losses.joint_loss(img, rec, flip=False)) == float(fwd)
    assert float(losses.joint_loss(torch.flip(rec, [0]), rec)) == 0.0
    # the gradient reaches both sides through the chosen branch
    a, b = img.clone().requires_grad_(), rec.clone().requires_grad_()
    losses.joint_loss(a, b).backward()
    assert a.grad is not None and b.grad is not None and float(a.grad.abs().sum()) > 0
