"""Registered data sets of spike-camera clips with ground truth: the synthetic demo scene and the real recordings
shipped by the ``spikezoo`` package (fetched once with ``pip download``; its code is never imported).

Each sample is ``(clip, gt)``: ``clip`` ``[177, H, W]`` float32 spike frames, ``gt`` ``[1, H, W]`` the grey ground
truth in [0, 1] at the clip's middle (frame 88). The synthetic data set also carries its scene (cameras, poses,
point cloud) as ``data.scene`` for the joint optimisation.
"""

from __future__ import annotations

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset
from zoo_core.sdk import ConfigError, InputError

from .png import read_png
from .scene import SpikeScene, make_synthetic_scene
from .spike_camera import CLIP_FRAMES, centre_crop, read_dat

__all__ = [
    "SPIKEZOO_VERSION",
    "RealClips",
    "SceneClips",
    "fetch_spikezoo",
    "spikezoo_root",
    "synthetic_scene",
    "synthetic_scene_tiny",
]

#: the spikezoo release whose real 250 x 400 recordings are read
SPIKEZOO_VERSION = "0.2.3.7"
#: SHA-256 of spikezoo-0.2.3.7-py3-none-any.whl on PyPI (checked before anything is extracted)
SPIKEZOO_SHA256 = "4dc7cb47e09f061e8023a3092de3b1bf937a72be32700547d9ed27089551e855"
#: seconds the download may take
FETCH_TIMEOUT = 600
#: real recordings: 250 x 400 pixels
REAL_HEIGHT, REAL_WIDTH = 250, 400


class SceneClips(Dataset):
    """The views of a :class:`~zoo_usp_gaussian.scene.SpikeScene` as ``(clip, gt)`` samples."""

    def __init__(self, scene: SpikeScene):
        if any(v.gt is None for v in scene.views):
            raise InputError("SceneClips: every view needs its ground-truth image")
        self.scene = scene

    def __len__(self) -> int:
        return len(self.scene.views)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        v = self.scene.views[i]
        assert v.gt is not None
        return v.clip.to(torch.float32), v.gt[None].to(torch.float32)


@functools.lru_cache(maxsize=4)
def _scene(seed: int, num_views: int, size: int, num_gaussians: int) -> SpikeScene:
    return make_synthetic_scene(seed=seed, num_views=num_views, size=size, num_gaussians=num_gaussians)


def synthetic_scene(
    split: str = "train", seed: int = 0, num_views: int = 8, size: int = 32, num_gaussians: int = 300
) -> SceneClips:
    """The demo scene (:func:`~zoo_usp_gaussian.scene.make_synthetic_scene`). As in the paper's protocol the
    evaluation views are the training views (restoration of the training trajectories at mid-exposure), so
    ``split`` ``"train"`` and ``"test"`` hold the same views."""
    if split not in ("train", "test"):
        raise ConfigError(f"usp_synthetic_scene: split must be 'train' or 'test', got {split!r}")
    return SceneClips(_scene(seed, num_views, size, num_gaussians))


def synthetic_scene_tiny(split: str = "train", seed: int = 0) -> SceneClips:
    """A 2-view, 16 x 16, 40-Gaussian version of the demo scene (smoke runs and tests: built in seconds)."""
    return synthetic_scene(split, seed=seed, num_views=2, size=16, num_gaussians=40)


# ---------------------------------------------------------------------------------------------- real data
def spikezoo_root() -> Path:
    """Where the spikezoo recordings live: ``$ZOO_SPIKEZOO_ROOT``, else ``~/.cache/zoo/spikezoo-<version>``."""
    env = os.environ.get("ZOO_SPIKEZOO_ROOT")
    return Path(env) if env else Path.home() / ".cache" / "zoo" / f"spikezoo-{SPIKEZOO_VERSION}"


