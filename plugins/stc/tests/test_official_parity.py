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
    return load_script(SCRIPT, "stc_official_parity")


def test_missing_directory_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    line = missing_checkout_error(SCRIPT, tmp_path / "absent")
    assert "is not a directory" in line, line


def test_directory_without_the_official_files_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "openstl" / "modules").mkdir(parents=True)
    (tmp_path / "openstl" / "modules" / "convlif_modules.py").write_text("")
    with pytest.raises(SystemExit) as e:
        load().main([str(tmp_path)])
    assert e.value.code == 2
    msg = capsys.readouterr().err.strip()
    assert "\n" not in msg and "convlif_model.py" in msg and "predrnn_utils.py" in msg
    assert "convlif_modules.py" not in msg


def test_patch_modules_replaces_exactly_the_two_spike_casts() -> None:
    mod = load()
    text = "    def forward(ctx, input):\n        output = input > 0\n        return output.float()\n" * 2
    out = mod.patch_modules(text + "x = y.float()\n")
    assert out.count("return output.to(input.dtype)") == 2 and "x = y.float()" in out
    with pytest.raises(ValueError, match="expected 2 occurrence"):
        mod.patch_modules(text.replace("return output.float()", "return output", 1))


def test_randomise_draws_the_neuron_scalars_deterministically() -> None:
    mod = load()
    cell = nn.Module()
    cell.t_m = nn.Parameter(torch.zeros(1, dtype=torch.float64))
    cell.s_u = nn.Parameter(torch.zeros(1, dtype=torch.float64))
    cell.conv = nn.Conv2d(2, 16, 3, bias=False).double()
    a, b = mod.randomise(cell, 0), mod.randomise(cell, 0)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert a["t_m"].item() != 0 and a["s_u"].item() != 0 and a["t_m"].item() != a["s_u"].item()
    assert all(-1 < a[k].item() < 1 for k in ("t_m", "s_u"))
    assert a["conv.weight"].std() > 0.1


def test_spike_recorder_reads_tuple_and_dict_cell_outputs() -> None:
    mod = load()

    class TupleCell(nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return (x > 0).double(), x

    class DictCell(nn.Module):
        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {"h": x, "s": (x > 0.5).double()}

    for cell, rate in ((TupleCell(), 0.5), (DictCell(), 0.25)):
        m = nn.Module()
        m.cell_list = nn.ModuleList([cell])
        x = torch.tensor([-1.0, 0.2, 0.7, -0.3], dtype=torch.float64)
        with mod.SpikeRecorder(m) as rec:
            m.cell_list[0](x)
        assert rec.rates == {"cell_list.0": rate}
