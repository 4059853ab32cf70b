"""The ``zoo`` command line: every subcommand on the built-in registry, errors, and the plugin skeleton.

Most tests call :func:`zoo_core.cli.main` in this process (fast). The skeleton round trip installs a generated
plugin for real (pip into a temporary folder) and runs its own tests in a subprocess (marked slow).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import torch

import zoo_core as zoo
from zoo_core.cli import COMMANDS, main

SKELETON_FILES = [
    "README.md",
    "pyproject.toml",
    "tests/test_conformance.py",
    "zoo_{n}/__init__.py",
    "zoo_{n}/model.py",
    "zoo_{n}/neuron.py",
    "zoo_{n}/plugin.py",
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def fields(out: str) -> dict[str, str]:
    """``  key   value`` lines of `zoo info` -> {key: value} (first occurrence of each key)."""
    found: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"^  (\w[\w ]*?)\s{2,}(\S.*)$", line)
        if m:
            found.setdefault(m.group(1), m.group(2))
    return found


def isolated_env(**extra: str) -> dict[str, str]:
    """A subprocess environment without ZOO_* settings, with installed plugins disabled."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env["OMP_NUM_THREADS"] = "1"
    env["ZOO_DISABLE_PLUGINS"] = ",".join(sorted({ep.name for ep in metadata.entry_points(group="zoo_core")}))
    env.update(extra)
    return env


# ------------------------------------------------------------------------------------------ parser
def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--help")
    assert rc == 0
    assert out.startswith("usage: zoo")
    for name in ("list", "info", "neurons", "plugins", "new-plugin"):
        assert re.search(rf"^\s+{name}\s+\S", out, re.M), f"{name} missing from:\n{out}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_has_help(capsys: pytest.CaptureFixture[str], name: str) -> None:
    rc, out, _ = run(capsys, name, "--help")
    assert rc == 0
    assert out.startswith(f"usage: zoo {name}")
    assert COMMANDS[name].help and len(out.splitlines()) > 5


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "--version")
    assert rc == 0
    assert out.strip().startswith(f"zoo-core {zoo.__version__} (plugin API {zoo.API_VERSION}")


def test_no_command_and_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys)
    assert rc == 2 and out == ""
    assert "zoo: error: choose a command: list, info" in err
    rc, _, err = run(capsys, "list", "--no-such-option")
    assert rc == 2 and "unrecognized arguments: --no-such-option" in err
    rc, _, err = run(capsys, "frobnicate")
    assert rc == 2 and "invalid choice: 'frobnicate'" in err


