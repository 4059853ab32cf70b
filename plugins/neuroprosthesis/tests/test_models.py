"""The models: registration, conformance, shapes and Keras parameter counts, Keras-2 semantics, properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import zoo_core as zoo
from keras_reference import Maker, flat, zheng_forward, zheng_weights
from zoo_core.sdk import ConfigError, InputError
from zoo_core.testing import check_model, check_neuron

from zoo_neuroprosthesis.layers import KerasGRU, KerasLSTM, hard_sigmoid, tf_same_padding

MODELS = [
    "retina_cnn",
    "retina_crnn_lstm",
    "retina_crnn_rnn",
    "retina_crnn_gru",
    "retina_off_cnn",
    "retina_off_crnn_lstm",
    "deepretina_bn_cnn",
    "sid_decoder",
    "sid_decoder_digits",
]
NEURONS = ["parametric_softplus", "retina_alpha_synapse", "retina_lif"]

#: Keras' parameter counts (BatchNorm moving statistics included) and trainable counts of the official models
KERAS_COUNTS = {
    "retina_cnn": (18_649_072, 18_648_528),
    "retina_crnn_lstm": (3_162_352, 3_161_744),
    "retina_crnn_rnn": (2_858_128, 2_857_520),
    "retina_off_cnn": (6_130, 6_102),
    "retina_off_crnn_lstm": (6_538, 6_494),
    "deepretina_bn_cnn": (169_924, 138_362),
    "sid_decoder": (4_340_997, 4_337_667),
}


def test_plugin_registers_everything() -> None:
    plugins = {p.name: p for p in zoo.list_plugins()}
    assert plugins["neuroprosthesis"].ok, plugins["neuroprosthesis"].status
    assert set(MODELS) <= set(zoo.list_models())
    assert set(NEURONS) <= set(zoo.list_neurons())
    assert {"retina-encoding", "spike-image-decoding"} <= set(zoo.list_tasks())
    assert {"retina_white_noise", "retina_snn", "digits_spikes"} <= set(zoo.list_datasets())
    assert zoo.model_info("sid_decoder").task == "spike-image-decoding"
    assert zoo.model_info("retina_crnn_lstm").task == "retina-encoding"


@pytest.mark.parametrize("name", MODELS)
def test_model_conformance(name: str) -> None:
    check_model(name)


@pytest.mark.parametrize("name", NEURONS)
def test_neuron_conformance(name: str) -> None:
    check_neuron(name)


@pytest.mark.parametrize("name", sorted(KERAS_COUNTS))
def test_keras_parameter_counts(name: str) -> None:
    with torch.device("meta"):
        model = zoo.create_model(name)
    trainable = sum(p.numel() for p in model.parameters())
    total = trainable + sum(b.numel() for b in model.buffers())  # Keras counts BN moving mean and variance
    assert (total, trainable) == KERAS_COUNTS[name]


def test_gru_count_follows_from_the_lstm_count() -> None:
    with torch.device("meta"):
        lstm, gru = zoo.create_model("retina_crnn_lstm"), zoo.create_model("retina_crnn_gru")
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(lstm) - count(gru) == 32 * (3136 + 32 + 1)  # one gate fewer, Keras-2 GRU has one bias
    assert gru.lstm1.weight_ih_l0.shape == (96, 3136)  # the official GRU layer is named "lstm1" too


def _shapes(model: torch.nn.Module, x: torch.Tensor, names: list[str]) -> dict[str, tuple]:
    seen: dict[str, tuple] = {}
    hooks = [
        model.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: seen.update({n: (tuple(i[0].shape), tuple(o.shape))}))
        for n in names
    ]  # fmt: skip
    with torch.no_grad():
        y = model.eval()(x)
    for h in hooks:
        h.remove()
    seen["out"] = tuple(y.shape)
    return seen


@pytest.mark.parametrize("name", ["retina_crnn_lstm", "retina_crnn_rnn", "retina_crnn_gru"])
def test_crnn_shapes_recurrence_over_64_channels(name: str) -> None:
    model = zoo.create_model(name)
    rnn = "vanilla_rnn" if name.endswith("rnn") else "lstm1"
    s = _shapes(model, torch.randn(2, 90, 90, 20), ["conv1", "conv2", rnn, "dense1"])
    assert s["conv1"][1] == (2, 128, 66, 66) and s["conv2"][1] == (2, 64, 56, 56)
    assert s[rnn] == ((2, 64, 3136), (2, 64, 32))  # sequence of 64 conv channels, each a 56x56 map
    assert s["dense1"][0] == (2, 2048) and s["out"] == (2, 80)


def test_cnn_and_other_shapes() -> None:
    s = _shapes(zoo.create_model("retina_cnn"), torch.randn(2, 90, 90, 20), ["conv2", "dense1"])
    assert s["conv2"][1] == (2, 64, 56, 56) and s["dense1"][0] == (2, 200_704) and s["out"] == (2, 80)
    s = _shapes(zoo.create_model("deepretina_bn_cnn"), torch.randn(2, 40, 50, 50), ["conv2d_1", "conv2d_2"])
    assert s["conv2d_1"][1] == (2, 8, 36, 36) and s["conv2d_2"][1] == (2, 8, 26, 26) and s["out"] == (2, 5)
    convs = [f"ae.conv2d_{i}" for i in range(1, 9)]
    s = _shapes(zoo.create_model("sid_decoder"), torch.rand(2, 90), convs)
    assert [s[c][1][-1] for c in convs] == [32, 16, 8, 4, 8, 16, 32, 64]
    assert s["out"] == (2, 64, 64, 1)


def test_bad_inputs_and_configs_are_refused() -> None:
    model = zoo.create_model("retina_off_cnn")
    with pytest.raises(InputError, match=r"\[B, 8, 8, 20\]"):
        model(torch.zeros(2, 20, 8, 8))  # frames first: the Zheng models take them last
    with pytest.raises(InputError, match="floating"):
        model(torch.zeros(2, 8, 8, 20, dtype=torch.long))
    with pytest.raises(ConfigError, match="too small"):
        zoo.create_model("retina_cnn", img_size=30)
    with pytest.raises(ConfigError, match="rnn"):
        zoo.create_model("retina_cnn", rnn="transformer")
    with pytest.raises(ConfigError, match="multiple of 16"):
        zoo.create_model("sid_decoder", img_size=40)


# ------------------------------------------------------------------------------------------------ Keras-2 details
def test_hard_sigmoid_is_keras_2s() -> None:
    x = torch.tensor([0.0, 2.5, -2.5, 1.0, 3.0, -7.0], dtype=torch.float64)
    assert hard_sigmoid(x).tolist() == pytest.approx([0.5, 1.0, 0.0, 0.7, 1.0, 0.0], abs=1e-15)


def test_tf_same_padding() -> None:
    assert tf_same_padding(64, 7, 2) == (2, 3)
    assert tf_same_padding(32, 5, 2) == (1, 2)
    assert tf_same_padding(16, 3, 2) == (0, 1) and tf_same_padding(8, 3, 2) == (0, 1)
    assert tf_same_padding(8, 3, 1) == (1, 1) and tf_same_padding(8, 7, 1) == (3, 3)


def test_lstm_gates_differ_from_pytorch() -> None:
    """The same weights in PyTorch's LSTM (logistic gates) give another output: the slope-0.2 hard sigmoid matters."""
    torch.manual_seed(0)
    k = KerasLSTM(6, 4).double()
    ref = torch.nn.LSTM(6, 4, batch_first=True).double()
    with torch.no_grad():
        ref.weight_ih_l0.copy_(k.weight_ih_l0)
        ref.weight_hh_l0.copy_(k.weight_hh_l0)
        ref.bias_ih_l0.copy_(k.bias)
        ref.bias_hh_l0.zero_()
    x = 2 * torch.randn(3, 5, 6, dtype=torch.float64)
    assert (k(x) - ref(x)[0]).abs().max() > 1e-2
    assert k.bias[4:8].tolist() == [1.0] * 4 and k.bias[:4].tolist() == [0.0] * 4  # unit_forget_bias


