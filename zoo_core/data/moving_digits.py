r"""Moving digits: the Moving MNIST generator's rules on scikit-learn's 8x8 digits (offline, no download).

The rules are those of OpenSTL's Moving MNIST generator (Srivastava et al. 2015, as used by the STC paper's
code), with scikit-learn's ``load_digits`` images in place of MNIST:

* canvas ``S x S`` (``canvas``), black background; ``num_digits`` digits per sequence (2), each an 8x8 image
  up-sampled by nearest neighbour (``np.kron``) by ``digit_scale`` to ``D x D`` and divided by 16 (values in
  [0, 1]); the digit image is drawn uniformly from the split's images, independently per digit;
* per digit, a position :math:`(x, y) \sim U[0,1)^2` in normalised coordinates and a direction
  :math:`\theta \sim U[0, 2\pi)`; every frame first moves
  :math:`x \mathrel{+}= b_x \cos\theta \cdot \ell`, :math:`y \mathrel{+}= b_y \sin\theta \cdot \ell`
  (:math:`\ell` = ``step_length`` = 0.1, :math:`b_x = b_y = 1` at the start) and then bounces: a coordinate
  :math:`\le 0` is set to 0 and :math:`\ge 1` to 1, and its sign flag :math:`b` flips;
* the digit's top-left pixel is ``(int((S - D) * y), int((S - D) * x))`` (truncation), so the digit always lies
  inside the canvas; overlapping digits combine by pixel-wise maximum.

Digit images are split by index (the first ``train_digits`` for ``train``, the rest for ``test``), so test
sequences show digit images never seen in training. Sample ``i`` of a split is generated from its own random
stream ``numpy.random.default_rng([seed, split_id, i])``: the same arguments always give the same frames, in any
order of access and with any number of DataLoader workers.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import ConfigError

__all__ = ["MovingDigits", "digit_images", "random_trajectory", "render_sequence"]

_SPLITS = {"train": 0, "test": 1}


@functools.lru_cache(maxsize=4)
def digit_images(scale: int) -> np.ndarray:
    """scikit-learn's 1,797 digits up-sampled by ``scale`` (nearest neighbour) as ``[N, 8s, 8s]`` in [0, 1].

    Cached and read-only (shared by every data set built with the same scale).
    """
    from sklearn.datasets import load_digits  # scikit-learn loads only when the data set is built

    imgs = load_digits().images.astype(np.float32) / 16.0
    out = np.stack([np.kron(im, np.ones((scale, scale), dtype=np.float32)) for im in imgs])
    out.flags.writeable = False
    return out


def random_trajectory(
    rng: np.random.Generator, n_frames: int, step_length: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One digit's normalised positions ``x[t], y[t]`` in [0, 1] and its direction ``theta``.

    Draws ``x, y, theta`` (in that order) from ``rng``; frame ``t`` is the position after ``t + 1`` moves.
    """
    x, y = rng.random(), rng.random()
    theta = rng.random() * 2 * np.pi
    vx, vy = np.cos(theta), np.sin(theta)
    bx = by = 1.0
    xs, ys = np.zeros(n_frames), np.zeros(n_frames)
    for t in range(n_frames):
        y += by * vy * step_length
        x += bx * vx * step_length
        if x <= 0:
            x, bx = 0.0, -bx
        if x >= 1.0:
            x, bx = 1.0, -bx
        if y <= 0:
            y, by = 0.0, -by
        if y >= 1.0:
            y, by = 1.0, -by
        xs[t], ys[t] = x, y
    return xs, ys, np.array(theta)


def render_sequence(
    rng: np.random.Generator,
    images: np.ndarray,
    n_frames: int,
    canvas: int,
    num_digits: int = 2,
    step_length: float = 0.1,
) -> np.ndarray:
    """``[n_frames, canvas, canvas]`` float32 frames of ``num_digits`` bouncing digits drawn from ``images``."""
    d = images.shape[-1]
    out = np.zeros((n_frames, canvas, canvas), dtype=np.float32)
    for _ in range(num_digits):
        xs, ys, _theta = random_trajectory(rng, n_frames, step_length)
        img = images[int(rng.integers(len(images)))]
        tops = ((canvas - d) * ys).astype(np.int32)
        lefts = ((canvas - d) * xs).astype(np.int32)
        for t in range(n_frames):
            r, c = tops[t], lefts[t]
            np.maximum(out[t, r : r + d, c : c + d], img, out=out[t, r : r + d, c : c + d])
    return out


