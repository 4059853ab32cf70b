"""zoo_core.testing_parity: the helpers of the official-parity scripts do what they claim."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import zoo_core as zoo
from zoo_core.testing_parity import (
    FiringRecorder,
    grad_diff,
    is_spiking_module,
    make_fire,
    max_abs_diff,
    parse_parity_args,
    randomise_state_dict,
    report,
    state_diff,
    summarise,
)


def _net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(8 * 4 * 4, 5))


def test_randomise_is_deterministic_per_key_and_order_free() -> None:
    sd = _net().state_dict()
    a = randomise_state_dict(sd, seed=3)
    b = randomise_state_dict(dict(reversed(list(sd.items()))), seed=3)
    c = randomise_state_dict(sd, seed=4)
    assert list(a) == list(sd)
    for k in sd:
        assert torch.equal(a[k], b[k]), k
        assert a[k].shape == sd[k].shape
    assert not torch.equal(a["0.weight"], c["0.weight"])
    assert a["0.weight"].dtype == torch.float64
    assert a["1.num_batches_tracked"].dtype == torch.int64


def test_randomise_gives_positive_variances_thresholds_and_scaled_weights() -> None:
    sd = {
        "bn.running_var": torch.zeros(1000),
        "bn.running_mean": torch.zeros(1000),
        "bn.weight": torch.zeros(1000),
        "bn.bias": torch.zeros(1000),
        "lif.v_th": torch.zeros(1000),
        "clip.up": torch.zeros(()),
        "lif.tau": torch.full((3,), 2.0),
        "fc.weight": torch.zeros(400, 1000),
        "mask": torch.ones(3, dtype=torch.bool),
    }
    r = randomise_state_dict(sd, seed=0, gain=2.0, threshold_range=(0.25, 0.75))
    assert r["bn.running_var"].min() >= 0.5 and r["bn.running_var"].max() <= 1.5
    assert r["bn.running_mean"].abs().max() <= 0.1 and r["bn.running_mean"].std() > 0.02
    assert r["bn.weight"].min() >= 0.5 and r["bn.bias"].abs().max() <= 0.1
    assert r["lif.v_th"].min() >= 0.25 and r["lif.v_th"].max() <= 0.75
    assert 0.25 <= float(r["clip.up"]) <= 0.75
    assert torch.equal(r["lif.tau"], torch.full((3,), 2.0, dtype=torch.float64))
    assert torch.equal(r["mask"], sd["mask"])
    assert r["fc.weight"].std().item() == pytest.approx(2.0 * math.sqrt(2 / 1000), rel=0.02)
    kept = randomise_state_dict(sd, 0, keep=lambda k, v: k == "fc.weight")
    assert torch.equal(kept["fc.weight"], sd["fc.weight"])
    with pytest.raises(TypeError, match="'x'"):
        randomise_state_dict({"x": 1.0}, 0)  # type: ignore[dict-item]


class _ForeignNode(nn.Module):  # stands for an official library's neuron
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > 0).to(x.dtype)


def test_is_spiking_module() -> None:
    assert is_spiking_module(zoo.create_neuron("lif"))
    assert is_spiking_module(_ForeignNode())
    assert not is_spiking_module(nn.Conv2d(1, 1, 1)) and not is_spiking_module(nn.ReLU())


def test_firing_recorder_counts_nonzero_fraction_and_removes_hooks() -> None:
    net = nn.Sequential(nn.Identity(), _ForeignNode(), nn.Sequential(_ForeignNode()))
    x = torch.tensor(
        [1.0, -1.0, 2.0, -3.0]
    )  # first node: 2 of 4 fire; second: all of 4 (its input is 0/1 ...)
    with FiringRecorder(net) as fr:
        net(x)
        net(-x)
    # node 1 sees x then -x: 2 + 2 of 8; node 2.0 sees the spikes (0/1): fires where they are 1 -> 2 + 2 of 8
    assert fr.rates == {"1": 0.5, "2.0": 0.5}
    s = fr.summary()
    assert s == {
        "rate min": 0.5,
        "rate mean": 0.5,
        "rate max": 0.5,
        "rate silent layers": 0.0,
        "rate layers": 2.0,
    }
    assert FiringRecorder(net).summary() == {}
    net(x)
    assert fr.rates == {"1": 0.5, "2.0": 0.5}  # hooks gone
    assert not any(m._forward_hooks for m in net.modules())


def test_firing_recorder_skips_nested_and_refuses_empty_selection() -> None:
    class OuterNode(_ForeignNode):
        def __init__(self) -> None:
            super().__init__()
            self.inner = _ForeignNode()

    net = nn.Sequential(OuterNode())
    with FiringRecorder(net) as fr:
        net(torch.ones(2))
    assert list(fr.rates) == ["0"]
    with pytest.raises(ValueError, match="no module"), FiringRecorder(nn.Linear(1, 1)):
        pass


def test_firing_recorder_on_a_zoo_neuron() -> None:
    lif = zoo.create_neuron("lif")
    x = torch.zeros(4, 2, 3)
    with FiringRecorder(nn.Sequential(lif)) as fr:
        lif(x)
    assert fr.rates == {"0": 0.0}
    with FiringRecorder(nn.Sequential(lif)) as fr:
        lif(x + 10.0)
    assert fr.rates["0"] > 0.5


def test_diff_helpers() -> None:
    a = torch.tensor([1.0, 2.0])
    assert max_abs_diff(a, a + torch.tensor([0.0, -0.5])) == 0.5
    assert max_abs_diff(a, torch.tensor([1.0, float("nan")])) == math.inf
    with pytest.raises(ValueError, match="shapes differ"):
        max_abs_diff(a, a[:1])
    assert state_diff({"x.w": a}, {"y.w": a + 1}, rename=lambda k: k.replace("x", "y")) == 1.0
    with pytest.raises(KeyError, match="'w'"):
        state_diff({"w": a}, {})
    m1, m2 = nn.Linear(2, 1), nn.Linear(2, 1)
    m2.load_state_dict(m1.state_dict())
    m1(torch.ones(1, 2)).sum().backward()
    (2 * m2(torch.ones(1, 2))).sum().backward()
    assert grad_diff(m1, m2) == 1.0
    assert grad_diff(m1, m2, relative=True) == 1.0
    a2, b2 = nn.Module(), nn.Module()  # one parameter stored in two layouts
    a2.w, b2.w = nn.Parameter(torch.zeros(2, 3)), nn.Parameter(torch.zeros(2, 3, 1))
    a2.w.grad, b2.w.grad = torch.ones(2, 3), torch.ones(2, 3, 1) * 3
    with pytest.raises(ValueError, match="shapes differ"):
        grad_diff(a2, b2)
    assert grad_diff(a2, b2, reshape=True) == 2.0
    m2.bias.grad = None
    with pytest.raises(AssertionError, match="'bias'"):
        grad_diff(m1, m2)


def test_report_passes_fails_and_flags_silence(capsys: pytest.CaptureFixture[str]) -> None:
    s_rates = {
        "zoo train min": 0.1,
        "zoo train mean": 0.2,
        "zoo train max": 0.3,
        "zoo train silent layers": 1.0,
        "zoo train layers": 4.0,
    }
    assert report("ok", {"logits": 1e-15, "loss": 0.0}, {"rate mean": 0.2}, tol=1e-12)
    out = capsys.readouterr().out
    assert "== ok: PASS" in out and "logits" in out and "0.2000" in out
    assert not report("big", {"logits": 1e-3}, {"rate mean": 0.2}, tol=1e-12)
    assert "> tol" in capsys.readouterr().out
    assert not report("nan", {"logits": float("nan")}, {"rate mean": 0.2}, tol=1e-12)
    assert not report("silent", {"logits": 0.0}, {"rate mean": 0.0, "zoo layers": 3.0}, tol=1e-12)
    out = capsys.readouterr().out
    assert "vacuous" in out
    report("grouped", {"x": 0.0}, {**s_rates, "other": 0.25}, tol=0.0)
    out = capsys.readouterr().out.splitlines()
    assert out[2].split() == [
        "zoo",
        "train",
        "firing",
        "rate",
        *["min", "0.1000,", "mean", "0.2000,", "max", "0.3000,"],
        "silent",
        "1/4",
        "layers",
    ]
    assert out[3].split() == ["other", "0.2500"]
    assert not report("none", {"logits": 0.0}, {}, tol=1e-12)
    assert report("ann", {"logits": 0.0}, {}, tol=1e-12, require_firing=False)


def test_parse_parity_args(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "net.py").write_text("")
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.setattr(sys, "path", list(sys.path))
    a = parse_parity_args([str(tmp_path), "--site", str(site), "--tol", "1e-9"], "doc", ["models/net.py"])
    assert a.official_dir == tmp_path and a.tol == 1e-9 and sys.path[:2] == [str(site), str(tmp_path)]
    assert parse_parity_args([str(tmp_path)], "doc", []).tol is None
    for argv, required, says in (
        ([str(tmp_path / "nope")], [], "is not a directory"),
        ([str(tmp_path)], ["models/net.py", "utils.py"], "missing utils.py"),
        ([str(tmp_path), "--site", str(tmp_path / "x")], [], "--site"),
        ([], [], "OFFICIAL_REPO_DIR"),
        ([str(tmp_path), "--tol", "small"], [], "--tol"),
    ):
        with pytest.raises(SystemExit) as e:
            parse_parity_args(argv, "doc", required)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err and err.startswith("official_parity.py: error:"), err


def test_script_helpers_load_a_script_and_insist_on_one_error_line(tmp_path) -> None:
    from zoo_core.testing_parity import load_script, missing_checkout_error

    good = tmp_path / "good.py"
    good.write_text(
        "import sys\n"
        "def main(argv):\n    return len(argv)\n"
        "if __name__ == '__main__':\n"
        "    sys.exit(print(f'good.py: error: {sys.argv[1]!r} is not a directory', file=sys.stderr) or 2)\n"
    )
    assert load_script(good, "zoo_test_good_script").main(["a", "b"]) == 2
    assert "is not a directory" in missing_checkout_error(good, tmp_path / "absent")
    chatty = tmp_path / "chatty.py"
    chatty.write_text("import sys\nprint('working')\nsys.exit(2)\n")  # a stdout line: not a clean refusal
    with pytest.raises(AssertionError):
        missing_checkout_error(chatty, tmp_path / "absent")
    silent = tmp_path / "silent.py"
    silent.write_text("")  # exits 0
    with pytest.raises(AssertionError):
        missing_checkout_error(silent, tmp_path / "absent")


def test_make_fire_fires_from_the_input_and_is_deterministic() -> None:
    x = torch.rand((16, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    silent = zoo.create_model("spiking_cnn")
    with FiringRecorder(silent) as fr, torch.no_grad():
        silent.eval()(x)
    assert max(fr.rates.values()) < 0.05  # fresh BN statistics (0, 1), default init: hardly a spike
    fired = []
    for init_seed in (1, 2):  # different initialisations, same seed: the same weights
        torch.manual_seed(init_seed)
        m = zoo.create_model("spiking_cnn")
        rng = torch.get_rng_state()
        assert make_fire(m, x, seed=0) is m and not m.training
        assert torch.equal(torch.get_rng_state(), rng)  # its own generator: the global RNG is untouched
        fired.append(m.state_dict())
        bns = [b for b in m.modules() if isinstance(b, nn.BatchNorm2d)]
        assert len(bns) == 2
        for b in bns:
            assert b.momentum == 0.1  # restored after the calibration calls
            assert torch.equal(b.weight, torch.full_like(b.weight, 2.0))
            assert torch.equal(b.bias, torch.full_like(b.bias, 0.6))
            assert int(b.num_batches_tracked) == 2  # reset, then 2 calls (default for torch's BatchNorms)
        conv = m.features[0].module[0]
        # statistics of the input: the first BN's running mean is the mean of its input over the calls
        with torch.no_grad():
            first = conv(x)
        torch.testing.assert_close(bns[0].running_mean, first.mean((0, 2, 3)), rtol=1e-5, atol=1e-6)
        with FiringRecorder(m) as fr, torch.no_grad():
            m(x)
        assert len(fr.rates) == 2 and all(0.05 < r < 0.9 for r in fr.rates.values()), fr.rates
    assert list(fired[0]) == list(fired[1])
    # every weight redrawn from the seed; only the head's bias is the initialisation's (biases are kept)
    assert [k for k in fired[0] if not torch.equal(fired[0][k], fired[1][k])] == ["head.module.bias"]
    with pytest.raises(ValueError, match="calls must be at least 1"):
        make_fire(m, x, calls=0)


def test_summarise_passes_only_when_something_ran_and_all_passed(capsys: pytest.CaptureFixture[str]) -> None:
    assert summarise([True, True]) == 0
    assert capsys.readouterr().out.strip() == "2/2 configurations pass: ALL PASS"
    assert summarise([True, False]) == 1
    assert capsys.readouterr().out.strip() == "1/2 configurations pass: SOME FAILED"
    assert summarise([]) == 1  # --only matched nothing: not a pass
