"""The plugin runtime under concurrency and failure: every thread sees the whole registry, and a plugin whose
import fails leaves nothing behind, not even what its module registered in-process before failing."""

from __future__ import annotations

import sys
import textwrap
import threading
import warnings
from importlib import metadata
from pathlib import Path

import pytest

import zoo_core as zoo
from zoo_core.plugins import Runtime, ZooPluginWarning, set_runtime

SLOW_PLUGIN = """
import time
from zoo_core.sdk import hookimpl

ZOO_API_VERSION = "1.2"


@hookimpl
def register_neurons(register):
    from zoo_core.sdk import LIF

    time.sleep(0.5)  # a slow plugin: other threads ask for the registry meanwhile
    register("fx_slow_lif", LIF)
"""

HALF_IMPORTED = """
import zoo_core as zoo
from zoo_core.sdk import LIF

ZOO_API_VERSION = "1.2"


@zoo.register_neuron("fx_orphan_lif")
class OrphanLIF(LIF):
    pass


raise ImportError("fx_half: a dependency is missing")
"""


def _world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, modules: dict[str, str]) -> Runtime:
    for name, text in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(text))
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [metadata.EntryPoint(name=n, value=n, group="zoo_core") for n in modules]
    return Runtime(entry_points=lambda: eps)


def test_first_access_from_many_threads_sees_the_complete_registry(tmp_path, monkeypatch) -> None:
    rt = _world(tmp_path, monkeypatch, {"fx_slow": SLOW_PLUGIN})
    old = set_runtime(rt)
    start = threading.Barrier(4)
    seen: list[tuple[list[str], list[str]]] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            start.wait()
            seen.append((zoo.list_models(), zoo.list_neurons()))
        except BaseException as exc:  # collected: an exception in a thread would pass silently
            errors.append(exc)

    try:
        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    finally:
        set_runtime(old)
        sys.modules.pop("fx_slow", None)
    assert not errors, errors
    assert len(seen) == 4
    for models, neurons in seen:
        assert "spiking_cnn" in models and "fx_slow_lif" in neurons and "lif" in neurons


def test_failed_import_rolls_back_in_process_registrations(tmp_path, monkeypatch) -> None:
    rt = _world(tmp_path, monkeypatch, {"fx_half": HALF_IMPORTED})
    old = set_runtime(rt)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            neurons = zoo.list_neurons()
        plugins = {p.name: p for p in zoo.list_plugins()}
    finally:
        set_runtime(old)
        sys.modules.pop("fx_half", None)
    assert "fx_orphan_lif" not in neurons and "lif" in neurons
    assert plugins["fx_half"].status.startswith("failed: import failed: ImportError: fx_half")
    assert any(issubclass(w.category, ZooPluginWarning) and "fx_half" in str(w.message) for w in caught)


def test_in_process_registrations_during_an_import_belong_to_the_plugin(tmp_path, monkeypatch) -> None:
    ok = HALF_IMPORTED.replace('raise ImportError("fx_half: a dependency is missing")', "")
    rt = _world(tmp_path, monkeypatch, {"fx_whole": ok})
    old = set_runtime(rt)
    try:
        owner = zoo.neuron_info("fx_orphan_lif").plugin
        registered = {p.name: p for p in zoo.list_plugins()}["fx_whole"].registered
    finally:
        set_runtime(old)
        sys.modules.pop("fx_whole", None)
    assert owner == "fx_whole" and registered == {"neuron": ["fx_orphan_lif"]}
