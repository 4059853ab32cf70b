"""The plugin runtime with real entry points.

Each scenario builds throwaway distributions in a temporary folder (``*.dist-info`` with METADATA and
entry_points.txt, plus the plugin module's source), puts that folder on PYTHONPATH and runs zoo-core in a
subprocess, so discovery goes through ``importlib.metadata`` exactly as for an installed plugin and nothing leaks
into this test process. Plugins installed in the environment are disabled in those subprocesses to keep them
isolated. In-process registration (decorators) is tested in this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
import torch

import zoo_core as zoo
from zoo_core.errors import RegistrationConflictError
from zoo_core.plugins import API_VERSION

# ------------------------------------------------------------------------------------------ fixture plugins
_HEADER = """\
from zoo_core import hookimpl

PAPER = {"title": "A test paper", "authors": ["Doe, Jane"], "venue": "TestConf", "year": 2024}
"""


def _neurons_hook(*names: str) -> str:
    return f"""
@hookimpl
def register_neurons(register):
    from zoo_core.neurons import LIF

    for name in {list(names)!r}:
        register(name, LIF, paper=PAPER, defaults={{"tau": 3.0}})
"""


#: entry-point name -> module source. The runtime loads entry points sorted by name.
PLUGINS: dict[str, str] = {
    # registers a neuron and a model built on that neuron
    "fx_good": _HEADER
    + '''
ZOO_API_VERSION = "1.0"


@hookimpl
def register_neurons(register):
    from zoo_core.neurons import LIF

    class GoodLIF(LIF):
        """LIF with tau=3 by default (fixture)."""

    register("fx_good_lif", GoodLIF, paper=PAPER, defaults={"tau": 3.0})


@hookimpl
def register_models(register):
    from zoo_core.models.spiking_cnn import SpikingCNN

    def good_net(num_classes=10, in_chans=1, img_size=8, T=2, neuron="fx_good_lif"):
        """Tiny CNN on the plugin's own neuron (fixture)."""
        return SpikingCNN(num_classes=num_classes, in_chans=in_chans, img_size=img_size, T=T,
                          channels=[4], neuron=neuron)

    register("fx_good_net", good_net, paper=PAPER,
             defaults={"num_classes": 10, "in_chans": 1, "img_size": 8, "T": 2, "neuron": "fx_good_lif"})
