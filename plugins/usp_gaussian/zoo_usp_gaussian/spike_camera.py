r"""The spike camera: its integrate-and-fire pixels, the ``.dat`` stream format and the classical TFP / TFI images.

A spike-camera pixel integrates light without leak and fires when its "membrane" passes a threshold; the camera
reads every pixel out at 40 kHz as one binary frame. The simulator is the one USP-Gaussian synthesises its data
with (per pixel, frame intensity :math:`I_t \in [0, 1]`):

.. math::

    v \leftarrow v + G I_t, \qquad s_t = \mathbb{1}[v > V_{th}], \qquad v \leftarrow v \bmod V_{th}
    \text{ where } s_t = 1

with :math:`K = \Delta t\,\eta / (\lambda C_{pd})` (:math:`\Delta t = 2/\mathrm{CLK}`, CLK = 1e7, :math:`\eta` =
1.09e-13, :math:`\lambda` = 1.83e-4, :math:`C_{pd}` = 1.5e-14), gain :math:`G = 250 K \approx 1.985` and
:math:`V_{th} = 4`: a strict threshold, reset by subtraction, no leak, no refractory period. The membrane starts
from one extra frame of uniform noise :math:`g_0 \sim U(0,1)` whose output frame is discarded; the mean firing
rate is :math:`G/V_{th}\, I = 0.4964\, I`, so every image-like quantity derived from spikes lives at about half
intensity (metrics multiply by 2 and clip, :func:`double_clip`). The sensor's inherent noise adds spikes at
the integer positions of a cumulative sum of :math:`\mathcal N(140, 50^2)` draws over the flattened
``[H, W, T]`` volume (about 1 / 140 of all pixel-frames).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor
from zoo_core.sdk import ConfigError, InputError

__all__ = [
    "CLIP_FRAMES",
    "EXPOSURE_FIRST",
    "EXPOSURE_LAST",
    "GAIN",
    "K_SENSOR",
    "MARGIN",
    "V_THRESHOLD",
    "centre_crop",
    "double_clip",
    "gt_grey",
    "inherent_noise",
    "long_tfp",
    "middle_tfi",
    "read_dat",
    "simulate_spikes",
    "spike_grey",
    "tfp",
    "visual_tfp",
    "window_tfp",
    "write_dat",
]

# ---------------------------------------------------------------------------------------------- constants
_V_TH = 4.0
_ETA = 10 ** (-13) * 1.09
_LAMBDA = 10 ** (-4) * 1.83
_C_PD = 10.0 ** (-15) * 15
_CLK = 10.0 ** (6) * 10
_DT = 2 / _CLK
#: the sensor constant K = dt * eta / (lambda * C_pd) (computed in this order, as the official simulator)
K_SENSOR: float = _DT * _ETA / (_LAMBDA * _C_PD)
#: charge added per frame at full intensity, 250 K ~ 1.985
GAIN: float = K_SENSOR * 250
#: firing threshold of the pixel membrane
V_THRESHOLD: float = _V_TH

#: frames per view: 97 frames of "exposure" plus 40 before and 40 after
CLIP_FRAMES = 177
#: margin frames before (and after) the exposure
MARGIN = 40
#: first and last exposure frame (inclusive): the long TFP target averages these 97 frames
EXPOSURE_FIRST, EXPOSURE_LAST = MARGIN, CLIP_FRAMES - MARGIN - 1


# ---------------------------------------------------------------------------------------------- grey levels
def spike_grey(rgb: Tensor) -> Tensor:
    r"""Grey level the simulator integrates: :math:`0.11 B + 0.59 G + 0.3 R` of ``rgb`` ``[..., 3]`` (RGB order,
    values in [0, 1]), summed in that order (the official script reads BGR images and sums channel 0 first)."""
    _check_rgb(rgb, "spike_grey")
    return 0.11 * rgb[..., 2] + 0.59 * rgb[..., 1] + 0.3 * rgb[..., 0]


def gt_grey(rgb: Tensor) -> Tensor:
    r"""Grey ground truth of the evaluation: :math:`\sum_c w_c\,\mathrm{rgb}_c` with
    :math:`w = (0.2989, 0.587, 0.114)` (RGB order), the sum taken over the last dimension of the product."""
    _check_rgb(rgb, "gt_grey")
    w = torch.tensor([0.2989, 0.5870, 0.1140], dtype=rgb.dtype, device=rgb.device)
    return (rgb * w).sum(-1)


def _check_rgb(rgb: Tensor, who: str) -> None:
    if not isinstance(rgb, Tensor) or not rgb.is_floating_point() or rgb.dim() < 1 or rgb.shape[-1] != 3:
        raise InputError(f"{who}: expected a float tensor [..., 3] of RGB values in [0, 1], got {_desc(rgb)}")


def _desc(x: object) -> str:
    return f"{tuple(x.shape)} {x.dtype}" if isinstance(x, Tensor) else type(x).__name__


def double_clip(x: Tensor) -> Tensor:
    """The evaluation convention for images made from spikes: ``clip(2 x, 0, 1)`` (pixels fire at ~I/2)."""
    return (x * 2).clip(0, 1)


# ---------------------------------------------------------------------------------------------- simulator
def inherent_noise(
    T: int,
    H: int,
    W: int,
    *,
    mu: float = 140.0,
    std: float = 50.0,
    gaussian: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""The sensor's inherent-noise mask ``[H, W, T]`` (int16 0/1, time fastest).

    ``gaussian``: the ``H*W*T`` draws of :math:`\mathcal N(\mu, \sigma^2)` (default: drawn now with
    ``torch.normal``, from ``generator`` or the global RNG). Their cumulative sum (in their dtype), kept where it is
    below ``H*W*T - 1`` and truncated to integers, gives the flat positions set to 1 (a negative position indexes
    from the end, as in the official simulator).
    """
    for v, n in ((T, "T"), (H, "H"), (W, "W")):
        if not isinstance(v, int) or v < 1:
            raise ConfigError(f"inherent_noise: {n} must be a positive int, got {v!r}")
    size = H * W * T
    if gaussian is None:
        gaussian = torch.normal(mu, std, size=(size,), generator=generator)
    elif gaussian.shape != (size,) or not gaussian.is_floating_point():
        raise InputError(
            f"inherent_noise: gaussian must be a float tensor [{size}] (H*W*T), got {_desc(gaussian)}"
        )
    noise = torch.zeros(size, dtype=torch.int16)
    keys = torch.cumsum(gaussian, dim=0)
    keys = keys[keys < size - 1].long()
    noise[keys] = 1
    return noise.reshape(H, W, T)


