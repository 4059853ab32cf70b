"""``scripts/official_parity.py``: argument handling and its comparison helpers (no official code needed)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
import torch
from torch import nn
from zoo_core.testing_parity import load_script, missing_checkout_error

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "official_parity.py"


def load() -> ModuleType:
    return load_script(SCRIPT, "sparse_grad_official_parity")


def test_missing_directory_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    line = missing_checkout_error(SCRIPT, tmp_path / "absent")
    assert "is not a directory" in line, line


def test_directory_without_the_official_files_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "snn_models").mkdir()
    (tmp_path / "utils.py").write_text("")
    with pytest.raises(SystemExit) as e:
        load().main([str(tmp_path)])
    assert e.value.code == 2
    msg = capsys.readouterr().err.strip()
    assert "\n" not in msg and "missing snn_models/layers.py" in msg and "VGG.py" in msg


def test_patch_layers_keeps_the_spike_dtype_and_refuses_other_text() -> None:
    mod = load()
    text = (
        "class ZIF:\n    out = (input >= 0).float()\n" * 3
        + "def f(mem):\n    spike = ((mem - 1.) > 0).float()\n    m = x.float()\n"
    )
    out = mod.patch_layers(text)
    assert out.count("(input >= 0).to(input.dtype)") == 3
    assert "spike = ((mem - 1.) > 0).to(mem.dtype)" in out
    assert "m = x.float()" in out  # nothing else is touched
    # the patched lines run and keep float64
    ns: dict = {"input": torch.tensor([-1.0, 0.0], dtype=torch.float64)}
    exec(out.splitlines()[1].strip(), ns)
    assert ns["out"].dtype == torch.float64 and ns["out"].tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="expected 3 occurrence"):
        mod.patch_layers(text.replace("(input >= 0).float()", "(input > 0).float()", 1))


def test_calibrate_bn_sets_running_statistics_to_the_batch_and_restores_momentum() -> None:
    mod = load()
    m = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).double()
    x = torch.randn(16, 3, dtype=torch.float64)
    mod.calibrate_bn(m, x=x)
    with torch.no_grad():
        h = m[0](x)
    assert torch.allclose(m[1].running_mean, h.mean(0), rtol=0, atol=1e-14)
    assert torch.allclose(m[1].running_var, h.var(0, unbiased=True), rtol=1e-13, atol=0)
    assert m[1].momentum == 0.1


def test_step_logits_and_rates_diff() -> None:
    mod = load()
    lin = nn.Linear(2, 3).double()
    rec = mod.StepLogits(lin, T=2)
    x = torch.randn(2 * 5, 2, dtype=torch.float64)  # merged [T*B, ...], time-major
    y = lin(x)
    assert torch.equal(rec.steps()[1], y[5:])

    class Fake:
        def __init__(self, r: dict) -> None:
            self.rates = r

    assert mod.rates_diff(Fake({"a": 0.2, "b": 0.5}), Fake({"x": 0.25, "y": 0.5})) == pytest.approx(0.05)
    assert mod.rates_diff(Fake({"a": 0.2}), Fake({"x": 0.2, "y": 0.1})) == float("inf")
