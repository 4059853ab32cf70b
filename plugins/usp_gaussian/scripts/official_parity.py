"""Official parity of USP-Gaussian's CPU parts: the official code and the zoo on the same weights and spikes.

Usage::

    python plugins/usp_gaussian/scripts/official_parity.py OFFICIAL_REPO_DIR [--site DIR ...] [--tol TOL]
        [--only TEXT ...]

``OFFICIAL_REPO_DIR``: a checkout of ``chenkang455/USP-Gaussian@3597537`` (the files used are
``bad_gaussians/network.py``, ``bad_gaussians/bad_gaussians.py``, ``bad_gaussians/spike_utils.py``,
``bad_gaussians/spline_functor.py`` and ``scripts/utils_spike.py``). The official code is a nerfstudio / gsplat 0.1.x
plugin that needs CUDA; nothing here builds gsplat or nerfstudio. Their names are bound to empty stand-in modules
(as are ``cv2``, ``imageio`` and ``jaxtyping``, imported but unused by the functions called, when they are not
installed) so that the official files import unchanged; the checkout is not edited and no official code is copied.
Configurations (``--only`` picks by name):

* ``recon``: the official ``BadGaussiansModel.get_outputs`` (the training path, ``use_multi_net`` on and off) run
  on a random spike clip, with the official ``SpkRecon_Net`` / ``Multi_SpkRecon_Net`` on a random state dict (its
  aliased ``seq.*`` keys drawn apart from the named ones, so the alias rule is exercised) against
  ``zoo.create_model("usp_spkrecon" / "usp_multi_spkrecon")`` loaded through ``zoo.from_official``:
  the V virtual-view reconstructions (official voxel, windows and time index vs ``reconstruct_views`` at
  ``view_centers(V)``; V = 13, 7 and the single "mid" view), every parameter gradient of a random linear function
  of them, and the per-view visual TFP (``visual_tfp``), in float64. Only the Recon-Net half of ``get_outputs``
  is compared: its gsplat calls (projection, SH, rasterisation) are replaced by stand-ins returning a blank
  render, because they are CUDA kernels (the zoo's rasteriser is checked against gsplat's formulas in the tests).
* ``losses``: the official ``BadGaussiansModel.get_loss_dict`` (on an instance built without ``__init__``, with
  splatfacto's ``SSIM(data_range=1, size_average=True, channel=3)`` from ``pytorch_msssim``) against
  ``losses.scale_regulariser``, ``loss_3dgs``, ``spike_reblur_loss`` (``use_multi_reblur`` on) or ``loss_3dgs`` of
  the mean reconstruction (off), and ``joint_loss`` (``use_flip`` on; cases where each branch of the minimum wins),
  on steps 10 and 11 (the scale regulariser runs on every 10th), V = 13 and 7: every loss value and the gradients
  of their sum with respect to the renders, the reconstructions and the log-scales, in float64.
* ``camera``: the official simulator (``scripts/utils_spike.SimulationSimple_Video``, then
  ``Inherent_Noise_fast_torch`` OR-ed in as ``scripts/spike_simulate.py`` does) against
  ``spike_camera.simulate_spikes`` from the same global seed (spikes counted, noise off and on); ``SpikeToRaw`` /
  ``load_vidar_dat`` against ``write_dat`` / ``read_dat`` (bytes and frames); ``spike_utils.middleTFI`` against
  ``middle_tfi`` at the clip's middle and at both edges (float32, the official dtype).
* ``se3``: ``spline_functor.linear_interpolation`` / ``linear_interpolation_mid`` (pypose LieTensors) against
  ``se3.interpolate_linear`` / ``interpolate_mid`` (forward values; pypose must be importable, e.g. the plugin's
  ``test`` extra).

Not compared (needs CUDA): gsplat's projection and rasteriser, nerfstudio's camera optimiser and the densification.
Exit status 1 if a difference exceeds ``TOL`` = 1e-12 (or ``--tol``), 2 for a bad directory. About 5 s of CPU time
on one thread (measured: 4.6 s user for the whole process).
"""

from __future__ import annotations

import importlib.util
import math
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import torch
import zoo_core as zoo
from torch import Tensor, nn
from zoo_core.testing_parity import (
    grad_diff,
    max_abs_diff,
    parse_parity_args,
    randomise_state_dict,
    report,
    wanted,
)

from zoo_usp_gaussian import losses as zl
from zoo_usp_gaussian import se3 as zse3
from zoo_usp_gaussian import spike_camera as sc
from zoo_usp_gaussian.recon import view_centers