def test_help_and_version_do_not_import_torch() -> None:
    code = (
        "import json, sys\n"
        "from zoo_core.cli import main\n"
        "rcs = [main(['--help']), main(['new-plugin', '--help']), main(['--version'])]\n"
        "print(json.dumps([rcs, 'torch' in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], env=isolated_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == [[0, 0, 0], False]


def test_console_script() -> None:
    script = Path(sys.executable).parent / "zoo"
    if not script.exists():
        pytest.skip("the `zoo` console script is not installed in this environment")
    proc = subprocess.run(
        [str(script), "--version"], env=isolated_env(), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and proc.stdout.startswith("zoo-core ")


# ------------------------------------------------------------------------------------------ list
def test_list_prints_every_model_one_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "list")
    assert rc == 0
    assert out.splitlines() == zoo.list_models()
    assert "spiking_cnn" in out.splitlines()


def test_list_pattern(capsys: pytest.CaptureFixture[str]) -> None:
    listed = run(capsys, "list", "spiking*")[1].splitlines()
    assert listed == zoo.list_models("spiking*")  # installed plugins may add models
    assert [n for n in listed if zoo.model_info(n).plugin == "zoo_core"] == ["spiking_cnn"]
    assert "spiking_cnn" in run(capsys, "list", "cnn")[1].splitlines()  # a plain word matches a substring
    assert run(capsys, "list", "*cnn_x")[1] == ""
    rc, out, err = run(capsys, "list", "no_such_model_xyz")
    assert rc == 0 and out == "" and "no models match 'no_such_model_xyz'" in err
    rc, out, _ = run(capsys, "list", "spiking*", "--json")
    assert rc == 0 and json.loads(out) == listed


@pytest.fixture
def model_with_weights():
    """An in-process model with two published weight sets."""

    @zoo.register_model(
        "fx_cli_net",
        owner="fx_cli_tests",
        defaults={"num_classes": 10, "in_chans": 1, "img_size": 8, "T": 4},
        weights={
            "digits_t4": {
                "tag": "digits_t4",
                "source": "package://zoo_core/weights/x",
                "dataset": "digits",
                "metrics": {"top1": 0.9},
            },
            "cifar10_t2": {
                "tag": "cifar10_t2",
                "source": "hf://org/x",
                "revision": "abc123",
                "config": {"T": 2},
            },
        },
    )
    def fx_cli_net(
        num_classes: int = 10, in_chans: int = 1, img_size: int = 8, T: int = 4
    ) -> torch.nn.Module:
        """A model with weights (test)."""
        return torch.nn.Identity()

    yield "fx_cli_net"
    zoo.unregister("model", "fx_cli_net")


def test_list_pretrained(capsys: pytest.CaptureFixture[str], model_with_weights: str) -> None:
    rc, out, _ = run(capsys, "list", "--pretrained")
    assert rc == 0
    lines = out.splitlines()
    assert {"fx_cli_net.cifar10_t2", "fx_cli_net.digits_t4"} <= set(lines)
    assert "spiking_cnn.digits_t4" in lines  # the core's demo weights
    assert "spiking_cnn" not in lines and "fx_cli_net" not in lines  # only NAME.TAG
    assert all("." in line for line in lines)
    assert run(capsys, "list", "--pretrained", "fx_*digits*")[1].splitlines() == ["fx_cli_net.digits_t4"]


# ------------------------------------------------------------------------------------------ info
def test_info_model(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "info", "spiking_cnn")
    assert rc == 0
    assert out.splitlines()[0] == "spiking_cnn (model)"
    f = fields(out)
    assert f["plugin"] == f"zoo_core (zoo-core {zoo.__version__})"
    assert f["paper"] == zoo.model_info("spiking_cnn").paper.title
    assert f["task"] == "image-classification"
    assert f["input"] == "image [B, in_chans=1, img_size=8, img_size=8] (unit)"
    assert "frames [T=4, B, in_chans=1, img_size=8, img_size=8] (unit)" in out
    assert f["output"] == "logits [B, num_classes=10] (real)"
    assert "T=4" in f["defaults"] and "neuron='lif'" in f["defaults"] and "channels=[16, 32]" in f["defaults"]
    assert f["weights"].startswith("spiking_cnn.digits_t4  dataset=digits  accuracy=0.99")


def test_info_model_weights(capsys: pytest.CaptureFixture[str], model_with_weights: str) -> None:
    rc, out, _ = run(capsys, "info", "fx_cli_net")
    assert rc == 0
    assert fields(out)["plugin"] == "fx_cli_tests (registered in-process)"
    assert "fx_cli_net.digits_t4  dataset=digits  top1=0.9  source=package://zoo_core/weights/x" in out
    assert "fx_cli_net.cifar10_t2  source=hf://org/x@abc123" in out
    assert run(capsys, "info", "fx_cli_net.digits_t4")[0] == 0
    rc, out, err = run(capsys, "info", "fx_cli_net.imagenet_t4")
    assert rc == 2 and out == ""
    assert err.strip() == (
        "zoo: error: model 'fx_cli_net' has no weight tag 'imagenet_t4'; "
        "published weights: fx_cli_net.cifar10_t2, fx_cli_net.digits_t4"
    )


def test_info_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "info", "spiking_cnn", "--json")
    assert rc == 0
    data = json.loads(out)
    info = zoo.model_info("spiking_cnn")
    assert data == info.model_dump(mode="json")
    assert (data["name"], data["kind"], data["plugin"], data["defaults"]["T"]) == (
        "spiking_cnn",
        "model",
        "zoo_core",
        4,
    )