def test_keras_gru_resets_before_the_recurrent_kernel() -> None:
    torch.manual_seed(1)
    g = KerasGRU(3, 2).double()
    with torch.no_grad():
        g.weight_hh_l0.normal_()
        g.bias.normal_()
    x = torch.randn(1, 4, 3, dtype=torch.float64)
    h = torch.zeros(1, 2, dtype=torch.float64)
    u = 2
    W, U, b = g.weight_ih_l0, g.weight_hh_l0, g.bias
    for t in range(4):  # written out from the Keras-2 equations
        xt = x[:, t]
        z = hard_sigmoid(xt @ W[:u].T + h @ U[:u].T + b[:u])
        r = hard_sigmoid(xt @ W[u : 2 * u].T + h @ U[u : 2 * u].T + b[u : 2 * u])
        hh = torch.tanh(xt @ W[2 * u :].T + (r * h) @ U[2 * u :].T + b[2 * u :])
        h = z * h + (1 - z) * hh
    assert torch.allclose(g(x)[:, -1], h, atol=1e-14, rtol=0)


def test_parametric_softplus_properties() -> None:
    psp = zoo.create_neuron("parametric_softplus", shape=(3,)).double()
    with torch.no_grad():  # the float64 values of the initialisers (created in float32 by default)
        psp.alpha.fill_(0.2)
        psp.beta.fill_(5.0)
    zero = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    y = psp.activate(zero)
    assert y.tolist()[0] == pytest.approx([0.2 * math.log(2)] * 3, abs=1e-15)
    y.sum().backward()
    assert zero.grad.tolist()[0] == pytest.approx([0.5] * 3, abs=1e-15)  # alpha * beta / 2
    x = torch.linspace(-50, 50, 1001, dtype=torch.float64).view(-1, 1).expand(-1, 3)
    out = psp.activate(x)
    assert bool((out >= 0).all())
    assert torch.allclose(out[-1], 0.2 * 5.0 * x[-1], rtol=1e-12)  # -> alpha beta x for large x
    # PyTorch's softplus returns its input above beta x = 20: within 2.1e-9 of the exact log(1 + e^z)
    z = torch.tensor([19.0, 20.5, 25.0], dtype=torch.float64)
    exact = z + torch.log1p(torch.exp(-z))
    assert float((torch.nn.functional.softplus(z) - exact).abs().max()) < 2.1e-9
    # as a neuron: stateless, step by step on [T, B, cells]
    seq = torch.randn(4, 2, 3, dtype=torch.float64)
    assert torch.equal(psp(seq), psp.activate(seq))