class MovingDigits(Dataset):
    """Moving-digits sequences as ``(input [T_in, 1, S, S], target [T_out, 1, S, S])`` float32 in [0, 1]
    (registered as the data set ``moving_digits``; see the module docstring). ``config`` holds the arguments
    (recorded in weight cards).

    Args:
        split: ``train`` (digit images ``[:train_digits]``, 10,000 sequences by default) or ``test`` (the other
            images, 256 sequences by default).
        num_samples: sequences in the split.
        canvas, digit_scale: canvas side ``S`` and up-sampling of the 8x8 digits (32 and 2: 16-px digits;
            Moving-MNIST-like 64 and 3: 24-px digits).
        num_digits, step_length: digits per sequence and move per frame in normalised units (official 2, 0.1).
        pre_seq_length, aft_seq_length: input and target frames.
        seed: random seed of the split (with the sample index it fixes every sample).
        train_digits: images reserved for training (the rest of the 1,797 are test digits).
    """

    def __init__(
        self,
        split: Literal["train", "test"] = "train",
        num_samples: int | None = None,
        canvas: int = 32,
        digit_scale: int = 2,
        num_digits: int = 2,
        pre_seq_length: int = 5,
        aft_seq_length: int = 5,
        step_length: float = 0.1,
        seed: int = 0,
        train_digits: int = 1500,
    ) -> None:
        if split not in _SPLITS:
            raise ConfigError(f"moving_digits: split must be 'train' or 'test', got {split!r}")
        for name, v in (
            ("canvas", canvas),
            ("digit_scale", digit_scale),
            ("num_digits", num_digits),
            ("pre_seq_length", pre_seq_length),
            ("aft_seq_length", aft_seq_length),
            ("train_digits", train_digits),
        ):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"moving_digits: {name} must be a positive integer, got {v!r}")
        if 8 * digit_scale > canvas:
            raise ConfigError(
                f"moving_digits: the digit ({8 * digit_scale} px = 8 x digit_scale) must fit on the canvas "
                f"({canvas} px); lower digit_scale or enlarge the canvas"
            )
        if not 0 < train_digits < 1797:
            raise ConfigError(
                f"moving_digits: train_digits must be in 1..1796 (1,797 images), got {train_digits}"
            )
        if not (isinstance(step_length, int | float) and 0 < step_length <= 1):
            raise ConfigError(f"moving_digits: step_length must be in (0, 1], got {step_length!r}")
        if num_samples is None:
            num_samples = 10_000 if split == "train" else 256
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise ConfigError(f"moving_digits: num_samples must be a positive integer, got {num_samples!r}")
        self.config: dict[str, Any] = {
            "split": split,
            "num_samples": num_samples,
            "canvas": canvas,
            "digit_scale": digit_scale,
            "num_digits": num_digits,
            "pre_seq_length": pre_seq_length,
            "aft_seq_length": aft_seq_length,
            "step_length": float(step_length),
            "seed": seed,
            "train_digits": train_digits,
        }
        imgs = digit_images(digit_scale)
        self.images = imgs[:train_digits] if split == "train" else imgs[train_digits:]
        self.split_id = _SPLITS[split]

    def __len__(self) -> int:
        return int(self.config["num_samples"])

    def sequence(self, index: int) -> np.ndarray:
        """All ``pre + aft`` frames of sample ``index`` as ``[T, S, S]`` float32."""
        if not 0 <= index < len(self):
            raise IndexError(f"moving_digits: index {index} out of range 0..{len(self) - 1}")
        c = self.config
        rng = np.random.default_rng([int(c["seed"]), self.split_id, int(index)])
        n = c["pre_seq_length"] + c["aft_seq_length"]
        return render_sequence(rng, self.images, n, c["canvas"], c["num_digits"], c["step_length"])

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        seq = torch.from_numpy(self.sequence(int(index))).unsqueeze(1)
        pre = self.config["pre_seq_length"]
        return seq[:pre], seq[pre:]
