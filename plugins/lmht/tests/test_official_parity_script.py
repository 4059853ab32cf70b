"""scripts/official_parity.py without the official code: argument handling and the weight helpers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import zoo_core as zoo
from zoo_core.testing_parity import load_script, missing_checkout_error

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "official_parity.py"


def _script():
    return load_script(SCRIPT, "lmht_official_parity")


def test_missing_directory_is_one_line_and_nonzero(tmp_path: Path) -> None:
    line = missing_checkout_error(SCRIPT, tmp_path / "absent")
    assert "is not a directory" in line, line


def test_wrong_directory_names_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "modules.py").write_text("")
    with pytest.raises(SystemExit) as e:
        _script().main([str(tmp_path)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "utils.py" in err and "modules.py" not in err


def test_help_names_the_commit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        _script().main(["--help"])
    assert e.value.code == 0 and "d9e0db3" in capsys.readouterr().out


def test_randomise_keeps_core_aliases_equal_to_their_masks() -> None:
    s = _script()
    sd = dict(zoo.create_model("lmht_cnn_digits", T=2, L=2).state_dict())
    masks = [k for k in sd if k.endswith(".mask")]
    linear = [k for k in sd if k.endswith(".mask_linear")]
    assert masks and linear
    sd[masks[0][: -len("mask")] + "core"] = sd[masks[0]]  # an official checkpoint's alias (6-D: the mask)
    r = s.randomise(sd, 0)
    assert torch.equal(r[masks[0][: -len("mask")] + "core"], r[masks[0]])
    assert all(r[k].abs().max() <= 1.5 and r[k].std() > 0.2 for k in masks)
    assert all(bool((r[k].abs() <= 1).all()) for k in r if k.endswith(".alpha"))
    only = s.randomise(sd, 0, only_neurons=True)
    assert all(torch.equal(only[k], sd[k].double()) for k in sd if k.endswith("weight"))
    assert not torch.equal(only[masks[0]], sd[masks[0]].double())


def test_load_both_reshapes_the_time_only_mask_linear() -> None:
    a = zoo.create_neuron("lmht", L=2, T=2)
    b = zoo.create_neuron("lmht", L=2, T=2)
    sd = {k: torch.rand(v.shape) for k, v in a.state_dict().items()}
    a.mask_linear = torch.nn.Parameter(torch.zeros(2, 2, 1, 1))  # the official commented-out shape
    sd["mask_linear"] = sd["mask_linear"].reshape(2, 2, 1, 1)
    _script().load_both(a, b, "lmht_resnet19", sd)
    assert torch.equal(b.mask_linear.reshape(2, 2, 1, 1), sd["mask_linear"]) and b.mask_linear.dim() == 5
