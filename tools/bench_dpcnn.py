#!/usr/bin/env python
"""DPCNN's headline comparison as a measurement: DPCNN-VGG9 against the LIF-based wide VGG9.

The abstract of Yi et al. (arXiv 2401.08649) reports that DPCNN with VGG9 uses 50% of the neurons, 53% of the
synapses and 73% of the training time of the LIF-based SNN with wide VGG9. This script measures the three
quantities for the zoo's two models (``dpcnn_vgg9``, ``dpcnn_vgg9_lif_wide``; layer lists and defaults are our
reading, see plugins/dpcnn/README.md):

* neurons: spiking units per sample and time step, counted exactly from the models by a forward pass on a
  CIFAR-10-sized input (3x32x32): the sum of every spiking layer's ``C x H x W`` (or ``C``);
* synapses: synaptic weights, counted exactly: ``weight.numel()`` of every conv/linear layer, the PCNN coupling
  kernels included (biases, normalisation and neuron scalars excluded); connections (output positions x fan-in
  per sample and step) are printed as a second convention;
* training time per step: forward + backward (cross-entropy) + SGD update of one batch, measured as the ratio
  DPCNN / wide-LIF in this process: the two models alternate (order swapped every repeat) after one warm-up
  step each, and the ratio reported is the median of the per-repeat ratios.

Examples::

    python tools/bench_dpcnn.py                       # counts + timing: T=4, batch 8, 32x32, 5 repeats (minutes)
    python tools/bench_dpcnn.py --quick               # counts + timing at batch 2, 16x16, T=2 (seconds)
    python tools/bench_dpcnn.py --json out.json --threads 2 --device cuda
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from typing import Any

import torch

PAPER = {"neurons": 0.50, "synapses": 0.53, "train_time": 0.73}


def counts() -> dict[str, Any]:
    from zoo_dpcnn.counting import count_neurons, count_synapses

    import zoo_core as zoo

    x = torch.rand(1, 3, 32, 32)
    out: dict[str, Any] = {}
    for key, name in (("dpcnn", "dpcnn_vgg9"), ("wide_lif", "dpcnn_vgg9_lif_wide")):
        m = zoo.create_model(name, T=1)
        syn = count_synapses(m, x)
        out[key] = {
            "model": name,
            "neurons": count_neurons(m, x)["total"],
            **{f"synapses_{k}": v for k, v in syn.items()},
        }
    d, w = out["dpcnn"], out["wide_lif"]
    out["ratio"] = {
        "neurons": d["neurons"] / w["neurons"],
        "synapses": d["synapses_total"] / w["synapses_total"],
        "connections": d["synapses_connections"] / w["synapses_connections"],
    }
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timing(
    T: int, batch: int, img_size: int, repeats: int, device: torch.device, seed: int = 0
) -> dict[str, Any]:
    import zoo_core as zoo

    torch.manual_seed(seed)
    models = {
        "dpcnn": zoo.create_model("dpcnn_vgg9", T=T, img_size=img_size).to(device).train(),
        "wide_lif": zoo.create_model("dpcnn_vgg9_lif_wide", T=T, img_size=img_size).to(device).train(),
    }
    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9) for k, m in models.items()}
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, img_size, img_size, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)

    def step(key: str) -> float:
        m, opt = models[key], opts[key]
        _sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(m(x), y).backward()
        opt.step()
        _sync(device)
        return time.perf_counter() - t0

    for key in models:  # warm-up (allocator, first-call overheads)
        step(key)
    times: dict[str, list[float]] = {k: [] for k in models}
    ratios = []
    for r in range(repeats):
        order = ("dpcnn", "wide_lif") if r % 2 == 0 else ("wide_lif", "dpcnn")
        now = {k: step(k) for k in order}
        for k, v in now.items():
            times[k].append(v)
        ratios.append(now["dpcnn"] / now["wide_lif"])
    return {
        "T": T,
        "batch": batch,
        "img_size": img_size,
        "repeats": repeats,
        "device": str(device),
        "seconds_per_step_median": {k: statistics.median(v) for k, v in times.items()},
        "ratio_per_repeat": ratios,
        "train_time_ratio_median": statistics.median(ratios),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--img-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true", help="timing at batch 2, 16x16, T=2, 3 repeats")
    p.add_argument("--no-timing", action="store_true", help="counts only")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args(argv)
    if args.quick:
        args.T, args.batch, args.img_size, args.repeats = 2, 2, 16, 3
    torch.set_num_threads(args.threads)

    res: dict[str, Any] = {"paper": PAPER, "counts": counts()}
    c = res["counts"]
    print("DPCNN-VGG9 vs LIF wide-VGG9 (CIFAR-10 size 3x32x32; counting convention: see --help)")
    print(f"{'':24}{'DPCNN-VGG9':>14}{'LIF wide-VGG9':>16}{'ratio':>9}{'paper':>8}")
    rows = [
        ("neurons / sample / step", "neurons", "neurons", PAPER["neurons"]),
        ("synapses (weights)", "synapses_total", "synapses", PAPER["synapses"]),
        ("  of which coupling", "synapses_coupling", None, None),
        ("connections / step", "synapses_connections", "connections", None),
    ]
    for label, key, rkey, paper in rows:
        ratio = f"{c['ratio'][rkey]:.3f}" if rkey else ""
        pap = f"{paper:.2f}" if paper is not None else ""
        print(f"{label:24}{c['dpcnn'][key]:>14,}{c['wide_lif'][key]:>16,}{ratio:>9}{pap:>8}")
    if not args.no_timing:
        t = timing(args.T, args.batch, args.img_size, args.repeats, torch.device(args.device))
        res["timing"] = t
        s = t["seconds_per_step_median"]
        print(
            f"{'train step (s, median)':24}{s['dpcnn']:>14.3f}{s['wide_lif']:>16.3f}"
            f"{t['train_time_ratio_median']:>9.3f}{PAPER['train_time']:>8.2f}"
        )
        print(
            f"  T={t['T']}, batch {t['batch']}, {t['img_size']}x{t['img_size']}, {t['repeats']} interleaved "
            f"repeats on {t['device']} ({args.threads} thread(s)); per-repeat ratios "
            + ", ".join(f"{r:.3f}" for r in t["ratio_per_repeat"])
        )
    res["env"] = {"torch": torch.__version__, "python": platform.python_version(), "threads": args.threads}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