def simulate_spikes(
    frames: Tensor,
    *,
    noise: bool = True,
    g0: Tensor | None = None,
    gaussian: Tensor | None = None,
    generator: torch.Generator | None = None,
    mu: float = 140.0,
    std: float = 50.0,
) -> Tensor:
    r"""Spike frames ``[T, H, W]`` (int16 0/1) of a spike camera watching grey ``frames`` ``[T, H, W]`` in [0, 1].

    The membrane (in the frames' dtype) first integrates :math:`G g_0` (``g0``: default ``torch.rand(H, W)``, the
    frames' dtype, from ``generator`` or the global RNG; its frame is discarded), then for each frame
    :math:`v \leftarrow v + G I_t`; pixels with :math:`v > 4` fire and keep :math:`v \bmod 4`. With ``noise`` the
    inherent-noise mask (:func:`inherent_noise`, drawn after ``g0``, or the given ``gaussian`` draws) is OR-ed in.
    The random draws come in the official order, so ``torch.manual_seed(s); simulate_spikes(frames)`` gives the
    official simulator's spikes for the same seed.
    """
    if not isinstance(frames, Tensor) or frames.dim() != 3 or not frames.is_floating_point():
        raise InputError(f"simulate_spikes: frames must be a float tensor [T, H, W], got {_desc(frames)}")
    if frames.shape[0] < 1:
        raise InputError("simulate_spikes: frames holds no frame (T = 0)")
    if not bool(torch.isfinite(frames).all()):
        raise InputError("simulate_spikes: frames contain NaN or Inf")
    T, H, W = frames.shape
    if g0 is None:
        g0 = torch.rand((H, W), generator=generator, dtype=frames.dtype)
    elif g0.shape != (H, W):
        raise InputError(f"simulate_spikes: g0 must have shape [{H}, {W}], got {_desc(g0)}")
    vol = torch.zeros((H, W), dtype=frames.dtype)
    spikes = torch.zeros((T, H, W), dtype=torch.int16)
    for n in range(T + 1):
        g = g0 if n == 0 else frames[n - 1]
        vol += g * K_SENSOR * 250  # the official order of the products (rounding in the frames' dtype)
        fire = vol > V_THRESHOLD
        if n > 0:
            spikes[n - 1][fire] = 1
        vol[fire] = vol[fire] % V_THRESHOLD
    if noise:
        mask = inherent_noise(T, H, W, mu=mu, std=std, gaussian=gaussian, generator=generator)
        spikes = torch.bitwise_or(spikes.permute(1, 2, 0), mask).permute(2, 0, 1).contiguous()
    return spikes


