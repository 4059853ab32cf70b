"""Official Keras-2 checkpoints: ``.h5`` files written here in the official layout load through ``from_official``
and the zoo models then equal an independent NumPy reference of the Keras-2 models in float64."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import zoo_core as zoo
from keras_reference import (
    Maker,
    deepretina_forward,
    deepretina_weights,
    flat,
    sid_forward,
    sid_weights,
    write_keras_h5,
    zheng_forward,
    zheng_weights,
)
from safetensors.torch import load_file, save_file
from zoo_core.cli import main as zoo_main
from zoo_core.sdk import WeightsError

from zoo_neuroprosthesis.h5 import main as h5_main
from zoo_neuroprosthesis.official import read_keras_h5

pytest.importorskip("h5py")

TOL = 1e-10
#: a small Zheng configuration: 10x10 stimulus, T 4, conv 4@5 then 3@3 -> 4x4 maps, 3 cells, 5 RNN units
TINY = {
    "img_size": 10,
    "T": 4,
    "num_cells": 3,
    "bc_num": 4,
    "bc_size": 5,
    "conv2_filters": 3,
    "conv2_size": 3,
}
ZHENG = {"retina_cnn": None, "retina_crnn_lstm": "lstm", "retina_crnn_rnn": "rnn", "retina_crnn_gru": "gru"}


def _load(name: str, path, **kwargs) -> torch.nn.Module:
    state = read_keras_h5(path)
    model = zoo.create_model(name, **{**zoo.official_config(name, state), **kwargs}).double().eval()
    model.load_state_dict(zoo.from_official(name, state), strict=True)
    return model


def _run(model, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("name", list(ZHENG))
def test_zheng_models_equal_the_keras_reference(tmp_path, name):
    rnn = ZHENG[name]
    layers = zheng_weights(
        Maker(1), T=4, bc_num=4, bc_size=5, c2=3, k2=3, map_size=4, cells=3, rnn=rnn, units=5
    )
    write_keras_h5(tmp_path / "weights.h5", layers)
    model = _load(name, tmp_path / "weights.h5", **TINY, num_hidden=5)
    x = np.random.default_rng(2).standard_normal((3, 10, 10, 4))
    ref = zheng_forward(flat(layers), x, rnn)
    out = _run(model, x)
    assert out.shape == (3, 3)
    assert np.abs(out - ref).max() < TOL * max(1.0, np.abs(ref).max())
    # the parity is not vacuous: channels-first flattening or a logistic-sigmoid LSTM would be far off
    assert np.abs(ref).max() > 1e-2


@pytest.mark.parametrize("name", ["retina_off_cnn", "retina_off_crnn_lstm"])
def test_off_cell_models_at_their_registered_size(tmp_path, name):
    rnn = "lstm" if "crnn" in name else None
    layers = zheng_weights(
        Maker(3), T=20, bc_num=8, bc_size=6, c2=4, k2=3, map_size=1, cells=2, rnn=rnn, units=8
    )
    write_keras_h5(tmp_path / "w.h5", layers, full_model=True)  # model.save: weights under model_weights
    model = _load(name, tmp_path / "w.h5")
    assert model.zoo_args == zoo.model_info(name).defaults  # nothing overridden: the registered model itself
    x = np.random.default_rng(4).choice([-0.5, 0.5], size=(5, 8, 8, 20))
    assert np.abs(_run(model, x) - zheng_forward(flat(layers), x, rnn)).max() < TOL


def test_deepretina_bn_cnn_at_its_registered_size(tmp_path):
    layers = deepretina_weights(Maker(5), T=40, n1=36, n2=26, k1=15, k2=11, f1=8, f2=8, cells=5)
    write_keras_h5(tmp_path / "w.h5", layers)
    model = _load("deepretina_bn_cnn", tmp_path / "w.h5")
    x = np.random.default_rng(6).standard_normal((2, 40, 50, 50))
    ref = deepretina_forward(flat(layers), x)
    assert np.abs(_run(model, x) - ref).max() < TOL * max(1.0, np.abs(ref).max())


def test_deepretina_infers_the_number_of_cells(tmp_path):
    layers = deepretina_weights(Maker(7), T=4, n1=8, n2=6, k1=5, k2=3, f1=8, f2=8, cells=9)
    write_keras_h5(tmp_path / "w.h5", layers)
    model = _load("deepretina_bn_cnn", tmp_path / "w.h5", T=4, img_size=12, conv1_size=5, conv2_size=3)
    assert model.num_cells == 9
    x = np.random.default_rng(8).standard_normal((3, 4, 12, 12))
    assert np.abs(_run(model, x) - deepretina_forward(flat(layers), x)).max() < TOL


def test_sid_decoder_at_its_registered_size_with_tf_same_padding(tmp_path):
    layers = sid_weights(
        Maker(9), cells=90, hidden=512, size=64, widths=(64, 128, 256, 256), kernels=(7, 5, 3, 3)
    )
    write_keras_h5(tmp_path / "e2e.h5", layers)
    model = _load("sid_decoder", tmp_path / "e2e.h5")
    x = np.random.default_rng(10).uniform(0, 1, (2, 90))
    ref = sid_forward(flat(layers), x, 64)
    out = _run(model, x)
    assert out.shape == (2, 64, 64, 1)
    assert np.abs(out - ref).max() < TOL * max(1.0, np.abs(ref).max())


def test_sid_symmetric_padding_would_be_wrong(tmp_path):
    """TensorFlow pads stride-2 'same' convs asymmetrically; PyTorch's symmetric padding changes the output."""
    layers = sid_weights(Maker(11), cells=6, hidden=8, size=16, widths=(4, 4, 4, 4), kernels=(7, 5, 3, 3))
    write_keras_h5(tmp_path / "s.h5", layers)
    model = _load("sid_decoder", tmp_path / "s.h5", hidden=8, widths=[4, 4, 4, 4])
    x = np.random.default_rng(12).uniform(0, 1, (2, 6))
    ref = sid_forward(flat(layers), x, 16)
    assert np.abs(_run(model, x) - ref).max() < TOL
    conv = model.ae.conv2d_1
    img = model.forward_dense(torch.from_numpy(x)).permute(0, 3, 1, 2)
    symmetric = torch.nn.functional.conv2d(img, conv.weight, conv.bias, stride=2, padding=3)[..., :8, :8]
    assert (symmetric - conv(img)).abs().max() > 1e-3