''',
    "fx_other": _HEADER + 'ZOO_API_VERSION = "1.0"\n' + _neurons_hook("fx_other_lif"),
    "fx_broken": 'raise RuntimeError("fx_broken exploded at import")\n',
    # registers a neuron, then raises in the model hook: nothing of it may stay
    "fx_half": _HEADER
    + 'ZOO_API_VERSION = "1.0"\n'
    + _neurons_hook("fx_half_lif")
    + """
@hookimpl
def register_models(register):
    from zoo_core.models.spiking_cnn import SpikingCNN

    register("fx_half_net", SpikingCNN)
    raise RuntimeError("fx_half exploded halfway")
""",
    "fx_clash_a": _HEADER + 'ZOO_API_VERSION = "1.0"\n' + _neurons_hook("fx_shared_lif"),
    # a surrogate first (must be rolled back), then the clashing neuron
    "fx_clash_b": _HEADER
    + 'ZOO_API_VERSION = "1.0"\n'
    + """
@hookimpl
def register_surrogates(register):
    from zoo_core.neurons.surrogate import SURROGATES

    register("fx_clash_b_sg", SURROGATES["atan"])
"""
    + _neurons_hook("fx_shared_lif"),
    "fx_coreclash": _HEADER + 'ZOO_API_VERSION = "1.0"\n' + _neurons_hook("fx_coreclash_ok", "lif"),
    "fx_noapi": _HEADER + _neurons_hook("fx_noapi_lif"),
    "fx_api2": _HEADER + 'ZOO_API_VERSION = "2.0"\n' + _neurons_hook("fx_api2_lif"),
    # loads last: takes the names of the rolled-back and refused plugins, which must be free
    "fx_zz_reuse": _HEADER + 'ZOO_API_VERSION = "1.0"\n' + _neurons_hook("fx_half_lif", "fx_noapi_lif"),
    # writes a marker file when imported
    "fx_sidefx": "import os\n\n"
    + 'with open(os.environ["FX_MARKER"], "a") as f:\n    f.write("imported\\n")\n\n'
    + _HEADER
    + 'ZOO_API_VERSION = "1.0"\n'
    + _neurons_hook("fx_sidefx_lif"),
}

WORLD = [
    "fx_good",
    "fx_broken",
    "fx_half",
    "fx_clash_a",
    "fx_clash_b",
    "fx_coreclash",
    "fx_noapi",
    "fx_api2",
    "fx_zz_reuse",
]
FAILING = ["fx_broken", "fx_half", "fx_clash_b", "fx_coreclash", "fx_noapi", "fx_api2"]


def make_site(folder: Path, names: list[str]) -> Path:
    """A folder holding the distributions ``zoo-<name>`` 1.2.3, each with the entry point ``name``."""
    site = folder / "site"
    site.mkdir(parents=True)
    for name in names:
        module = f"{name}_plugin"
        dist = site / f"zoo_{name}-1.2.3.dist-info"
        dist.mkdir()
        (dist / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: zoo-{name.replace('_', '-')}\nVersion: 1.2.3\n"
        )
        (dist / "entry_points.txt").write_text(f"[zoo_core]\n{name} = {module}\n")
        (site / f"{module}.py").write_text(PLUGINS[name])
    return site


def isolated_env(site: Path, **extra: str) -> dict[str, str]:
    """The environment of a subprocess that sees the plugins of ``site`` (and disables installed ones)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONWARNINGS"] = "default"
    installed = sorted({ep.name for ep in metadata.entry_points(group="zoo_core")})
    disabled = [*installed, *(extra.pop("ZOO_DISABLE_PLUGINS", "").split(","))]
    env["ZOO_DISABLE_PLUGINS"] = ",".join(d for d in disabled if d)
    env.update(extra)
    return env


def run_python(site: Path, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, *args],
        env=isolated_env(site, **env),
        cwd=site.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def run_script(site: Path, script: str, **env: str) -> dict:
    """Run ``script`` (which prints one JSON object as its last line) and return that object."""
    proc = run_python(site, "-c", textwrap.dedent(script), **env)
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------ one world, many plugins
WORLD_SCRIPT = """
import contextlib, io, json, warnings

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import zoo_core as zoo
    neurons = zoo.list_neurons()

import torch
from zoo_core.cli import main
from zoo_core.plugins import runtime

regs = runtime().registries
facts = {
    "warnings": [[w.category.__name__, str(w.message)] for w in caught],
    "plugins": {p.name: p.model_dump() for p in zoo.list_plugins()},
    "names": {kind: regs[kind].names() for kind in ("model", "neuron", "surrogate")},
    "owner": {n: zoo.neuron_info(n).plugin for n in ("fx_good_lif", "fx_shared_lif", "lif", "fx_half_lif")},
    "model_owner": zoo.model_info("fx_good_net").plugin,
    "pluggy": {n: runtime().pm.get_plugin(n) is not None for n in ("fx_good", "fx_half", "fx_clash_b")},
}

neuron = zoo.create_neuron("fx_good_lif")
facts["neuron_tau"] = neuron.tau
facts["neuron_type"] = type(neuron).__name__
facts["spikes"] = neuron(torch.full((4, 1), 1.5)).flatten().tolist()
model = zoo.create_model("fx_good_net", num_classes=3)
facts["model_neuron"] = type(model.features[1]).__name__
facts["logits_shape"] = list(model(torch.rand(2, 1, 8, 8)).shape)
facts["core_lif_class"] = type(zoo.create_neuron("lif")).__module__

out = io.StringIO()
with contextlib.redirect_stdout(out):
    facts["info_rc"] = main(["info", "fx_good_net"])
facts["info"] = out.getvalue()
print(json.dumps(facts))
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_site(tmp_path_factory.mktemp("world"), WORLD)


@pytest.fixture(scope="module")
def world_facts(world: Path) -> dict:
    return run_script(world, WORLD_SCRIPT)


def test_good_plugin_registers_usable_neuron_and_model(world_facts: dict) -> None:
    f = world_facts
    good = f["plugins"]["fx_good"]
    assert good["status"] == "ok"
    assert (good["distribution"], good["version"], good["api_version"]) == ("zoo-fx-good", "1.2.3", "1.0")
    assert good["registered"] == {"model": ["fx_good_net"], "neuron": ["fx_good_lif"]}
    assert "fx_good_lif" in f["names"]["neuron"] and "fx_good_net" in f["names"]["model"]
    assert f["owner"]["fx_good_lif"] == "fx_good" and f["model_owner"] == "fx_good"
    # usable: the plugin's defaults apply (tau=3: H = 0.5, 0.83, 1.06 -> spike, 0.5) and its model runs
    assert f["neuron_type"] == "GoodLIF" and f["neuron_tau"] == 3.0
    assert f["spikes"] == [0.0, 0.0, 1.0, 0.0]
    assert f["model_neuron"] == "GoodLIF"
    assert f["logits_shape"] == [2, 3]
    # `zoo info` names the owner and its distribution
    assert f["info_rc"] == 0
    assert "fx_good (zoo-fx-good 1.2.3)" in f["info"] and "A test paper" in f["info"]


def test_core_survives_failing_plugins(world_facts: dict) -> None:
    f = world_facts
    assert f["plugins"]["zoo_core"]["status"] == "ok"
    assert {"if", "lif", "plif"} <= set(f["names"]["neuron"]) and "spiking_cnn" in f["names"]["model"]
    assert f["owner"]["lif"] == "zoo_core"
    assert f["core_lif_class"] == "zoo_core.neurons.lif"


def test_each_failure_warns_once_and_is_recorded(world_facts: dict) -> None:
    f = world_facts
    plugin_warnings = [msg for cat, msg in f["warnings"] if cat == "ZooPluginWarning"]
    for name in FAILING:
        assert f["plugins"][name]["status"].startswith("failed: "), (name, f["plugins"][name])
        assert f["plugins"][name]["registered"] == {}
        assert sum(f"plugin {name!r}" in m for m in plugin_warnings) == 1, (name, plugin_warnings)
    assert len(plugin_warnings) == len(FAILING), plugin_warnings
    # the warning states the error once (not once in the reason and again as the exception)
    for name, error in (
        ("fx_clash_b", "is registered by both"),
        ("fx_api2", "targets zoo-core API 2.0"),
        ("fx_broken", "exploded at import"),
    ):
        [message] = [m for m in plugin_warnings if f"plugin {name!r}" in m]
        assert message.count(error) == 1, message
    for name in ("fx_good", "fx_clash_a", "fx_zz_reuse"):
        assert f["plugins"][name]["status"] == "ok"
        assert not any(f"plugin {name!r}" in m for m in plugin_warnings)


def test_broken_import_is_reported_with_its_error(world_facts: dict) -> None:
    status = world_facts["plugins"]["fx_broken"]["status"]
    assert status == "failed: import failed: RuntimeError: fx_broken exploded at import"


def test_failure_halfway_through_registering_is_rolled_back(world_facts: dict) -> None:
    f = world_facts
    assert "RuntimeError: fx_half exploded halfway" in f["plugins"]["fx_half"]["status"]
    assert "fx_half_net" not in f["names"]["model"]
    # its neuron was registered before the failure and removed again: a later plugin could take the name
    assert f["owner"]["fx_half_lif"] == "fx_zz_reuse"
    assert f["pluggy"] == {"fx_good": True, "fx_half": False, "fx_clash_b": False}


def test_name_clash_between_plugins_names_both(world_facts: dict) -> None:
    f = world_facts
    status = f["plugins"]["fx_clash_b"]["status"]
    assert "RegistrationConflictError" in status
    assert "'fx_shared_lif'" in status and "'fx_clash_a'" in status and "'fx_clash_b'" in status
    assert f["owner"]["fx_shared_lif"] == "fx_clash_a"  # the first one keeps it
    assert "fx_clash_b_sg" not in f["names"]["surrogate"]  # registered before the clash: rolled back


def test_clash_with_a_core_name(world_facts: dict) -> None:
    f = world_facts
    status = f["plugins"]["fx_coreclash"]["status"]
    assert "neuron 'lif'" in status and "'zoo_core'" in status and "'fx_coreclash'" in status
    assert "fx_coreclash_ok" not in f["names"]["neuron"]
    assert f["owner"]["lif"] == "zoo_core"


def test_missing_or_incompatible_api_version_is_refused(world_facts: dict) -> None:
    f = world_facts
    noapi = f["plugins"]["fx_noapi"]["status"]
    assert noapi.startswith("failed: refused:")
    assert "does not declare" in noapi and f"ZOO_API_VERSION = '{API_VERSION}'" in noapi
    api2 = f["plugins"]["fx_api2"]["status"]
    assert api2.startswith("failed: refused:")
    assert "targets zoo-core API 2.0" in api2 and f"provides API {API_VERSION}" in api2
    assert "fx_api2_lif" not in f["names"]["neuron"]  # its hooks never ran
    assert f["plugins"]["fx_api2"]["api_version"] is None
    # the refused plugin registered nothing, so a later plugin can use the name
    assert "fx_noapi_lif" in f["names"]["neuron"]


def test_cli_list_works_beside_a_broken_plugin(world: Path) -> None:
    proc = run_python(world, "-m", "zoo_core.cli", "list")
    names = proc.stdout.split()
    assert "spiking_cnn" in names and "fx_good_net" in names
    assert "fx_half_net" not in names
    assert "ZooPluginWarning" in proc.stderr and "fx_broken" in proc.stderr


def test_cli_plugins_shows_each_plugin_and_error(world: Path) -> None:
    proc = run_python(world, "-m", "zoo_core.cli", "plugins")  # exit 0 although plugins failed
    lines = proc.stdout.splitlines()
    row = {line.split()[0]: line for line in lines if line and not line.startswith(" ")}
    assert row["fx_good"].split()[:5] == ["fx_good", "zoo-fx-good", "1.2.3", "1.0", "ok"]
    assert "neuron: fx_good_lif" in row["fx_good"] and "model: fx_good_net" in row["fx_good"]
    assert row["fx_broken"].split()[:5] == ["fx_broken", "zoo-fx-broken", "1.2.3", "-", "failed"]
    broken_detail = lines[lines.index(row["fx_broken"]) + 1]
    assert broken_detail.strip() == "error: import failed: RuntimeError: fx_broken exploded at import"
    clash_detail = lines[lines.index(row["fx_clash_b"]) + 1]
    assert "'fx_clash_a'" in clash_detail and "'fx_clash_b'" in clash_detail
    assert row["zoo_core"].split()[4] == "ok"
    assert "ZooPluginWarning" not in proc.stderr  # the table already reports them


# ------------------------------------------------------------------------------------------ environment switches
def test_strict_mode_raises_plugin_error(tmp_path: Path) -> None:
    site = make_site(tmp_path, ["fx_good", "fx_broken"])
    script = """
        import json
        import zoo_core as zoo

        try:
            zoo.list_models()
        except zoo.PluginError as exc:
            print(json.dumps({"raised": type(exc).__name__, "message": str(exc),
                              "cause": type(exc.__cause__).__name__}))
        else:
            print(json.dumps({"raised": None}))
    """
    out = run_script(site, script, ZOO_PLUGINS_STRICT="1")
    assert out["raised"] == "PluginError"
    assert "'fx_broken'" in out["message"] and "fx_broken exploded at import" in out["message"]
    assert "ZOO_PLUGINS_STRICT=1" in out["message"]
    assert out["cause"] == "RuntimeError"


SWITCHES_SCRIPT = """
import json, os, sys, warnings

marker = os.environ["FX_MARKER"]
facts = {}
import zoo_core

facts["after_import"] = ["torch" in sys.modules, os.path.exists(marker)]
# light attributes load their submodule (pluggy, pydantic) but neither torch nor the plugins
zoo_core.hookimpl, zoo_core.PluginInfo, zoo_core.ZooError, zoo_core.__version__
from zoo_core import plugins

facts["after_light_access"] = ["torch" in sys.modules, os.path.exists(marker), plugins._RUNTIME is not None]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    neurons = zoo_core.list_neurons()
zoo_core.list_models()
zoo_core.list_neurons()
facts["after_registry"] = ["torch" in sys.modules, open(marker).read()]
facts["status"] = {p.name: p.status for p in zoo_core.list_plugins()}
facts["neurons"] = neurons
facts["warnings"] = [str(w.message) for w in caught if w.category.__name__ == "ZooPluginWarning"]
facts["imported"] = sorted(m for m in sys.modules if m.startswith("fx_"))
print(json.dumps(facts))
"""


@pytest.fixture(scope="module")
def switch_facts(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One subprocess: two plugins disabled (one of them broken) under strict mode, one with an import side effect."""
    folder = tmp_path_factory.mktemp("switches")
    site = make_site(folder, ["fx_good", "fx_broken", "fx_other", "fx_sidefx"])
    return run_script(
        site,
        SWITCHES_SCRIPT,
        ZOO_DISABLE_PLUGINS=" fx_broken , fx_good ",
        ZOO_PLUGINS_STRICT="1",  # a disabled broken plugin must not count as a failure
        FX_MARKER=str(folder / "marker.txt"),
    )


def test_disable_plugins_by_name(switch_facts: dict) -> None:
    out = switch_facts
    assert out["status"]["fx_broken"] == "disabled (ZOO_DISABLE_PLUGINS)"
    assert out["status"]["fx_good"] == "disabled (ZOO_DISABLE_PLUGINS)"
    assert out["status"]["fx_other"] == "ok"
    assert "fx_other_lif" in out["neurons"] and "lif" in out["neurons"]
    assert "fx_good_lif" not in out["neurons"]
    assert out["warnings"] == []
    assert out["imported"] == ["fx_other_plugin", "fx_sidefx_plugin"]  # disabled plugins are never imported


def test_import_is_lazy_plugins_load_on_first_registry_access(switch_facts: dict) -> None:
    out = switch_facts
    assert out["after_import"] == [False, False]  # [torch imported, plugin imported]
    assert out["after_light_access"] == [False, False, False]
    assert out["after_registry"] == [True, "imported\n"]  # the plugin was imported exactly once
    assert out["status"]["fx_sidefx"] == "ok" and "fx_sidefx_lif" in out["neurons"]


# ------------------------------------------------------------------------------------------ in-process registration
def test_register_neuron_and_model_by_decorator() -> None:
    from zoo_core.neurons import LIF

    @zoo.register_neuron("fx_notebook_lif", defaults={"tau": 4.0}, paper={"title": "My notebook idea"})
    class NotebookLIF(LIF):
        """A LIF tried in a notebook."""

    @zoo.register_model("fx_notebook_net", defaults={"num_classes": 10, "in_chans": 1, "img_size": 8, "T": 2})
    def notebook_net(
        num_classes: int = 10, in_chans: int = 1, img_size: int = 8, T: int = 2
    ) -> torch.nn.Module:
        from zoo_core.models.spiking_cnn import SpikingCNN

        return SpikingCNN(
            num_classes=num_classes,
            in_chans=in_chans,
            img_size=img_size,
            T=T,
            channels=[4],
            neuron="fx_notebook_lif",
        )

    try:
        assert NotebookLIF.__name__ == "NotebookLIF"  # the decorator returns the class itself
        assert "fx_notebook_lif" in zoo.list_neurons()
        info = zoo.neuron_info("fx_notebook_lif")
        assert info.plugin == __name__  # owner: the registering module
        assert info.paper.title == "My notebook idea" and info.description == "A LIF tried in a notebook."
        neuron = zoo.create_neuron("fx_notebook_lif")
        assert isinstance(neuron, NotebookLIF) and neuron.tau == 4.0
        assert zoo.model_info("fx_notebook_net").plugin == __name__
        model = zoo.create_model("fx_notebook_net", num_classes=3)
        assert isinstance(model.features[1], NotebookLIF)
        assert model(torch.rand(2, 1, 8, 8)).shape == (2, 3)
        # re-running the cell (same owner) replaces the entry instead of clashing
        zoo.register_neuron("fx_notebook_lif", defaults={"tau": 5.0})(NotebookLIF)
        assert zoo.create_neuron("fx_notebook_lif").tau == 5.0
        # an explicit owner
        zoo.register_neuron("fx_owned_lif", owner="my_notebook")(NotebookLIF)
        assert zoo.neuron_info("fx_owned_lif").plugin == "my_notebook"
    finally:
        for kind, name in (
            ("neuron", "fx_notebook_lif"),
            ("neuron", "fx_owned_lif"),
            ("model", "fx_notebook_net"),
        ):
            zoo.unregister(kind, name)
    assert "fx_notebook_lif" not in zoo.list_neurons() and "fx_notebook_net" not in zoo.list_models()


def test_in_process_clash_with_core_name_names_both_owners() -> None:
    from zoo_core.neurons import LIF

    class MyLIF(LIF):
        pass

    with pytest.raises(RegistrationConflictError) as exc:
        zoo.register_neuron("lif")(MyLIF)
    assert "'zoo_core'" in str(exc.value) and repr(__name__) in str(exc.value)
    with pytest.raises(RegistrationConflictError, match=r"'zoo_core'.*'my_notebook'"):
        zoo.register_model("spiking_cnn", owner="my_notebook")(lambda **kw: None)
    # the core's entries are untouched
    assert zoo.neuron_info("lif").plugin == "zoo_core"
    assert type(zoo.create_neuron("lif")) is LIF
    assert zoo.model_info("spiking_cnn").plugin == "zoo_core"
