#!/usr/bin/env python
"""Benchmark zoo-core's host-memory setting: freed blocks kept in the heap (``retain``) against glibc's defaults.

The setting is made once per process (:mod:`zoo_core.kernels.host_memory`; switching it inside a process would
also switch off glibc's dynamic mmap threshold and so not measure the defaults), so every measurement runs in a
fresh child process with ``ZOO_HOST_MEMORY=system`` or ``retain``, alternating (system, retain, system, ...), 1
thread each. Each child prints medians of its timed calls after untimed ones (10; 3 at 224x224): with ``retain`` the
heap grows over the first calls until it holds a free block of every size the calls ask for (the LIF below: after
about 10-25 calls, 4 spare 32 MiB blocks), from then on every call reuses touched memory:

* ``lif``: the compiled LIF neuron on ``[T=4, 32, 64, 32, 32]``, forward (no grad) and forward+backward;
* ``srf64``: SpikingResformer-Ti forward at 64x64, batch 8, T=4, per image-step (weights made to fire);
* ``srf224`` (``--full``): the same at 224x224 for batch 1, T=1 and batch 8, T=8, the growth of the cost per
  image-step from the small call to the large one.

Printed: each figure per run and the ratio of the medians over runs (system / retain; above 1: retain is faster).
Examples::

    python tools/bench_host_memory.py              # lif and srf64, 2 runs per setting (about 2 minutes)
    python tools/bench_host_memory.py --full       # adds srf224 (several minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, statistics, sys, time, torch
torch.set_num_threads(1)
import zoo_core as zoo
from zoo_core.kernels import host_memory
from zoo_core.testing_parity import make_fire

def med(fn, reps, warm):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return statistics.median(ts)

what, reps, out = sys.argv[1], int(sys.argv[2]), {"state": host_memory.state()}
warm = 3 if what == "srf224" else 10
if what == "lif":
    x = torch.randn(4, 32, 64, 32, 32) + 1
    xg, g = x.clone().requires_grad_(), torch.randn_like(x)
    n = zoo.create_neuron("lif", kernel="compiled")
    def fwd():
        with torch.no_grad():
            n(x)
    out["lif fwd ms"] = med(fwd, reps, warm) * 1e3
    out["lif fwd+bwd ms"] = med(lambda: torch.autograd.grad(n(xg), xg, g), reps, warm) * 1e3
else:
    img = 64 if what == "srf64" else 224
    cases = [(8, 4)] if img == 64 else [(1, 1), (8, 8)]
    for B, T in cases:
        m = make_fire(zoo.create_model("spikingresformer_ti", img_size=img, T=T), torch.rand(2, 3, img, img))
        xb = torch.rand(B, 3, img, img)
        def fwd():
            with torch.no_grad():
                m(xb)
        out[f"srf{img} b{B}T{T} ms/image-step"] = med(fwd, reps, warm) * 1e3 / (B * T)
print(json.dumps(out))
"""


def child(what: str, mode: str, reps: int) -> dict[str, float]:
    env = {**os.environ, "ZOO_HOST_MEMORY": mode, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, what, str(reps)], env=env, capture_output=True, text=True, timeout=3600
    )
    if done.returncode != 0:
        raise SystemExit(f"bench_host_memory: the {what} child ({mode}) failed:\n{done.stderr[-2000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if out.pop("state") != mode:
        raise SystemExit(f"bench_host_memory: ZOO_HOST_MEMORY={mode} did not take effect (not glibc?)")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--runs", type=int, default=2, help="child processes per setting and benchmark (default 2)"
    )
    p.add_argument("--reps", type=int, default=7, help="timed calls per child (default 7; srf224: 3)")
    p.add_argument("--full", action="store_true", help="also SpikingResformer-Ti at 224x224")
    p.add_argument("--json", default=None, help="also write the figures to this file")
    args = p.parse_args(argv)
    benches = ["lif", "srf64"] + (["srf224"] if args.full else [])
    results: dict[str, dict[str, list[float]]] = {}
    for what in benches:
        for _ in range(args.runs):
            for mode in ("system", "retain"):
                reps = 3 if what == "srf224" else args.reps
                for key, value in child(what, mode, reps).items():
                    results.setdefault(key, {}).setdefault(mode, []).append(value)
                print(f"  {what} {mode}: done", file=sys.stderr, flush=True)
    print(f"{'figure':<34}{'system (runs)':>22}{'retain (runs)':>22}{'system / retain':>18}")
    for key, by_mode in results.items():
        s, r = by_mode["system"], by_mode["retain"]
        runs = [" ".join(f"{v:.2f}" for v in vs) for vs in (s, r)]
        print(f"{key:<34}{runs[0]:>22}{runs[1]:>22}{statistics.median(s) / statistics.median(r):>17.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