# ---------------------------------------------------------------------------------------------- .dat files
def _check_spike_size(height: int, width: int, who: str) -> None:
    if not (isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0):
        raise ConfigError(f"{who}: height and width must be positive ints, got {height!r} x {width!r}")
    if (height * width) % 8:
        raise ConfigError(
            f"{who}: a frame of {height} x {width} pixels is not a whole number of bytes (H*W must be a "
            "multiple of 8; the camera's 250x400 and the synthetic 400x600 are)"
        )


def read_dat(
    path: str | os.PathLike[str],
    height: int = 400,
    width: int = 600,
    *,
    frames: int | None = None,
    flip: bool = True,
) -> Tensor:
    """Read a spike-camera ``.dat`` stream as ``[T, height, width]`` uint8 0/1.

    Frames are stored one after another, ``height*width/8`` bytes each; pixel ``p`` (row-major in the stored frame)
    is bit ``p mod 8`` of byte ``p // 8``, least-significant bit first. The camera stores frames upside down; with
    ``flip`` (default) they are flipped back. ``frames``: read only the first ``frames`` (default: all whole frames
    in the file). Defaults: the synthetic 400 x 600; real captures are 250 x 400.
    """
    _check_spike_size(height, width, "read_dat")
    path = Path(path)
    if not path.is_file():
        raise InputError(f"read_dat: {path} is not a file")
    raw = path.read_bytes()
    per_frame = height * width // 8
    count = len(raw) // per_frame
    if frames is not None:
        if not isinstance(frames, int) or frames < 0:
            raise ConfigError(f"read_dat: frames must be a non-negative int, got {frames!r}")
        if frames > count:
            raise InputError(
                f"read_dat: {path} holds {count} frames of {height} x {width}, fewer than the {frames} asked for"
            )
        count = frames
    if count == 0:
        raise InputError(f"read_dat: {path} ({len(raw)} bytes) holds no whole frame of {height} x {width}")
    data = torch.frombuffer(bytearray(raw[: count * per_frame]), dtype=torch.uint8).reshape(count, per_frame)
    shifts = torch.arange(8, dtype=torch.uint8)
    bits = (data.unsqueeze(-1) >> shifts) & 1  # [T, bytes, 8]: bit b of byte k is pixel 8k + b
    out = bits.reshape(count, height, width)
    return out.flip(1).contiguous() if flip else out


