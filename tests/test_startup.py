"""Start-up without torch: ``zoo list``/``info``/``plugins``/``neurons`` read the plugins' static tables
(:mod:`zoo_core.plugin_index`) and print exactly what loading every plugin would print.

The shipped tables must equal what the live registry reports (``python tools/make_index.py`` regenerates them);
a table whose package changed, a plugin without one, or two tables that clash make the CLI load the plugins.
Timings are measured by ``tools/bench_startup.py``, not here.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from zoo_core.cli import main
from zoo_core.plugin_index import (
    INDEX_FILE,
    _missing_requirements,
    _plain,
    load_catalog,
    make_table,
    package_dir,
    read_table,
    table_text,
    write_tables,
)
from zoo_core.plugins import CORE_OWNER, Runtime, set_runtime
from zoo_core.registry import KINDS

ROOT = Path(__file__).resolve().parents[1]
STALE = "stale static tables: run `python tools/make_index.py` (and commit the zoo_index.json files)"

#: run the CLI, then report on stderr whether torch was imported
WRAPPER = (
    "import sys\n"
    "from zoo_core.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "sys.stderr.write('\\nTORCH-IMPORTED=%s\\n' % ('torch' in sys.modules))\n"
    "raise SystemExit(rc)\n"
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env["OMP_NUM_THREADS"] = "1"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def live() -> Runtime:
    """A freshly loaded runtime: the core and every installed plugin, no in-process registrations."""
    return Runtime().ensure_loaded()


def _live_cli(rt: Runtime, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    old = set_runtime(rt)
    try:
        capsys.readouterr()
        rc = main(argv)
        out, err = capsys.readouterr()
    finally:
        set_runtime(old)
    return rc, out, err


# ------------------------------------------------------------------------------------------ the shipped tables
def test_shipped_tables_equal_the_live_registry(live: Runtime) -> None:
    checked, stale = [], []
    for name, info in sorted(live.plugins.items()):
        folder = package_dir(info.module or "")
        if not info.ok or folder is None or ROOT not in folder.resolve().parents:
            continue  # installed from elsewhere: not this checkout's to ship
        checked.append(name)
        path = folder / INDEX_FILE
        if not path.is_file() or path.read_text(encoding="utf-8") != table_text(make_table(live, name)):
            stale.append(name)
    assert CORE_OWNER in checked and len(checked) > 1, checked
    assert not stale, f"{STALE}: {', '.join(stale)}"


def test_the_catalogue_equals_the_live_registry(live: Runtime) -> None:
    cat = load_catalog()
    assert cat is not None, STALE
    for kind in KINDS:
        assert cat.registries[kind].names() == live.registries[kind].names(), kind
        for name in live.registries[kind].names():
            static, loaded = cat.registries[kind].get(name).info, live.registries[kind].get(name).info
            assert type(static) is type(loaded) and _plain(static.model_dump()) == _plain(loaded.model_dump())
    assert {n: p.model_dump() for n, p in cat.plugins.items()} == {
        n: p.model_dump() for n, p in live.plugins.items()
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["list"],
        ["list", "--pretrained"],
        ["list", "--recipes"],
        ["info", "spiking_cnn"],
        ["info", "spiking_cnn.digits_t4", "--json"],
        ["info", "lif"],
        ["plugins"],
        ["plugins", "--json"],
        ["neurons"],
        ["info", "spiking_cnx"],
    ],
    ids=" ".join,
)
def test_browsing_does_not_import_torch_and_prints_as_loading_would(
    argv: list[str], live: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", WRAPPER, *argv], env=_env(), capture_output=True, text=True, timeout=120
    )
    err, _, flag = proc.stderr.rpartition("\nTORCH-IMPORTED=")
    assert flag.strip() == "False", f"{argv} imported torch ({STALE}?):\n{proc.stderr[-2000:]}"
    rc, out, live_err = _live_cli(live, argv, capsys)
    assert (proc.returncode, proc.stdout) == (rc, out)
    assert err.strip() == live_err.strip()  # the same notes and errors


def test_the_tables_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOO_STATIC_INDEX", "0")
    assert load_catalog() is None


def test_disabled_plugins_are_reported_from_the_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    installed = sorted(ep.name for ep in metadata.entry_points(group="zoo_core"))
    if not installed:
        pytest.skip("no plugin installed")
    off = installed[0]
    monkeypatch.setenv("ZOO_DISABLE_PLUGINS", off)
    cat = load_catalog()
    assert cat is not None, STALE
    rt = Runtime().ensure_loaded()
    assert cat.plugins[off].status == "disabled (ZOO_DISABLE_PLUGINS)" == rt.plugins[off].status
    assert {n: p.model_dump() for n, p in cat.plugins.items()} == {
        n: p.model_dump() for n, p in rt.plugins.items()
    }
    for kind in KINDS:
        assert cat.registries[kind].names() == rt.registries[kind].names()
        assert all(cat.registries[kind].get(n).info.plugin != off for n in cat.registries[kind].names())


# ------------------------------------------------------------------------------------------ staleness, fallback
PLUGIN_CODE = '''\
from zoo_core import hookimpl

ZOO_API_VERSION = "1.3"


def {name}(tau: float = 2.0):
    """A table test neuron."""


@hookimpl
def register_neurons(register):
    register("{name}", {name}, defaults={{"tau": 2.0}})
'''


def _fake_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, package: str, neuron: str) -> Runtime:
    """A plugin package ``package`` registering the neuron ``neuron``, importable from ``tmp_path``, loaded
    (without the core's built-ins) in a runtime of its own."""
    (tmp_path / package).mkdir()
    (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / package / "plugin.py").write_text(PLUGIN_CODE.format(name=neuron))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    ep = metadata.EntryPoint(name=package, value=f"{package}.plugin", group="zoo_core")
    return Runtime(entry_points=lambda: [ep], builtins=()).ensure_loaded()


def test_a_table_is_used_only_while_its_package_is_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _fake_plugin(tmp_path, monkeypatch, "fx_idx_a", "fx_idx_neuron")
    ep = metadata.EntryPoint(name="fx_idx_a", value="fx_idx_a.plugin", group="zoo_core")
    assert load_catalog(entry_points=lambda: []) is not None, STALE  # the core's own table is current
    assert load_catalog(entry_points=lambda: [ep]) is None  # no table yet: load it for real
    assert write_tables(rt, ["fx_idx_a"]) == {"fx_idx_a": "written"}
    assert write_tables(rt, ["fx_idx_a"], check=True) == {"fx_idx_a": "current"}
    table = read_table("fx_idx_a", "fx_idx_a.plugin")
    assert table is not None and list(table["entries"]) == ["neuron"]
    assert read_table("fx_idx_a", "fx_idx_a.other") is None  # another entry point
    cat = load_catalog(entry_points=lambda: [ep])
    assert cat is not None
    info = cat.registries["neuron"].get("fx_idx_neuron").info
    assert (info.plugin, info.defaults, info.description) == (
        "fx_idx_a",
        {"tau": 2.0},
        "A table test neuron.",
    )
    assert cat.plugins["fx_idx_a"].registered == {"neuron": ["fx_idx_neuron"]}
    assert cat.plugins["fx_idx_a"].api_version == "1.3" and cat.plugins["fx_idx_a"].status == "ok"
    with pytest.raises(Exception, match="static plugin table"):
        cat.registries["neuron"].get("fx_idx_neuron").factory()
    # any edit of the package's code makes its table stale
    with (tmp_path / "fx_idx_a" / "plugin.py").open("a") as f:
        f.write("# edited\n")
    assert read_table("fx_idx_a", "fx_idx_a.plugin") is None
    assert load_catalog(entry_points=lambda: [ep]) is None
    assert write_tables(rt, ["fx_idx_a"], check=True) == {"fx_idx_a": "stale"}
    # a table made by another zoo-core version is stale too
    path = tmp_path / "fx_idx_a" / INDEX_FILE
    write_tables(rt, ["fx_idx_a"])
    path.write_text(path.read_text().replace('"core_version": "', '"core_version": "0.0.0-'))
    assert read_table("fx_idx_a", "fx_idx_a.plugin") is None


class _Dist:
    """What the catalogue reads of an entry point's distribution."""

    def __init__(self, *requires: str) -> None:
        self.name, self.version, self.requires = "zoo-fx-idx-d", "0.7.1", list(requires)


def test_a_plugin_missing_a_requirement_is_loaded_for_real(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _fake_plugin(tmp_path, monkeypatch, "fx_idx_d", "fx_idx_d_neuron")
    write_tables(rt, ["fx_idx_d"])
    ep = metadata.EntryPoint(name="fx_idx_d", value="fx_idx_d.plugin", group="zoo_core")
    assert load_catalog(entry_points=lambda: []) is not None, STALE
    fine = _Dist("zoo-core>=0.1", "PyDantic>=2", 'no-such-package-xyz>=1; extra == "test"')
    cat = load_catalog(entry_points=lambda: [ep._for(fine)])  # type: ignore[attr-defined]
    assert cat is not None
    assert (cat.plugins["fx_idx_d"].distribution, cat.plugins["fx_idx_d"].version) == (
        "zoo-fx-idx-d",
        "0.7.1",
    )
    broken = _Dist("zoo-core>=0.1", "no_such.package-xyz>=1")
    assert _missing_requirements(broken, {}) == ["no_such.package-xyz"]
    assert load_catalog(entry_points=lambda: [ep._for(broken)]) is None  # type: ignore[attr-defined]


def test_clashing_tables_make_the_cli_load_the_plugins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _fake_plugin(tmp_path, monkeypatch, "fx_idx_b", "lif")  # the core's LIF: loading refuses this plugin
    write_tables(rt, ["fx_idx_b"])
    assert read_table("fx_idx_b", "fx_idx_b.plugin") is not None
    ep = metadata.EntryPoint(name="fx_idx_b", value="fx_idx_b.plugin", group="zoo_core")
    assert load_catalog(entry_points=lambda: []) is not None, STALE
    assert load_catalog(entry_points=lambda: [ep]) is None


def test_metadata_that_json_cannot_hold_gets_no_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = _fake_plugin(tmp_path, monkeypatch, "fx_idx_c", "fx_idx_c_neuron")
    rt.registries["neuron"].get("fx_idx_c_neuron").info.defaults["dtype"] = complex  # a class: not JSON
    assert write_tables(rt, ["fx_idx_c"])["fx_idx_c"].startswith("skipped: ")
    assert not (tmp_path / "fx_idx_c" / INDEX_FILE).exists()


def test_make_index_check_reports_the_state() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_index.py"), "--check", CORE_OWNER],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{STALE}\n{proc.stdout}{proc.stderr}"
    assert proc.stdout.split() == [CORE_OWNER, "current"]
    json.loads((package_dir("zoo_core") / INDEX_FILE).read_text())  # type: ignore[operator]
