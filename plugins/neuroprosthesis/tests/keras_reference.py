"""An independent NumPy float64 reference of the official Keras-2 models, for the parity tests.

It works the way Keras 2 / TensorFlow does, not the way the zoo does: channels-last tensors, Keras kernel layouts
(``[kh, kw, in, out]``, ``[in, out]``), TensorFlow "same" padding computed per axis, Keras-2 gates with the
slope-0.2 hard sigmoid, the exact softplus. Weights are a dict keyed like a Keras ``.h5`` file
(``conv1/conv1/kernel:0``); :func:`write_keras_h5` writes such a dict as Keras' ``save_weights`` does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

EPS = 1e-3


# ------------------------------------------------------------------------------------------------ h5 files
def write_keras_h5(
    path, layers: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]], full_model: bool = False
):
    """Write ``layers`` = [(layer name, [(weight name, array), ...]), ...] in Keras 2's ``save_weights`` layout
    (root attribute ``layer_names``; per layer ``weight_names`` and one dataset per weight at its name);
    ``full_model`` puts them under ``model_weights`` as ``model.save`` does."""
    import h5py

    with h5py.File(path, "w") as f:
        root = f.create_group("model_weights") if full_model else f
        root.attrs["layer_names"] = [n.encode("utf8") for n, _ in layers]
        root.attrs["backend"] = b"tensorflow"
        root.attrs["keras_version"] = b"2.2.4"
        for name, weights in layers:
            g = root.create_group(name)
            g.attrs["weight_names"] = [w.encode("utf8") for w, _ in weights]
            for w, arr in weights:
                g.create_dataset(w, data=arr)


def flat(layers) -> dict[str, np.ndarray]:
    return {f"{n}/{w}": a for n, ws in layers for w, a in ws}


# ------------------------------------------------------------------------------------------------ random weights
class Maker:
    """Random Keras-layout weights, layer by layer, in the order Keras builds them."""

    def __init__(self, seed: int = 0, dtype=np.float64) -> None:
        self.rng = np.random.default_rng(seed)
        self.layers: list[tuple[str, list[tuple[str, np.ndarray]]]] = []
        self.dtype = dtype

    def _r(self, *shape, scale=1.0):
        return (self.rng.standard_normal(shape) * scale).astype(self.dtype)

    def none(self, name):  # a layer without weights (Keras saves it with an empty weight list)
        self.layers.append((name, []))

    def conv(self, name, kh, cin, cout, prefix=None):
        p = prefix or name
        scale = 1.0 / math.sqrt(kh * kh * cin)
        self.layers.append((name, [(f"{p}/kernel:0", self._r(kh, kh, cin, cout, scale=scale)),
                                   (f"{p}/bias:0", self._r(cout, scale=0.1))]))  # fmt: skip

    def dense(self, name, nin, nout, bias=True, prefix=None):
        p = prefix or name
        w = [(f"{p}/kernel:0", self._r(nin, nout, scale=1.0 / math.sqrt(nin)))]
        if bias:
            w.append((f"{p}/bias:0", self._r(nout, scale=0.1)))
        self.layers.append((name, w))

    def bn(self, name, n, prefix=None):
        p = prefix or name
        self.layers.append((name, [
            (f"{p}/gamma:0", (1 + 0.2 * self._r(n)).astype(self.dtype)),
            (f"{p}/beta:0", self._r(n, scale=0.2)),
            (f"{p}/moving_mean:0", self._r(n, scale=0.3)),
            (f"{p}/moving_variance:0", self.rng.uniform(0.5, 2.0, n).astype(self.dtype)),
        ]))  # fmt: skip

    def rnn(self, name, nin, units, gates):
        self.layers.append((name, [
            (f"{name}/kernel:0", self._r(nin, gates * units, scale=1.0 / math.sqrt(nin))),
            (f"{name}/recurrent_kernel:0", self._r(units, gates * units, scale=1.0 / math.sqrt(units))),
            (f"{name}/bias:0", self._r(gates * units, scale=0.3)),
        ]))  # fmt: skip

    def psp(self, name, n, names=("alpha", "beta")):
        self.layers.append((name, [
            (f"{name}/{names[0]}:0", self.rng.uniform(0.1, 0.5, n).astype(self.dtype)),
            (f"{name}/{names[1]}:0", self.rng.uniform(0.5, 3.0, n).astype(self.dtype)),
        ]))  # fmt: skip


# ------------------------------------------------------------------------------------------------ operations
def same_pad(n: int, k: int, s: int) -> tuple[int, int]:
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def conv2d(x, kernel, bias, stride=1, padding="valid"):
    """NHWC convolution (TensorFlow: cross-correlation; "same" pads floor(p/2) before, ceil(p/2) after)."""
    kh, kw, _, cout = kernel.shape
    if padding == "same":
        (top, bottom), (left, right) = same_pad(x.shape[1], kh, stride), same_pad(x.shape[2], kw, stride)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    ho = (x.shape[1] - kh) // stride + 1
    wo = (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], ho, wo, cout))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride, :]
            out += patch @ kernel[i, j]
    return out + bias


def conv2d_channels_first(x, kernel, bias):
    """Keras Conv2D(data_format='channels_first'), valid: x [B, C, H, W], kernel [kh, kw, in, out]."""
    return conv2d(x.transpose(0, 2, 3, 1), kernel, bias).transpose(0, 3, 1, 2)


def bn(x, w, name):
    g, b, m, v = (w[f"{name}/{k}:0"] for k in ("gamma", "beta", "moving_mean", "moving_variance"))
    return (x - m) / np.sqrt(v + EPS) * g + b


def relu(x):
    return np.maximum(x, 0.0)


def softplus(x):
    return np.logaddexp(0.0, x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def hard_sigmoid(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def lstm(x, k, rk, b):
    u = rk.shape[0]
    h = np.zeros((x.shape[0], u))
    c = np.zeros((x.shape[0], u))
    out = []
    for t in range(x.shape[1]):
        z = x[:, t] @ k + h @ rk + b
        i, f, g, o = (
            hard_sigmoid(z[:, :u]),
            hard_sigmoid(z[:, u : 2 * u]),
            np.tanh(z[:, 2 * u : 3 * u]),
            hard_sigmoid(z[:, 3 * u :]),
        )
        c = f * c + i * g
        h = o * np.tanh(c)
        out.append(h)
    return np.stack(out, 1)


def gru(x, k, rk, b):
    """Keras 2.2 GRU, reset_after=False: gates z, r, h."""
    u = rk.shape[0]
    h = np.zeros((x.shape[0], u))
    out = []
    for t in range(x.shape[1]):
        xz, xr, xh = (x[:, t] @ k[:, i * u : (i + 1) * u] + b[i * u : (i + 1) * u] for i in range(3))
        z = hard_sigmoid(xz + h @ rk[:, :u])
        r = hard_sigmoid(xr + h @ rk[:, u : 2 * u])
        hh = np.tanh(xh + (r * h) @ rk[:, 2 * u :])
        h = z * h + (1 - z) * hh
        out.append(h)
    return np.stack(out, 1)


def simple_rnn(x, k, rk, b):
    h = np.zeros((x.shape[0], rk.shape[0]))
    out = []
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ k + h @ rk + b)
        out.append(h)
    return np.stack(out, 1)


# ------------------------------------------------------------------------------------------------ models
def zheng_weights(
    m: Maker, *, T, bc_num, bc_size, c2, k2, map_size, cells, rnn=None, units=0, psp_names=("alpha", "beta")
):
    m.none("the_input")
    m.conv("conv1", bc_size, T, bc_num)
    m.bn("batch_normalization_1", bc_num)
    m.none("guassian_noise1")
    m.none("activation_1")
    m.conv("conv2", k2, bc_num, c2)
    m.bn("batch_normalization_2", c2)
    m.none("gaussian_noise2")
    m.none("activation_2")
    if rnn is None:
        m.none("flat")
        m.dense("dense1", map_size * map_size * c2, cells)
        m.bn("batch_normalization_3", cells)
    else:
        m.none("reshape")
        m.none("permute_1")
        name = "vanilla_rnn" if rnn == "rnn" else "lstm1"
        m.rnn(name, map_size * map_size, units, {"lstm": 4, "gru": 3, "rnn": 1}[rnn])
        m.bn("batch_normalization_3", units)
        m.none("flatten_1")
        m.dense("dense1", c2 * units, cells)
        m.bn("batch_normalization_4", cells)
    m.psp("parametric_softplus_1", cells, psp_names)
    return m.layers


def zheng_forward(w: dict, x: np.ndarray, rnn=None, psp_names=("alpha", "beta")):
    """x [B, H, W, T] channels-last, as the official Input."""
    z = relu(
        bn(
            conv2d(x, w["conv1/conv1/kernel:0"], w["conv1/conv1/bias:0"]),
            w,
            "batch_normalization_1/batch_normalization_1",
        )
    )
    z = relu(
        bn(
            conv2d(z, w["conv2/conv2/kernel:0"], w["conv2/conv2/bias:0"]),
            w,
            "batch_normalization_2/batch_normalization_2",
        )
    )
    if rnn is None:
        d = (
            z.reshape(z.shape[0], -1) @ w["dense1/dense1/kernel:0"] + w["dense1/dense1/bias:0"]
        )  # Flatten (h, w, c)
        d = bn(d, w, "batch_normalization_3/batch_normalization_3")
    else:
        seq = z.reshape(z.shape[0], -1, z.shape[-1]).transpose(0, 2, 1)  # Reshape(-1, C), Permute((2, 1))
        name = "vanilla_rnn" if rnn == "rnn" else "lstm1"
        fn = {"lstm": lstm, "gru": gru, "rnn": simple_rnn}[rnn]
        h = fn(seq, *(w[f"{name}/{name}/{k}:0"] for k in ("kernel", "recurrent_kernel", "bias")))
        h = bn(h, w, "batch_normalization_3/batch_normalization_3")
        d = h.reshape(h.shape[0], -1) @ w["dense1/dense1/kernel:0"] + w["dense1/dense1/bias:0"]
        d = bn(d, w, "batch_normalization_4/batch_normalization_4")
    a = w[f"parametric_softplus_1/parametric_softplus_1/{psp_names[0]}:0"]
    b = w[f"parametric_softplus_1/parametric_softplus_1/{psp_names[1]}:0"]
    return softplus(b * d) * a


def deepretina_weights(m: Maker, *, T, n1, n2, k1, k2, f1, f2, cells):
    m.none("input_1")
    m.conv("conv2d_1", k1, T, f1)
    m.none("flatten_1")
    m.bn("batch_normalization_1", f1 * n1 * n1)
    m.none("reshape_1")
    m.none("gaussian_noise_1")
    m.none("activation_1")
    m.conv("conv2d_2", k2, f1, f2)
    m.none("flatten_2")
    m.bn("batch_normalization_2", f2 * n2 * n2)
    m.none("reshape_2")
    m.none("gaussian_noise_2")
    m.none("activation_2")
    m.none("flatten_3")
    m.dense("dense_1", f2 * n2 * n2, cells, bias=False)
    m.bn("batch_normalization_3", cells)
    m.none("activation_3")
    return m.layers


def deepretina_forward(w: dict, x: np.ndarray):
    """x [B, T, H, W] channels-first."""
    z = conv2d_channels_first(x, w["conv2d_1/conv2d_1/kernel:0"], w["conv2d_1/conv2d_1/bias:0"])
    z = relu(bn(z.reshape(z.shape[0], -1), w, "batch_normalization_1/batch_normalization_1")).reshape(z.shape)
    z = conv2d_channels_first(z, w["conv2d_2/conv2d_2/kernel:0"], w["conv2d_2/conv2d_2/bias:0"])
    z = relu(bn(z.reshape(z.shape[0], -1), w, "batch_normalization_2/batch_normalization_2")).reshape(z.shape)
    d = z.reshape(z.shape[0], -1) @ w["dense_1/dense_1/kernel:0"]
    return softplus(bn(d, w, "batch_normalization_3/batch_normalization_3"))


def sid_weights(m: Maker, *, cells, hidden, size, widths, kernels):
    """The end2end model: input, the nested Sequential 'dense', the nested Sequential 'ae'."""
    dense = Maker.__new__(Maker)
    dense.rng, dense.layers, dense.dtype = m.rng, [], m.dtype
    dense.dense("d1", cells, hidden, prefix="dense_1")
    dense.bn("b1", hidden, prefix="batch_normalization_1")
    dense.dense("d2", hidden, size * size, prefix="dense_2")
    ae = Maker.__new__(Maker)
    ae.rng, ae.layers, ae.dtype = m.rng, [], m.dtype
    chans = [1, *widths]
    dec = [*widths[::-1][1:], 1]
    dec_in = [widths[-1], *dec[:-1]]
    specs = [(chans[i], chans[i + 1], kernels[i]) for i in range(4)]
    specs += [(dec_in[i], dec[i], kernels[::-1][i]) for i in range(4)]
    for i, (cin, cout, k) in enumerate(specs):
        ae.conv(f"c{i}", k, cin, cout, prefix=f"conv2d_{i + 1}")
        ae.bn(f"b{i}", cout, prefix="ae_out" if i == 7 else f"batch_normalization_{i + 2}")
    m.none("input_1")
    m.layers.append(("dense", [w for _, ws in dense.layers for w in ws]))
    m.layers.append(("ae", [w for _, ws in ae.layers for w in ws]))
    return m.layers


def sid_forward(w: dict, x: np.ndarray, size: int):
    h = x @ w["dense/dense_1/kernel:0"] + w["dense/dense_1/bias:0"]
    h = relu(bn(h, w, "dense/batch_normalization_1"))
    img = sigmoid(h @ w["dense/dense_2/kernel:0"] + w["dense/dense_2/bias:0"]).reshape(-1, size, size, 1)
    z = img
    for i in range(1, 9):
        if i > 4:
            z = z.repeat(2, axis=1).repeat(2, axis=2)  # UpSampling2D nearest
        z = conv2d(
            z,
            w[f"ae/conv2d_{i}/kernel:0"],
            w[f"ae/conv2d_{i}/bias:0"],
            stride=2 if i <= 4 else 1,
            padding="same",
        )
        z = bn(z, w, "ae/ae_out" if i == 8 else f"ae/batch_normalization_{i + 1}")
        if i < 8:
            z = relu(z)
    return z