def test_keras_names_survive_safetensors_and_unnamed_psp_variables(tmp_path):
    """A Keras-named state dict loses its order in safetensors (keys sorted): layers are matched by name. The
    ParametricSoftplus of the Zheng code is made with K.variable: its tensors are 'Variable_N:0' (alpha first)."""
    layers = zheng_weights(
        Maker(13), T=4, bc_num=4, bc_size=5, c2=3, k2=3, map_size=4, cells=3, rnn="lstm", units=5,
        psp_names=("Variable_9", "Variable_10"),  # numeric, not lexical, order: 9 (alpha) before 10 (beta)
    )  # fmt: skip
    weights = flat(layers)
    save_file({k: torch.from_numpy(v) for k, v in weights.items()}, str(tmp_path / "k.safetensors"))
    state = load_file(str(tmp_path / "k.safetensors"))
    assert list(state) == sorted(state)
    model = zoo.create_model("retina_crnn_lstm", **TINY, num_hidden=5).double().eval()
    model.load_state_dict(zoo.from_official("retina_crnn_lstm", state))
    x = np.random.default_rng(14).standard_normal((2, 10, 10, 4))
    ref = zheng_forward(weights, x, "lstm", psp_names=("Variable_9", "Variable_10"))
    assert np.abs(_run(model, x) - ref).max() < TOL


def test_renumbered_layers_are_matched_in_build_order(tmp_path):
    """A model built after others in one Keras session has other counters (batch_normalization_9 ... _12)."""
    layers = zheng_weights(
        Maker(15), T=4, bc_num=4, bc_size=5, c2=3, k2=3, map_size=4, cells=3, rnn="rnn", units=5
    )
    ren = {f"batch_normalization_{i}": f"batch_normalization_{i + 8}" for i in range(1, 5)}
    ren["parametric_softplus_1"] = "parametric_softplus_3"

    def rename(s: str) -> str:
        for a, b in ren.items():
            s = s.replace(a + "/", b + "/")
        return s

    renamed = [(ren.get(n, n), [(rename(w), a) for w, a in ws]) for n, ws in layers]
    write_keras_h5(tmp_path / "r.h5", renamed)
    model = _load("retina_crnn_rnn", tmp_path / "r.h5", **TINY, num_hidden=5)
    x = np.random.default_rng(16).standard_normal((2, 10, 10, 4))
    assert np.abs(_run(model, x) - zheng_forward(flat(layers), x, "rnn")).max() < TOL


