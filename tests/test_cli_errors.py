"""Every ordinary mistake on the command line is one line (``zoo: error: ...``), exit status 2, no traceback, and
says what was wrong and what would be right. Each row runs ``zoo`` in a subprocess, as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ZOO = [sys.executable, "-m", "zoo_core.cli"]
DEMO = "spiking_cnn.digits_t4"

#: argv, a fragment the one-line message must contain
CASES: list[tuple[list[str], str]] = [
    (["train", "spiking_cnn", "--dataset", "digitz"], "not a registered data set"),
    (["train", "spiking_cnn", "--epochs", "0"], "epochs: Input should be greater than or equal to 1"),
    (["train", "spiking_cnn", "--lr", "-1"], "lr: Input should be greater than 0"),
    (["train", "spiking_cnn", "--batch-size", "0"], "batch_size: Input should be greater than or equal to 1"),
    (["train", "spiking_cnn", "--rule-kwargs", '{"foo": 1}'], "does not accept foo"),
    (["train", "spiking_cnn", "--rule-kwargs", "foo"], "not valid JSON"),
    (
        ["train", "spiking_cnn", "--model-kwargs", '{"T": 0}'],
        "T (number of time steps) must be an integer >= 1",
    ),
    (["train", "spiking_cnn", "--learning-rule", "sgdd"], "unknown learning rule 'sgdd'"),
    (["train", "spiking_cnn", "--dataset", "moving_digits"], "is made for the task 'video-prediction'"),
    (["eval", DEMO, "--pretrained", "--dataset", "/no/such/folder"], "not a registered data set"),
    (["eval", DEMO, "--pretrained", "--batch-size", "0"], "--batch-size must be >= 1"),
    (["eval", DEMO, "--pretrained", "--split", "bogus"], "split must be 'train', 'test' or 'all'"),
    (["eval", DEMO, "--pretrained", "--dataset", "moving_digits"], "is made for the task 'video-prediction'"),
    (["eval", "spiking_cnn.digits_t5", "--pretrained"], "Registered weight tags of spiking_cnn: digits_t4"),
    (["eval", "spiking_predictor_stc_lif_kth", "--pretrained"], "has no published weights"),
    (["eval", "spiking_cnnn"], "unknown model 'spiking_cnnn'; closest: spiking_cnn"),
    (["eval", DEMO, "--dtype", "float16"], "invalid choice: 'float16'"),
    (["eval", DEMO, "--weights", "/no/such/folder"], "weight folder not found"),
    (["robust-eval", DEMO, "--attack", "fgsm", "--eps", "2"], "--eps must be in [0, 1]"),
    (["robust-eval", DEMO, "--attack", "cw", "--eps", "0.1"], "invalid choice: 'cw'"),
    (["info", "lifx"], "closest: lif (neuron)"),
    (["card", "spiking_cnn"], "give a weight tag: spiking_cnn.digits_t4"),
    (["download", "spiking_cnn.nope"], "give a published weight set of spiking_cnn"),
    (["push", "/no/such/folder", "me/repo"], "not a folder"),
    (
        ["convert", "--official", "/no/such.pth", "--model", "spiking_cnn", "--out", "x"],
        "checkpoint not found",
    ),
    (["new-plugin", "Bad Name"], "invalid plugin name"),
    (["bench-neuron", "lifx"], "unknown neuron 'lifx'"),
    (["nosuchcommand"], "invalid choice: 'nosuchcommand'"),
    (["plot", "raster", DEMO, "--pretrained", "--out", "x.jpg"], "name a FILE.png or FILE.svg, got 'x.jpg'"),
    (["plot", "raster", DEMO, "--pretrained", "--out", "no/x.png"], "the folder 'no' does not exist"),
    (
        ["plot", "raster", DEMO, "--pretrained", "--out", "x.png", "--layer", "nope"],
        "no spiking layer 'nope'; layers: features.1, features.4",
    ),
    (
        ["plot", "trace", DEMO, "--pretrained", "--out", "x.png", "--neuron", "5000"],
        "neuron 5000 is out of range",
    ),
    (
        ["plot", "rates", DEMO, "--pretrained", "--out", "x.png", "--index", "9999"],
        "--index 9999 is out of range",
    ),
    (["plot", "frames", DEMO, "--pretrained", "--out", "x.png", "--count", "0"], "--count must be >= 1"),
    (["plot", "curves", "no_such.jsonl", "--out", "x.png"], "run log not found: 'no_such.jsonl'"),
    (["plot", "raster", "--out", "x.png"], "the following arguments are required: NAME[.TAG]"),
    (["plot", "histogram"], "invalid choice: 'histogram'"),
]


@pytest.mark.parametrize("argv,fragment", CASES, ids=[" ".join(a)[:60] for a, _ in CASES])
def test_a_mistake_is_one_line_and_exit_2(argv: list[str], fragment: str, tmp_path: Path) -> None:
    done = subprocess.run([*ZOO, *argv], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    err = [line for line in done.stderr.splitlines() if not line.startswith("zoo: note:")]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and len(err) == 1, done.stderr
    assert err[0].startswith("zoo: error: ") and fragment in err[0], err[0]
    assert not list(tmp_path.iterdir())  # nothing half-written where the command ran


def test_random_weights_come_with_a_note(capsys: pytest.CaptureFixture[str]) -> None:
    from zoo_core.cli import main

    assert main(["eval", "spiking_cnn", "--json"]) == 0
    err = capsys.readouterr().err
    assert "evaluating freshly initialised (random) weights of spiking_cnn" in err
    assert "published weights: spiking_cnn.digits_t4 (with --pretrained)" in err
