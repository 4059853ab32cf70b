"""``scripts/official_parity.py``: argument handling and the zoo-side mapping (no reference code needed)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.signal import fftconvolve
from zoo_core.testing_parity import load_script, missing_checkout_error

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "official_parity.py"


def load() -> ModuleType:
    return load_script(SCRIPT, "dpcnn_official_parity")


def test_missing_directory_exits_non_zero_with_one_line(tmp_path: Path) -> None:
    line = missing_checkout_error(SCRIPT, tmp_path / "absent")
    assert "is not a directory" in line, line


def test_directory_without_the_reference_package_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pulse_coupled_nn").mkdir()
    (tmp_path / "pulse_coupled_nn" / "__init__.py").write_text("")
    with pytest.raises(SystemExit) as e:
        load().main([str(tmp_path)])
    assert e.value.code == 2
    msg = capsys.readouterr().err.strip()
    assert "\n" not in msg and "missing pulse_coupled_nn/src/classic_model.py" in msg


def test_zoo_neuron_follows_the_classical_iteration_with_a_convolving_kernel() -> None:
    """The mapping the script uses (constants, threshold order, flipped kernel) against the classical equations
    written out here with scipy's ``fftconvolve`` (a true convolution), on an asymmetric kernel."""
    mod = load()
    rng = np.random.default_rng(0)
    kernel = rng.uniform(0, 1, (3, 3))
    ref = SimpleNamespace(
        f=np.exp(-0.2), h=np.exp(-0.5), g=np.exp(-0.2), v_f=0.1, v_l=0.2, v_theta=6.0, beta=2.0,
        Theta=np.ones((12, 12)),
    )  # fmt: skip
    n = mod.zoo_neuron(ref, kernel, channels=2)
    s = rng.uniform(0, 1, (2, 12, 12))
    F = L = Y = np.zeros_like(s)
    theta = np.ones_like(s)
    x = torch.from_numpy(s)[None]
    state = n.initial_state(x)
    fired = 0
    with torch.no_grad():
        for _ in range(30):
            conv = np.stack([fftconvolve(Y[c], kernel, mode="same") for c in range(2)])
            F = ref.f * F + ref.v_f * conv + s
            L = ref.h * L + ref.v_l * conv
            U = F * (1 + ref.beta * L)
            theta = ref.g * theta + ref.v_theta * Y
            Y = (theta < U).astype(np.float64)
            y, state = n.multi_step(x[None], state)
            assert np.array_equal(y[0, 0].numpy(), Y)
            assert np.allclose(state["f"][0].numpy(), F, rtol=0, atol=1e-12)
            assert np.allclose(state["e"][0].numpy(), theta, rtol=0, atol=1e-12)
            fired += int(Y.sum())
    assert 0 < fired < 30 * Y.size  # neither silent nor saturated: the spike equality is not vacuous
