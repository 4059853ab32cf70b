"""scripts/official_parity.py without the official code: argument handling and the float64 copy."""

from __future__ import annotations

from pathlib import Path

import pytest
from zoo_core.testing_parity import load_script, missing_checkout_error

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "official_parity.py"


def _script():
    return load_script(SCRIPT, "pc_official_parity")


def test_missing_directory_is_one_line_and_nonzero(tmp_path: Path) -> None:
    line = missing_checkout_error(SCRIPT, tmp_path / "absent")
    assert "is not a directory" in line, line


def test_wrong_directory_names_what_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        _script().main([str(tmp_path)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "models/ResNet_ReLU.py" in err


def test_help_names_the_commit(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        _script().main(["--help"])
    assert e.value.code == 0 and "622d40fc" in capsys.readouterr().out


def test_float64_copy_patches_a_copy_and_refuses_other_files(tmp_path: Path) -> None:
    src = "a = (x >= 1).float()\nb = y.float() * 2\nc = z.float()\nd = w.float()\n"
    (tmp_path / "modules.py").write_text(src)
    (tmp_path / "utils.py").write_text("u = 1\n")
    copy = _script().float64_copy(tmp_path)
    assert (tmp_path / "modules.py").read_text() == src  # the checkout is left alone
    assert (copy / "modules.py").read_text() == src.replace(".float()", ".to(x.dtype)")
    assert (copy / "utils.py").read_text() == "u = 1\n" and copy != tmp_path
    (tmp_path / "modules.py").write_text(src + "e = v.float()\n")
    with pytest.raises(SystemExit, match="not the expected file"):
        _script().float64_copy(tmp_path)
