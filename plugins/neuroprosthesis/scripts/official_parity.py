"""Official parity of the Zheng 2021 retina encoders: the official Keras builders against the zoo, same weights.

Usage::

    python plugins/neuroprosthesis/scripts/official_parity.py OFFICIAL_REPO_DIR --site TF_SITE [--tol TOL]
        [--only TEXT ...]

``OFFICIAL_REPO_DIR``: a checkout of ``Zyj061/retina-crnn_model@f6d74f1`` (``core/model.py``,
``core/model_off.py``, ``core/custom_activation.py`` and, when present, the published
``core/model/movie2/*/architecture.json`` are used). ``TF_SITE``: a scratch install of TensorFlow with the Keras-2 package, outside the project's
environment::

    pip install --target /tmp/official/site_np tensorflow-cpu tf-keras      # measured: 2.21.0 / 2.21.0

The official code was written for Keras 2.2.4 on TensorFlow 1 (multi-backend Keras), which no longer installs on
current Python. ``tf_keras`` is the Keras 2 API on TensorFlow 2; the official builders run on it unchanged
(imported from the checkout, not copied) through these import shims, each restoring what Keras 2.2.4 provided:

* the module paths ``keras``, ``keras.layers.merge`` / ``.recurrent`` / ``.noise``, ``keras.engine.topology``
  name ``tf_keras``'s objects; ``CuDNNLSTM`` (imported, never called by these builders) is a placeholder;
* ``LSTM`` and ``GRU`` get Keras 2.2.4's defaults back: ``recurrent_activation="hard_sigmoid"`` (slope 0.2 in
  ``tf_keras``; checked) and, for the GRU, ``reset_after=False`` (TF2 changed both; the published
  ``architecture.json`` records ``hard_sigmoid``, and the script checks that the built LSTM says so too);
* ``K.variable`` without a name gets a unique one (``Variable``, ``Variable_1``, ...) as in a TF1 graph (TF2 names
  both of ParametricSoftplus' variables ``Variable`` and ``save_weights`` cannot store two equal names);
* ``keras.engine.topology.Layer`` lets ``ParametricSoftplus.build`` assign ``trainable_weights`` (Keras 2.2 lists
  weights by hand; ``tf_keras`` tracks the two ``K.variable`` attributes itself, in the same order).

Each model is built in float64 (``floatx``) by the official builder, every weight drawn at random (deterministic:
He-scaled normal kernels, ``1/sqrt(units)`` recurrent kernels, BatchNorm gamma / moving variance in U(0.5, 1.5),
beta / mean / biases in U(-0.1, 0.1), ParametricSoftplus alpha, beta in U(0.5, 1.5)), written with Keras'
``save_weights`` to an ``.h5`` file, read back with ``zoo_neuroprosthesis.official.read_keras_h5`` and loaded into
``zoo.create_model(name, ...)`` through ``zoo.from_official``. Printed per model: the max difference of the rates
(inference mode: GaussianNoise off, BatchNorm on its moving statistics) on a random stimulus, batch 2, and the
difference of the parameter counts (Keras ``count_params`` vs the zoo's parameters + BatchNorm statistics).
Models: the published movie2 sizes (90x90 x 20 frames, conv 128@25 and 64@11, 80 cells) of ``cnn_model``,
``crnn_model`` (LSTM 32), ``crnn_vanilla_model`` (SimpleRNN 32), ``crnn_gru_model`` (GRU 32), and the OFF-cell
``model_off.cnn_model`` / ``crnn_model`` (8x8, LSTM 8). Also: each published ``architecture.json``'s layer list
(class, name, units / filters / kernel size, activations) against the model the builder makes.

Not covered: deep-retina's ``bn_cnn`` and the SID decoder (their official code is not run here; the plugin's tests
compare them with an independent NumPy reference of Keras 2 only), and multi-backend Keras 2.2.4 itself (``tf_keras``
2.21 stands in for it). Exit status 1 if a difference exceeds ``TOL`` = 1e-10 (or ``--tol``), 2 for a bad
directory or a missing TensorFlow. About 25 s of CPU time on one thread, TensorFlow's import included (measured:
20 s user, 26 s wall-clock).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import io
import json
import os
import sys
import tempfile
import time
import types
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zoo_core as zoo
from zoo_core.testing_parity import max_abs_diff, parse_parity_args, report, wanted

TOL = 1e-10
REPO = "Zyj061/retina-crnn_model@f6d74f1"
MODEL = "core/model.py"
MODEL_OFF = "core/model_off.py"
ACTIVATION = "core/custom_activation.py"
ARCH = "core/model/movie2/{}/architecture.json"
REQUIRED = (MODEL, MODEL_OFF, ACTIVATION)
#: zoo model -> (official module key, builder, builder args, zoo kwargs, published architecture.json folder or None)
CONFIGS: dict[str, tuple[str, str, dict[str, Any], dict[str, Any], str | None]] = {
    "retina_cnn": ("model", "cnn_model", {}, {}, "cnn"),
    "retina_crnn_lstm": ("model", "crnn_model", {"num_hidden": 32}, {}, "crnn_lstm"),
    "retina_crnn_rnn": ("model", "crnn_vanilla_model", {"num_hidden": 32}, {}, "crnn_vanilla"),
    "retina_crnn_gru": ("model", "crnn_gru_model", {"num_hidden": 32}, {}, None),
    "retina_off_cnn": ("model_off", "cnn_model", {"bc_size": 6}, {}, None),
    "retina_off_crnn_lstm": ("model_off", "crnn_model", {"num_hidden": 8, "bc_size": 6}, {}, None),
}


def need_tensorflow() -> None:
    """Exit 2 with one line when TensorFlow or ``tf_keras`` is not importable (after ``--site``)."""
    missing = [m for m in ("tensorflow", "tf_keras") if importlib.util.find_spec(m) is None]
    if missing:
        print(
            f"official_parity.py: error: {', '.join(missing)} not importable; pip install --target "
            "/tmp/official/site_np tensorflow-cpu tf-keras, then pass --site /tmp/official/site_np",
            file=sys.stderr,
        )
        raise SystemExit(2)


def keras2_shims(tfk: types.ModuleType) -> None:
    """Bind the Keras 2.2.4 module paths the official files import to ``tf_keras`` (module docstring)."""
    layers = tfk.layers

    def keras224(cls: type, **defaults: Any) -> type:
        return type(cls.__name__, (cls,), {"__init__": functools.partialmethod(cls.__init__, **defaults)})

    lstm = keras224(layers.LSTM, recurrent_activation="hard_sigmoid")
    gru = keras224(layers.GRU, recurrent_activation="hard_sigmoid", reset_after=False)

    class Layer(layers.Layer):
        """``tf_keras``' Layer with an assignable ``trainable_weights`` (Keras 2.2 custom layers set it)."""

        @property
        def trainable_weights(self) -> list[Any]:
            return layers.Layer.trainable_weights.fget(self)

        @trainable_weights.setter
        def trainable_weights(self, _value: list[Any]) -> None:
            return None  # the variables are tracked as attributes already

    def module(name: str, **attrs: Any) -> types.ModuleType:
        m = types.ModuleType(name)
        m.__path__ = []
        m.__dict__.update(attrs)
        sys.modules[name] = m
        return m

    public = {k: getattr(layers, k) for k in dir(layers) if not k.startswith("_")}
    kl = module(
        "keras.layers", **{**public, "LSTM": lstm, "GRU": gru, "CuDNNLSTM": type("CuDNNLSTM", (), {})}
    )
    kl.merge = module("keras.layers.merge", add=layers.add, concatenate=layers.concatenate)
    kl.recurrent = module("keras.layers.recurrent", SimpleRNN=layers.SimpleRNN, LSTM=lstm, GRU=gru)
    kl.noise = module("keras.layers.noise", GaussianNoise=layers.GaussianNoise)
    regs = {k: getattr(tfk.regularizers, k) for k in dir(tfk.regularizers) if not k.startswith("_")}
    counter = iter(range(1 << 30))

    def variable(value: Any, dtype: Any = None, name: str | None = None, constraint: Any = None) -> Any:
        if name is None:  # TF1 graphs made the names unique: Variable, Variable_1, ...
            i = next(counter)
            name = "Variable" if i == 0 else f"Variable_{i}"
        return tfk.backend.variable(value, dtype=dtype, name=name, constraint=constraint)

    backend = {k: getattr(tfk.backend, k) for k in dir(tfk.backend) if not k.startswith("_")}
    keras = module(
        "keras",
        backend=module("keras.backend", **{**backend, "variable": variable}),
        layers=kl,
        regularizers=module("keras.regularizers", **regs),
        models=module("keras.models", Model=tfk.models.Model),
    )
    keras.engine = module("keras.engine", topology=module("keras.engine.topology", Layer=Layer))