def write_dat(path: str | os.PathLike[str], spikes: Tensor, *, flip: bool = True) -> Path:
    """Write ``spikes`` ``[T, H, W]`` (0/1, any dtype) as a ``.dat`` stream (the inverse of :func:`read_dat`:
    frames flipped vertically with ``flip``, 8 pixels per byte, least-significant bit first)."""
    if not isinstance(spikes, Tensor) or spikes.dim() != 3:
        raise InputError(f"write_dat: spikes must be a tensor [T, H, W], got {_desc(spikes)}")
    T, H, W = spikes.shape
    _check_spike_size(H, W, "write_dat")
    s = spikes.detach().cpu()
    if not bool(((s == 0) | (s == 1)).all()):
        raise InputError("write_dat: spikes must hold only 0 and 1")
    s = s.flip(1) if flip else s
    bits = s.to(torch.uint8).reshape(T, H * W // 8, 8)
    data = (bits << torch.arange(8, dtype=torch.uint8)).sum(-1, dtype=torch.uint8)
    path = Path(path)
    path.write_bytes(data.numpy().tobytes())
    return path


def centre_crop(spikes: Tensor, frames: int = CLIP_FRAMES) -> Tensor:
    """The ``frames`` frames around the middle of a long recording ``[T, H, W]``: ``n//2 - frames//2`` ..
    ``n//2 + frames//2`` (real captures are cropped to 177 frames this way)."""
    n = spikes.shape[0]
    if frames < 1 or frames > n:
        raise InputError(f"centre_crop: cannot take {frames} frames from a recording of {n}")
    return spikes[n // 2 - frames // 2 : n // 2 - frames // 2 + frames]


# ---------------------------------------------------------------------------------------------- TFP / TFI
def _time_first(spikes: Tensor, who: str) -> Tensor:
    if not isinstance(spikes, Tensor) or spikes.dim() < 3:
        raise InputError(f"{who}: expected spikes [..., T, H, W], got {_desc(spikes)}")
    return spikes


def tfp(spikes: Tensor, first: int, last: int) -> Tensor:
    r"""Texture from playback: the mean of frames ``first`` .. ``last`` (both inclusive) of ``spikes``
    ``[..., T, H, W]``, as ``[..., H, W]`` (float; the input's dtype if floating, else the default dtype)."""
    s = _time_first(spikes, "tfp")
    T = s.shape[-3]
    if not (0 <= first <= last < T):
        raise InputError(f"tfp: frames {first}..{last} do not lie inside a clip of {T} frames")
    s = s[..., first : last + 1, :, :]
    if not s.is_floating_point():
        s = s.to(torch.get_default_dtype())
    return s.mean(-3)


def long_tfp(clip: Tensor, margin: int = MARGIN) -> Tensor:
    """The training target: TFP over the exposure, frames ``margin`` .. ``T - margin - 1`` (97 of 177)."""
    T = _time_first(clip, "long_tfp").shape[-3]
    return tfp(clip, margin, T - margin - 1)


def window_tfp(clip: Tensor, center: int, half: int = 20) -> Tensor:
    """TFP over the Recon-Net's window, frames ``center - half`` .. ``center + half`` (41 frames)."""
    return tfp(clip, center - half, center + half)


def visual_tfp(clip: Tensor, center: int) -> Tensor:
    """The official per-view visualisation TFP: frames ``center - 20`` .. ``center + 21`` (42 frames, one more
    than the Recon-Net window; used for pictures only, never in a loss)."""
    return tfp(clip, center - 20, center + 21)


def middle_tfi(spike: Tensor, middle: int, window: int) -> Tensor:
    r"""Texture from inter-spike interval at frame ``middle`` of ``spike`` ``[B, C, H, W]`` (C = time).

    Per pixel, :math:`l` = the nearest spike index at or before ``middle`` (searching ``middle``, ``middle - 1``,
    ..., ``middle - window + 1``) and :math:`r` = the nearest in ``middle + 1`` .. ``middle + window``; a missing
    :math:`l` becomes ``middle - window``, a missing :math:`r` ``middle + window``. Index 0 doubles as "not found",
    so a spike at frame 0 counts as missing (the official rule). Returns :math:`1 / (r - l)` as ``[B, 1, H, W]``
    (the default dtype, or the input's if it is a wider float).
    """
    if not isinstance(spike, Tensor) or spike.dim() != 4:
        raise InputError(f"middle_tfi: expected spike [B, C, H, W] (C = time), got {_desc(spike)}")
    B, C, H, W = spike.shape
    if not isinstance(middle, int) or not 0 <= middle < C:
        raise InputError(f"middle_tfi: middle must be a frame index in [0, {C - 1}], got {middle!r}")
    if not isinstance(window, int) or window < 1:
        raise ConfigError(f"middle_tfi: window must be a positive int, got {window!r}")
    dtype = torch.get_default_dtype()
    if spike.is_floating_point():
        dtype = torch.promote_types(dtype, spike.dtype)
    s = spike.to(dtype)
    lindex = torch.zeros((B, 1, H, W), dtype=dtype, device=spike.device)
    rindex = torch.zeros((B, 1, H, W), dtype=dtype, device=spike.device)
    for k in range(window):
        left, right = middle - k, middle + 1 + k
        if left >= 0:
            lindex += left * (s[:, left : left + 1] * (1 - torch.sign(lindex)))
        if right < C:
            rindex += right * (s[:, right : right + 1] * (1 - torch.sign(rindex)))
    rindex[rindex == 0] = window + middle
    lindex[lindex == 0] = middle - window
    return 1.0 / (rindex - lindex)
