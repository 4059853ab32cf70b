r"""The recurrent spiking video predictor of the STC paper (official ``XXX_Model`` in ``convlif_model.py``).

A stack of ``L`` convolutional spiking cells (:mod:`zoo_stc.cells`) driven one frame per time step:

* frames ``[B, T, C, H, W]`` are cut into ``p x p`` patches (OpenSTL ``reshape_patch``): channel
  ``(row * p + col) * C + c`` of the patched ``[B, T, p*p*C, H/p, W/p]`` tensor holds pixel
  ``(c, y*p + row, x*p + col)``;
* at step ``t`` layer 0 reads the patched frame ``t`` (ground truth while ``t < pre_seq_length``, afterwards the
  model's own previous prediction), layer ``l > 0`` reads the spikes of layer ``l - 1`` of the same step, and
  every layer reads its own previous spikes through its autapse (STC cells);
* a 1x1 convolution without bias (``conv_last``) maps the top layer's spikes to the next patched frame.

``T_total - 1 = pre + aft - 1`` steps predict frames ``1 .. T_total - 1``; the last ``aft`` are the forecast.

Zoo interface (OpenSTL's ``batch_x -> pred_y``):

``model(x)``
    ``x``: the ``pre_seq_length`` input frames ``[B, T_in, C, H, W]`` in [0, 1]; returns the
    ``aft_seq_length`` predicted frames ``[B, T_out, C, H, W]`` (real valued, not clipped), fully
    autoregressive (the official test-time protocol: all-zero scheduled-sampling mask).
``model.rollout(frames, mask)``
    all ``T_total - 1`` next-frame predictions from the full sequence ``[B, T_total, C, H, W]``, feeding the
    ground truth frame ``pre + j`` instead of the previous prediction where ``mask[:, j] == 1`` (scheduled
    sampling, training only). The official training loss is the MSE of these against ``frames[:, 1:]``.

State-dict keys are the official ones (``cell_list.{l}.conv_x.0.weight`` ..., ``conv_last.weight``), so official
checkpoints load unchanged (``zoo.from_official`` checks and passes them through).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import (
    ConfigError,
    InputError,
    WeightsError,
    check_choice,
    check_positive_int,
    unwrap_state_dict,
)

from .cells import CELLS

__all__ = ["SpikingPredictor", "from_official", "official_config", "patch", "unpatch"]


def patch(x: Tensor, p: int) -> Tensor:
    """``[B, T, C, H, W] -> [B, T, p*p*C, H/p, W/p]`` with channel index ``(row*p + col)*C + c``."""
    b, t, c, h, w = x.shape
    x = x.reshape(b, t, c, h // p, p, w // p, p).permute(0, 1, 4, 6, 2, 3, 5)
    return x.reshape(b, t, p * p * c, h // p, w // p)


def unpatch(x: Tensor, p: int) -> Tensor:
    """Inverse of :func:`patch`: ``[B, T, p*p*C, H/p, W/p] -> [B, T, C, H, W]``."""
    b, t, pc, hp, wp = x.shape
    c = pc // (p * p)
    x = x.reshape(b, t, p, p, c, hp, wp).permute(0, 1, 4, 5, 2, 6, 3)
    return x.reshape(b, t, c, hp * p, wp * p)


class SpikingPredictor(nn.Module):
    """Stacked convolutional spiking cells with pixel patching and a 1x1 readout (see the module docstring).

    The defaults are the official Moving MNIST STC-LIF model; the registered models
    (``spiking_predictor_<cell>_<dataset>``) take their other settings from :mod:`zoo_stc.settings`.

    Args:
        neuron: cell key, one of :data:`zoo_stc.cells.CELLS` (the registered neuron names: ``stc_lif``,
            ``stc_plif``, ``stc_lmh``, ``stc_baseline_lif``, ``stc_baseline_plif``, ``stc_baseline_tclif``,
            ``stc_baseline_lmh``, ``stc_baseline_glif``).
        num_hidden: hidden channels per layer (multiples of ``groups``; official ``[256, 256, 256]``).
        in_chans, img_size: frame channels and side (square frames).
        patch_size: ``p`` of the pixel patching (``img_size`` must be a multiple).
        pre_seq_length, aft_seq_length: input and predicted frames.
        kernel_size: ``K`` of every convolution (official 5).
        groups: GroupNorm / modulator groups (official 16).
        gradient_detach: detach the autapse input of the STC modulators (official: mmnist 0, taxibj/kth 1).
        neuron_kwargs: extra cell arguments (e.g. ``{"fixed": True}`` for a PLIF without the official quirk).
    """

    def __init__(
        self,
        *,
        neuron: str = "stc_lif",
        num_hidden: list[int] | tuple[int, ...] = (256, 256, 256),
        in_chans: int = 1,
        img_size: int = 64,
        patch_size: int = 2,
        pre_seq_length: int = 10,
        aft_seq_length: int = 10,
        kernel_size: int = 5,
        groups: int = 16,
        gradient_detach: bool = False,
        neuron_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        check_choice(neuron, "neuron", who, CELLS)
        if not isinstance(num_hidden, list | tuple) or not num_hidden:
            raise ConfigError(
                f"{who}: num_hidden must be a non-empty list of channel counts, got {num_hidden!r}"
            )
        for name, v in (
            ("in_chans", in_chans),
            ("img_size", img_size),
            ("patch_size", patch_size),
            ("pre_seq_length", pre_seq_length),
            ("aft_seq_length", aft_seq_length),
        ):
            check_positive_int(v, name, who)
        if img_size % patch_size:
            raise ConfigError(f"{who}: img_size ({img_size}) must be a multiple of patch_size ({patch_size})")
        self.neuron = neuron
        self.num_hidden = [check_positive_int(c, "num_hidden entries", who) for c in num_hidden]
        self.in_chans, self.img_size, self.patch_size = in_chans, img_size, patch_size
        self.pre_seq_length, self.aft_seq_length = pre_seq_length, aft_seq_length
        self.frame_channel = patch_size * patch_size * in_chans
        cell_cls = CELLS[neuron]
        self.cell_list = nn.ModuleList(
            cell_cls(
                self.frame_channel if i == 0 else self.num_hidden[i - 1],
                c,
                kernel_size=kernel_size,
                groups=groups,
                gradient_detach=gradient_detach,
                **(neuron_kwargs or {}),
            )
            for i, c in enumerate(self.num_hidden)
        )
        self.conv_last = nn.Conv2d(self.num_hidden[-1], self.frame_channel, 1, bias=False)

    # ------------------------------------------------------------------------------------------ checks
    def _check(self, x: Tensor, frames: int, what: str) -> None:
        want = f"[B, {frames}, {self.in_chans}, {self.img_size}, {self.img_size}]"
        if not isinstance(x, Tensor) or x.dim() != 5:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise InputError(
                f"{type(self).__name__}: {what} must be a 5-D tensor {want} (B, T, C, H, W), got {got}"
            )
        if not x.is_floating_point():
            raise InputError(f"{type(self).__name__}: {what} must be floating point, got {x.dtype}")
        if tuple(x.shape[1:]) != (frames, self.in_chans, self.img_size, self.img_size):
            raise InputError(f"{type(self).__name__}: {what} must have shape {want}, got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()):
            raise InputError(f"{type(self).__name__}: {what} contains NaN or Inf")

    # ------------------------------------------------------------------------------------------ running
    def _run(self, frames: Tensor, mask: Tensor | None, teacher: bool) -> Tensor:
        """The official loop over ``pre + aft - 1`` steps on patched frames; returns patched predictions."""
        p = self.patch_size
        x = patch(frames, p)
        pre, steps = self.pre_seq_length, self.pre_seq_length + self.aft_seq_length - 1
        states: list[dict[str, Tensor]] = []
        preds: list[Tensor] = []
        x_gen: Tensor | None = None
        for t in range(steps):
            if t < pre:
                net = x[:, t]
            elif teacher:
                m = mask[:, t - pre].view(-1, 1, 1, 1).to(x.dtype)  # type: ignore[index]
                net = m * x[:, t] + (1 - m) * x_gen
            else:
                net = x_gen
            inp = net
            for i, cell in enumerate(self.cell_list):
                if t == 0:
                    states.append(
                        cell.initial_state(inp.new_zeros(inp.shape[0], cell.channels, *inp.shape[-2:]))
                    )
                states[i] = cell(inp, states[i])
                inp = states[i]["s"]
            x_gen = self.conv_last(inp)
            preds.append(x_gen)
        return torch.stack(preds, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, pre, C, H, W]`` input frames -> ``[B, aft, C, H, W]`` predicted frames (autoregressive)."""
        self._check(x, self.pre_seq_length, "the input frames")
        out = self._run(x, None, teacher=False)
        return unpatch(out[:, -self.aft_seq_length :], self.patch_size)

    def rollout(self, frames: Tensor, mask: Tensor | None = None) -> Tensor:
        """All ``pre + aft - 1`` next-frame predictions ``[B, pre+aft-1, C, H, W]`` of ``frames[:, 1:]``.

        Args:
            frames: the whole sequence ``[B, pre + aft, C, H, W]``.
            mask: ``[B, aft - 1]`` of 0/1: 1 feeds the ground-truth frame ``pre + j`` at step ``pre + j``
                instead of the previous prediction (scheduled sampling); ``None`` = all zeros (test protocol).
        """
        total = self.pre_seq_length + self.aft_seq_length
        self._check(frames, total, "the frames")
        if mask is not None and tuple(mask.shape) != (frames.shape[0], self.aft_seq_length - 1):
            raise InputError(
                f"{type(self).__name__}: mask must have shape [B, aft_seq_length - 1] = "
                f"[{frames.shape[0]}, {self.aft_seq_length - 1}], got {tuple(mask.shape)}"
            )
        out = self._run(frames, mask, teacher=mask is not None)
        return unpatch(out, self.patch_size)