@pytest.mark.parametrize(
    ("name", "kind", "expect"),
    [
        ("lif", "neuron", {"paper": "SpikingJelly", "defaults": "tau=2.0"}),
        ("atan", "surrogate", {"paper": "Surrogate Gradient Learning", "defaults": "alpha=2.0"}),
        ("bptt", "learning rule", {"category": "training", "defaults": "label_smoothing=0.0"}),
        ("digits", "dataset", {"task": "image-classification", "defaults": "split='train'"}),
        ("lif_multistep:reference", "kernel", {"op": "lif_multistep", "is reference": "True"}),
    ],
)
def test_info_other_kinds(capsys: pytest.CaptureFixture[str], name: str, kind: str, expect: dict) -> None:
    rc, out, _ = run(capsys, "info", name)
    assert rc == 0
    assert out.splitlines()[0] == f"{name} ({kind})"
    f = fields(out)
    assert f["plugin"].startswith("zoo_core ")
    for key, value in expect.items():
        assert value in f[key], (key, f)
    assert json.loads(run(capsys, "info", name, "--json")[1])["name"] == name


def test_info_kind_restricts_the_lookup(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "info", "--kind", "neuron", "lif")[0] == 0
    rc, out, err = run(capsys, "info", "--kind", "surrogate", "lif")
    assert rc == 2 and out == ""
    assert err.startswith("zoo: error: unknown surrogate 'lif'")


@pytest.mark.parametrize(
    ("name", "closest"),
    [("spiking_cn", "spiking_cnn (model)"), ("plf", "plif (neuron)"), ("atna", "atan (surrogate)")],
)
def test_info_unknown_name_suggests_closest(
    capsys: pytest.CaptureFixture[str], name: str, closest: str
) -> None:
    rc, out, err = run(capsys, "info", name)
    assert rc == 2 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(
        f"zoo: error: no model, neuron, surrogate, learning rule, dataset, task or kernel is named {name!r}"
    )
    assert f"closest: {closest}" in err


def test_info_unknown_name_without_close_match(capsys: pytest.CaptureFixture[str]) -> None:
    rc, _, err = run(capsys, "info", "qqqqqqqq")
    assert rc == 2 and len(err.splitlines()) == 1
    assert "closest" not in err and "`zoo list`" in err


# ------------------------------------------------------------------------------------------ plugins, neurons
def test_plugins_table(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "plugins")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DISTRIBUTION", "VERSION", "API", "STATUS", "REGISTERED"]
    core = lines[1]
    assert core.split()[:5] == ["zoo_core", "zoo-core", zoo.__version__, zoo.API_VERSION, "ok"]
    core_neurons = [n for n in zoo.list_neurons() if zoo.neuron_info(n).plugin == "zoo_core"]
    core_datasets = [n for n in zoo.list_datasets() if zoo.dataset_info(n).plugin == "zoo_core"]
    assert "model: spiking_cnn" in core and f"dataset: {', '.join(core_datasets[:3])}" in core
    assert "digits" in core_datasets
    assert f"neuron: {', '.join(core_neurons[:3])}" in core
    assert "surrogate: atan, erf, rectangular, +2 more" in core  # long lists are shortened...
    verbose = run(capsys, "plugins", "-v")[1].splitlines()[1]
    assert "surrogate: atan, erf, rectangular, sigmoid, triangular" in verbose  # ...unless -v
    summary = [line for line in lines if "(the core included)" in line]
    assert summary and summary[0].startswith(f"{len(zoo.list_plugins())} plugin")


def test_plugins_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "plugins", "--json")
    assert rc == 0
    data = json.loads(out)
    assert data[0]["name"] == "zoo_core" and data[0]["status"] == "ok"
    assert data[0]["registered"]["neuron"] == [
        n for n in zoo.list_neurons() if zoo.neuron_info(n).plugin == "zoo_core"
    ]
    assert {"if", "lif", "plif"} <= set(data[0]["registered"]["neuron"])
    assert [p["name"] for p in data] == [p.name for p in zoo.list_plugins()]


def test_neurons_table(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "neurons")
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "PLUGIN", "PAPER", "DEFAULTS"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(zoo.list_neurons())
    lif = rows["lif"]
    assert lif.split()[1] == "zoo_core"
    assert "SpikingJelly (Fang et al., 2023)" in lif
    assert "tau=2.0" in lif and "surrogate='atan'" in lif
    assert "(Fang et al., 2021)" in rows["plif"] and "init_tau=2.0" in rows["plif"]


