r"""Distribution-aware calibration (DA-QCFS) and the statistics collector of training-free conversion.

:class:`DAQCFS` (official ``QCFS(..., is_cab=True)``)
    QCFS with per-channel shifts, buffers ``rec_in_mean`` :math:`\psi_c` and ``rec_th_mean`` :math:`\varphi_c`
    (``[C,1,1]``, initialised to 0). With the shifts switched on (official ``cab_inf``):

    .. math:: y_c = (\lambda + \varphi_c)\,\mathrm{clip}\Big(\frac{\lfloor (x_c + \psi_c)\,T/\lambda + \tfrac12
              \rfloor}{T}, 0, 1\Big)

    (:math:`\lambda` a scalar for QCFS nets, a per-channel buffer :math:`\lambda_c` for ReLU nets.)
:func:`calibrate` (official ``calib_one_epoch``)
    one pass over calibration data in eval mode without gradients. Every batch is duplicated (``[2B]``);
    the first half runs the SNN path (DA-QCFS with ``T`` levels and the current shifts), the second half a
    reference path, through the *whole* network. At each calibrated layer, per channel, with means over batch
    and positions:

    .. math::

        \psi &\leftarrow m\,\psi + (1-m)\,\mathrm{mean}(z_{ref} - z_{snn}) \\
        \varphi &\leftarrow m\,\varphi + (1-m)\,\mathrm{mean}(a_{ref} - \mathrm{DAQCFS}(z_{snn};\psi,\varphi))

    where :math:`a_{ref}` is QCFS with ``reference_levels`` levels (official: **8, hard-coded**; its comment
    says to use the ANN's training level) for QCFS nets, or :math:`\mathrm{clip}(z_{ref}, 0, \lambda_c)` for
    ReLU nets; :math:`m = 0.99`. Afterwards the shifts are switched on. Results depend on batch order and size
    (an EMA over batches). If ``reference_levels == T`` and the shifts start at 0 both halves coincide and
    the shifts stay exactly 0.
:class:`RecReLU` (official ``RecReLU``)
    the statistics collector: a ReLU that records the running per-channel maximum of its *input* over every
    sample and position in the buffer ``up`` (registered on the first call) and outputs
    ``torch.clamp(x, 0, up)``. A channel that never gets a positive input records a negative maximum (and
    then outputs that constant: ``clamp`` with ``min > max`` returns ``max``, as in the official code);
    such channels break the DA-QCFS <-> parallel-neuron equality (``min_threshold`` of the conversion rule
    clamps them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import QCFS, ConfigError, InputError, check_number, check_positive_int, floor_ste

__all__ = ["DAQCFS", "RecReLU", "batch_input", "calibrate", "collect_thresholds", "ema_rate"]


def ema_rate(momentum: float) -> float:
    """``1 - momentum`` rounded to 12 decimals: ``ema_rate(0.99) == 0.01`` exactly as the official constant
    (plain ``1 - 0.99`` is ``0.010000000000000009``)."""
    return round(1.0 - momentum, 12)


def _channel_mean(x: Tensor) -> Tensor:
    """Per-channel mean over batch and positions, computed as the official code does."""
    return x.transpose(0, 1).flatten(1).mean(dim=1)


class DAQCFS(QCFS):
    r"""Distribution-aware QCFS (see the module docstring).

    Args:
        channels: channel count :math:`C` (dim 1 of the input).
        levels: :math:`T` (the SNN's time steps).
        threshold: :math:`\lambda`: a number (learnable scalar ``[1]``, QCFS nets) or a tensor (fixed buffer,
            per-channel :math:`\lambda_c` of ReLU nets).
        channel_shape: shape of the per-channel buffers (default ``[C, 1, 1]``, conv maps; ``[C]`` for
            features ``[B, C]``).
        relu_reference: the calibration reference is :math:`\mathrm{clip}(z, 0, \lambda_c)` (ReLU nets)
            instead of QCFS with ``reference_levels`` levels.
        reference_levels: levels of the QCFS reference (official: 8).
        momentum: EMA momentum :math:`m` of the shift updates (official: 0.99).
        shift, param_name: as for :class:`zoo_core.sdk.QCFS` (``up`` is the official name).

    Attributes:
        calibrating: the next calls are calibration calls on duplicated batches (:func:`calibrate` sets it).
        use_shifts: apply :math:`\psi, \varphi` (official ``cab_inf``); off until calibrated.
    """

    def __init__(
        self,
        channels: int,
        levels: int = 4,
        threshold: float | Tensor = 8.0,
        channel_shape: tuple[int, ...] | None = None,
        relu_reference: bool = False,
        reference_levels: int = 8,
        momentum: float = 0.99,
        shift: float = 0.5,
        param_name: str = "up",
    ) -> None:
        super().__init__(levels=levels, threshold=threshold, shift=shift, param_name=param_name)
        check_positive_int(channels, "channels", "DAQCFS")
        check_positive_int(reference_levels, "reference_levels", "DAQCFS")
        if not 0.0 <= check_number(momentum, "momentum", "DAQCFS") < 1.0:
            raise ConfigError(f"DAQCFS: momentum must be in [0, 1), got {momentum!r}")
        shape = tuple(channel_shape) if channel_shape is not None else (channels, 1, 1)
        if shape[0] != channels:
            raise ConfigError(f"DAQCFS: channel_shape {shape} does not start with channels={channels}")
        dtype = self.threshold.dtype
        self.register_buffer("rec_in_mean", torch.zeros(shape, dtype=dtype))
        self.register_buffer("rec_th_mean", torch.zeros(shape, dtype=dtype))
        self.channels = channels
        self.relu_reference = bool(relu_reference)
        self.reference_levels = reference_levels
        self.momentum = float(momentum)
        self.calibrating = False
        self.use_shifts = False

    def forward(self, x: Tensor) -> Tensor:
        if self.use_shifts:
            return self.shifted(x, self.rec_in_mean, self.rec_th_mean)
        if self.calibrating:
            return self._calibration_step(x)
        return super().forward(x)

    def shifted(self, x: Tensor, psi: Tensor, phi: Tensor) -> Tensor:
        """DA-QCFS with shifts ``psi`` (input) and ``phi`` (amplitude), in the official order of operations."""
        up, t = self.threshold, self.levels
        return torch.clamp(floor_ste((x + psi) * t / up + self.shift) / t, 0, 1) * (up + phi)

    def reference(self, z: Tensor) -> Tensor:
        """The calibration target: clip(z, 0, lambda_c) (ReLU nets) or QCFS with ``reference_levels``."""
        up = self.threshold
        if self.relu_reference:
            return torch.clamp(z, torch.zeros_like(up), up)
        n = self.reference_levels
        return torch.clamp(floor_ste(z * n / up + self.shift) / n, 0, 1) * up

    def _calibration_step(self, x: Tensor) -> Tensor:
        if x.shape[0] % 2:
            raise InputError(
                "DAQCFS: a calibration call needs a duplicated batch [2B, ...] (SNN path, reference path)"
            )
        if x.dim() != self.rec_in_mean.dim() + 1:
            raise InputError(
                f"DAQCFS: calibration buffers are shaped {tuple(self.rec_in_mean.shape)}, the input "
                f"{tuple(x.shape)} does not fit"
            )
        rate = ema_rate(self.momentum)
        z = x.view((2, x.shape[0] // 2, *x.shape[1:]))
        z_snn, z_ref = z[0], z[1]
        err = _channel_mean(z_ref - z_snn).view(self.rec_in_mean.shape)
        self.rec_in_mean = self.momentum * self.rec_in_mean + rate * err
        a_snn = self.shifted(z_snn, self.rec_in_mean, self.rec_th_mean)
        a_ref = self.reference(z_ref)
        err = _channel_mean(a_ref - a_snn).view(self.rec_th_mean.shape)
        self.rec_th_mean = self.momentum * self.rec_th_mean + rate * err
        return torch.stack([a_snn, a_ref]).flatten(0, 1)

    @classmethod
    def from_qcfs(
        cls, qcfs: nn.Module, channels: int, channel_shape: tuple[int, ...] | None = None, **kw: Any
    ):
        """A DA-QCFS with the clip of a QCFS-type module (its value copied, shifts 0)."""
        from zoo_core.sdk import qcfs_threshold

        lam = qcfs_threshold(qcfs).detach()
        threshold: float | Tensor = float(lam.reshape(-1)[0]) if lam.numel() == 1 else lam.clone()
        new = cls(channels, threshold=threshold, channel_shape=channel_shape, **kw)
        if lam.numel() == 1:
            new.threshold.data = lam.clone().reshape(new.threshold.shape)
        return new.to(lam.dtype)

    def extra_repr(self) -> str:
        ref = "relu" if self.relu_reference else f"qcfs@{self.reference_levels}"
        return f"{super().extra_repr()}, channels={self.channels}, reference={ref}, shifts={self.use_shifts}"


class RecReLU(nn.Module):
    """Statistics collector: records the per-channel maximum of its input in ``up`` (see the module docstring).

    Args:
        min_threshold: ``None`` (official): output ``clamp(x, 0, up)``, which for a channel whose maximum so far
            is negative is that negative constant (``clamp`` with min > max), so the statistics of later layers
            are taken on a network that differs from the ReLU network. A number: output
            ``clamp(x, 0, max(up, min_threshold))``, which is exactly ``relu(x)`` (``up`` includes the current
            batch), so every layer's statistics are those of the ReLU network.
    """

    def __init__(self, min_threshold: float | None = None) -> None:
        super().__init__()
        self.min_threshold = min_threshold

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2:
            raise InputError(f"RecReLU: expected [B, C, ...], got shape {tuple(x.shape)}")
        shape = (x.shape[1],) + (1,) * (x.dim() - 2)
        max_th = x.detach().transpose(0, 1).flatten(1).max(1)[0].view(shape)
        if "up" not in self._buffers:
            self.register_buffer("up", max_th)
        else:
            self.up = torch.max(self.up, max_th)
        up = self.up if self.min_threshold is None else torch.clamp(self.up, min=self.min_threshold)
        return torch.clamp(x, torch.zeros_like(up), up)


def batch_input(batch: Any) -> Tensor:
    """The input tensor of a calibration batch: a tensor, or the first item of ``(x, y)``."""
    if isinstance(batch, Tensor):
        return batch
    if isinstance(batch, list | tuple) and batch and isinstance(batch[0], Tensor):
        return batch[0]
    if isinstance(batch, dict):
        for key in ("image", "images", "input", "inputs", "x", "pixel_values"):
            if isinstance(batch.get(key), Tensor):
                return batch[key]
    raise InputError(
        f"calibration data: expected batches that are tensors or (inputs, targets) pairs, got {type(batch).__name__}"
    )


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and dtype of the model's first floating-point parameter or buffer (CPU and the default dtype if
    it has none)."""
    for t in (*model.parameters(), *model.buffers()):
        if t.is_floating_point():
            return t.device, t.dtype
    return torch.device("cpu"), torch.get_default_dtype()


@torch.no_grad()
def collect_thresholds(
    model: nn.Module, data: Iterable[Any], max_batches: int | None = None
) -> dict[str, Any]:
    """Run ``model`` (its :class:`RecReLU` modules record maxima) in eval mode over ``data``; returns counts."""
    device, dtype = _device_dtype(model)
    model.eval()
    batches = samples = 0
    for batch in data:
        if max_batches is not None and batches >= max_batches:
            break
        x = batch_input(batch).to(device=device, dtype=dtype)
        model(x)
        batches += 1
        samples += int(x.shape[0])
    if batches == 0:
        raise InputError("calibration data is empty: the statistics pass needs at least one batch")
    return {"batches": batches, "samples": samples}


@torch.no_grad()
def calibrate(
    model: nn.Module,
    data: Iterable[Any],
    forward: Any = None,
    max_batches: int | None = None,
) -> dict[str, Any]:
    """Distribution-aware calibration (official ``calib_one_epoch``) of every :class:`DAQCFS` in ``model``.

    Each batch ``x`` is duplicated to ``[2B]`` and passed through ``forward`` (default ``model``) in eval mode
    without gradients; afterwards the shifts are switched on (``use_shifts``). Returns counts and, when the
    batches carry labels, the accuracy of the SNN half during calibration (as the official code reports).
    """
    layers = [m for m in model.modules() if isinstance(m, DAQCFS)]
    if not layers:
        raise ConfigError("calibrate: the model has no DAQCFS layer to calibrate")
    device, dtype = _device_dtype(model)
    fwd = forward or model
    model.eval()
    for m in layers:
        m.calibrating, m.use_shifts = True, False
    batches = samples = correct = labelled = 0
    try:
        for batch in data:
            if max_batches is not None and batches >= max_batches:
                break
            x = batch_input(batch).to(device=device, dtype=dtype)
            x2 = x.unsqueeze(0).repeat(2, *([1] * x.dim())).flatten(0, 1)
            out = fwd(x2)
            out = out.view(2, out.shape[0] // 2, -1)[0]
            if isinstance(batch, list | tuple) and len(batch) > 1 and isinstance(batch[1], Tensor):
                y = batch[1].to(out.device)
                if y.dim() == 1 and y.shape[0] == out.shape[0]:
                    correct += int((out.argmax(-1) == y).sum())
                    labelled += int(y.shape[0])
            batches += 1
            samples += int(x.shape[0])
    finally:
        for m in layers:
            m.calibrating = False
    if batches == 0:
        raise InputError("calibration data is empty: calibration needs at least one batch")
    for m in layers:
        m.use_shifts = True
    out: dict[str, Any] = {"batches": batches, "samples": samples, "layers": len(layers)}
    if labelled:
        out["snn_path_accuracy"] = correct / labelled
    return out
