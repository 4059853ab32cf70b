"""tools/bench_models.py's ``--official PLUGIN=DIR`` plumbing and the plugins' ``BENCH`` / ``bench_official``
hooks, without any official checkout (they are absent in CI: nothing here builds an official model)."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import pytest

import zoo_core as zoo

ROOT = Path(__file__).resolve().parents[1]
#: plugins whose official_parity.py has the bench hook
HOOKED = ("spikingresformer", "lmht", "parallel_conversion", "sparse_grad", "stc", "empf")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location(
        "bench_models_under_test", ROOT / "tools" / "bench_models.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_official_values_parse_plugin_equals_dir_and_a_bare_dir_is_spikingresformer(bench):
    assert bench.parse_official(["lmht=/a/lmht", "/b/srf", "stc=/c=d"]) == {
        "lmht": "/a/lmht",
        "spikingresformer": "/b/srf",
        "stc": "/c=d",
    }
    assert bench.parse_official([]) == {}
    for bad in ("=/a", "lmht="):
        with pytest.raises(ValueError, match="expected PLUGIN=DIR or DIR"):
            bench.parse_official([bad])


@pytest.mark.parametrize("plugin", HOOKED)
def test_plugin_hooks_exist_with_the_bench_signature(bench, plugin):
    script = bench.official_script(plugin)
    params = list(inspect.signature(script.bench_official).parameters)
    assert params == ["name", "cfg", "model", "device"]
    assert script.BENCH
    for name, cfg, batch in script.BENCH:
        info = zoo.model_info(name)  # a registered model ...
        assert set(cfg) <= set(info.defaults), (name, cfg)  # ... whose constructor takes the overrides
        assert isinstance(batch, int) and batch >= 1
    for model in getattr(script, "BENCH_INFERENCE_ONLY", ()):
        assert model in {b[0] for b in script.BENCH}


def test_a_plugin_without_the_hook_or_without_a_script_is_refused(bench):
    with pytest.raises(ValueError, match="defines no BENCH / bench_official hook"):
        bench.official_script("dpcnn")  # a parity script, but no official model to time
    with pytest.raises(ValueError, match=r"no plugins/no_such_plugin/scripts/official_parity\.py"):
        bench.official_script("no_such_plugin")


def test_main_refuses_a_missing_checkout_with_one_line(bench, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(["--models", "lmht_resnet18", "--official", f"lmht={tmp_path / 'absent'}"])
    assert exc.value.code == 2
    assert "is not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["--official", "dpcnn=/tmp"])
    assert "defines no BENCH / bench_official hook" in capsys.readouterr().err


def test_each_checkout_imports_its_own_top_level_modules(bench, tmp_path, monkeypatch):
    """Several official codes have a top-level ``utils``: the one of the checkout being built is imported."""
    dirs = []
    for tag in ("first", "second"):
        d = tmp_path / tag
        d.mkdir()
        (d / "utils.py").write_text(f"TAG = {tag!r}\n")
        dirs.append(str(d))
    monkeypatch.setattr(sys, "path", list(sys.path))
    saved = sys.modules.pop("utils", None)
    try:
        for d, tag in ((dirs[0], "first"), (dirs[1], "second"), (dirs[0], "first")):
            bench.official_imports(d, dirs)
            import utils  # reason: the module official_imports just made importable

            assert tag == utils.TAG
            assert sys.path[0] == d and sum(p in dirs for p in sys.path) == 1
    finally:
        sys.modules.pop("utils", None)
        if saved is not None:
            sys.modules["utils"] = saved
