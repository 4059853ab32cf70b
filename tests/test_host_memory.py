"""Host memory: freed large blocks stay in the heap (the default), or the C library keeps its defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from zoo_core.kernels import host_memory

pytestmark = pytest.mark.skipif(host_memory.heap_stats() is None, reason="needs glibc 2.33+ (mallinfo2)")

# A 64 MiB tensor, touched, freed, then allocated again: where its bytes came from and went.
_PROBE = """
import json, warnings
warnings.simplefilter("always")
with warnings.catch_warnings(record=True) as caught:
    import torch
    import zoo_core.kernels  # applies ZOO_HOST_MEMORY
from zoo_core.kernels import host_memory as h
n = 64 << 20
before = h.heap_stats()
a = torch.empty(n, dtype=torch.uint8); a.fill_(1)
alive = h.heap_stats()
del a
freed = h.heap_stats()
print(json.dumps({"state": h.state(), "before": before, "alive": alive, "freed": freed, "n": n,
                  "warnings": [str(w.message) for w in caught if "ZOO_HOST_MEMORY" in str(w.message)]}))
"""


def _probe(value: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "ZOO_HOST_MEMORY"}
    if value is not None:
        env["ZOO_HOST_MEMORY"] = value
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_default_keeps_freed_blocks_in_the_heap() -> None:
    r = _probe(None)
    assert r["state"] == "retain"
    n = r["n"]
    # served from the heap, not by a mapping of its own ...
    assert r["alive"]["mmapped"] - r["before"]["mmapped"] < n
    assert r["alive"]["heap"] - r["before"]["heap"] + r["before"]["free"] >= n
    # ... and still there, free for the next allocation, after it is freed
    assert r["freed"]["free"] >= n
    assert r["warnings"] == []


def test_system_keeps_the_c_library_defaults() -> None:
    r = _probe("system")
    assert r["state"] == "system"
    assert r["alive"]["mmapped"] - r["before"]["mmapped"] >= r["n"]  # its own mapping ...
    assert r["freed"]["mmapped"] == r["before"]["mmapped"]  # ... unmapped on free


def test_unknown_value_warns_and_keeps_the_defaults() -> None:
    r = _probe("jemalloc")
    assert r["state"] == "system"
    assert any("'jemalloc'" in w and "retain, system" in w for w in r["warnings"])


def test_switching_off_and_on_again() -> None:
    was = host_memory.state()
    try:
        assert host_memory.retain_freed_memory(False)
        assert host_memory.state() == "system"
        assert host_memory.retain_freed_memory(True)
        assert host_memory.state() == "retain"
    finally:
        host_memory.retain_freed_memory(was == "retain")
