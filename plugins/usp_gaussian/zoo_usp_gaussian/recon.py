r"""The two Recon-Nets of USP-Gaussian and the bookkeeping of spike windows, voxels and time indices.

Both nets are plain ReLU CNNs on binary spike frames used as channels (3x3 convolutions, stride 1, padding 1, bias,
ReLU after every convolution but the last, no normalisation, full resolution); the single output channel has no
activation and lives at the spike camera's half intensity (see :func:`zoo_usp_gaussian.spike_camera.double_clip`).

* :class:`SpkReconNet` (``usp_spkrecon``): a 41-frame window -> 64 -> 128 -> 64 -> 16 -> 1 (180,705 parameters).
* :class:`MultiSpkReconNet` (``usp_multi_spkrecon``, the variant of the published runs): two stems, one on the
  41-frame window (41 -> 64) and one on a 34-channel *voxel* summary of the whole 177-frame clip (34 -> 64), each
  followed by ReLU; the feature is ``stem_vox(voxel) + stem_spk(window) + index`` with the scalar time index
  broadcast over all channels and pixels; then 64 -> 128 -> 64 -> 16 -> 1 (200,353 parameters).

Bookkeeping of a 177-frame clip ``s[0..176]`` (exposure = frames 40..136):

* window at centre ``c``: frames ``c - 20 .. c + 20`` (41 frames);
* the ``V`` virtual views have centres :math:`c_i = 40 + i \lfloor 96/(V-1) \rfloor` (V = 13: 40, 48, ..., 136);
* time index :math:`(c - 40)/96 \in [0, 1]` (mid-exposure: c = 88, index 0.5);
* voxel: frames 20..156 without the middle one (frame 88), i.e. 136 frames; channel ``j`` is the *strided* sum
  :math:`s_{20+j} + s_{54+j} + s_{89+j} + s_{123+j}` (reshape to ``[4, 34]``, sum over the 4).

State dicts keep the official key names; the official modules register every block twice (also inside an
``nn.Sequential`` named ``seq``), so their checkpoints hold each tensor under two keys. :func:`from_official_single`
and :func:`from_official_multi` keep one copy (the ``seq.*`` entry when the two disagree: it is the one PyTorch's
``load_state_dict`` loads last).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, InputError, WeightsError, check_positive_int

from .spike_camera import CLIP_FRAMES, MARGIN

__all__ = [
    "HALF_WINDOW",
    "MultiSpkReconNet",
    "SpkReconNet",
    "from_official_multi",
    "from_official_single",
    "official_config_multi",
    "official_config_single",
    "time_index",
    "view_centers",
    "voxel_of",
    "window_of",
]

#: frames on each side of a window centre (windows are 2 * 20 + 1 = 41 frames)
HALF_WINDOW = 20
#: the exposure spans EXPOSURE_SPAN + 1 frames (40..136): the time index is (c - 40) / 96
EXPOSURE_SPAN = CLIP_FRAMES - 2 * MARGIN - 1


def view_centers(num_views: int = 13, margin: int = MARGIN, span: int = EXPOSURE_SPAN) -> list[int]:
    """Window centres of the ``num_views`` virtual views: ``margin + i * (span // (num_views - 1))``."""
    check_positive_int(num_views, "num_views", "view_centers")
    if num_views < 2:
        raise ConfigError(f"view_centers: num_views must be >= 2 (a start and an end view), got {num_views}")
    stride = span // (num_views - 1)
    return [margin + i * stride for i in range(num_views)]


def time_index(center: int, margin: int = MARGIN, span: int = EXPOSURE_SPAN) -> float:
    """The Recon-Net's time input for a window centred at frame ``center``: ``(center - 40) / 96``."""
    return (center - margin) / span


def _check_clip(x: Tensor, who: str) -> None:
    if not isinstance(x, Tensor) or x.dim() != 4:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise InputError(f"{who}: expected spike frames [B, T, H, W] (time as channels), got {shape}")
    if not x.is_floating_point():
        raise InputError(f"{who}: spike frames must be a float tensor (0.0 / 1.0), got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{who}: the spike frames contain NaN or Inf")


def window_of(clip: Tensor, center: int, half: int = HALF_WINDOW) -> Tensor:
    """Frames ``center - half .. center + half`` of ``clip`` ``[..., T, H, W]`` as ``[..., 2 half + 1, H, W]``."""
    T = clip.shape[-3]
    if not isinstance(center, int) or center - half < 0 or center + half >= T:
        raise InputError(
            f"window_of: a {2 * half + 1}-frame window centred at frame {center!r} does not fit a clip of "
            f"{T} frames (centres {half}..{T - half - 1})"
        )
    return clip[..., center - half : center + half + 1, :, :]


def voxel_of(clip: Tensor, voxel_dim: int = 34, half: int = HALF_WINDOW) -> Tensor:
    """The voxel summary ``[..., voxel_dim, H, W]`` of ``clip`` ``[..., T, H, W]`` (T = 4 voxel_dim + 2 half + 1).

    Frames ``half .. T - half - 1`` without their middle frame, reshaped to ``[4, voxel_dim]`` and summed over the 4
    (channel ``j`` = frames ``j, j + voxel_dim, ...`` of what is left: a strided sum, not 4 consecutive frames).
    """
    T, H, W = clip.shape[-3:]
    if 4 * voxel_dim + 2 * half + 1 != T:
        raise InputError(
            f"voxel_of: a {voxel_dim}-channel voxel needs clips of 4 * {voxel_dim} + {2 * half + 1} = "
            f"{4 * voxel_dim + 2 * half + 1} frames, got {T}"
        )
    inner = clip[..., half : T - half, :, :]
    mid = inner.shape[-3] // 2
    inner = torch.cat((inner[..., :mid, :, :], inner[..., mid + 1 :, :, :]), dim=-3)
    lead = inner.shape[:-3]
    return inner.reshape(*lead, 4, voxel_dim, H, W).sum(dim=-4)


def _conv_relu(cin: int, cout: int) -> nn.Sequential:
    """3x3 conv (stride 1, padding 1, bias) + ReLU, as ``Sequential(conv, relu)`` (keys ``<name>.0.*``)."""
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.ReLU(inplace=True))


