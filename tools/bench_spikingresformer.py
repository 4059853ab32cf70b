#!/usr/bin/env python
"""Benchmark SpikingResformer on this CPU: the neuron kernel registry's reference path against the compiled one.

For one model (default ``spikingresformer_ti``, T=4, batch 8, 224x224) it measures, once per ``lif_multistep``
implementation forced through ``ZOO_KERNELS`` (default: ``reference`` then ``compiled``), all in one process on
the same weights and inputs:

* eval forward (``torch.no_grad()``) throughput, images/s;
* training forward + backward (``out.sum().backward()``) throughput, images/s;
* peak tensor memory of one forward and of one forward + backward: the highest sum of live tensor bytes
  allocated during the call (torch profiler, ``profile_memory=True``; the model's own weights are not
  included), plus the process's peak RSS at the end;
* the first call's time (for ``compiled``: includes compiling, once per shape) apart from the timed calls;
* the largest difference between the implementations' eval logits (they must agree), printed beside the
  firing rate of the LIF layers: the weights are made to fire first (``zoo_core.testing_parity.make_fire``:
  every BN's affine set to weight 2, bias 0.6, its statistics from the benchmark input), since an equality on a
  network in which no neuron fires (all logits 0, as at random initialisation) proves nothing.

After one first call per implementation, the timed calls run in ``--repeats`` interleaved rounds (reference,
compiled, reference, compiled, ...; load from other processes hits both alike): each throughput is a median
over the rounds and each ratio against the first implementation (the reference) the median of the per-round
ratios. Examples::

    python tools/bench_spikingresformer.py                 # Ti, T=4, batch 8, 224x224 (several minutes)
    python tools/bench_spikingresformer.py --quick         # seconds: batch 2, 64x64, T=2
    python tools/bench_spikingresformer.py --json bench.json --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
import warnings
from typing import Any

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tools/ scripts share helpers
from bench_models import firing_rates, peak_tensor_bytes


def timed(fn: Any, repeats: int) -> tuple[float, list[float]]:
    """The time of a first call of ``fn`` and of ``repeats`` more."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="spikingresformer_ti")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("-T", type=int, default=4)
    p.add_argument("--repeats", type=int, default=3, help="timed calls per measurement (median reported)")
    p.add_argument(
        "--kernels", default="reference,compiled", help="lif_multistep implementations, first = base"
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    p.add_argument("--no-memory", action="store_true", help="skip the (profiled) memory measurements")
    p.add_argument("--quick", action="store_true", help="smoke test: batch 2, 64x64, T=2, 1 repeat")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.img_size, args.T, args.repeats = 2, 64, 2, 1
    if args.threads:
        torch.set_num_threads(args.threads)

    import zoo_core as zoo
    from zoo_core.testing_parity import make_fire

    kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
    torch.manual_seed(0)
    model = zoo.create_model(args.model, T=args.T, img_size=args.img_size)
    x = torch.rand(
        args.batch, model.in_chans, args.img_size, args.img_size, generator=torch.Generator().manual_seed(0)
    )
    make_fire(model, x)  # BN and DSSA firing-rate statistics from x: the LIF layers fire, logits are not 0
    state = {k: v.clone() for k, v in model.state_dict().items()}
    n = args.batch

    def forward() -> torch.Tensor:
        with torch.no_grad():
            return model(x)

    def train_step() -> None:
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()

    info = {
        "model": args.model,
        "T": args.T,
        "batch": args.batch,
        "img_size": args.img_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs".strip(),
    }
    print(
        f"{args.model}: T={args.T}, batch {args.batch}, {args.img_size}x{args.img_size}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}",
        flush=True,
    )
    rows: dict[str, dict[str, Any]] = {}
    logits: dict[str, torch.Tensor] = {}
    old_env = os.environ.get("ZOO_KERNELS")
    try:
        for k in kernels:
            os.environ["ZOO_KERNELS"] = f"lif_multistep={k}"
            model.load_state_dict(state)
            row: dict[str, Any] = {}
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model.eval()
                row["fwd_first_s"], _ = timed(forward, 0)
                logits[k] = forward()
                row["firing_rates"] = firing_rates(model, forward)
                model.train()
                row["fwdbwd_first_s"], _ = timed(train_step, 0)
            row["fell_back_to_reference"] = sorted(
                {str(w.message) for w in caught if "using the reference" in str(w.message)}
            )
            if not args.no_memory:
                model.load_state_dict(state)
                model.eval()
                row["fwd_peak_mib"] = peak_tensor_bytes(forward) / 2**20
                model.train()
                row["fwdbwd_peak_mib"] = peak_tensor_bytes(train_step) / 2**20
            rows[k] = row
        times: dict[str, dict[str, list[float]]] = {k: {"fwd": [], "fwdbwd": []} for k in kernels}
        for _ in range(args.repeats):  # interleaved rounds: k1, k2, k1, k2, ... (load hits all alike)
            for k in kernels:
                os.environ["ZOO_KERNELS"] = f"lif_multistep={k}"
                model.eval()
                times[k]["fwd"].append(timed(forward, 0)[0])
                model.train()
                times[k]["fwdbwd"].append(timed(train_step, 0)[0])
        for k in kernels:
            row = rows[k]
            fallbacks = row["fell_back_to_reference"]
            row["fwd_s"] = statistics.median(times[k]["fwd"])
            row["fwdbwd_s"] = statistics.median(times[k]["fwdbwd"])
            row["fwd_img_per_s"] = n / row["fwd_s"]
            row["fwdbwd_img_per_s"] = n / row["fwdbwd_s"]
            print(
                f"  {k:<10} fwd {row['fwd_img_per_s']:7.2f} img/s (first call {row['fwd_first_s']:.1f} s)   "
                f"fwd+bwd {row['fwdbwd_img_per_s']:7.2f} img/s (first call {row['fwdbwd_first_s']:.1f} s)"
                + (
                    f"   peak fwd {row['fwd_peak_mib']:.0f} MiB, fwd+bwd {row['fwdbwd_peak_mib']:.0f} MiB"
                    if "fwd_peak_mib" in row
                    else ""
                )
                + (f"   FELL BACK: {fallbacks}" if fallbacks else ""),
                flush=True,
            )
    finally:
        if old_env is None:
            os.environ.pop("ZOO_KERNELS", None)
        else:
            os.environ["ZOO_KERNELS"] = old_env
    base = kernels[0]
    ratios = {}
    for k in kernels[1:]:
        r = {  # medians of the per-round ratios of the interleaved runs
            "fwd_speedup": statistics.median(a / b for a, b in zip(times[base]["fwd"], times[k]["fwd"])),
            "fwdbwd_speedup": statistics.median(
                a / b for a, b in zip(times[base]["fwdbwd"], times[k]["fwdbwd"])
            ),
            "max_abs_logit_diff": float((logits[k] - logits[base]).abs().max()),
            "firing_rate": statistics.mean(rows[base]["firing_rates"]),
            "layers_firing": sum(x > 0 for x in rows[base]["firing_rates"]),
            "layers": len(rows[base]["firing_rates"]),
        }
        if "fwd_peak_mib" in rows[k]:
            r["fwd_peak_memory_ratio"] = rows[k]["fwd_peak_mib"] / rows[base]["fwd_peak_mib"]
            r["fwdbwd_peak_memory_ratio"] = rows[k]["fwdbwd_peak_mib"] / rows[base]["fwdbwd_peak_mib"]
        ratios[f"{k}/{base}"] = r
        print(
            f"  {k}/{base}: fwd x{r['fwd_speedup']:.2f}, fwd+bwd x{r['fwdbwd_speedup']:.2f}"
            + (
                f", peak memory fwd x{r['fwd_peak_memory_ratio']:.2f}, fwd+bwd x{r['fwdbwd_peak_memory_ratio']:.2f}"
                if "fwd_peak_memory_ratio" in r
                else ""
            )
            + f", max |logit diff| {r['max_abs_logit_diff']:.3g} (max |logit| "
            f"{float(logits[base].abs().max()):.3g}; LIF firing rate {r['firing_rate']:.3f}, "
            f"{r['layers_firing']} of {r['layers']} layers fire)"
        )
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"  process peak RSS {maxrss:.0f} MiB")
    result = {**info, "results": rows, "ratios": ratios, "process_peak_rss_mib": maxrss}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