def test_bad_official_files_raise_weights_errors(tmp_path):
    import h5py

    with h5py.File(tmp_path / "plain.h5", "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(WeightsError, match="not a Keras weight file"):
        read_keras_h5(tmp_path / "plain.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="cannot be read as HDF5"):
        read_keras_h5(tmp_path / "junk.h5")
    with pytest.raises(WeightsError, match="not found"):
        read_keras_h5(tmp_path / "missing.h5")
    # a CNN checkpoint offered to a CRNN: the layers do not match
    layers = zheng_weights(Maker(17), T=4, bc_num=4, bc_size=5, c2=3, k2=3, map_size=4, cells=3)
    write_keras_h5(tmp_path / "cnn.h5", layers)
    with pytest.raises(WeightsError, match="rnn"):
        zoo.from_official("retina_crnn_lstm", read_keras_h5(tmp_path / "cnn.h5"))


def test_h5_tool_and_zoo_convert(tmp_path, capsys):
    """h5 -> safetensors (Keras names, or the zoo layout) -> zoo convert -> a weight folder that loads and equals
    the reference."""
    layers = zheng_weights(Maker(19, np.float32), T=20, bc_num=8, bc_size=6, c2=4, k2=3, map_size=1, cells=2)
    write_keras_h5(tmp_path / "off.h5", layers)
    x = np.random.default_rng(20).choice([-0.5, 0.5], size=(4, 8, 8, 20))
    ref = zheng_forward({k: v.astype(np.float64) for k, v in flat(layers).items()}, x)
    for model_arg in ([], ["--model", "retina_off_cnn"]):
        st = tmp_path / f"off{len(model_arg)}.safetensors"
        assert h5_main([str(tmp_path / "off.h5"), str(st), *model_arg]) == 0
        out = tmp_path / f"folder{len(model_arg)}"
        rc = zoo_main(
            ["convert", "--official", str(st), "--model", "retina_off_cnn", "--out", str(out), "--tag", "t"]
        )
        assert rc == 0
        cfg = json.loads((out / "config.json").read_text())
        assert cfg["model"] == "retina_off_cnn" and cfg["official"]["official_file"] == st.name
        model = zoo.load_pretrained(None, str(out)).double().eval()
        assert np.abs(_run(model, x) - ref).max() < TOL
    capsys.readouterr()
    assert h5_main([str(tmp_path / "missing.h5"), str(tmp_path / "o.safetensors")]) == 2
    assert "not found" in capsys.readouterr().err


def test_keras3_style_names_are_matched_in_build_order() -> None:
    """Keras 3 names the first layer of a kind without a counter (batch_normalization, batch_normalization_1, ...),
    drops ':0' and nests the LSTM's tensors in its cell: matched per kind in build order, whatever the key order."""
    layers = zheng_weights(
        Maker(23), T=4, bc_num=4, bc_size=5, c2=3, k2=3, map_size=4, cells=3, rnn="lstm", units=5
    )
    weights = flat(layers)
    k3 = {}
    for key, value in weights.items():
        layer, _, rest = key.partition("/")
        base = rest.rsplit("/", 1)[-1].removesuffix(":0")
        if layer.startswith("batch_normalization_"):
            n = int(layer.rsplit("_", 1)[1]) - 1
            layer = "batch_normalization" + (f"_{n}" if n else "")
        elif layer == "lstm1":
            layer = "lstm1/lstm_cell"
        elif layer.startswith("parametric_softplus"):
            layer, base = "parametric_softplus", base + "s"  # alphas, betas
        k3[f"{layer}/{base}"] = torch.from_numpy(value)
    state = dict(sorted(k3.items()))
    model = zoo.create_model("retina_crnn_lstm", **TINY, num_hidden=5).double().eval()
    model.load_state_dict(zoo.from_official("retina_crnn_lstm", state))
    x = np.random.default_rng(24).standard_normal((2, 10, 10, 4))
    assert np.abs(_run(model, x) - zheng_forward(weights, x, "lstm")).max() < TOL


def test_keras3_weights_files(tmp_path) -> None:
    """A Keras 3 ``.weights.h5`` file (layers/<name>[/cell]/vars/<i>, unnamed variables, groups in name order)."""
    import h5py

    layers = zheng_weights(
        Maker(25), T=4, bc_num=4, bc_size=5, c2=3, k2=3, map_size=4, cells=3, rnn="gru", units=5
    )
    k3_names = {"batch_normalization_1": "batch_normalization", "batch_normalization_2": "batch_normalization_1",
                "batch_normalization_3": "batch_normalization_2", "batch_normalization_4": "batch_normalization_3",
                "parametric_softplus_1": "parametric_softplus", "lstm1": "lstm1/cell"}  # fmt: skip
    with h5py.File(tmp_path / "model.weights.h5", "w") as f:
        for name, weights in layers:
            if weights:
                g = f.create_group(f"layers/{k3_names.get(name, name)}/vars")
                for i, (_, arr) in enumerate(weights):
                    g.create_dataset(str(i), data=arr)
    state = read_keras_h5(tmp_path / "model.weights.h5")
    assert "lstm1/cell/recurrent_kernel" in state and "batch_normalization/gamma" in state
    model = _load("retina_crnn_gru", tmp_path / "model.weights.h5", **TINY, num_hidden=5)
    x = np.random.default_rng(26).standard_normal((2, 10, 10, 4))
    assert np.abs(_run(model, x) - zheng_forward(flat(layers), x, "gru")).max() < TOL
