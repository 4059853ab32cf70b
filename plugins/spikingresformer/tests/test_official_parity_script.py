"""scripts/official_parity.py without the official code: argument handling and the weight helper."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import zoo_core as zoo
from zoo_core.testing_parity import load_script, missing_checkout_error

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "official_parity.py"


def _script():
    return load_script(SCRIPT, "srf_official_parity")


def test_missing_or_wrong_directory_is_one_line_and_nonzero(tmp_path: Path) -> None:
    line = missing_checkout_error(SCRIPT, tmp_path / "absent")
    assert "is not a directory" in line, line
    with pytest.raises(SystemExit) as e:
        _script().main([str(tmp_path)])  # a directory, but not the official checkout
    assert e.value.code == 2


def test_wrong_directory_names_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        _script().main([str(tmp_path)])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "models/spikingresformer.py" in err


def test_help_names_the_commit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        _script().main(["--help"])
    assert e.value.code == 0 and "3f75127" in capsys.readouterr().out


def test_random_weights_fire_from_zero_rate_buffers() -> None:
    sd = zoo.create_model("spikingresformer_cifar", img_size=16, T=2, num_classes=10).state_dict()
    r = _script().random_sd(sd, 0)
    assert list(r) == list(sd)
    rates = [k for k in r if "firing_rate" in k]
    assert rates and all(not r[k].any() for k in rates)
    assert r["prologue.0.weight"].dtype == torch.float64 and r["prologue.0.weight"].std() > 0.1
    assert all(bool((r[k] >= 0.5).all()) for k in r if k.endswith("running_var"))