def _load(name: str, path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def import_official(src: Path) -> dict[str, Any]:
    """TensorFlow with Keras 2 in float64, the shims, and the official ``model`` / ``model_off`` modules."""
    import torch._dynamo  # noqa: F401  # reason: loads Triton before TensorFlow (the other order segfaults)

    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf  # reason: the official models' framework, from the --site scratch install only
    import tf_keras  # reason: Keras 2 on TensorFlow 2, from the --site scratch install only

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf_keras.backend.set_floatx("float64")
    keras2_shims(tf_keras)
    sys.path.insert(0, str(src / "core"))  # the builders import custom_activation as a top-level module
    slope = tf_keras.activations.hard_sigmoid(tf.constant([1.0], tf.float64)).numpy()[0] - 0.5
    if abs(slope - 0.2) > 1e-12:
        raise SystemExit(f"official_parity.py: tf_keras' hard_sigmoid has slope {slope}, not Keras 2's 0.2")
    return {
        "tf": tf,
        "keras": tf_keras,
        "model": _load("official_retina_model", src / MODEL),
        "model_off": _load("official_retina_model_off", src / MODEL_OFF),
    }


def draw(layer: str, index: int, weight_name: str, shape: tuple[int, ...]) -> np.ndarray:
    """The deterministic random value of one Keras weight (module docstring), seeded by ``(layer, index)``."""
    rng = np.random.default_rng(zlib.crc32(f"{layer}/{index}".encode()))
    role = weight_name.rsplit("/", 1)[-1].split(":")[0]
    if role == "kernel":
        return rng.normal(0.0, np.sqrt(2.0 / max(1, int(np.prod(shape[:-1])))), shape)
    if role == "recurrent_kernel":
        return rng.normal(0.0, 1.0 / np.sqrt(shape[0]), shape)
    if role in ("gamma", "moving_variance") or role.startswith("Variable"):
        return rng.uniform(0.5, 1.5, shape)
    return rng.uniform(-0.1, 0.1, shape)  # bias, beta, moving_mean


def randomise_keras(model: Any) -> None:
    """Every weight of every layer replaced by :func:`draw`."""
    for layer in model.layers:
        ws = layer.weights
        if ws:
            layer.set_weights([draw(layer.name, i, w.name, tuple(w.shape)) for i, w in enumerate(ws)])


def layer_summary(config: dict[str, Any]) -> list[tuple[Any, ...]]:
    """(class, name, units / filters, kernel size, activation, recurrent activation) per layer of a Keras model
    config (``architecture.json``'s ``config`` or ``model.get_config()``)."""
    out = []
    for layer in config["layers"]:
        c = layer["config"]
        kernel = c.get("kernel_size")
        out.append(
            (
                layer["class_name"],
                c.get("name"),
                c.get("units", c.get("filters")),
                tuple(kernel) if kernel is not None else None,
                c.get("activation"),
                c.get("recurrent_activation"),
            )
        )
    return out


def _renumber(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Layer names without Keras' per-session counters (``batch_normalization_3`` -> ``batch_normalization``)."""
    out = []
    for r in rows:
        name = r[1]
        base = name.rstrip("0123456789").rstrip("_") if name and name[-1].isdigit() else name
        out.append((r[0], base, *r[2:]))
    return out


def compare(name: str, off: dict[str, Any], src: Path) -> bool:
    """One model: the official builder vs the zoo on the same random weights (module docstring)."""
    key, builder, kwargs, zoo_kwargs, arch = CONFIGS[name]
    off["keras"].backend.clear_session()  # layer names (the weights' seeds) restart: batch_normalization, ...
    with contextlib.redirect_stdout(io.StringIO()):  # the builders print shapes and a summary
        km = getattr(off[key], builder)(**kwargs)
    randomise_keras(km)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "weights.h5"
        km.save_weights(str(path))
        from zoo_neuroprosthesis.official import read_keras_h5  # reason: needs h5py, an optional extra

        state = read_keras_h5(path)
    zm = zoo.create_model(name, **{**zoo.official_config(name, state), **zoo_kwargs}).double().eval()
    zm.load_state_dict(zoo.from_official(name, state), strict=True)
    H, W, T = (int(d) for d in km.input_shape[1:])
    rng = np.random.default_rng(1)
    x = (
        rng.uniform(-0.5, 0.5, (2, H, W, T)).astype(np.float32).astype(np.float64)
    )  # exact in the float32 Input
    yk = km(off["tf"].constant(x), training=False).numpy()
    with torch.no_grad():
        yz = zm(torch.from_numpy(x))
    n_zoo = sum(p.numel() for p in zm.parameters()) + sum(
        b.numel() for n, b in zm.named_buffers() if n.endswith(("running_mean", "running_var"))
    )
    diffs = {
        "rates": max_abs_diff(torch.from_numpy(yk), yz),
        "parameter count (Keras - zoo)": float(abs(km.count_params() - n_zoo)),
    }
    if arch is not None and (src / ARCH.format(arch)).is_file():  # checked when the checkout has it
        published = json.loads((src / ARCH.format(arch)).read_text())["config"]
        same = _renumber(layer_summary(published)) == _renumber(layer_summary(km.get_config()))
        diffs["architecture.json layers differing"] = 0.0 if same else 1.0
    title = (
        f"{name} ({key}.{builder}, {km.count_params():,} Keras parameters, input {H}x{W}x{T}, batch 2; "
        f"rates {float(yz.min()):.3g}..{float(yz.max()):.3g})"
    )
    return report(title, diffs, {}, TOL, require_firing=False)


def main(argv: list[str] | None = None) -> int:
    global TOL
    args = parse_parity_args(argv, __doc__, REQUIRED)
    TOL = TOL if args.tol is None else args.tol
    need_tensorflow()
    torch.set_num_threads(1)
    off = import_official(args.official_dir)
    t0 = time.time()
    ok = True
    for name in CONFIGS:
        if wanted(args, name):
            ok &= compare(name, off, args.official_dir)
    print(f"{'ALL PASS' if ok else 'FAILED'} in {time.time() - t0:.0f} s (tolerance {TOL:g})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
