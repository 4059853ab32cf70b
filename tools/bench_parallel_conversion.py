"""Benchmark parallel conversion: parallel neuron vs sequential IF, and the conversion time of a ResNet-18.

    python tools/bench_parallel_conversion.py            # full run (CPU; CUDA too when available)
    python tools/bench_parallel_conversion.py --quick    # smoke run (small sizes, few repeats)

Part 1: one layer simulated for T = 4, 8, 16 steps in the same process, same input current:
    * neuron only: the ``parallel_if`` neuron (all T steps at once from the mean current) vs the sequential IF neuron
      (``zoo_core.sdk.ConversionIF``, a loop over T) on ``[T, B, C, H, W]``;
    * layer: conv3x3 + BN + neuron, as in a converted CNN. Parallel: conv on the time-folded ``[T*B]`` batch,
      then the parallel neuron. Sequential: what an IF-based converted SNN does at inference, T calls of
      conv + BN + IF step (official ``IFNeuron`` usage).
    Forward times (no grad, eval mode) are medians of interleaved runs (parallel, sequential, parallel, ...,
    so load from other processes hits both alike); ratio = the median of the per-round ratios
    sequential / parallel.
Part 2: conversion time of a ResNet-18 (random weights, no download): the timm model, training-free
    (statistics + calibration passes over the calibration batches), and ``resnet18_qcfs`` (QCFS, direct).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn


def _interleaved(fns: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Median seconds of each function over ``repeats`` interleaved rounds (A, B, A, B, ...), and
    ``ratio``: the median per-round ratio of the second function's time to the first's."""
    for fn in fns.values():  # warm-up
        fn()
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[k].append(time.perf_counter() - t0)
    a, b = times.values()
    out = {k: statistics.median(v) for k, v in times.items()}
    out["ratio"] = statistics.median(y / x for x, y in zip(a, b))
    return out


@torch.no_grad()
def bench_layer(T: int, B: int, C: int, H: int, repeats: int, device: torch.device) -> dict[str, float]:
    import zoo_core as zoo

    g = torch.Generator().manual_seed(T)
    x = (torch.rand(T, B, C, H, H, generator=g) * 2).to(device)
    par = zoo.create_neuron("parallel_if", T=T, v_threshold=1.0).to(device)
    seq = zoo.create_neuron("if_conversion", v_threshold=1.0).to(device)
    r = _interleaved({"parallel": lambda: par(x), "sequential": lambda: seq(x)}, repeats, device)
    out = {"neuron_parallel": r["parallel"], "neuron_sequential": r["sequential"], "neuron_ratio": r["ratio"]}

    conv = nn.Sequential(nn.Conv2d(C, C, 3, padding=1, bias=False), nn.BatchNorm2d(C)).to(device).eval()
    img = torch.rand(B, C, H, H, generator=g).to(device)
    par_f = zoo.create_neuron("parallel_if", T=T, v_threshold=1.0, folded=True).to(device)

    def parallel_layer() -> torch.Tensor:
        return par_f(conv(img.unsqueeze(0).expand(T, *img.shape).reshape(T * B, C, H, H)))

    step = zoo.create_neuron("if_conversion", v_threshold=1.0).to(device)

    def sequential_layer() -> torch.Tensor:
        with zoo.streaming(step):
            return torch.stack([step.step(conv(img)) for _ in range(T)])

    r = _interleaved({"parallel": parallel_layer, "sequential": sequential_layer}, repeats, device)
    out.update(layer_parallel=r["parallel"], layer_sequential=r["sequential"], layer_ratio=r["ratio"])
    return out


def bench_conversion(quick: bool, device: torch.device) -> list[tuple[str, float, str]]:
    import zoo_core as zoo

    rows = []
    size = 32 if quick else 224
    batches = 2 if quick else 4
    g = torch.Generator().manual_seed(0)
    calib = [torch.rand(8, 3, size, size, generator=g).to(device) for _ in range(batches)]
    try:
        import timm

        torch.manual_seed(0)
        ann = timm.create_model("resnet18", pretrained=False).to(device).eval()
        for T in (4, 8, 16):
            rule = zoo.create_learning_rule("parallel_conversion", T=T, min_threshold=1e-3)
            t0 = time.perf_counter()
            rule.convert(ann, calibration=calib)
            if device.type == "cuda":
                torch.cuda.synchronize()
            rows.append(
                (
                    f"timm resnet18, training-free, T={T}",
                    time.perf_counter() - t0,
                    f"{batches} calibration batches of 8x3x{size}x{size}",
                )
            )
    except ImportError:
        rows.append(("timm resnet18", float("nan"), "timm not installed"))
    ann = zoo.create_model("resnet18_qcfs", T=4, num_classes=100).to(device).eval()
    t0 = time.perf_counter()
    zoo.create_learning_rule("parallel_conversion").convert(ann)
    rows.append(("resnet18_qcfs, direct (QCFS -> parallel), T=4", time.perf_counter() - t0, "no data"))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke run: small tensors, few repeats")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    B, C, H, repeats = (4, 16, 8, 3) if args.quick else (16, 32, 32, 10)
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    print(f"# parallel conversion benchmark ({name}; torch {torch.__version__})")
    print(
        f"\n## one layer, B={B}, C={C}, {H}x{H}, float32, forward only (interleaved medians of {repeats})\n"
    )
    print(
        "| T | neuron: parallel (ms) | neuron: sequential IF (ms) | ratio | conv+BN+neuron: parallel (ms) "
        "| conv+BN+IF, T steps (ms) | ratio |"
    )
    print("|---|---|---|---|---|---|---|")
    for T in (4, 8, 16):
        r = bench_layer(T, B, C, H, repeats, device)
        print(
            f"| {T} | {1e3 * r['neuron_parallel']:.3f} | {1e3 * r['neuron_sequential']:.3f} | "
            f"{r['neuron_ratio']:.2f}x | {1e3 * r['layer_parallel']:.3f} | "
            f"{1e3 * r['layer_sequential']:.3f} | {r['layer_ratio']:.2f}x |"
        )
    print("\n## conversion time\n")
    print("| network | seconds | data |")
    print("|---|---|---|")
    for what, sec, data in bench_conversion(args.quick, device):
        print(f"| {what} | {sec:.2f} | {data} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