def test_crnn_recurrence_order_matters_and_pixels_do_not() -> None:
    """Permuting the conv2 channels reorders the RNN's sequence and changes the output; permuting the pixels of
    every step together with the RNN's input-weight columns leaves it unchanged. (For the CNN, permuting the conv2
    channels together with dense1's columns leaves the output unchanged.)"""
    cfg = {
        "img_size": 10,
        "T": 4,
        "num_cells": 3,
        "bc_num": 4,
        "bc_size": 5,
        "conv2_filters": 6,
        "conv2_size": 3,
    }
    torch.manual_seed(0)
    model = zoo.create_model("retina_crnn_lstm", **cfg, num_hidden=5).double().eval()
    x = torch.randn(3, 10, 10, 4, dtype=torch.float64)
    with torch.no_grad():
        base = model(x)
        perm = torch.tensor([3, 1, 0, 5, 4, 2])
        permuted = zoo.create_model("retina_crnn_lstm", **cfg, num_hidden=5).double().eval()
        permuted.load_state_dict(model.state_dict())
        for t in (permuted.conv2.weight, permuted.conv2.bias, permuted.batch_normalization_2.weight,
                  permuted.batch_normalization_2.bias, permuted.batch_normalization_2.running_mean,
                  permuted.batch_normalization_2.running_var):  # fmt: skip
            t.copy_(t[perm])
        assert (permuted(x) - base).abs().max() > 1e-3
        pixels = torch.randperm(16)
        seq = torch.randn(3, 6, 16, dtype=torch.float64)
        moved = zoo.create_model("retina_crnn_lstm", **cfg, num_hidden=5).double().eval()
        moved.load_state_dict(model.state_dict())
        moved.lstm1.weight_ih_l0.copy_(model.lstm1.weight_ih_l0[:, pixels])
        assert torch.allclose(moved.lstm1(seq[..., pixels]), model.lstm1(seq), atol=1e-14, rtol=0)

        cnn = zoo.create_model("retina_cnn", **cfg).double().eval()
        cnn2 = zoo.create_model("retina_cnn", **cfg).double().eval()
        cnn2.load_state_dict(cnn.state_dict())
        for t in (cnn2.conv2.weight, cnn2.conv2.bias, cnn2.batch_normalization_2.weight, cnn2.batch_normalization_2.bias,
                  cnn2.batch_normalization_2.running_mean, cnn2.batch_normalization_2.running_var):  # fmt: skip
            t.copy_(t[perm])
        # dense1's columns are in (h, w, c) order: move the channel part of each column
        w = cnn.dense1.weight.view(3, 4, 4, 6)[..., perm].reshape(3, -1)
        cnn2.dense1.weight.copy_(w)
        assert torch.allclose(cnn2(x), cnn(x), atol=1e-13, rtol=0)


@pytest.mark.parametrize("name,rnn", [("retina_cnn", None), ("retina_crnn_lstm", "lstm")])
def test_full_size_zheng_models_equal_the_keras_reference(name: str, rnn: str | None) -> None:
    """The published sizes (90x90x20 -> 80 cells), Keras-named weights through from_official, float64."""
    layers = zheng_weights(
        Maker(21), T=20, bc_num=128, bc_size=25, c2=64, k2=11, map_size=56, cells=80, rnn=rnn, units=32
    )
    weights = flat(layers)
    model = zoo.create_model(name).double().eval()
    model.load_state_dict(zoo.from_official(name, {k: torch.from_numpy(v) for k, v in weights.items()}))
    x = np.random.default_rng(22).standard_normal((1, 90, 90, 20))
    with torch.no_grad():
        out = model(torch.from_numpy(x)).numpy()
    ref = zheng_forward(weights, x, rnn)
    assert np.abs(out - ref).max() < 1e-10 * max(1.0, float(np.abs(ref).max()))