TOL = 1e-12
D = torch.float64
REPO = "chenkang455/USP-Gaussian@3597537"
NETWORK = "bad_gaussians/network.py"
MODEL = "bad_gaussians/bad_gaussians.py"
SPIKE_UTILS = "bad_gaussians/spike_utils.py"
SPLINE = "bad_gaussians/spline_functor.py"
SIMULATOR = "scripts/utils_spike.py"
REQUIRED = (NETWORK, MODEL, SPIKE_UTILS, SPLINE, SIMULATOR)
#: third-party modules the official files import; bound to stand-ins when missing (none is used by what runs)
OPTIONAL = ("cv2", "imageio", "jaxtyping", "tqdm", "PIL", "torchvision", "torchvision.transforms")
#: modules the official model file imports that need CUDA (gsplat) or a full nerfstudio install: always stand-ins
CUDA_SIDE = (
    "gsplat.project_gaussians",
    "gsplat.rasterize",
    "gsplat.sh",
    "nerfstudio.cameras.cameras",
    "nerfstudio.data.scene_box",
    "nerfstudio.models.splatfacto",
    "nerfstudio.model_components",
    "bad_gaussians.bad_camera_optimizer",
)
H, W = 16, 24


class StandIn(ModuleType):
    """An empty module whose every public attribute is a fresh empty class (created once, then kept)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = type(name, (), {})
        setattr(self, name, value)
        return value


def install_stand_in(name: str) -> ModuleType:
    """Put a :class:`StandIn` under ``name`` (and its parents) in ``sys.modules``; returns the leaf."""
    parts = name.split(".")
    parent = None
    for i in range(len(parts)):
        full = ".".join(parts[: i + 1])
        mod = sys.modules.get(full)
        if mod is None or (i == len(parts) - 1 and not isinstance(mod, StandIn)):
            mod = StandIn(full)
            mod.__path__ = []  # a package, so that children import
            sys.modules[full] = mod
        if parent is not None:
            setattr(parent, parts[i], mod)
        parent = mod
    return parent


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def import_official(src: Path) -> dict[str, ModuleType | None]:
    """The official modules (``spline`` is ``None`` without pypose); stand-ins installed as the docstring says."""
    for name in OPTIONAL:
        if not _importable(name):
            install_stand_in(name)
    for name in CUDA_SIDE:
        install_stand_in(name)
    pkg = types.ModuleType("bad_gaussians")
    pkg.__path__ = [str(src / "bad_gaussians")]
    sys.modules["bad_gaussians"] = pkg
    out: dict[str, ModuleType | None] = {
        "network": _load("bad_gaussians.network", src / NETWORK),
        "model": _load("bad_gaussians.bad_gaussians", src / MODEL),
        "spike_utils": _load("bad_gaussians.spike_utils", src / SPIKE_UTILS),
        "simulator": _load("official_utils_spike", src / SIMULATOR),
        "spline": None,
    }
    if _importable("pypose"):
        out["spline"] = _load("bad_gaussians.spline_functor", src / SPLINE)
    return out


# ---------------------------------------------------------------------------------------------- Recon-Nets
def _blank_projection(means: Tensor, *_args: Any) -> tuple[Tensor, ...]:
    """Stand-in for gsplat's ``project_gaussians``: every Gaussian on screen, one tile each (a blank render)."""
    n = means.shape[0]
    z = torch.zeros(n, dtype=means.dtype)
    xys = torch.zeros(n, 2, dtype=means.dtype, requires_grad=True)
    ones = torch.ones(n, dtype=torch.int32)
    return xys, z, ones, torch.zeros(n, 3, dtype=means.dtype), z + 1, ones, None


def _blank_raster(xys: Tensor, *args: Any, **_kw: Any) -> tuple[Tensor, Tensor]:
    """Stand-in for gsplat's ``rasterize_gaussians``: a black image and a zero alpha."""
    h, w = args[6], args[7]
    return torch.zeros(h, w, 3, dtype=xys.dtype), torch.zeros(h, w, dtype=xys.dtype)


class _Camera:
    """The camera attributes ``get_outputs`` reads (a 1-camera batch at the origin)."""

    def __init__(self) -> None:
        self.shape = (1,)
        self.camera_to_worlds = torch.eye(4, dtype=D)[None, :3, :]
        self.width, self.height = torch.tensor([W]), torch.tensor([H])
        self.fx = self.fy = torch.tensor([20.0])
        self.cx, self.cy = torch.tensor([W / 2]), torch.tensor([H / 2])

    def rescale_output_resolution(self, _factor: float) -> None:
        return None


