"""zoo.viz and ``zoo plot``: every picture renders to a non-empty PNG of figsize x dpi pixels (or an SVG), and
the data behind it is right: the raster's spikes are the neuron layer's outputs, the firing rates are their mean
and zoo.profile's, the membrane is the potential the neuron compares with its threshold (it crosses it exactly
where the spike marks are), the examples are what the model predicts. Both shipped demos are used: the digits
classifier (LIF neurons) and the STC video predictor (cells that fire through a surrogate, not BaseNeurons)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("matplotlib")

from PIL import Image  # matplotlib brings pillow

import zoo_core as zoo
from zoo_core import viz
from zoo_core.api import get_task, model_info
from zoo_core.cli import main
from zoo_core.errors import ConfigError
from zoo_core.hub import read_config, resolve_source
from zoo_core.tasks.prediction import copy_last_frame

torch.set_num_threads(1)

CNN = "spiking_cnn.digits_t4"
STC = "spiking_predictor_stc_lif_mdigits.moving_digits_5to5"


def _load(full: str, n: int) -> tuple[torch.nn.Module, torch.Tensor, object]:
    model = zoo.create_model(full, pretrained=True)
    base, tag = zoo.split_tag(full)
    info = model_info(base)
    w = info.weights[tag]
    _, data = get_task(info.task).eval_data(
        model, dataset=None, split="test", weights=w, weights_config=read_config(resolve_source(w.source))
    )
    x = torch.stack([data[i][0] for i in range(n)])
    return model, x, data


@pytest.fixture(scope="module")
def cnn() -> tuple[torch.nn.Module, torch.Tensor, object]:
    return _load(CNN, 4)


@pytest.fixture(scope="module")
def stc() -> tuple[torch.nn.Module, torch.Tensor, object]:
    return _load(STC, 2)


def check_png(path: Path, fig: object) -> None:
    """A PNG of figsize x dpi pixels that is not blank."""
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    w, h = fig.get_size_inches() * fig.dpi  # type: ignore[attr-defined]
    with Image.open(path) as img:
        assert abs(img.size[0] - w) < 1 and abs(img.size[1] - h) < 1, (img.size, (w, h))
        lo, hi = img.convert("L").getextrema()
        assert hi - lo > 100  # something is drawn


def check_svg(path: Path) -> None:
    text = path.read_text()
    assert text.lstrip().startswith(("<?xml", "<svg")) and "</svg>" in text and len(text) > 1000


# ------------------------------------------------------------------------------------------------ recording
def test_zoo_viz_is_the_module() -> None:
    assert zoo.viz is viz and "viz" in dir(zoo)


def test_the_raster_spikes_are_the_neuron_outputs(cnn) -> None:
    model, x, _ = cnn
    seen: dict[str, torch.Tensor] = {}
    hooks = [
        m.register_forward_hook(lambda m, a, out, name=name: seen.__setitem__(name, out.detach().clone()))
        for name, m in model.named_modules()
        if isinstance(m, zoo.BaseNeuron)
    ]
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for h in hooks:
            h.remove()
    rec = viz.record(model, x)
    assert list(rec.layers) == list(seen) == viz.spiking_layers(model) == ["features.1", "features.4"]
    for name, out in seen.items():
        lr = rec.layer(name)
        assert lr.type == "LIF" and lr.threshold == 1.0 and torch.equal(lr.spikes, out)
    assert torch.equal(rec.output, logits)
    fig = viz.raster(model, x, "features.4", sample=1, max_neurons=100)
    shown = fig.axes[0].images[0].get_array()
    assert torch.equal(torch.as_tensor(shown.T != 0), seen["features.4"][:, 1].reshape(4, -1)[:, :100] != 0)


def test_firing_rates_are_the_mean_spikes_and_the_profiles(cnn) -> None:
    model, x, _ = cnn
    rec = viz.record(model, x)
    prof = zoo.profile(model, x)
    fig = viz.firing_rates(model, x)
    grid = torch.as_tensor(fig.axes[0].images[0].get_array().filled(float("nan")))
    for i, (name, lr) in enumerate(rec.layers.items()):
        assert torch.allclose(lr.rates(), lr.spikes.double().mean(dim=tuple(range(1, lr.spikes.dim()))))
        assert torch.allclose(lr.rates(), torch.tensor(prof.layer(name).firing_rates_t, dtype=torch.float64))
        assert torch.allclose(grid[i], lr.rates())


@pytest.mark.parametrize("which", ["cnn", "stc"])
def test_the_membrane_crosses_the_threshold_exactly_at_the_spikes(which: str, request) -> None:
    model, x, _ = request.getfixturevalue(which)
    rec = viz.record(model, x)
    for lr in rec.layers.values():
        assert lr.margin is not None and lr.threshold == 1.0
        assert torch.equal(lr.margin >= 0, lr.spikes != 0)
        assert lr.spikes.any() and not lr.spikes.all()
    lr = rec.layer()
    fig = viz.membrane_trace(model, x, lr.name, neuron=None, sample=1)
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    neuron = int(fig.axes[0].get_title().split("neuron ")[1].split(",")[0])
    v = lr.sample(1, "membrane")[:, neuron]
    fired = lr.sample(1)[:, neuron] != 0
    assert torch.allclose(torch.as_tensor(lines["membrane"].get_ydata()), v.double())
    assert [int(t) - 1 for t in lines["spikes"].get_xdata()] == fired.nonzero().flatten().tolist()
    assert list(lines[next(k for k in lines if k.startswith("threshold"))].get_ydata()) == [1.0, 1.0]
    # the default neuron is one that switches between firing and silence
    assert 0 < int(fired.sum()) < lr.steps


def test_the_lif_membrane_is_the_charge_before_the_reset(cnn) -> None:
    model, x, _ = cnn
    lif = model.get_submodule("features.1")
    inputs: list[torch.Tensor] = []
    h = lif.register_forward_hook(lambda m, a, out: inputs.append(a[0].detach()))
    try:
        lr = viz.record(model, x).layer("features.1")
    finally:
        h.remove()
    v = torch.zeros_like(inputs[0][0])
    charges = []
    for x_t in inputs[0]:  # LIF, tau 2, decay_input, hard reset to 0 (zoo_core.kernels.lif)
        charge = v + (x_t - v) / lif.tau
        charges.append(charge)
        v = charge * (charge < lif.v_threshold)
    assert torch.allclose(lr.membrane, torch.stack(charges), atol=1e-6)


def test_the_stc_cells_are_spiking_layers(stc) -> None:
    model, x, _ = stc
    states: dict[str, list[torch.Tensor]] = {"cell_list.0": [], "cell_list.1": []}
    hooks = [
        model.get_submodule(n).register_forward_hook(
            lambda m, a, out, n=n: states[n].append(out["s"].detach())
        )
        for n in states
    ]
    try:
        rec = viz.record(model, x)
    finally:
        for h in hooks:
            h.remove()
    steps = model.pre_seq_length + model.aft_seq_length - 1
    assert viz.spiking_layers(model) == list(rec.layers) == list(states)
    for n, s in states.items():
        assert rec.layer(n).type == "STCLIFCell" and rec.layer(n).steps == steps
        assert torch.equal(rec.layer(n).spikes, torch.stack(s))


def test_recording_leaves_the_model_as_it_was(cnn) -> None:
    model, x, _ = cnn
    lif = model.get_submodule("features.1")
    with zoo.streaming(model):
        model(x)
        kept = {k: v.clone() for k, v in lif.state.items()}
        model.train()
        viz.record(model, x)
        assert model.training and lif.streaming
        assert kept.keys() == lif.state.keys() and all(torch.equal(kept[k], lif.state[k]) for k in kept)
    model.eval()
    a = viz.record(model, x).layer().spikes
    assert torch.equal(a, viz.record(model, x).layer().spikes)  # every recording starts from rest


# ------------------------------------------------------------------------------------------------ pictures
@pytest.mark.parametrize("which", ["cnn", "stc"])
@pytest.mark.parametrize("picture", ["raster", "rates", "trace", "examples"])
def test_each_picture_is_a_png_of_its_size(which: str, picture: str, request, tmp_path: Path) -> None:
    model, x, data = request.getfixturevalue(which)
    out = tmp_path / f"{picture}.png"
    if picture == "raster":
        fig = viz.raster(model, x, path=out)
        assert tuple(fig.get_size_inches() * fig.dpi) == (700, 450)
    elif picture == "rates":
        fig = viz.firing_rates(model, x, path=out, dpi=80)
    elif picture == "trace":
        fig = viz.membrane_trace(model, x, path=out, figsize=(5, 3), dpi=120)
    else:
        fig = viz.examples(model, data, 2, start=3, path=out, dpi=50)
    check_png(out, fig)


def test_svg_by_the_suffix(cnn, tmp_path: Path) -> None:
    model, x, _ = cnn
    viz.raster(model, x, path=tmp_path / "r.svg")
    check_svg(tmp_path / "r.svg")
    assert [p.name for p in tmp_path.iterdir()] == ["r.svg"]  # nothing left beside it


def test_classification_examples_show_predicted_and_true_labels(cnn) -> None:
    model, _, data = cnn
    rows = get_task("image-classification").example_rows(model, data, 5)
    assert len(rows) == 1
    title, images, captions = rows[0]
    x = torch.stack([data[i][0] for i in range(5)])
    with torch.no_grad():
        pred = model(x).argmax(-1)
    assert torch.equal(images, x) and images.shape == (5, 1, 8, 8)
    assert captions == [f"pred {int(p)}\ntrue {int(data[i][1])}" for i, p in enumerate(pred)]
    assert title == f"inputs ({sum(int(p) == int(data[i][1]) for i, p in enumerate(pred))} of 5 right)"


def test_video_examples_show_observed_true_predicted_and_copy_last(stc) -> None:
    model, _, data = stc
    rows = get_task("video-prediction").example_rows(model, data, 2)
    assert [r[0] for r in rows[:4]] == [
        "observed (sequence 0)",
        "true future",
        "predicted",
        "copy last frame",
    ]
    assert len(rows) == 8
    x = torch.stack([data[i][0] for i in range(2)])
    y = torch.stack([data[i][1] for i in range(2)])
    with torch.no_grad():
        pred = model(x)
    assert torch.equal(rows[4][1], x[1]) and torch.equal(rows[5][1], y[1])
    assert torch.allclose(rows[6][1], pred[1].clamp(0, 1))
    assert torch.equal(rows[7][1], copy_last_frame(x, 5)[1])
    assert rows[0][2] == ["t=1", "t=2", "t=3", "t=4", "t=5"] and rows[2][2][0].startswith("MSE ")


def test_frames_draws_any_rows(tmp_path: Path) -> None:
    rows = [
        ("grey", torch.rand(3, 1, 6, 6)),
        ("rgb", torch.rand(2, 3, 6, 6), ["a", "b"]),
        ("hw", torch.rand(4, 6, 6)),
    ]
    fig = viz.frames(rows, title="grid", path=tmp_path / "f.png", cell=0.8, dpi=60)
    check_png(tmp_path / "f.png", fig)
    assert len(fig.axes) == 3 * 4
    with pytest.raises(ConfigError, match="1 captions for 2 images"):
        viz.frames([("x", torch.rand(2, 1, 4, 4), ["one"])])
    with pytest.raises(ConfigError, match=r"non-empty \[N, C, H, W\] tensor"):
        viz.frames([("x", torch.rand(4, 4))])


def test_a_task_without_pictures_says_so(cnn) -> None:
    from zoo_core.tasks import Task

    class Bare(Task):
        name = "bare"

    with pytest.raises(ConfigError, match="task 'bare' has no pictures"):
        Bare().example_rows(cnn[0], cnn[2])


# ------------------------------------------------------------------------------------------------ curves
def _epochs(n: int) -> list[dict]:
    return [
        {"epoch": e, "step": 10 * e, "loss": 1 / e, "lr": 0.1, "seconds": e, "val_accuracy": 1 - 1 / (e + 1)}
        for e in range(1, n + 1)
    ]


def test_curves_from_a_run_log(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in _epochs(5)) + '{"epoch": 6, "lo')  # torn last line
    fig = viz.curves(log, path=tmp_path / "c.png")
    check_png(tmp_path / "c.png", fig)
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == ["loss", "lr", "seconds", "val_accuracy"]
    assert all(ax.get_xlabel() == "epoch" for ax in panels)
    assert list(panels[0].lines[0].get_xdata()) == [1, 2, 3, 4, 5]
    assert list(panels[0].lines[0].get_ydata()) == [1 / e for e in range(1, 6)]
    assert len(viz.read_log(tmp_path)) == 5  # a run folder reads its log.jsonl


def test_curves_from_csv_and_from_a_step_history(tmp_path: Path) -> None:
    (tmp_path / "log.csv").write_text("step,loss,note\n0,2.0,a\n1,1.5,b\n2,1.0,c\n")
    fig = viz.curves(tmp_path / "log.csv", path=tmp_path / "c.svg")
    check_svg(tmp_path / "c.svg")
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["loss"]
    assert fig.axes[0].get_xlabel() == "step"
    history = {"steps": 3, "history": [{"step": i, "loss": 1.0 / (i + 1), "acc": 0.5} for i in range(3)]}
    (tmp_path / "run.json").write_text(json.dumps(history))
    fig = viz.curves(tmp_path / "run.json", columns=["acc"])
    assert [ax.get_title() for ax in fig.axes if ax.get_title()] == ["acc"]
    with pytest.raises(ConfigError, match="no numeric column 'nope'"):
        viz.curves(tmp_path / "run.json", columns=["nope"])
    (tmp_path / "bad.jsonl").write_text('{"epoch": 1}\nnot json\n{"epoch": 2}\n')
    with pytest.raises(ConfigError, match="line 2 is not JSON"):
        viz.curves(tmp_path / "bad.jsonl")


# ------------------------------------------------------------------------------------------------ mistakes
def test_mistakes_are_clear_and_write_nothing(cnn, tmp_path: Path) -> None:
    model, x, _ = cnn
    with pytest.raises(
        ConfigError, match=re.escape("no spiking layer 'nope'; layers: features.1, features.4")
    ):
        viz.raster(model, x, "nope", path=tmp_path / "r.png")
    with pytest.raises(ConfigError, match=re.escape("name a FILE.png or FILE.svg")):
        viz.raster(model, x, path=tmp_path / "r.jpg")
    with pytest.raises(ConfigError, match="does not exist"):
        viz.raster(model, x, path=tmp_path / "no" / "r.png")
    with pytest.raises(
        ConfigError, match=re.escape("neuron 1024 is out of range: layer 'features.1' has 1024 neurons")
    ):
        viz.membrane_trace(model, x, neuron=1024, path=tmp_path / "t.png")
    with pytest.raises(ConfigError, match="sample 4 is out of range"):
        viz.raster(model, x, sample=4)
    assert not list(tmp_path.iterdir())


def test_without_matplotlib_the_error_names_the_extra(
    cnn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(viz.MissingExtraError, match=r'pip install "zoo-core\[viz\]"') as info:
        viz.raster(cnn[0], cnn[1])
    assert isinstance(info.value, ImportError) and isinstance(info.value, ConfigError)
    assert viz.record(cnn[0], cnn[1]).layers  # recording needs no matplotlib
    assert main(["plot", "raster", CNN, "--pretrained", "--out", str(tmp_path / "r.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ['zoo: error: pictures need matplotlib: pip install "zoo-core[viz]"']
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------------------------------------ zoo plot
def test_zoo_plot_writes_the_pictures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "t.png"
    assert (
        main(
            ["plot", "trace", CNN, "--pretrained", "--index", "2", "--layer", "features.4", "--out", str(out)]
        )
        == 0
    )
    assert f"wrote {out}: membrane trace of {CNN}, sample 2 of digits (test)" in capsys.readouterr().out
    with Image.open(out) as img:
        assert img.size == (700, 320)
    assert (
        main(
            [
                "plot",
                "frames",
                STC,
                "--pretrained",
                "--count",
                "1",
                "--dpi",
                "40",
                "--out",
                str(tmp_path / "f.svg"),
            ]
        )
        == 0
    )
    check_svg(tmp_path / "f.svg")
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _epochs(3)))
    assert main(["plot", "curves", str(tmp_path / "log.jsonl"), "--out", str(tmp_path / "c.png")]) == 0
    assert (tmp_path / "c.png").stat().st_size > 1000


def test_a_time_folded_neuron_is_unfolded() -> None:
    from zoo_core.neurons import ConversionIF

    neuron = ConversionIF(v_threshold=0.5, fold_T=4)  # [T*B, ...] in and out, time the outer factor
    x = torch.rand(4 * 3, 5)
    lr = viz.record(neuron, x).layer()
    assert lr.name == "(root)" and lr.spikes.shape == (4, 3, 5)
    with torch.no_grad():
        assert torch.equal(lr.spikes, neuron(x).reshape(4, 3, 5))
    assert lr.threshold == 0.5 and torch.equal(lr.margin >= 0, lr.spikes != 0)


def test_the_readme_picture_commands_run_as_written(tmp_path: Path) -> None:
    """Every command of the README's Pictures block runs (from a copy of the paths under tmp_path) and makes a
    picture of the same pixel size as the one the README shows."""
    root = Path(__file__).resolve().parents[1]
    text = (root / "README.md").read_text()
    block = text[text.index("### Pictures") :]
    block = block[block.index("```bash") + len("```bash") : block.index("```", block.index("```bash") + 7)]
    commands = [shlex.split(line) for line in block.strip().splitlines()]
    assert [c[1] for c in commands if c[0] == "zoo"].count("plot") >= 5
    for argv in commands:
        assert argv[0] == "zoo", argv
        (tmp_path / "docs" / "pictures").mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "zoo_core.cli", *argv[1:]],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert done.returncode == 0, (argv, done.stderr)
    for shown in sorted((root / "docs" / "pictures").glob("*.png")):
        made = tmp_path / "docs" / "pictures" / shown.name
        assert made.is_file(), f"no README command makes {shown.name}"
        assert Image.open(made).size == Image.open(shown).size, shown.name