def fetch_spikezoo(root: str | os.PathLike[str] | None = None, *, quiet: bool = True) -> Path:
    """Download the spikezoo wheel with ``pip download --no-deps`` (PyPI, at most :data:`FETCH_TIMEOUT` s),
    check its SHA-256 (:data:`SPIKEZOO_SHA256`) and extract only its real recordings
    (``data/base/{train,test}/{spike,gt}``) to ``root`` (default :func:`spikezoo_root`). The files are written
    to a temporary sibling folder that is renamed into place when complete, so an interrupted fetch leaves no
    partial folder. Returns ``root``; does nothing when they are already there."""
    root = Path(root) if root is not None else spikezoo_root()
    if (root / "test" / "spike").is_dir() and any((root / "test" / "spike").glob("*.dat")):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory(dir=root.parent) as stage:
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            f"spikezoo=={SPIKEZOO_VERSION}",
            "-d",
            tmp,
        ]
        if quiet:
            cmd.append("-q")
        try:
            subprocess.run(cmd, check=True, timeout=FETCH_TIMEOUT)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(f"could not download spikezoo=={SPIKEZOO_VERSION} from PyPI ({exc})") from None
        wheel = next(Path(tmp).glob("spikezoo-*.whl"))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != SPIKEZOO_SHA256:
            raise ConfigError(
                f"{wheel.name}: SHA-256 {digest} is not the expected {SPIKEZOO_SHA256}; refusing to use it"
            )
        done = Path(stage) / "data"
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                parts = name.split("/")
                if parts[:3] == ["spikezoo", "data", "base"] and name.endswith((".dat", ".png")):
                    if any(p in ("", ".", "..") for p in parts[3:]):
                        continue  # nothing outside the data folder
                    dest = done.joinpath(*parts[3:])
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    dest.write_bytes(z.read(name))
        if root.exists():  # an earlier, incomplete fetch
            shutil.rmtree(root)
        os.replace(done, root)
    return root


class RealClips(Dataset):
    """Real spike-camera recordings (250 x 400, 301 frames) with ground-truth images from the spikezoo package:
    the 177 frames around the middle of each recording (the official crop) and the grey ground truth / 255.
    ``crop`` = ``(top, left, height, width)`` keeps a window of the images (``None``: whole frames)."""

    def __init__(self, root: Path, split: str, crop: tuple[int, int, int, int] | None = None):
        self.spikes = sorted((root / split / "spike").glob("*.dat"))
        self.gts = [root / split / "gt" / (p.stem + ".png") for p in self.spikes]
        if not self.spikes:
            raise InputError(
                f"spikezoo_base: no recordings under {root / split / 'spike'}; fetch them once with "
                "`python plugins/usp_gaussian/scripts/fetch_spikezoo.py` (pip download of spikezoo, its data only) "
                "or set ZOO_SPIKEZOO_ROOT"
            )
        missing = [str(p) for p in self.gts if not p.is_file()]
        if missing:
            raise InputError(f"spikezoo_base: ground truth missing for {missing}")
        if crop is not None and (len(crop) != 4 or min(crop) < 0 or crop[2] < 1 or crop[3] < 1):
            raise ConfigError(f"spikezoo_base: crop must be (top, left, height, width), got {crop!r}")
        self.crop = tuple(crop) if crop is not None else None
        self.names = [p.stem for p in self.spikes]

    def __len__(self) -> int:
        return len(self.spikes)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor]:
        clip = centre_crop(read_dat(self.spikes[i], REAL_HEIGHT, REAL_WIDTH), CLIP_FRAMES).to(torch.float32)
        gt = read_png(self.gts[i]).to(torch.float32) / 255
        if gt.dim() == 3:  # colour ground truth: grey as OpenCV's BGR2GRAY weights
            gt = gt[..., 0] * 0.299 + gt[..., 1] * 0.587 + gt[..., 2] * 0.114
        if self.crop is not None:
            t, left, h, w = self.crop
            clip, gt = clip[:, t : t + h, left : left + w], gt[t : t + h, left : left + w]
        return clip, gt[None]


def spikezoo_base(split: str = "test", crop: list[int] | None = None) -> RealClips:
    """Real recordings of spikezoo's ``base`` set (``split`` ``"train"``: 2, ``"test"``: 3 clips)."""
    if split not in ("train", "test"):
        raise ConfigError(f"spikezoo_base: split must be 'train' or 'test', got {split!r}")
    return RealClips(spikezoo_root(), split, tuple(crop) if crop is not None else None)