def official_model(off: dict[str, ModuleType | None], spike_net: nn.Module | None, **flags: Any) -> Any:
    """A ``BadGaussiansModel`` made without ``__init__`` (which needs nerfstudio), with the attributes that
    ``get_outputs`` and ``get_loss_dict`` read; the gsplat calls of ``get_outputs`` bound to blank stand-ins."""
    mod = off["model"]
    mod.project_gaussians, mod.rasterize_gaussians = _blank_projection, _blank_raster
    try:
        from pytorch_msssim import SSIM  # reason: splatfacto's SSIM, an optional oracle of this script only
    except ImportError:
        raise SystemExit(
            "official_parity.py: pytorch_msssim is not importable (splatfacto's SSIM); "
            "pip install pytorch-msssim==1.0.0 (the plugin's test extra)"
        ) from None
    cam_cls = sys.modules["nerfstudio.cameras.cameras"].Cameras
    m = object.__new__(mod.BadGaussiansModel)
    m.config = SimpleNamespace(
        use_scale_regularization=True, max_gauss_ratio=10.0, ssim_lambda=0.2, background_color="black",
        sh_degree=0, sh_degree_interval=1000, rasterize_mode="antialiased",
    )  # fmt: skip
    m.ssim = SSIM(data_range=1.0, size_average=True, channel=3)
    m.training, m.device, m.crop_box, m.step = True, "cpu", None, 0
    m.spike_net = spike_net
    m.use_3dgs, m.use_spike = True, True
    m.use_flip, m.use_multi_net, m.use_multi_reblur = True, False, True
    m.weight_3dgs = m.weight_spike = m.weight_joint = 1
    m.spike_in_length, m.voxel_in_length = 41, 34
    m._get_downscale_factor = lambda: 1
    n = 4
    g = torch.Generator().manual_seed(9)
    m.means, m.scales = torch.randn(n, 3, generator=g, dtype=D), torch.randn(n, 3, generator=g, dtype=D)
    m.quats, m.opacities = torch.randn(n, 4, generator=g, dtype=D), torch.randn(n, 1, generator=g, dtype=D)
    m.features_dc, m.features_rest = torch.rand(n, 3, dtype=D), torch.zeros(n, 15, 3, dtype=D)
    for k, v in flags.items():
        setattr(m, k, v)

    def apply_to_camera(_camera: Any, mode: str) -> list[_Camera]:
        return [_Camera() for _ in range(m.num_views if mode == "uniform" else 1)]

    m.camera_optimizer = SimpleNamespace(apply_to_camera=apply_to_camera)
    m.camera = cam_cls()
    m.camera.shape = (1,)
    return m


def spike_clip(seed: int) -> Tensor:
    """A 177-frame float64 spike clip of random moving grey frames (the zoo simulator, noise on)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(1, H, W, generator=g)
    frames = (base + 0.3 * torch.sin(torch.linspace(0, 3, 177))[:, None, None]).clamp(0, 1)
    return sc.simulate_spikes(frames, generator=g).to(D)


def compare_recon(off: dict[str, ModuleType | None], multi: bool) -> bool:
    """``get_outputs``' reconstructions and visual TFPs vs the zoo Recon-Net; gradients of a random function."""
    name = "usp_multi_spkrecon" if multi else "usp_spkrecon"
    net_cls = off["network"].Multi_SpkRecon_Net if multi else off["network"].SpkRecon_Net
    net = (net_cls(input_dim=41, voxel_dim=34) if multi else net_cls(input_dim=41)).to(D)
    sd = randomise_state_dict(net.state_dict(), seed=0)
    net.load_state_dict(sd)
    zm = zoo.create_model(name).to(D)
    zm.load_state_dict(zoo.from_official(name, sd), strict=True)
    clip = spike_clip(1)
    diffs: dict[str, float] = {}
    active: list[float] = []
    for views, mode in ((13, "uniform"), (7, "uniform"), (1, "mid")):
        m = official_model(off, net, use_multi_net=multi, num_views=views)
        net.zero_grad()
        zm.zero_grad()
        out = m.get_outputs(m.camera, mode=mode, spike=clip)
        centres = view_centers(views) if mode == "uniform" else [88]
        rec_o = out["virtual_views_recon"]  # [V, H, W, 3]
        rec_z = zm.reconstruct_views(clip[None], centres)[:, 0, 0, :, :, None].expand(-1, -1, -1, 3)
        up = torch.randn(rec_o.shape, generator=torch.Generator().manual_seed(views), dtype=D)
        (rec_o * up).sum().backward()
        (rec_z * up).sum().backward()
        tfp_z = torch.stack([sc.visual_tfp(clip, c) for c in centres])[..., None].expand(-1, -1, -1, 3)
        label = f"V={views} {mode}"
        diffs[f"{label}: reconstructions"] = max_abs_diff(rec_o, rec_z)
        diffs[f"{label}: param grads (rel)"] = grad_diff(net, zm, relative=True)
        diffs[f"{label}: visual TFP"] = max_abs_diff(out["virtual_views_tfp"], tfp_z)
        with torch.no_grad():
            stem = zm.convBlock1 if not multi else zm.preprocess_spk
            active.append(float((stem(clip[None, 68:109]) > 0).double().mean()))
    rates = {"spike clip rate": float(clip.mean()), "first-stem ReLU active fraction": min(active)}
    return report(f"{name}: get_outputs' Recon-Net half vs the zoo (float64)", diffs, rates, TOL)


