r"""The retina encoders and the spike-image decoder, with the official Keras-2 layer order, names and numbers.

Three families (each one keyword-only class; the registered variants are in :mod:`zoo_neuroprosthesis.plugin`):

:class:`RetinaCRNN` (Zheng, Jia, Yu, Liu, Huang, *Patterns* 2021): CNN and CNN+RNN encoders of retinal ganglion
    cells. Input: the last ``T`` stimulus frames stacked as channels, channels-last ``[B, H, W, T]`` (frame 0 the
    oldest); output: firing rates ``[B, num_cells]``::

        conv1 (bc_num @ bc_size, valid) -> BN -> GaussianNoise -> ReLU
        conv2 (conv2_filters @ conv2_size, valid) -> BN -> GaussianNoise -> ReLU          [B, h, w, C]
        CNN:  flatten in (h, w, c) order -> dense1 -> BN -> ParametricSoftplus
        CRNN: [B, h*w, C] -> permute -> [B, C, h*w]: the RNN runs over the C channels of conv2 (sequence length
              C, each step's input that channel's map flattened row-major, index i*w + j) -> [B, C, units]
              -> BN over the units -> flatten step-major (index step*units + unit) -> dense1 -> BN -> PSP

    The recurrence is over conv channels, not time. RNN: Keras-2 LSTM (hard-sigmoid gates), SimpleRNN or GRU
    (``reset_after=False``).

:class:`DeepRetinaBNCNN` (McIntosh et al., NIPS 2016, ``baccuslab/deep-retina``'s ``bn_cnn``): input
    channels-first ``[B, T, H, W]`` (40 frames of 10 ms)::

        conv (8 @ 15, valid) -> flatten (c, h, w) -> BN per unit -> reshape -> GaussianNoise(0.05) -> ReLU
        conv (8 @ 11, valid) -> same -> flatten -> dense (no bias) -> BN -> softplus

:class:`SIDDecoder` (Zhang et al., *Neural Networks* 2020, the Spike-Image Decoder): spike counts of
    ``num_cells`` cells (min-max scaled to [0, 1] per cell) -> image ``[B, S, S, 1]`` (channels-last)::

        dense:  Dense(hidden) -> BN -> ReLU -> Dropout 0.5 -> Dense(S*S) -> sigmoid -> [B, S, S, 1]
        ae:     4 x [conv stride 2 "same" -> BN -> ReLU (-> Dropout 0.25 after the 2nd..4th)]     S -> S/16
                3 x [nearest upsample x2 -> conv "same" -> BN -> ReLU -> Dropout 0.25]
                upsample x2 -> conv(1) -> BN ("ae_out"), no output nonlinearity

Keras-2 semantics that change numbers are kept (:mod:`zoo_neuroprosthesis.layers`): BN epsilon 1e-3,
hard-sigmoid slope 0.2, Keras gate order, TensorFlow's asymmetric "same" padding, channels-last flattening. The
module names are the Keras layer names of the official models (``conv1``, ``batch_normalization_1``, ``lstm1``,
``dense.dense_1``, ``ae.ae_out``...), so a converted checkpoint's keys are the Keras names.
GaussianNoise and Dropout act in training only. Each model's ``training_outputs(x)`` returns the prediction and
the Keras regularisation penalty (kernel L1/L2, dense-output activity L1) that training adds to the loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
import zoo_core as zoo
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, InputError, check_choice, check_finite, check_positive_int

from .layers import (
    RECURRENT,
    GaussianNoise,
    KerasBatchNorm,
    SameConv2d,
    glorot_uniform_,
    he_normal_,
    keras_normal_,
)

__all__ = ["DeepRetinaBNCNN", "RetinaCRNN", "SIDDecoder", "check_input"]


def check_input(x: object, shape: Sequence[int | None], who: str, layout: str) -> Tensor:
    """``x`` if it is a finite floating tensor of ``shape`` (``None``: any size, the batch), else InputError."""
    if not isinstance(x, Tensor):
        raise InputError(f"{who}: expected a torch.Tensor {layout}, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(f"{who}: expected a floating-point tensor {layout}, got {x.dtype}")
    if x.dim() != len(shape) or any(s is not None and d != s for d, s in zip(x.shape, shape)):
        want = ", ".join("B" if s is None else str(s) for s in shape)
        raise InputError(f"{who}: expected input {layout} = [{want}], got {tuple(x.shape)}")
    return check_finite(x, who)


def _sq(p: Tensor) -> Tensor:
    return p.square().sum()


def _keras_init(module: nn.Module, kernel: str = "glorot_uniform") -> None:
    """Keras initialisation of a conv/dense layer: the kernel initialiser, zero bias."""
    {"glorot_uniform": glorot_uniform_, "normal": keras_normal_, "he_normal": he_normal_}[kernel](
        module.weight
    )
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)


class RetinaCRNN(nn.Module):
    r"""Zheng et al. 2021 CNN / CRNN encoder of retinal ganglion cells (module docstring for the layer order).

    Args:
        img_size: stimulus height = width (90 in the movie experiments, 8 in the simulated OFF cells).
        T: frames in the input window (stacked as channels; 20).
        num_cells: cells predicted (80; 2 for the OFF cells).
        bc_num: conv1 filters (128).
        bc_size: conv1 kernel size (25).
        conv2_filters: conv2 filters (64).
        conv2_size: conv2 kernel size (11).
        rnn: ``None`` (the CNN), ``"lstm"``, ``"rnn"`` (SimpleRNN) or ``"gru"``.
        num_hidden: units of the RNN (32).
        noise_std: GaussianNoise standard deviation (0.1; training only).
        conv_init: Keras kernel initialiser of the convs: ``"glorot_uniform"`` (CNN) or ``"normal"`` (CRNN).
        l1_wreg: L1 factor on conv1's kernel (training only; published 5.5e-4 CNN, 5e-4 CRNN).
        l2_reg: L2 factor on conv1, conv2, the RNN's input kernel and dense1's kernel (1e-3).
        activity_l1: L1 factor on dense1's output (1e-3).
    """

    def __init__(
        self,
        *,
        img_size: int = 90,
        T: int = 20,
        num_cells: int = 80,
        bc_num: int = 128,
        bc_size: int = 25,
        conv2_filters: int = 64,
        conv2_size: int = 11,
        rnn: str | None = None,
        num_hidden: int = 32,
        noise_std: float = 0.1,
        conv_init: str = "glorot_uniform",
        l1_wreg: float = 0.0,
        l2_reg: float = 1e-3,
        activity_l1: float = 1e-3,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.img_size = check_positive_int(img_size, "img_size", who)
        self.T = check_positive_int(T, "T", who)
        self.num_cells = check_positive_int(num_cells, "num_cells", who)
        for name, v in (
            ("bc_num", bc_num),
            ("bc_size", bc_size),
            ("conv2_filters", conv2_filters),
            ("conv2_size", conv2_size),
            ("num_hidden", num_hidden),
        ):
            check_positive_int(v, name, who)
        self.rnn_kind = None if rnn is None else check_choice(rnn, "rnn", who, tuple(RECURRENT))
        check_choice(conv_init, "conv_init", who, ("glorot_uniform", "normal"))
        self.map_size = img_size - bc_size + 1 - conv2_size + 1
        if self.map_size < 1:
            raise ConfigError(
                f"{who}: img_size {img_size} is too small for conv1 {bc_size}x{bc_size} and conv2 "
                f"{conv2_size}x{conv2_size} (valid padding); need img_size >= {bc_size + conv2_size - 1}"
            )
        self.l1_wreg, self.l2_reg, self.activity_l1 = float(l1_wreg), float(l2_reg), float(activity_l1)

        self.conv1 = nn.Conv2d(T, bc_num, bc_size)
        self.batch_normalization_1 = KerasBatchNorm(bc_num, axis=1)
        self.noise1 = GaussianNoise(noise_std)
        self.conv2 = nn.Conv2d(bc_num, conv2_filters, conv2_size)
        self.batch_normalization_2 = KerasBatchNorm(conv2_filters, axis=1)
        self.noise2 = GaussianNoise(noise_std)
        _keras_init(self.conv1, conv_init)
        _keras_init(self.conv2, conv_init)
        steps_in = self.map_size * self.map_size
        if self.rnn_kind is None:
            self.dense1 = nn.Linear(steps_in * conv2_filters, num_cells)
            self.batch_normalization_3 = KerasBatchNorm(num_cells)
        else:
            # official layer names: "lstm1" for the LSTM and the GRU, "vanilla_rnn" for the SimpleRNN
            self.rnn_name = "vanilla_rnn" if self.rnn_kind == "rnn" else "lstm1"
            self.add_module(
                self.rnn_name, RECURRENT[self.rnn_kind](steps_in, num_hidden, kernel_init="normal")
            )
            self.batch_normalization_3 = KerasBatchNorm(num_hidden)
            self.dense1 = nn.Linear(conv2_filters * num_hidden, num_cells)
            self.batch_normalization_4 = KerasBatchNorm(num_cells)
        _keras_init(self.dense1, "he_normal")
        self.parametric_softplus_1 = zoo.create_neuron("parametric_softplus", shape=(num_cells,))

    @property
    def recurrent(self) -> nn.Module | None:
        return getattr(self, self.rnn_name) if self.rnn_kind is not None else None

    def _forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        n = self.img_size
        x = check_input(
            x, (None, n, n, self.T), type(self).__name__, "[B, H, W, T] (frames on the last axis)"
        )
        z = x.permute(0, 3, 1, 2)  # channels-last -> [B, T, H, W] for the convs
        z = F.relu(self.noise1(self.batch_normalization_1(self.conv1(z))))
        z = F.relu(self.noise2(self.batch_normalization_2(self.conv2(z))))  # [B, C, h, w]
        if self.rnn_kind is None:
            dense = self.dense1(z.permute(0, 2, 3, 1).flatten(1))  # Keras Flatten of [B, h, w, C]
            out = self.batch_normalization_3(dense)
        else:
            seq = self.recurrent(z.flatten(2))  # [B, C, h*w]: channel c is step c, pixels row-major
            dense = self.dense1(self.batch_normalization_3(seq).flatten(1))  # step-major flatten
            out = self.batch_normalization_4(dense)
        return self.parametric_softplus_1.activate(out), dense

    def forward(self, x: Tensor) -> Tensor:
        """Firing rates ``[B, num_cells]`` of the stimulus window ``x`` ``[B, H, W, T]``."""
        return self._forward(x)[0]

    def training_outputs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r"""``(rates, penalty)``: the Keras regularisers added to the training loss,
        :math:`\lambda_1 \|W_{conv1}\|_1 + \lambda_2 (\|W_{conv1}\|^2 + \|W_{conv2}\|^2 + \|W_{rnn}\|^2 +
        \|W_{dense1}\|^2) + \lambda_a \sum |\mathrm{dense1}(x)|` (the activity term summed over the batch, as
        multi-backend Keras 2.2 adds it)."""
        rates, dense = self._forward(x)
        kernels = [self.conv1.weight, self.conv2.weight, self.dense1.weight]
        if self.rnn_kind is not None:
            kernels.append(self.recurrent.weight_ih_l0)  # kernel_regularizer: the input kernel only
        penalty = self.l1_wreg * self.conv1.weight.abs().sum() + self.l2_reg * sum(_sq(k) for k in kernels)
        return rates, penalty + self.activity_l1 * dense.abs().sum()


class DeepRetinaBNCNN(nn.Module):
    r"""Deep Retina's BN-CNN (McIntosh et al. 2016): two valid convs each followed by a BatchNorm over every unit
    of the flattened ``(c, h, w)`` map, GaussianNoise and ReLU; a bias-free dense layer, BN and softplus.

    Args:
        img_size: stimulus height = width (50).
        T: frames of history, the input channels (40 frames of 10 ms).
        num_cells: cells predicted (5 in the first experiment; 4, 17, 7, 5, 9 in the others).
        conv1_filters, conv1_size: first conv (8 @ 15).
        conv2_filters, conv2_size: second conv (8 @ 11).
        noise_std: GaussianNoise standard deviation (0.05; training only).
        l2_reg: L2 factor on both conv kernels (0.01; training only).
    """

    def __init__(
        self,
        *,
        img_size: int = 50,
        T: int = 40,
        num_cells: int = 5,
        conv1_filters: int = 8,
        conv1_size: int = 15,
        conv2_filters: int = 8,
        conv2_size: int = 11,
        noise_std: float = 0.05,
        l2_reg: float = 0.01,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.img_size = check_positive_int(img_size, "img_size", who)
        self.T = check_positive_int(T, "T", who)
        self.num_cells = check_positive_int(num_cells, "num_cells", who)
        for name, v in (
            ("conv1_filters", conv1_filters),
            ("conv1_size", conv1_size),
            ("conv2_filters", conv2_filters),
            ("conv2_size", conv2_size),
        ):
            check_positive_int(v, name, who)
        n1 = img_size - conv1_size + 1
        n2 = n1 - conv2_size + 1
        if n2 < 1:
            raise ConfigError(
                f"{who}: img_size {img_size} is too small for convs of {conv1_size} and {conv2_size} (valid "
                f"padding); need img_size >= {conv1_size + conv2_size - 1}"
            )
        self.maps = (conv1_filters, n1, n2, conv2_filters)
        self.l2_reg = float(l2_reg)
        self.conv2d_1 = nn.Conv2d(T, conv1_filters, conv1_size)
        self.batch_normalization_1 = KerasBatchNorm(conv1_filters * n1 * n1)
        self.noise1 = GaussianNoise(noise_std)
        self.conv2d_2 = nn.Conv2d(conv1_filters, conv2_filters, conv2_size)
        self.batch_normalization_2 = KerasBatchNorm(conv2_filters * n2 * n2)
        self.noise2 = GaussianNoise(noise_std)
        self.dense_1 = nn.Linear(conv2_filters * n2 * n2, num_cells, bias=False)
        self.batch_normalization_3 = KerasBatchNorm(num_cells)
        for m in (self.conv2d_1, self.conv2d_2, self.dense_1):
            _keras_init(m)

    def forward(self, x: Tensor) -> Tensor:
        """Firing rates ``[B, num_cells]`` of the stimulus ``x`` ``[B, T, H, W]`` (frames first)."""
        n = self.img_size
        x = check_input(x, (None, self.T, n, n), type(self).__name__, "[B, T, H, W] (frames first)")

        def bn_layer(z: Tensor, bn: nn.Module, noise: nn.Module) -> Tensor:
            return F.relu(noise(bn(z.flatten(1)).view_as(z)))  # BN per unit of the (c, h, w) flatten

        z = bn_layer(self.conv2d_1(x), self.batch_normalization_1, self.noise1)
        z = bn_layer(self.conv2d_2(z), self.batch_normalization_2, self.noise2)
        return F.softplus(self.batch_normalization_3(self.dense_1(z.flatten(1))))

    def training_outputs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(rates, penalty)``: L2 ``l2_reg`` on both conv kernels."""
        return self(x), self.l2_reg * (_sq(self.conv2d_1.weight) + _sq(self.conv2d_2.weight))