def test_neurons_pattern_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "neurons", "p*")[1]
    names = [line.split()[0] for line in out.splitlines()[1:]]
    assert names == zoo.list_neurons("p*")  # installed plugins may add neurons
    assert [n for n in names if zoo.neuron_info(n).plugin == "zoo_core"] == ["plif"]
    rc, out, err = run(capsys, "neurons", "no_such_neuron")
    assert rc == 0 and out == "" and "no neurons match" in err
    data = json.loads(run(capsys, "neurons", "lif", "--json")[1])
    assert [d["name"] for d in data] == zoo.list_neurons("*lif*")  # a plain word matches as a substring
    assert [d["name"] for d in data if d["plugin"] == "zoo_core"] == ["lif", "plif"]
    lif = next(d for d in data if d["name"] == "lif")
    assert lif["defaults"]["tau"] == 2.0 and lif["plugin"] == "zoo_core"


# ------------------------------------------------------------------------------------------ new-plugin
@pytest.mark.parametrize(
    "bad", ["MyPlugin", "my-plugin", "1abc", "a__b", "_a", "a_", "my plugin", "class", "core", "", "a" * 41]
)
def test_new_plugin_rejects_bad_names(capsys: pytest.CaptureFixture[str], tmp_path: Path, bad: str) -> None:
    rc, out, err = run(capsys, "new-plugin", bad, "--dir", str(tmp_path))
    assert rc == 2 and out == ""
    assert err.startswith("zoo: error: invalid plugin name") and len(err.splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_new_plugin_refuses_to_overwrite(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    existing = tmp_path / "taken"
    existing.mkdir()
    (existing / "keep.txt").write_text("mine")
    rc, out, err = run(capsys, "new-plugin", "taken", "--dir", str(tmp_path))
    assert rc == 2 and out == ""
    assert "already exists; refusing to overwrite it" in err
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]  # no partial folder left behind
    assert [p.name for p in existing.iterdir()] == ["keep.txt"] and (
        existing / "keep.txt"
    ).read_text() == "mine"


def test_new_plugin_default_dir_is_plugins(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rc, out, _ = run(capsys, "new-plugin", "cwd_demo")
    assert rc == 0
    assert (tmp_path / "plugins" / "cwd_demo" / "zoo_cwd_demo" / "plugin.py").is_file()
    assert "pip install -e plugins/cwd_demo" in out


def test_new_plugin_writes_the_skeleton(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    rc, out, _ = run(capsys, "new-plugin", "my_paper", "--dir", str(tmp_path / "sub"))
    assert rc == 0
    root = tmp_path / "sub" / "my_paper"
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert files == sorted(f.format(n="my_paper") for f in SKELETON_FILES)
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["my_paper"]  # no temporary folder left
    for f in files:
        text = (root / f).read_text()
        assert "{{" not in text and "}}" not in text, f
        assert f"{root / f}" in out
        if f.endswith(".py"):
            compile(text, f, "exec")
    pyproject = (root / "pyproject.toml").read_text()
    assert '[project.entry-points.zoo_core]\nmy_paper = "zoo_my_paper.plugin"' in pyproject
    if sys.version_info >= (3, 11):
        import tomllib

        meta = tomllib.loads(pyproject)
        assert meta["project"]["name"] == "zoo-my_paper"
        assert any(d.startswith("zoo-core") for d in meta["project"]["dependencies"])
        assert meta["project"]["entry-points"]["zoo_core"] == {"my_paper": "zoo_my_paper.plugin"}
    plugin = (root / "zoo_my_paper" / "plugin.py").read_text()
    assert f'ZOO_API_VERSION = "{zoo.API_VERSION}"' in plugin and "TODO" in plugin
    assert (
        '"my_paper_lif",\n        MyPaperLIF,' in plugin and '"my_paper_net",\n        MyPaperNet,' in plugin
    )
    test = (root / "tests" / "test_conformance.py").read_text()
    assert 'check_neuron("my_paper_lif")' in test and 'check_model("my_paper_net")' in test


def _ruff() -> list[str] | None:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    return [exe] if exe else None


def test_new_plugin_passes_ruff(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ruff = _ruff()
    if ruff is None:
        pytest.skip("ruff is not installed")
    assert run(capsys, "new-plugin", "lint_demo", "--dir", str(tmp_path))[0] == 0
    root = tmp_path / "lint_demo"
    for args in (["check", "--no-cache", "."], ["format", "--check", "--no-cache", "."]):
        proc = subprocess.run([*ruff, *args], cwd=root, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"ruff {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"


def test_generated_plugin_loads_and_conforms_in_process(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Fast check of the skeleton without installing it: load its plugin module into the global runtime."""
    from zoo_core.plugins import runtime
    from zoo_core.testing import check_model, check_neuron

    name = "inproc_demo"
    assert run(capsys, "new-plugin", name, "--dir", str(tmp_path))[0] == 0
    sys.path.insert(0, str(tmp_path / name))
    rt = runtime()
    try:
        import importlib

        module = importlib.import_module(f"zoo_{name}.plugin")
        info = rt.load_plugin(name, module, distribution=f"zoo-{name}", version="0.1.0")
        assert info.status == "ok", info.status
        assert info.api_version == zoo.API_VERSION
        assert info.registered == {"model": [f"{name}_net"], "neuron": [f"{name}_lif"]}
        assert zoo.neuron_info(f"{name}_lif").paper.title.startswith("TODO")
        # the worked example of the neuron's docstring
        spikes = zoo.create_neuron(f"{name}_lif")(torch.full((4, 1), 1.5))
        assert spikes.flatten().tolist() == [0.0, 1.0, 0.0, 1.0]
        check_neuron(f"{name}_lif")
        check_model(f"{name}_net")
    finally:
        for kind in ("model", "neuron"):
            rt.registries[kind].remove_owner(name)
        if rt.pm.get_plugin(name) is not None:
            rt.pm.unregister(name=name)
        rt.plugins.pop(name, None)
        sys.path.remove(str(tmp_path / name))
        for mod in [m for m in sys.modules if m == f"zoo_{name}" or m.startswith(f"zoo_{name}.")]:
            del sys.modules[mod]
    assert f"{name}_lif" not in zoo.list_neurons()


@pytest.mark.slow
def test_new_plugin_round_trip(tmp_path: Path) -> None:
    """Generate, pip-install for real, run the plugin's own tests, and see it in `zoo plugins`."""
    name = "roundtrip_demo"
    gen = subprocess.run(
        [sys.executable, "-m", "zoo_core.cli", "new-plugin", name, "--dir", str(tmp_path / "src")],
        env=isolated_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gen.returncode == 0, gen.stderr
    plugin_dir = tmp_path / "src" / name
    site = tmp_path / "site"
    pip = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            "--quiet",
            "--target",
            str(site),
            str(plugin_dir),
        ],
        env=isolated_env(PIP_NO_INPUT="1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert pip.returncode == 0, f"pip install failed:\n{pip.stdout}\n{pip.stderr}"
    assert (site / f"zoo_{name}" / "plugin.py").is_file()
    [dist_info] = site.glob(f"zoo_{name}-0.1.0.dist-info")
    assert f"{name} = zoo_{name}.plugin" in (dist_info / "entry_points.txt").read_text()

    env = isolated_env(PYTHONPATH=os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p))
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", str(plugin_dir / "tests"), "-q", "-p", "no:cacheprovider"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert tests.returncode == 0, f"the generated plugin's tests failed:\n{tests.stdout}\n{tests.stderr}"
    assert re.search(r"\b5 passed\b", tests.stdout), tests.stdout

    plugins = subprocess.run(
        [sys.executable, "-m", "zoo_core.cli", "plugins"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plugins.returncode == 0, plugins.stderr
    row = next(line for line in plugins.stdout.splitlines() if line.startswith(f"{name} "))
    assert row.split()[:5] == [name, f"zoo-{name}", "0.1.0", zoo.API_VERSION, "ok"]
    assert f"model: {name}_net" in row and f"neuron: {name}_lif" in row
    assert "ZooPluginWarning" not in plugins.stderr