# ---------------------------------------------------------------------------------------------- losses
def _loss_inputs(views: int, flipped: bool, seed: int) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    rec = torch.rand(views, H, W, 3, generator=g, dtype=D)
    noise = 0.05 * torch.randn(views, H, W, 3, generator=g, dtype=D)
    img = (rec.flip(0) if flipped else rec) + noise
    return {
        "rec": rec,
        "img": img,
        "scales": torch.randn(50, 3, generator=g, dtype=D) * 1.5,
        "spike": spike_clip(seed),
    }


def _leaves(t: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.clone().requires_grad_(k != "spike") for k, v in t.items()}


def _grad_diff(a: Tensor, b: Tensor) -> float:
    """:func:`max_abs_diff` of two leaves' gradients; 0 when neither has one, ``inf`` when only one has."""
    if a.grad is None or b.grad is None:
        return 0.0 if a.grad is None and b.grad is None else math.inf
    return max_abs_diff(a.grad, b.grad)


def compare_losses(off: dict[str, ModuleType | None]) -> bool:
    """``get_loss_dict`` vs the zoo's losses, values and gradients (module docstring)."""
    diffs: dict[str, float] = {}
    branches = set()
    for views in (13, 7):
        for multi_reblur in (True, False):
            for step, flipped in ((10, False), (11, True)):
                base = _loss_inputs(views, flipped, seed=100 + views + step)
                a, b = _leaves(base), _leaves(base)
                m = official_model(off, None, use_multi_reblur=multi_reblur, num_cam=views, step=step)
                m.scales = a["scales"]
                tfp97 = sc.long_tfp(a["spike"])[..., None].expand(H, W, 3)
                outputs = {
                    "rgb": a["img"].mean(0),
                    "virtual_views_img": a["img"],
                    "virtual_views_recon": a["rec"],
                    "spike_blur": a["rec"].mean(0),
                }
                lo = m.get_loss_dict(outputs, {"image": tfp97, "spike": a["spike"]}, step=step)
                spike_z = (
                    zl.spike_reblur_loss(b["spike"], b["rec"])
                    if multi_reblur
                    else zl.loss_3dgs(b["rec"].mean(0), tfp97)
                )
                lz = {
                    "scale_reg_loss": zl.scale_regulariser(b["scales"], step),
                    "3dgs_reblur_loss": zl.loss_3dgs(b["img"].mean(0), tfp97),
                    "spike_reblur_loss": spike_z,
                    "3dgs_spike_loss": zl.joint_loss(b["img"], b["rec"]),
                }
                if set(lo) != set(lz):
                    raise SystemExit(
                        f"official_parity.py: get_loss_dict returned {sorted(lo)}, expected {sorted(lz)}"
                    )
                fwd = float(zl.l1(b["img"], b["rec"]).detach())
                branches.add(
                    "forward" if math.isclose(float(lz["3dgs_spike_loss"].detach()), fwd) else "flipped"
                )
                label = f"V={views} step {step} multi_reblur={multi_reblur}"
                diffs[f"{label}: losses"] = max(
                    abs(float(lo[k].detach()) - float(lz[k].detach())) for k in lo
                )
                sum(lo.values()).backward()
                sum(lz.values()).backward()
                diffs[f"{label}: grads"] = max(_grad_diff(a[k], b[k]) for k in ("rec", "img", "scales"))
    if branches != {"forward", "flipped"}:
        raise SystemExit(f"official_parity.py: the L_joint cases reached only {branches} of the minimum")
    title = "get_loss_dict vs the zoo losses (float64; both L_joint branches, L_scale on and off)"
    return report(title, diffs, {}, TOL, require_firing=False)