def from_official(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Official ``checkpoint.pth`` / ``latest.pth['state_dict']`` -> zoo layout (the keys are identical).

    The core has already unwrapped ``{"state_dict": ...}`` and ``module.``. Keys must be the official model's
    (``cell_list.*``, ``conv_last.weight``); the unused scalars some cells carry (``t_m`` of LM-H / STC-LM-H,
    ``d_u``/``d_p`` of TC-LIF) are kept, as the zoo cells hold them too.
    """
    out: dict[str, Tensor] = {}
    for k, v in state_dict.items():
        if not (k.startswith("cell_list.") or k == "conv_last.weight"):
            raise WeightsError(
                f"official STC checkpoint: unexpected key {k!r}; expected 'cell_list.<l>.*' and 'conv_last.weight'"
            )
        out[k] = v
    return out


def official_config(state_dict: dict[str, Tensor]) -> dict[str, Any]:
    """``num_hidden`` and ``kernel_size`` read from an official state dict (patch size and frame counts are
    not stored: they come from the model name's data set)."""
    sd = unwrap_state_dict(state_dict)
    layers = sorted(
        {int(k.split(".")[1]) for k in sd if k.startswith("cell_list.") and k.endswith("conv_x.0.weight")}
    )
    if not layers:
        return {}
    w = [sd[f"cell_list.{i}.conv_x.0.weight"] for i in layers]
    return {"num_hidden": [int(t.shape[0]) for t in w], "kernel_size": int(w[0].shape[-1])}
