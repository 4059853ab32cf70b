"""``scripts/official_parity.py``: argument handling and its helpers (no official code needed)."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from zoo_core.testing_parity import load_script, missing_checkout_error

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "official_parity.py"


def load() -> ModuleType:
    return load_script(SCRIPT, "usp_official_parity")


def test_missing_directory_exits_2_with_one_line(tmp_path: Path) -> None:
    line = missing_checkout_error(SCRIPT, tmp_path / "absent")
    assert "is not a directory" in line, line


def test_directory_without_the_official_files_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad_gaussians").mkdir()
    (tmp_path / "bad_gaussians" / "network.py").write_text("")
    with pytest.raises(SystemExit) as e:
        load().main([str(tmp_path)])
    assert e.value.code == 2
    msg = capsys.readouterr().err.strip()
    assert "\n" not in msg and "bad_gaussians.py" in msg and "utils_spike.py" in msg
    assert "network.py" not in msg


def test_stand_in_modules_give_fresh_cached_classes_and_register_parents() -> None:
    mod = load()
    name = "zoo_test_standin_pkg.sub.leaf"
    before = set(sys.modules)
    try:
        leaf = mod.install_stand_in(name)
        assert sys.modules[name] is leaf and sys.modules["zoo_test_standin_pkg.sub"].leaf is leaf
        cls = leaf.Cameras
        assert isinstance(cls, type) and cls.__name__ == "Cameras" and leaf.Cameras is cls
        assert leaf.Other is not cls
        with pytest.raises(AttributeError):
            leaf.__wrapped__  # noqa: B018
        from zoo_test_standin_pkg.sub.leaf import project_gaussians  # the official files' import form

        assert project_gaussians is leaf.project_gaussians
        assert mod.install_stand_in(name) is leaf  # a second install keeps the module (and its classes)
    finally:
        for k in set(sys.modules) - before:
            del sys.modules[k]


def test_grad_diff_of_leaves_handles_missing_gradients() -> None:
    mod = load()
    a = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    assert mod._grad_diff(a, b) == 0.0  # neither has a gradient (the scale regulariser off)
    (a * torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)).sum().backward()
    assert mod._grad_diff(a, b) == math.inf
    (b * torch.tensor([1.0, 2.5, 3.0], dtype=torch.float64)).sum().backward()
    assert mod._grad_diff(a, b) == pytest.approx(0.5)


def test_spike_clip_is_deterministic_binary_and_fires() -> None:
    mod = load()
    a, b = mod.spike_clip(1), mod.spike_clip(1)
    assert a.shape == (177, mod.H, mod.W) and a.dtype == torch.float64
    assert torch.equal(a, b) and not torch.equal(a, mod.spike_clip(2))
    assert set(a.unique().tolist()) == {0.0, 1.0} and 0.1 < float(a.mean()) < 0.6


def test_loss_inputs_flip_puts_the_renders_in_reverse_time() -> None:
    mod = load()
    straight, flipped = mod._loss_inputs(7, False, 3), mod._loss_inputs(7, True, 3)
    l1 = lambda x, y: float((x - y).abs().mean())  # noqa: E731
    assert l1(straight["img"], straight["rec"]) < l1(straight["img"].flip(0), straight["rec"])
    assert l1(flipped["img"].flip(0), flipped["rec"]) < l1(flipped["img"], flipped["rec"])