class SpkReconNet(nn.Module):
    r"""Single-window Recon-Net: :math:`\mathrm{conv}(16 \to 1) \circ \rho\,\mathrm{conv}(64 \to 16) \circ
    \rho\,\mathrm{conv}(128 \to 64) \circ \rho\,\mathrm{conv}(64 \to 128) \circ \rho\,\mathrm{conv}(41 \to 64)`
    (:math:`\rho` = ReLU, all 3x3, padding 1).

    ``forward(spikes, center=None)``: ``spikes`` ``[B, T, H, W]``; ``T = input_dim`` is the window itself, a longer
    clip is cut to the window centred at ``center`` (default ``T // 2``, frame 88 = mid-exposure of a 177-frame
    clip). Returns ``[B, 1, H, W]`` at half intensity. :meth:`forward_official` takes the window as the official
    module's ``forward`` does.
    """

    def __init__(self, *, input_dim: int = 41):
        super().__init__()
        self.input_dim = check_positive_int(input_dim, "input_dim", "SpkReconNet")
        if input_dim % 2 == 0:
            raise ConfigError(
                f"SpkReconNet: input_dim must be odd (a window centred on a frame), got {input_dim}"
            )
        self.convBlock1 = _conv_relu(input_dim, 64)
        self.convBlock2 = _conv_relu(64, 128)
        self.convBlock3 = _conv_relu(128, 64)
        self.convBlock4 = _conv_relu(64, 16)
        self.conv = nn.Conv2d(16, 1, 3, 1, 1)

    def forward_official(self, spike: Tensor) -> Tensor:
        """The net on a window ``[B, input_dim, H, W]`` (the official ``forward``)."""
        x = self.convBlock2(self.convBlock1(spike))
        return self.conv(self.convBlock4(self.convBlock3(x)))

    def forward(self, spikes: Tensor, center: int | None = None) -> Tensor:
        _check_clip(spikes, "usp_spkrecon")
        T = spikes.shape[1]
        if self.input_dim == T and center is None:
            return self.forward_official(spikes)
        if self.input_dim > T:
            raise InputError(f"usp_spkrecon: needs at least {self.input_dim} frames, got {T}")
        c = T // 2 if center is None else center
        return self.forward_official(window_of(spikes, c, self.input_dim // 2))

    def reconstruct_views(self, clip: Tensor, centers: list[int]) -> Tensor:
        """Images ``[V, B, 1, H, W]`` at each window centre of ``centers`` (one batched pass)."""
        _check_clip(clip, "usp_spkrecon")
        B = clip.shape[0]
        windows = torch.cat([window_of(clip, c, self.input_dim // 2) for c in centers], 0)
        return self.forward_official(windows).reshape(len(centers), B, 1, *clip.shape[-2:])


class MultiSpkReconNet(nn.Module):
    r"""Recon-Net with a long-range voxel stem and a time index (the variant of the published runs).

    :math:`f = \rho\,\mathrm{conv}_{vox}(34 \to 64)(\text{voxel}) + \rho\,\mathrm{conv}_{spk}(41 \to 64)(\text{window})
    + \text{index}`, then :math:`\mathrm{conv}(16 \to 1) \circ \rho\,\mathrm{conv}(64 \to 16) \circ
    \rho\,\mathrm{conv}(128 \to 64) \circ \rho\,\mathrm{conv}(64 \to 128)`.

    ``forward(spikes, center=None)``: ``spikes`` = the whole clip ``[B, T, H, W]`` with ``T = 4 voxel_dim +
    input_dim`` (177); the voxel comes from the clip (:func:`voxel_of`), the window from frames around ``center``
    (default ``T // 2`` = 88, mid-exposure) and the index is ``(center - 40) / 96``. Returns ``[B, 1, H, W]``.
    :meth:`forward_official` is the official ``forward(voxel, spike, index)``.
    """

    def __init__(self, *, input_dim: int = 41, voxel_dim: int = 34):
        super().__init__()
        self.input_dim = check_positive_int(input_dim, "input_dim", "MultiSpkReconNet")
        self.voxel_dim = check_positive_int(voxel_dim, "voxel_dim", "MultiSpkReconNet")
        if input_dim % 2 == 0:
            raise ConfigError(f"MultiSpkReconNet: input_dim must be odd, got {input_dim}")
        self.preprocess_spk = _conv_relu(input_dim, 64)
        self.preprocess_voxel = _conv_relu(voxel_dim, 64)
        self.convBlock1 = _conv_relu(64, 128)
        self.convBlock2 = _conv_relu(128, 64)
        self.convBlock3 = _conv_relu(64, 16)
        self.conv = nn.Conv2d(16, 1, 3, 1, 1)

    @property
    def clip_frames(self) -> int:
        """Frames of the clips the net reads: ``4 voxel_dim + input_dim`` (177)."""
        return 4 * self.voxel_dim + self.input_dim

    def forward_official(self, voxel: Tensor, spike: Tensor, index: float | Tensor) -> Tensor:
        """The official ``forward(voxel, spike, index)``: ``voxel`` ``[B, voxel_dim, H, W]``, ``spike`` the window
        ``[B, input_dim, H, W]``, ``index`` a number (or a tensor broadcastable to ``[B, 64, H, W]``)."""
        v = self.preprocess_voxel(voxel)
        s = self.preprocess_spk(spike)
        idx = index * torch.ones_like(v)
        return self.conv(self.convBlock3(self.convBlock2(self.convBlock1(v + s + idx))))

    def forward(self, spikes: Tensor, center: int | None = None) -> Tensor:
        _check_clip(spikes, "usp_multi_spkrecon")
        T = spikes.shape[1]
        if self.clip_frames != T:
            raise InputError(
                f"usp_multi_spkrecon: expected whole clips of {self.clip_frames} frames (4 x {self.voxel_dim} "
                f"voxel frames + a {self.input_dim}-frame window), got {T}"
            )
        c = T // 2 if center is None else center
        window = window_of(spikes, c, self.input_dim // 2)
        return self.forward_official(
            voxel_of(spikes, self.voxel_dim, self.input_dim // 2), window, time_index(c)
        )

    def reconstruct_views(self, clip: Tensor, centers: list[int]) -> Tensor:
        """Images ``[V, B, 1, H, W]`` at each window centre of ``centers`` (one batched pass; the voxel is
        computed once per clip and each window gets its own index)."""
        _check_clip(clip, "usp_multi_spkrecon")
        B, T, H, W = clip.shape
        if self.clip_frames != T:
            raise InputError(f"usp_multi_spkrecon: expected clips of {self.clip_frames} frames, got {T}")
        half = self.input_dim // 2
        voxel = voxel_of(clip, self.voxel_dim, half)
        windows = torch.cat([window_of(clip, c, half) for c in centers], 0)
        index = torch.tensor([time_index(c) for c in centers], dtype=clip.dtype, device=clip.device)
        index = index.repeat_interleave(B).view(-1, 1, 1, 1)
        out = self.forward_official(voxel.repeat(len(centers), 1, 1, 1), windows, index)
        return out.reshape(len(centers), B, 1, H, W)


# ---------------------------------------------------------------------------------------------- checkpoints
#: official alias prefix -> the named block it duplicates
_SINGLE_ALIASES = {
    "seq.0.0.": "convBlock1.0.",
    "seq.1.0.": "convBlock2.0.",
    "seq.2.0.": "convBlock3.0.",
    "seq.3.0.": "convBlock4.0.",
    "seq.4.": "conv.",
}
_MULTI_ALIASES = {
    "seq.0.0.": "convBlock1.0.",
    "seq.1.0.": "convBlock2.0.",
    "seq.2.0.": "convBlock3.0.",
    "seq.3.": "conv.",
}
#: where the Recon-Net sits inside a full training checkpoint (the pipeline's model)
_PIPELINE_PREFIXES = ("_model.spike_net.", "model.spike_net.", "spike_net.")


def _dedupe(state_dict: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    sd = dict(state_dict)
    for prefix in _PIPELINE_PREFIXES:
        if any(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}
            break
    out = {k: v for k, v in sd.items() if not k.startswith("seq.")}
    for k, v in sd.items():
        if not k.startswith("seq."):
            continue
        target = next((named + k[len(a) :] for a, named in aliases.items() if k.startswith(a)), None)
        if target is None:
            raise WeightsError(
                f"official Recon-Net checkpoint: unexpected alias key {k!r} (known aliases: {', '.join(aliases)})"
            )
        out[target] = v  # the alias is loaded last by load_state_dict: it wins when the copies differ
    return out


def from_official_single(state_dict: dict[str, Any]) -> dict[str, Any]:
    """An official ``SpkRecon_Net`` state dict (20 keys, 10 tensors) -> the ``usp_spkrecon`` layout (10 keys)."""
    return _dedupe(state_dict, _SINGLE_ALIASES)


def from_official_multi(state_dict: dict[str, Any]) -> dict[str, Any]:
    """An official ``Multi_SpkRecon_Net`` state dict (20 keys, 12 tensors) -> ``usp_multi_spkrecon`` (12 keys)."""
    return _dedupe(state_dict, _MULTI_ALIASES)


def official_config_single(state_dict: dict[str, Any]) -> dict[str, Any]:
    """``input_dim`` read from the first convolution's weight."""
    w = state_dict.get("convBlock1.0.weight")
    return {"input_dim": int(w.shape[1])} if w is not None else {}


def official_config_multi(state_dict: dict[str, Any]) -> dict[str, Any]:
    """``input_dim`` and ``voxel_dim`` read from the two stems' weights (the class default 27 vs the model's 34)."""
    out: dict[str, Any] = {}
    if (w := state_dict.get("preprocess_spk.0.weight")) is not None:
        out["input_dim"] = int(w.shape[1])
    if (w := state_dict.get("preprocess_voxel.0.weight")) is not None:
        out["voxel_dim"] = int(w.shape[1])
    return out