# ---------------------------------------------------------------------------------------------- spike camera
def compare_camera(off: dict[str, ModuleType | None]) -> bool:
    """Simulator (same seed), ``.dat`` writer/reader and ``middleTFI`` (module docstring)."""
    us, su = off["simulator"], off["spike_utils"]
    g = torch.Generator().manual_seed(5)
    frames = torch.rand(177, H, W, generator=g)  # float32: the official simulator's dtype
    torch.manual_seed(7)
    plain_o = us.SimulationSimple_Video(frames)
    torch.manual_seed(7)
    plain_z = sc.simulate_spikes(frames, noise=False)
    torch.manual_seed(8)
    s = us.SimulationSimple_Video(frames)
    noise = us.Inherent_Noise_fast_torch(s.shape[0], H=s.shape[1], W=s.shape[2])
    noisy_o = torch.bitwise_or(s.permute((1, 2, 0)), noise).permute((2, 0, 1))
    torch.manual_seed(8)
    noisy_z = sc.simulate_spikes(frames)
    diffs = {
        "simulator, noise off: spikes differing": float((plain_o != plain_z).sum()),
        "simulator, noise on: spikes differing": float((noisy_o != noisy_z).sum()),
    }
    with tempfile.TemporaryDirectory() as tmp:
        po, pz = Path(tmp) / "official.dat", Path(tmp) / "zoo.dat"
        us.SpikeToRaw(str(po), noisy_o.numpy())
        sc.write_dat(pz, noisy_z)
        diffs[".dat bytes differing"] = float(po.read_bytes() != pz.read_bytes())
        back_o = torch.from_numpy(us.load_vidar_dat(str(po), width=W, height=H))
        diffs[".dat read (load_vidar_dat vs read_dat)"] = max_abs_diff(back_o, sc.read_dat(po, H, W).float())
    clip = noisy_z.float()[None]
    for middle, window in ((88, 20), (3, 20), (170, 20), (88, 1)):
        diffs[f"middleTFI({middle}, {window})"] = max_abs_diff(
            su.middleTFI(clip, middle, window), sc.middle_tfi(clip, middle, window)
        )
    rates = {
        "spike rate, noise off": float(plain_z.float().mean()),
        "spike rate, noise on": float(clip.mean()),
    }
    return report("spike camera: simulator (same seed), .dat, middleTFI", diffs, rates, TOL)


def compare_se3(off: dict[str, ModuleType | None]) -> bool:
    """pypose-based official interpolation vs the zoo's (forward values, float64)."""
    import pypose as pp  # reason: the official trajectory's LieTensors; optional dependency of this script only

    sf = off["spline"]
    g = torch.Generator().manual_seed(11)
    knots = pp.se3(torch.randn(5, 2, 6, generator=g, dtype=D) * 0.5).Exp()
    diffs = {}
    for views in (13, 7):
        u = torch.linspace(0, 1, views, dtype=D)
        diffs[f"linear_interpolation, V={views}"] = max_abs_diff(
            sf.linear_interpolation(knots, u).tensor(), zse3.interpolate_linear(knots.tensor(), u)
        )
    diffs["linear_interpolation_mid"] = max_abs_diff(
        sf.linear_interpolation_mid(knots).tensor(), zse3.interpolate_mid(knots.tensor())
    )
    return report("SE(3) trajectory (spline_functor, pypose) vs se3", diffs, {}, TOL, require_firing=False)


CONFIGS: dict[str, Callable[[dict[str, ModuleType | None]], bool]] = {
    "recon usp_spkrecon": lambda off: compare_recon(off, multi=False),
    "recon usp_multi_spkrecon": lambda off: compare_recon(off, multi=True),
    "losses": compare_losses,
    "camera": compare_camera,
    "se3": compare_se3,
}


def main(argv: list[str] | None = None) -> int:
    global TOL
    args = parse_parity_args(argv, __doc__, REQUIRED)
    TOL = TOL if args.tol is None else args.tol
    torch.set_num_threads(1)
    off = import_official(args.official_dir)
    t0 = time.time()
    ok = True
    for name, run in CONFIGS.items():
        if not wanted(args, name):
            continue
        if name == "se3" and off["spline"] is None:
            print("== se3: SKIPPED (pypose is not importable; pip install pypose==0.9.5)", flush=True)
            continue
        ok &= run(off)
    print(f"{'ALL PASS' if ok else 'FAILED'} in {time.time() - t0:.0f} s (tolerance {TOL:g})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
