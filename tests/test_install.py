"""The installed product: wheels of zoo-core and a plugin, installed into a fresh environment outside the
checkout, from a wheelhouse with no index, next to another torch that must stay.

The environment reuses this machine's third-party packages (torch, numpy, ...) through a folder of links, with
torch's metadata rewritten to another version, and sees none of the checkout's zoo packages. From a directory
outside the checkout the plugin is discovered through its entry point, its models list, and
``zoo eval <demo>.<tag> --pretrained`` reproduces the card's numbers from the weights inside the installed wheel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import zoo_core as zoo

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "stc"
DEMO = "spiking_predictor_stc_lif_mdigits.moving_digits_5to5"
OTHER_TORCH = "2.9.0"
INDEX = "zoo_index.json"

pytestmark = pytest.mark.slow


def _run(*cmd: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _copy_sources(dest: Path) -> Path:
    """The tracked files of zoo-core and the plugin (a build writes egg-info into its source tree)."""
    files = _run("git", "ls-files", "pyproject.toml", "README.md", "zoo_core", f"plugins/{PLUGIN}", cwd=ROOT)
    # the generated static tables (zoo_core.plugin_index) travel too, committed or freshly regenerated
    tables = [f"zoo_core/{INDEX}", f"plugins/{PLUGIN}/zoo_{PLUGIN}/{INDEX}"]
    for rel in dict.fromkeys([*files.split(), *(t for t in tables if (ROOT / t).is_file())]):
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, dest / rel)
    return dest


def _site_packages(env: Path) -> Path:
    rel = Path(sysconfig.get_path("purelib")).relative_to(sysconfig.get_path("data"))
    return env / rel


def _deps_without_zoo(dest: Path) -> Path:
    """Links to this interpreter's third-party packages, minus everything of zoo's, with torch's metadata saying
    another version (and what depends on torch accepting it, as a matching torchvision would)."""
    dest.mkdir()
    site = Path(sysconfig.get_path("purelib"))
    for entry in site.iterdir():
        low = entry.name.lower()
        if low.startswith(("zoo_", "zoo-", "__editable__")) or low.endswith(".pth"):
            continue
        meta = entry / "METADATA"
        if not (low.endswith(".dist-info") and meta.is_file()):
            (dest / entry.name).symlink_to(entry)
            continue
        lines = meta.read_text().splitlines()
        is_torch = low.startswith("torch-")
        if is_torch:
            lines = [f"Version: {OTHER_TORCH}" if ln.startswith("Version:") else ln for ln in lines]
        else:
            lines = [re.sub(r"^(Requires-Dist: torch)\s*\(?[<>=!~][^;)]*\)?", r"\1", ln) for ln in lines]
        copy = dest / (f"torch-{OTHER_TORCH}.dist-info" if is_torch else entry.name)
        shutil.copytree(entry, copy)
        (copy / "METADATA").write_text("\n".join(lines) + "\n")
        (copy / "RECORD").write_text("")  # pip must not think it could remove the real files
    return dest


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("install")
    src = _copy_sources(base / "src")
    wheels = base / "wheelhouse"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run(
        *pip,
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        wheels,
        src,
        src / "plugins" / PLUGIN,
    )
    env = base / "env"
    _run(sys.executable, "-m", "venv", "--without-pip", env)
    deps = _deps_without_zoo(base / "deps")
    (_site_packages(env) / "_machine_packages.pth").write_text(f"{deps}\n")
    python = env / "bin" / "python"
    _run(*pip, "--python", python, "install", "-q", "--no-index", "--find-links", wheels, f"zoo-{PLUGIN}")
    elsewhere = base / "elsewhere"
    elsewhere.mkdir()
    return {"env": env, "python": python, "wheels": wheels, "cwd": elsewhere}


def test_wheels_carry_metadata_and_weights_and_no_torch_pin(installed: dict[str, Path]) -> None:
    core = next(installed["wheels"].glob("zoo_core-*.whl"))
    plugin = next(installed["wheels"].glob(f"zoo_{PLUGIN}-*.whl"))
    with zipfile.ZipFile(core) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith("METADATA"))).decode()
        assert "zoo_core/weights/spiking_cnn.digits_t4/model.safetensors" in z.namelist()
    requires = [ln for ln in meta.splitlines() if ln.startswith("Requires-Dist: torch")]
    assert requires and all("==" not in r for r in requires), requires  # a lower bound, never a pin
    assert "Classifier: Programming Language :: Python :: 3" in meta and "License-Expression: MIT" in meta
    with zipfile.ZipFile(plugin) as z:
        meta = z.read(next(n for n in z.namelist() if n.endswith("METADATA"))).decode()
        assert any(n.endswith(f"{DEMO}/model.safetensors") for n in z.namelist())
    assert "Project-URL: Paper, https://arxiv.org/abs/" in meta and "Requires-Dist: zoo-core>=" in meta


def test_install_keeps_the_other_torch(installed: dict[str, Path]) -> None:
    listing = json.loads(
        _run(sys.executable, "-m", "pip", "--python", installed["python"], "list", "--format=json")
    )
    versions = {p["name"].lower(): p["version"] for p in listing}
    assert versions["torch"] == OTHER_TORCH  # satisfied by the lower bound: not replaced
    assert versions["zoo-core"] == zoo.__version__ and f"zoo-{PLUGIN}" in versions


def test_installed_plugin_is_discovered_and_its_demo_reproduces_the_card(installed: dict[str, Path]) -> None:
    zoo_cli, cwd = installed["env"] / "bin" / "zoo", installed["cwd"]
    plugins = json.loads(_run(zoo_cli, "plugins", "--json", cwd=cwd))
    status = {p["name"]: p for p in plugins}
    assert status[PLUGIN]["status"] == "ok" and status[PLUGIN]["distribution"] == f"zoo-{PLUGIN}"
    assert "site-packages" in _run(
        installed["python"], "-c", "import zoo_stc; print(zoo_stc.__file__)", cwd=cwd
    )
    assert "spiking_predictor_stc_lif_mdigits" in _run(zoo_cli, "list", "spiking_predictor_stc_lif*", cwd=cwd)
    report = json.loads(_run(zoo_cli, "eval", DEMO, "--pretrained", "--json", cwd=cwd))
    card = zoo.model_info(DEMO).weights[DEMO.split(".")[1]].metrics
    assert report["dtype"] == "float64" and report["metrics"]["mse"] == pytest.approx(card["mse"], rel=1e-9)
    # the core's own demo, from the zoo-core wheel: the card's accuracy, whatever the working directory
    out = _run(zoo_cli, "eval", "spiking_cnn.digits_t4", "--pretrained", cwd=cwd)
    accuracy = zoo.model_info("spiking_cnn").weights["digits_t4"].metrics["accuracy"]
    assert f"accuracy          {accuracy:.4f}" in out


def test_installed_tables_answer_without_torch(installed: dict[str, Path]) -> None:
    """The wheels carry the static tables, and from them the installed `zoo list`/`zoo plugins` never import
    torch yet print what loading the plugins prints (ZOO_STATIC_INDEX=0)."""
    for wheel in ("zoo_core-*.whl", f"zoo_{PLUGIN}-*.whl"):
        with zipfile.ZipFile(next(installed["wheels"].glob(wheel))) as z:
            assert any(n.endswith(f"/{INDEX}") for n in z.namelist()), wheel
    code = (
        "import sys\n"
        "from zoo_core.cli import main\n"
        "rc = main(sys.argv[1:])\n"
        "sys.stderr.write('TORCH=%s' % ('torch' in sys.modules))\n"
        "raise SystemExit(rc)\n"
    )
    for argv in (["list"], ["plugins"], ["info", "spiking_predictor_stc_lif_mdigits"]):
        fast = subprocess.run(
            [installed["python"], "-c", code, *argv], cwd=installed["cwd"], capture_output=True, text=True
        )
        assert fast.returncode == 0 and fast.stderr.endswith("TORCH=False"), (argv, fast.stderr[-2000:])
        env = {**os.environ, "ZOO_STATIC_INDEX": "0"}
        slow = subprocess.run(
            [installed["python"], "-c", code, *argv],
            cwd=installed["cwd"],
            capture_output=True,
            text=True,
            env=env,
        )
        assert slow.stderr.endswith("TORCH=True") and slow.stdout == fast.stdout, argv