class SIDDecoder(nn.Module):
    r"""The Spike-Image Decoder (module docstring for the layer order): a dense decoder to a first
    ``S x S`` image, refined by a convolutional autoencoder.

    Args:
        num_cells: recorded cells, the input size (90).
        img_size: output image height = width ``S`` (64; a multiple of 16).
        hidden: units of the first dense layer (512).
        widths: encoder conv filters (64, 128, 256, 256); the decoder mirrors them (256, 128, 64, then 1).
        kernels: encoder kernel sizes (7, 5, 3, 3); the decoder uses them reversed (3, 3, 5, 7).
        dense_dropout: dropout after the first dense layer (0.5; training only).
        ae_dropout: dropout in the autoencoder (0.25; training only).
    """

    def __init__(
        self,
        *,
        num_cells: int = 90,
        img_size: int = 64,
        hidden: int = 512,
        widths: Sequence[int] = (64, 128, 256, 256),
        kernels: Sequence[int] = (7, 5, 3, 3),
        dense_dropout: float = 0.5,
        ae_dropout: float = 0.25,
    ) -> None:
        super().__init__()
        who = type(self).__name__
        self.num_cells = check_positive_int(num_cells, "num_cells", who)
        self.img_size = check_positive_int(img_size, "img_size", who)
        check_positive_int(hidden, "hidden", who)
        widths, kernels = [int(w) for w in widths], [int(k) for k in kernels]
        if len(widths) != 4 or len(kernels) != 4:
            raise ConfigError(f"{who}: widths and kernels need 4 entries each, got {widths} and {kernels}")
        for w in (*widths, *kernels):
            check_positive_int(w, "widths/kernels entry", who)
        if img_size % 16:
            raise ConfigError(
                f"{who}: img_size must be a multiple of 16 (four stride-2 stages), got {img_size}"
            )
        self.dense = nn.Module()
        self.dense.dense_1 = nn.Linear(num_cells, hidden)
        self.dense.batch_normalization_1 = KerasBatchNorm(hidden)
        self.dense.dropout = nn.Dropout(dense_dropout)
        self.dense.dense_2 = nn.Linear(hidden, img_size * img_size)
        # autoencoder: conv2d_1..8 with batch_normalization_2..8 after the first seven and "ae_out" after the last
        self.ae = nn.Module()
        chans = [1, *widths]
        specs = [(chans[i], chans[i + 1], kernels[i], 2) for i in range(4)]  # encoder
        dec = [*widths[::-1][1:], 1]  # 256, 128, 64, then 1
        dec_in = [widths[-1], *dec[:-1]]
        specs += [(dec_in[i], dec[i], kernels[::-1][i], 1) for i in range(4)]  # decoder
        for i, (cin, cout, k, s) in enumerate(specs):
            self.ae.add_module(f"conv2d_{i + 1}", SameConv2d(cin, cout, k, stride=s))
            self.ae.add_module(
                "ae_out" if i == 7 else f"batch_normalization_{i + 2}", KerasBatchNorm(cout, axis=1)
            )
        self.ae.dropout = nn.Dropout(ae_dropout)
        for m in (
            self.dense.dense_1,
            self.dense.dense_2,
            *(getattr(self.ae, f"conv2d_{i}") for i in range(1, 9)),
        ):
            _keras_init(m)

    def _bn(self, i: int) -> nn.Module:
        return getattr(self.ae, "ae_out" if i == 8 else f"batch_normalization_{i + 1}")

    def forward_dense(self, x: Tensor) -> Tensor:
        """The dense decoder's image ``[B, S, S, 1]`` in (0, 1) (an unsupervised intermediate)."""
        x = check_input(
            x, (None, self.num_cells), type(self).__name__, "[B, num_cells] (scaled spike counts)"
        )
        d = self.dense
        h = d.dropout(F.relu(d.batch_normalization_1(d.dense_1(x))))
        return torch.sigmoid(d.dense_2(h)).view(-1, self.img_size, self.img_size, 1)

    def forward_ae(self, img: Tensor) -> Tensor:
        """The autoencoder on an image ``[B, S, S, 1]`` (channels-last) -> ``[B, S, S, 1]``."""
        z = img.permute(0, 3, 1, 2)
        for i in range(1, 9):
            if i > 4:
                z = F.interpolate(z, scale_factor=2, mode="nearest")  # UpSampling2D((2, 2))
            z = self._bn(i)(getattr(self.ae, f"conv2d_{i}")(z))
            if i < 8:
                z = F.relu(z)
                if i > 1:
                    z = self.ae.dropout(z)
        return z.permute(0, 2, 3, 1)

    def forward(self, x: Tensor) -> Tensor:
        """The reconstructed image ``[B, S, S, 1]`` (the autoencoder's output, unbounded)."""
        return self.forward_ae(self.forward_dense(x))

    def training_outputs(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(image, 0)``: the official decoder has no regulariser."""
        return self(x), x.new_zeros(())
