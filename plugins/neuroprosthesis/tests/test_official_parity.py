"""``scripts/official_parity.py``: argument handling and its helpers (no TensorFlow or official code needed)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest
from zoo_core.testing_parity import load_script, missing_checkout_error

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "official_parity.py"


def load() -> ModuleType:
    return load_script(SCRIPT, "neuroprosthesis_official_parity")


def test_missing_directory_exits_2_with_one_line(tmp_path: Path) -> None:
    line = missing_checkout_error(SCRIPT, tmp_path / "absent")
    assert "is not a directory" in line, line


def test_directory_without_the_official_files_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "core").mkdir()
    (tmp_path / "core" / "model.py").write_text("")
    with pytest.raises(SystemExit) as e:
        load().main([str(tmp_path)])
    assert e.value.code == 2
    msg = capsys.readouterr().err.strip()
    assert "\n" not in msg and "model_off.py" in msg and "custom_activation.py" in msg
    assert "core/model.py" not in msg


@pytest.mark.skipif(importlib.util.find_spec("tensorflow") is not None, reason="TensorFlow is installed here")
def test_without_tensorflow_one_line_names_the_install(tmp_path: Path) -> None:
    (tmp_path / "core").mkdir()
    for f in ("model.py", "model_off.py", "custom_activation.py"):
        (tmp_path / "core" / f).write_text("")
    r = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "tensorflow" in lines[0] and "pip install --target" in lines[0]


def test_draw_is_deterministic_and_follows_the_roles() -> None:
    mod = load()
    k = mod.draw("conv1", 0, "conv1/kernel:0", (25, 25, 20, 128))
    assert np.array_equal(k, mod.draw("conv1", 0, "conv1/kernel:0", (25, 25, 20, 128)))
    assert abs(k.std() - np.sqrt(2 / (25 * 25 * 20))) < 0.02 * np.sqrt(2 / (25 * 25 * 20))
    assert not np.array_equal(
        mod.draw("conv2", 0, "x/kernel:0", (3, 3)), mod.draw("conv3", 0, "x/kernel:0", (3, 3))
    )
    r = mod.draw("lstm1", 1, "lstm1/lstm_cell/recurrent_kernel:0", (32, 128))
    assert abs(r.std() - 1 / np.sqrt(32)) < 0.02
    for role in ("gamma", "moving_variance", "Variable_1"):
        v = mod.draw("bn", 0, f"bn/{role}:0", (500,))
        assert v.min() >= 0.5 and v.max() <= 1.5
    for role in ("bias", "beta", "moving_mean"):
        v = mod.draw("bn", 0, f"bn/{role}:0", (500,))
        assert -0.1 <= v.min() < 0 < v.max() <= 0.1


def test_layer_summary_and_renumbering_compare_architectures() -> None:
    mod = load()

    def cfg(bn_name: str, units: int, rec: str) -> dict[str, Any]:
        return {
            "layers": [
                {"class_name": "Conv2D", "config": {"name": "conv1", "filters": 8, "kernel_size": [6, 6]}},
                {"class_name": "BatchNormalization", "config": {"name": bn_name}},
                {
                    "class_name": "LSTM",
                    "config": {"name": "lstm1", "units": units, "recurrent_activation": rec},
                },
            ]
        }

    a = mod.layer_summary(cfg("batch_normalization_1", 8, "hard_sigmoid"))
    assert a[0] == ("Conv2D", "conv1", 8, (6, 6), None, None)
    b = mod.layer_summary(cfg("batch_normalization", 8, "hard_sigmoid"))
    assert a != b and mod._renumber(a) == mod._renumber(b)
    assert mod._renumber(a) != mod._renumber(mod.layer_summary(cfg("batch_normalization", 8, "sigmoid")))
    assert mod._renumber(a) != mod._renumber(
        mod.layer_summary(cfg("batch_normalization", 16, "hard_sigmoid"))
    )


def _fake_tf_keras() -> SimpleNamespace:
    """The parts of ``tf_keras`` that :func:`keras2_shims` reads, recording constructor arguments."""

    class Recorder:
        def __init__(self, units: int = 1, **kwargs: Any) -> None:
            self.units, self.kwargs = units, kwargs

    class LSTM(Recorder):
        pass

    class GRU(Recorder):
        pass

    class Layer:
        @property
        def trainable_weights(self) -> list[str]:
            return ["tracked"]

    def variable(value: Any, dtype: Any = None, name: str | None = None, constraint: Any = None) -> tuple:
        return (value, name)

    layers = SimpleNamespace(
        LSTM=LSTM, GRU=GRU, SimpleRNN=Recorder, Layer=Layer, GaussianNoise=Recorder, Conv2D=Recorder,
        add=sum, concatenate=list,
    )  # fmt: skip
    return SimpleNamespace(
        layers=layers,
        regularizers=SimpleNamespace(l1=1, l2=2, l1_l2=3),
        backend=SimpleNamespace(variable=variable, abs=abs),
        models=SimpleNamespace(Model=object),
    )


def test_keras2_shims_restore_keras_2_2_4_defaults_and_module_paths() -> None:
    mod = load()
    tfk = _fake_tf_keras()
    before = set(sys.modules)
    saved = {k: sys.modules[k] for k in before if k == "keras" or k.startswith("keras.")}
    try:
        mod.keras2_shims(tfk)
        from keras.engine.topology import Layer
        from keras.layers import GRU, LSTM, Conv2D, CuDNNLSTM
        from keras.layers.merge import add
        from keras.layers.recurrent import GRU as GRU2
        from keras.regularizers import l1_l2

        assert LSTM(32).kwargs == {"recurrent_activation": "hard_sigmoid"}
        assert GRU(32, name="g").kwargs == {
            "recurrent_activation": "hard_sigmoid",
            "reset_after": False,
            "name": "g",
        }
        assert LSTM(4, recurrent_activation="sigmoid").kwargs == {"recurrent_activation": "sigmoid"}
        assert issubclass(LSTM, tfk.layers.LSTM) and GRU2 is GRU and Conv2D is tfk.layers.Conv2D
        assert add is sum and l1_l2 == 3 and isinstance(CuDNNLSTM, type)
        layer = Layer()
        layer.trainable_weights = ["by hand"]  # Keras 2.2 custom layers do this; tf_keras refuses it
        assert layer.trainable_weights == ["tracked"]
        from keras import backend as K

        names = [K.variable(0.0)[1] for _ in range(3)] + [K.variable(0.0, name="kept")[1]]
        assert names == ["Variable", "Variable_1", "Variable_2", "kept"] and K.abs is abs
    finally:
        for k in set(sys.modules) - before:
            del sys.modules[k]
        sys.modules.update(saved)
