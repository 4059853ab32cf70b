r"""Event-camera data: events to frames, and CIFAR10-DVS from a local folder (nothing is downloaded).

Events are four arrays of equal length :math:`N` sorted by time: timestamps ``t``, columns ``x``, rows ``y``
and polarities ``p`` (0 = OFF, 1 = ON). :func:`events_to_frames` integrates them into :math:`M` two-channel
frames as SpikingJelly's ``split_by`` modes do (the convention of every DVS result in the group's papers):

* ``split_by="number"``: equal event counts. Slice :math:`j` holds events
  :math:`[\lfloor N/M \rfloor j,\ \lfloor N/M \rfloor (j+1))`, the last slice running to :math:`N`.
* ``split_by="time"``: equal durations :math:`\Delta = \lfloor (t_{N-1} - t_0) / M \rfloor`; slice :math:`j`
  holds the events with :math:`t_0 + \Delta j \le t < t_0 + \Delta (j+1)`, the last slice running to :math:`N`.

and :math:`F_j(p, y, x) = \#\{i \in \text{slice } j : (p_i, y_i, x_i) = (p, y, x)\}` (event counts, not
clipped).

:func:`cifar10_dvs` reads CIFAR10-DVS (Li et al. 2017; 10,000 recordings at 128x128, 1,000 per class) from a
folder ``root/<class>/<recording>.npz`` holding either integrated frames (key ``frames``, ``[M, 2, H, W]``,
SpikingJelly's ``frames_number_<M>_split_by_number`` folder) or events (keys ``t``, ``x``, ``y``, ``p``,
SpikingJelly's ``events_np`` folder), integrated here. The split and preprocessing follow the official LM-HT
code (``dataprocess.build_dvscifar``): classes in sorted order, recordings sorted by file name; per class the
first 90 % train, the last 10 % test, taken from the end backwards; frames resized to 48x48 with bilinear
interpolation (torchvision's ``Resize``, antialiased). Items are ``(frames [M, 2, 48, 48] float32, label)``;
zoo models take time first, so batch them with :func:`collate_time_first` (``[M, B, 2, 48, 48]``), which the
dataset also exposes as ``collate_fn``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import ConfigError, InputError

__all__ = ["CIFAR10_DVS_CLASSES", "EventFrameFolder", "cifar10_dvs", "collate_time_first", "events_to_frames"]

CIFAR10_DVS_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def _slices(t: np.ndarray, frames: int, split_by: str) -> list[tuple[int, int]]:
    n = t.size
    if split_by == "number":
        d = n // frames
        bounds = [(j * d, (j + 1) * d) for j in range(frames)]
    elif split_by == "time":
        if n == 0:
            return [(0, 0)] * frames
        dt = (int(t[-1]) - int(t[0])) // frames
        edges = [int(t[0]) + dt * j for j in range(frames + 1)]
        lo = np.searchsorted(t, edges[:-1], side="left")
        hi = np.searchsorted(t, edges[1:], side="left")
        bounds = [(int(a), int(b)) for a, b in zip(lo, hi)]
    else:
        raise ConfigError(f"events_to_frames: split_by must be 'number' or 'time', got {split_by!r}")
    bounds[-1] = (bounds[-1][0], n)
    return bounds


def events_to_frames(
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    p: np.ndarray,
    frames: int,
    height: int,
    width: int,
    split_by: Literal["number", "time"] = "number",
) -> np.ndarray:
    """Integrate events into ``[frames, 2, height, width]`` float32 event counts (see the module docstring)."""
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ConfigError(f"events_to_frames: frames must be an integer >= 1, got {frames!r}")
    t, x, y, p = (np.asarray(a).reshape(-1) for a in (t, x, y, p))
    if not t.size == x.size == y.size == p.size:
        raise InputError(
            f"events_to_frames: t, x, y, p differ in length ({t.size}, {x.size}, {y.size}, {p.size})"
        )
    if t.size and (np.any(np.diff(t) < 0)):
        raise InputError("events_to_frames: timestamps t must be sorted (non-decreasing)")
    if t.size and (x.min() < 0 or x.max() >= width or y.min() < 0 or y.max() >= height):
        raise InputError(
            f"events_to_frames: an event lies outside the {height}x{width} sensor (x or y out of range)"
        )
    if t.size and not np.isin(p, (0, 1)).all():
        raise InputError("events_to_frames: polarity p must be 0 or 1")
    out = np.zeros((frames, 2, height, width), dtype=np.float32)
    flat = (p.astype(np.int64) * height + y.astype(np.int64)) * width + x.astype(np.int64)
    for j, (lo, hi) in enumerate(_slices(t, frames, split_by)):
        # bincount, not `+=` on fancy indices: repeated pixels within a slice must all count
        counts = np.bincount(flat[lo:hi], minlength=2 * height * width)
        out[j] = counts.reshape(2, height, width)
    return out


def collate_time_first(batch: Sequence[tuple[Tensor, Any]]) -> tuple[Tensor, Tensor]:
    """Stack ``(frames [M, ...], label)`` items into ``([M, B, ...], labels [B])`` (zoo models are time first)."""
    xs = torch.stack([b[0] for b in batch], dim=1)
    return xs, torch.as_tensor([int(b[1]) for b in batch], dtype=torch.int64)


class EventFrameFolder(Dataset):
    """``root/<class>/<recording>.npz`` as ``(frames [M, 2, S, S] float32, label)``; see the module docstring.

    Args:
        root: the folder of class sub-folders.
        frames: number of frames ``M`` (checked against stored frames; used to integrate events).
        img_size: output side ``S`` (bilinear, antialiased resize; ``None`` keeps the sensor size).
        split_by: how events are sliced (``"number"`` or ``"time"``); stored frames are used as they are.
        sensor_size: ``(height, width)`` of the sensor, for event files.
        indices: the subset of the sorted recordings to expose, in this order (default: all).
    """

    collate_fn = staticmethod(collate_time_first)

    def __init__(
        self,
        root: str | Path,
        frames: int = 10,
        img_size: int | None = 48,
        split_by: Literal["number", "time"] = "number",
        sensor_size: tuple[int, int] = (128, 128),
        indices: Sequence[int] | None = None,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(
                f"{root}: not a folder; expected <root>/<class>/<recording>.npz (SpikingJelly's "
                "frames_number_<M>_split_by_number/ or events_np/ folder of the data set)"
            )
        self.classes = sorted(d.name for d in root.iterdir() if d.is_dir())
        if not self.classes:
            raise FileNotFoundError(f"{root}: no class sub-folders")
        self.samples = [
            (f, c) for c, name in enumerate(self.classes) for f in sorted((root / name).glob("*.npz"))
        ]
        self.indices = list(range(len(self.samples))) if indices is None else [int(i) for i in indices]
        self.frames, self.img_size, self.split_by, self.sensor_size = frames, img_size, split_by, sensor_size

    def __len__(self) -> int:
        return len(self.indices)

    def load(self, path: Path) -> np.ndarray:
        """The ``[M, 2, H, W]`` frames of one recording (stored, or integrated from its events)."""
        with np.load(path, allow_pickle=False) as z:
            if "frames" in z:
                fr = np.asarray(z["frames"], dtype=np.float32)
                if fr.ndim != 4 or fr.shape[0] != self.frames or fr.shape[1] != 2:
                    raise InputError(
                        f"{path}: frames have shape {fr.shape}; expected [{self.frames}, 2, H, W]"
                    )
                return fr
            if not {"t", "x", "y", "p"} <= set(z.files):
                raise InputError(
                    f"{path}: holds {z.files}; expected 'frames' or the events 't', 'x', 'y', 'p'"
                )
            return events_to_frames(
                z["t"], z["x"], z["y"], z["p"], self.frames, *self.sensor_size, self.split_by
            )

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        path, label = self.samples[self.indices[index]]
        x = torch.from_numpy(self.load(path))
        if self.img_size is not None and x.shape[-2:] != (self.img_size, self.img_size):
            from torchvision.transforms.functional import resize  # torchvision loads only to resize frames

            m = x.shape[0]
            x = resize(x.flatten(0, 1), [self.img_size, self.img_size], antialias=True).unflatten(0, (m, 2))
        return x, label


def cifar10_dvs(
    root: str | Path,
    split: Literal["train", "test", "all"] = "train",
    frames: int = 10,
    img_size: int = 48,
    split_by: Literal["number", "time"] = "number",
    train_fraction: float = 0.9,
) -> EventFrameFolder:
    """CIFAR10-DVS from a local folder, split per class as the official LM-HT code does (module docstring)."""
    if split not in ("train", "test", "all"):
        raise ConfigError(f"cifar10_dvs: split must be 'train', 'test' or 'all', got {split!r}")
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError(f"cifar10_dvs: train_fraction must be in (0, 1), got {train_fraction!r}")
    full = EventFrameFolder(root, frames, img_size, split_by)
    if split == "all":
        return full
    per_class = [sum(1 for _, c in full.samples if c == k) for k in range(len(full.classes))]
    if len(set(per_class)) != 1:
        raise InputError(
            f"{root}: classes hold {per_class} recordings; the official split needs the same number per class"
        )
    n = per_class[0]
    n_train = int(n * train_fraction)
    n_test = int(n * round(1.0 - train_fraction, 12))
    idx: list[int] = []
    for k in range(len(full.classes)):
        base = k * n
        if split == "train":
            idx += [base + i for i in range(n_train)]
        else:  # the official DatasetSplitter counts test recordings from the end of each class
            idx += [base + n - 1 - i for i in range(n_test)]
    return EventFrameFolder(root, frames, img_size, split_by, indices=idx)
