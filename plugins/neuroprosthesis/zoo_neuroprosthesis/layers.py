r"""Keras-2 layers with Keras-2 semantics, in PyTorch, for the retina encoders and the spike-image decoder.

The official models are Keras 2.2 / TensorFlow 1 code. Wherever Keras 2 differs from PyTorch's (or Keras 3's)
defaults in a way that changes numbers, these layers follow Keras 2:

* :func:`hard_sigmoid` is Keras 2's :math:`\mathrm{hs}(x) = \mathrm{clip}(0.2 x + 0.5, 0, 1)` (Keras 3: slope 1/6;
  PyTorch's recurrent layers: the logistic sigmoid);
* :class:`KerasBatchNorm`: :math:`\epsilon = 10^{-3}`, moving averages with momentum 0.99, and only the four Keras
  tensors in the state dict (``weight`` = gamma, ``bias`` = beta, ``running_mean``, ``running_var``);
* :class:`KerasLSTM`, :class:`KerasGRU`, :class:`KerasSimpleRNN`: fused kernels in Keras' gate order
  (LSTM ``i, f, c, o``; GRU ``z, r, h`` with ``reset_after=False``), one bias vector, ``h_0 = c_0 = 0``;
* :class:`SameConv2d`: TensorFlow's ``"same"`` padding, asymmetric for even totals (more at the bottom/right).

Weight layouts are PyTorch's (``Conv2d.weight [out, in, kh, kw]`` = the Keras kernel permuted ``(3, 2, 0, 1)``;
``weight_ih_l0`` = the Keras kernel transposed), so a converted Keras checkpoint loads with ``load_state_dict``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, check_positive_int

__all__ = [
    "KERAS_BN_EPSILON",
    "KERAS_BN_MOMENTUM",
    "GaussianNoise",
    "KerasBatchNorm",
    "KerasGRU",
    "KerasLSTM",
    "KerasSimpleRNN",
    "SameConv2d",
    "glorot_uniform_",
    "hard_sigmoid",
    "he_normal_",
    "keras_normal_",
    "tf_same_padding",
]

#: Keras 2 BatchNormalization defaults (PyTorch: eps 1e-5, momentum 0.1 = Keras momentum 0.9)
KERAS_BN_EPSILON = 1e-3
KERAS_BN_MOMENTUM = 0.99


def hard_sigmoid(x: Tensor) -> Tensor:
    r"""Keras 2's hard sigmoid :math:`\mathrm{clip}(0.2 x + 0.5, 0, 1)`: 0.5 at 0, 0.7 at 1, 0 below -2.5, 1
    above 2.5 (the recurrent activation of the official LSTM and GRU)."""
    return (0.2 * x + 0.5).clamp(0.0, 1.0)


# ------------------------------------------------------------------------------------------------ initialisers
def glorot_uniform_(w: Tensor) -> Tensor:
    r"""Keras' default kernel initialiser: :math:`U(-l, l)`, :math:`l = \sqrt{6 / (\text{fan}_{in} +
    \text{fan}_{out})}` with receptive-field-scaled fans (the same as ``nn.init.xavier_uniform_``)."""
    return nn.init.xavier_uniform_(w)


def keras_normal_(w: Tensor) -> Tensor:
    """Keras 2's ``'normal'`` initialiser: ``RandomNormal(0, 0.05)``."""
    return nn.init.normal_(w, 0.0, 0.05)


def he_normal_(w: Tensor) -> Tensor:
    r"""Keras 2.2's ``he_normal``: a normal truncated at 2 standard deviations whose standard deviation after
    truncation is :math:`\sqrt{2 / \text{fan}_{in}}` (0.8796... is the std of a unit normal truncated at +-2)."""
    fan_in = w[0].numel()  # torch layout [out, in, ...]: fan_in = in * receptive field
    std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
    return nn.init.trunc_normal_(w, 0.0, std, -2 * std, 2 * std)


# ------------------------------------------------------------------------------------------------ layers
class KerasBatchNorm(nn.Module):
    r"""Keras 2 ``BatchNormalization`` over the features on ``axis``:

    .. math:: y = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta, \qquad \epsilon = 10^{-3}

    with the batch statistics in training (moving averages updated with momentum 0.99) and the moving statistics
    in evaluation. State dict: ``weight`` (gamma), ``bias`` (beta), ``running_mean``, ``running_var`` (no
    ``num_batches_tracked``: the four tensors of a Keras checkpoint, which also make Keras' parameter count).

    Args:
        num_features: size of the feature axis.
        axis: the feature axis of the input (1: ``[B, C, ...]``; -1: ``[..., C]``, Keras' default).
        eps: :math:`\epsilon` (Keras 2 default 1e-3).
        momentum: Keras momentum of the moving averages (0.99; PyTorch's ``momentum`` is ``1 - momentum``).
    """

    #: a batch normalisation: its parameters are BN affine ones (``zoo_core.hub.parameter_counts``)
    zoo_batch_norm = True

    def __init__(
        self,
        num_features: int,
        axis: int = -1,
        eps: float = KERAS_BN_EPSILON,
        momentum: float = KERAS_BN_MOMENTUM,
    ) -> None:
        super().__init__()
        self.num_features = check_positive_int(num_features, "num_features", "KerasBatchNorm")
        if axis not in (1, -1):
            raise ConfigError(f"KerasBatchNorm: axis must be 1 or -1, got {axis!r}")
        self.axis = axis
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: Tensor) -> Tensor:
        # F.batch_norm normalises dim 1: move the feature axis there and back
        move = self.axis == -1 and x.dim() > 2
        z = x.movedim(-1, 1) if move else x
        y = F.batch_norm(
            z,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            training=self.training,
            momentum=1.0 - self.momentum,
            eps=self.eps,
        )
        return y.movedim(1, -1) if move else y

    def extra_repr(self) -> str:
        return f"{self.num_features}, axis={self.axis}, eps={self.eps}, momentum={self.momentum}"


class GaussianNoise(nn.Module):
    """Keras ``GaussianNoise``: adds :math:`N(0, \\sigma^2)` noise in training only (identity in evaluation)."""

    def __init__(self, stddev: float) -> None:
        super().__init__()
        if not (isinstance(stddev, int | float) and stddev >= 0 and math.isfinite(stddev)):
            raise ConfigError(f"GaussianNoise: stddev must be a finite number >= 0, got {stddev!r}")
        self.stddev = float(stddev)

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.stddev > 0:
            return x + self.stddev * torch.randn_like(x)
        return x

    def extra_repr(self) -> str:
        return f"stddev={self.stddev}"


def tf_same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    r"""TensorFlow's ``"same"`` padding of one spatial axis: ``(before, after)`` with total
    :math:`p = \max((\lceil n/s \rceil - 1) s + k - n, 0)`, ``before = floor(p / 2)``, ``after = ceil(p / 2)``
    (7x7 stride 2 on 64: (2, 3); 5x5/2 on 32: (1, 2); 3x3/2 on 16 or 8: (0, 1))."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's ``"same"`` padding (:func:`tf_same_padding`), stride ``s``: output size
    ``ceil(n / s)``. PyTorch's ``padding="same"`` is symmetric and refuses strides > 1; TensorFlow pads the extra
    pixel at the bottom/right, which changes every output of a strided layer."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = tf_same_padding(x.shape[-2], kh, sh)
        left, right = tf_same_padding(x.shape[-1], kw, sw)
        return super().forward(F.pad(x, (left, right, top, bottom)))


class _KerasRecurrent(nn.Module):
    """Shared parameters of the Keras-2 recurrent layers: ``weight_ih_l0 [G u, in]`` (the Keras ``kernel``
    transposed), ``weight_hh_l0 [G u, u]`` (``recurrent_kernel`` transposed), ``bias [G u]``; ``G`` gates."""

    gates = 1

    def __init__(self, input_size: int, units: int, kernel_init: str = "normal") -> None:
        super().__init__()
        who = type(self).__name__
        self.input_size = check_positive_int(input_size, "input_size", who)
        self.units = check_positive_int(units, "units", who)
        if kernel_init not in ("normal", "glorot_uniform"):
            raise ConfigError(f"{who}: kernel_init must be 'normal' or 'glorot_uniform', got {kernel_init!r}")
        g = self.gates * units
        self.weight_ih_l0 = nn.Parameter(torch.empty(g, input_size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(g, units))
        self.bias = nn.Parameter(torch.zeros(g))
        # Keras: kernel 'normal' (the official configs) or glorot_uniform; the fused recurrent kernel [u, G u]
        # orthogonal as one matrix (orthonormal rows = orthonormal columns of its transpose here); bias zeros
        (keras_normal_ if kernel_init == "normal" else glorot_uniform_)(self.weight_ih_l0)
        nn.init.orthogonal_(self.weight_hh_l0)

    def _check(self, x: Tensor) -> None:
        if x.dim() != 3 or x.shape[-1] != self.input_size:
            raise ConfigError(
                f"{type(self).__name__}: expected [B, steps, {self.input_size}], got {tuple(x.shape)}"
            )

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, units={self.units}"


class KerasLSTM(_KerasRecurrent):
    r"""Keras 2 ``LSTM(units, return_sequences=True)`` (``recurrent_activation='hard_sigmoid'``,
    ``activation='tanh'``, ``unit_forget_bias=True``), on ``[B, steps, in]`` -> ``[B, steps, units]``.

    Per step, with :math:`z = W x_t + U h_{t-1} + b` split in Keras' order ``(i, f, c, o)``:

    .. math::
        i = \mathrm{hs}(z_i),\; f = \mathrm{hs}(z_f),\; g = \tanh(z_c),\; o = \mathrm{hs}(z_o), \qquad
        c_t = f c_{t-1} + i g, \qquad h_t = o \tanh(c_t),

    :math:`h_0 = c_0 = 0` for every sample (``stateful=False``); ``hs`` = :func:`hard_sigmoid` (slope 0.2).
    """

    gates = 4

    def __init__(self, input_size: int, units: int, kernel_init: str = "normal") -> None:
        super().__init__(input_size, units, kernel_init)
        with torch.no_grad():
            self.bias[units : 2 * units].fill_(1.0)  # unit_forget_bias

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        u = self.units
        xw = F.linear(x, self.weight_ih_l0, self.bias)  # all steps' input terms at once
        h = x.new_zeros(x.shape[0], u)
        c = x.new_zeros(x.shape[0], u)
        out = []
        for t in range(x.shape[1]):
            z = xw[:, t] + F.linear(h, self.weight_hh_l0)
            i = hard_sigmoid(z[:, :u])
            f = hard_sigmoid(z[:, u : 2 * u])
            g = torch.tanh(z[:, 2 * u : 3 * u])
            o = hard_sigmoid(z[:, 3 * u :])
            c = f * c + i * g
            h = o * torch.tanh(c)
            out.append(h)
        return torch.stack(out, 1)


class KerasGRU(_KerasRecurrent):
    r"""Keras 2 ``GRU(units, return_sequences=True)`` with ``reset_after=False`` (the Keras 2.2 default),
    ``recurrent_activation='hard_sigmoid'``, on ``[B, steps, in]`` -> ``[B, steps, units]``.

    Gate order ``(z, r, h)``; per step

    .. math::
        z = \mathrm{hs}(W_z x_t + U_z h_{t-1} + b_z),\quad r = \mathrm{hs}(W_r x_t + U_r h_{t-1} + b_r),\quad
        \tilde h = \tanh(W_h x_t + U_h (r \odot h_{t-1}) + b_h),\quad h_t = z h_{t-1} + (1 - z) \tilde h,

    :math:`h_0 = 0`. (The reset gate multiplies :math:`h_{t-1}` *before* :math:`U_h`: PyTorch's GRU applies it
    after, which is Keras' ``reset_after=True``.)
    """

    gates = 3

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        u = self.units
        xw = F.linear(x, self.weight_ih_l0, self.bias)
        uz, ur, uh = self.weight_hh_l0[:u], self.weight_hh_l0[u : 2 * u], self.weight_hh_l0[2 * u :]
        h = x.new_zeros(x.shape[0], u)
        out = []
        for t in range(x.shape[1]):
            xt = xw[:, t]
            z = hard_sigmoid(xt[:, :u] + F.linear(h, uz))
            r = hard_sigmoid(xt[:, u : 2 * u] + F.linear(h, ur))
            hh = torch.tanh(xt[:, 2 * u :] + F.linear(r * h, uh))
            h = z * h + (1 - z) * hh
            out.append(h)
        return torch.stack(out, 1)


class KerasSimpleRNN(_KerasRecurrent):
    r"""Keras 2 ``SimpleRNN(units, return_sequences=True)``: :math:`h_t = \tanh(W x_t + U h_{t-1} + b)`,
    :math:`h_0 = 0`, on ``[B, steps, in]`` -> ``[B, steps, units]``."""

    gates = 1

    def forward(self, x: Tensor) -> Tensor:
        self._check(x)
        xw = F.linear(x, self.weight_ih_l0, self.bias)
        h = x.new_zeros(x.shape[0], self.units)
        out = []
        for t in range(x.shape[1]):
            h = torch.tanh(xw[:, t] + F.linear(h, self.weight_hh_l0))
            out.append(h)
        return torch.stack(out, 1)


#: the recurrent layers of the CRNN variants, by the ``rnn`` argument
RECURRENT = {"lstm": KerasLSTM, "gru": KerasGRU, "rnn": KerasSimpleRNN}
