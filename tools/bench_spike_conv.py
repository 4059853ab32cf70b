"""Spike-aware convolution kernels against dense oneDNN on the layer shapes of SpikingResformer-Ti.

For every convolution of SpikingResformer-Ti at 224x224 that reads spikes (1x1 convs, the DSSA patch convs,
the grouped 3x3 convs of the GWFFN and the stride-2 3x3 downsampling convs), with ``batch x T`` images folded
into the batch, and every firing rate asked for, it times in one process, interleaved (one call of each
candidate per round, the median over the rounds), under ``torch.inference_mode`` and 1 thread:

- ``dense``: ``F.conv2d`` on NCHW (oneDNN; the reference of ``spike_conv2d``),
- ``gemm_cl``: the same per-pixel linear map as a dense ``F.linear`` GEMM on a channels-last copy (separates
  the gain of the memory layout from the gain of the spikes),
- ``lut``: ``spike_conv2d:lut`` (binary check, bit packing and table sums; the table is built once per weight,
  its build time is printed apart),
- ``gather``: a sum of weight rows over the active inputs only (``F.embedding_bag`` over ``nonzero``),
- ``lut_im2col`` (3x3 convs without groups): ``F.unfold`` then the table sums.

and prints the median milliseconds, the ratio ``dense / candidate`` (above 1: faster than dense) and the max
difference from ``dense``. Usage::

    OMP_NUM_THREADS=1 python tools/bench_spike_conv.py                      # batch 8 x T 4, rates 0.05-0.5
    OMP_NUM_THREADS=1 python tools/bench_spike_conv.py --batch-t 8 --rounds 5 --layers 1x1
    OMP_NUM_THREADS=1 python tools/bench_spike_conv.py --model spikingresformer_ti --batch 8

``--model`` times a whole model's forward (inference mode) with dense convs against
:func:`zoo_core.layers.spike_aware` (automatic selection), on random weights under which every neuron layer
fires, and prints the measured firing rates and the max logit difference beside the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from zoo_core.kernels import select
from zoo_core.kernels import spike_conv as sc

#: (name, in, out, kernel, stride, padding, groups, input size): SpikingResformer-Ti, 224x224 input
LAYERS: list[tuple[str, int, int, int, int, int, int, int]] = [
    ("s1.dssa.W 4x4/4", 64, 128, 4, 4, 0, 1, 56),
    ("s1.dssa.Wproj 1x1", 64, 64, 1, 1, 0, 1, 56),
    ("s1.ffn.up 1x1", 64, 256, 1, 1, 0, 1, 56),
    ("s1.ffn.conv 3x3 g4", 256, 256, 3, 1, 1, 4, 56),
    ("s1.ffn.down 1x1", 256, 64, 1, 1, 0, 1, 56),
    ("s2.down 3x3/2", 64, 192, 3, 2, 1, 1, 56),
    ("s2.dssa.W 2x2/2", 192, 384, 2, 2, 0, 1, 28),
    ("s2.dssa.Wproj 1x1", 192, 192, 1, 1, 0, 1, 28),
    ("s2.ffn.up 1x1", 192, 768, 1, 1, 0, 1, 28),
    ("s2.ffn.conv 3x3 g12", 768, 768, 3, 1, 1, 12, 28),
    ("s2.ffn.down 1x1", 768, 192, 1, 1, 0, 1, 28),
    ("s3.down 3x3/2", 192, 384, 3, 2, 1, 1, 28),
    ("s3.dssa.W 1x1", 384, 768, 1, 1, 0, 1, 14),
    ("s3.dssa.Wproj 1x1", 384, 384, 1, 1, 0, 1, 14),
    ("s3.ffn.up 1x1", 384, 1536, 1, 1, 0, 1, 14),
    ("s3.ffn.conv 3x3 g24", 1536, 1536, 3, 1, 1, 24, 14),
    ("s3.ffn.down 1x1", 1536, 384, 1, 1, 0, 1, 14),
]


def gemm_cl(x: torch.Tensor, w: torch.Tensor, k: int) -> torch.Tensor:
    """The per-pixel linear map as one dense GEMM on channels-last rows."""
    b, c, h, wd = x.shape
    rows = x.unflatten(3, (wd // k, k)).unflatten(2, (h // k, k)).permute(0, 2, 4, 1, 3, 5)
    y = F.linear(rows.reshape(-1, c * k * k), w.reshape(w.shape[0], -1))
    return y.view(b, h // k, wd // k, -1).permute(0, 3, 1, 2)


def gather(x: torch.Tensor, wt: torch.Tensor, k: int) -> torch.Tensor:
    """Sum of the weight rows of the active inputs (``wt``: ``[C k k, N]``), per output pixel."""
    b, c, h, wd = x.shape
    rows = x.unflatten(3, (wd // k, k)).unflatten(2, (h // k, k)).permute(0, 2, 4, 1, 3, 5)
    rows = rows.reshape(-1, c * k * k)
    r, col = rows.nonzero(as_tuple=True)
    offsets = torch.searchsorted(r, torch.arange(rows.shape[0]))
    y = F.embedding_bag(col, wt, offsets, mode="sum", per_sample_weights=rows[r, col])
    return y.view(b, h // k, wd // k, -1).permute(0, 3, 1, 2)


def lut_im2col(x: torch.Tensor, w: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
    """A 3x3 conv as ``F.unfold`` + the table sums (no groups)."""
    b, _, h, wd = x.shape
    k = w.shape[-1]
    cols = F.unfold(x, k, padding=padding, stride=stride)  # [B, C k k, L]
    ho, wo = (h + 2 * padding - k) // stride + 1, (wd + 2 * padding - k) // stride + 1
    y = sc.linear_lut(cols.transpose(1, 2), w.reshape(w.shape[0], -1))
    return y.view(b, ho, wo, -1).permute(0, 3, 1, 2)


def candidates(
    x: torch.Tensor, w: torch.Tensor, stride: int, pad: int, groups: int, gather_too: bool = True
) -> dict[str, Callable[[], torch.Tensor]]:
    """The implementations timed for one conv (``dense`` first)."""
    k = w.shape[-1]
    cands: dict[str, Callable[[], torch.Tensor]] = {
        "dense": lambda: F.conv2d(x, w, None, stride, pad, 1, groups)
    }
    if groups == 1 and pad == 0 and stride == k:
        cands["gemm_cl"] = lambda: gemm_cl(x, w, k)
        cands["lut"] = lambda: sc.conv2d_lut(x, w, None, stride, pad, 1, groups)
        if gather_too:
            wt = w.reshape(w.shape[0], -1).t().contiguous()
            cands["gather"] = lambda: gather(x, wt, k)
    elif groups == 1:
        cands["lut_im2col"] = lambda: lut_im2col(x, w, stride, pad)
    return cands


def time_interleaved(cands: dict[str, Callable[[], torch.Tensor]], rounds: int) -> dict[str, float]:
    """Median seconds per candidate, one call of each per round (after one warm-up call each)."""
    for f in cands.values():
        f()
    times: dict[str, list[float]] = {n: [] for n in cands}
    for _ in range(rounds):
        for n, f in cands.items():
            t0 = time.perf_counter()
            f()
            times[n].append(time.perf_counter() - t0)
    return {n: statistics.median(v) for n, v in times.items()}


def liven(model: torch.nn.Module, batches: int = 2, batch: int = 2, seed: int = 0) -> torch.nn.Module:
    """Random weights under which every neuron layer fires (std ``1/sqrt(fan_in)``; BatchNorm statistics and
    DSSA firing-rate buffers from training-mode forwards on random images); returns the model in eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        bns = []
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d | torch.nn.Linear):
                m.weight.normal_(0.0, 1.0 / m.weight[0].numel() ** 0.5, generator=g)
            elif isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.8, 1.6, generator=g)
                m.bias.normal_(0.3, 0.3, generator=g)
                m.reset_running_stats()
                bns.append((m, m.momentum))
                m.momentum = None
        model.train()
        for _ in range(batches):
            model(torch.rand((batch, model.in_chans, model.img_size, model.img_size), generator=g))
        for m, momentum in bns:
            m.momentum = momentum
    return model.eval()


def bench_model(name: str, batch: int, rounds: int) -> None:
    """Whole-model forward (inference mode): dense convs against ``spike_aware`` (automatic selection)."""
    import zoo_core as zoo  # reason: the model registry is only needed for --model
    from zoo_core.layers.spike_aware import spike_aware  # reason: as above

    model = liven(zoo.create_model(name))
    x = torch.rand(
        (batch, model.in_chans, model.img_size, model.img_size), generator=torch.Generator().manual_seed(1)
    )
    rates: list[float] = []
    hooks = [
        m.register_forward_hook(lambda mod, i, o: rates.append(float(o.float().mean())))
        for m in model.modules()
        if isinstance(m, zoo.sdk.BaseNeuron)
    ]
    with torch.inference_mode():
        want = model(x)
    for h in hooks:
        h.remove()
    rs = sorted(rates)
    print(
        f"{name}, batch {batch}, T {model.T}: {len(rs)} neuron layers, firing rates min {rs[0]:.3f} "
        f"median {rs[len(rs) // 2]:.3f} max {rs[-1]:.3f}"
    )

    def dense(inp: torch.Tensor = x) -> torch.Tensor:
        spike_aware(model, enable=False)
        return model(inp)

    def aware() -> torch.Tensor:
        spike_aware(model)
        return model(x)

    with torch.inference_mode():
        diff32 = float((aware() - want).abs().max())
        med = time_interleaved({"dense": dense, "spike_aware": aware}, rounds)
        # equality where rounding flips no spike: float64, one image, every eligible layer forced to the lut
        model.double()
        x64 = x[:1].double()
        want64 = dense(x64)
        spike_aware(model, kernel="lut")
        diff64 = float((model(x64) - want64).abs().max())
    spike_aware(model, enable=False)
    model.float()
    print(
        f"forward: dense {med['dense'] * 1e3:.0f} ms, spike_aware {med['spike_aware'] * 1e3:.0f} ms "
        f"(x{med['dense'] / med['spike_aware']:.2f}); max |logit diff| float64 (lut forced) {diff64:.1e}, "
        f"float32 {diff32:.1e} (float32 rounding flips a few spikes; logits up to {float(want.abs().max()):.2f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch-t", type=int, default=32, help="batch x T folded into the batch (default 8 x 4)")
    ap.add_argument("--rates", default="0.05,0.1,0.2,0.3,0.5", help="firing rates, comma-separated")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (the median is printed)")
    ap.add_argument("--layers", default="", help="only layers whose name contains this text")
    ap.add_argument("--no-gather", action="store_true", help="skip the (slow) gather candidate")
    ap.add_argument("--model", default="", help="time this whole model instead (e.g. spikingresformer_ti)")
    ap.add_argument("--batch", type=int, default=8, help="--model: images per batch")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    if args.model:
        bench_model(args.model, args.batch, args.rounds)
        return
    rates = [float(r) for r in args.rates.split(",")]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread, batch x T = {args.batch_t}, "
        f"{args.rounds} interleaved rounds; ms (dense / candidate)"
    )
    totals: dict[tuple[float, str], float] = {}
    for name, cin, cout, k, stride, pad, groups, size in LAYERS:
        if args.layers not in name:
            continue
        w = torch.randn(cout, cin // groups, k, k) * 0.02
        linear_map = groups == 1 and pad == 0 and stride == k
        if linear_map:
            t0 = time.perf_counter()
            sc.lut_table(w)
            build = (time.perf_counter() - t0) * 1e3
        for rate in rates:
            x = (torch.rand(args.batch_t, cin, size, size) < rate).float()
            cands = candidates(x, w, stride, pad, groups, gather_too=not args.no_gather)
            with torch.inference_mode():
                ref = cands["dense"]()
                diffs = {n: float((f() - ref).abs().max()) for n, f in cands.items()}
                med = time_interleaved(cands, args.rounds)
            for n, t in med.items():
                totals[(rate, n)] = totals.get((rate, n), 0.0) + t
            # the best of the spike-aware candidates (dense where none applies), and what automatic selection runs
            best = min((t for n, t in med.items() if n != "gemm_cl"), default=med["dense"])
            totals[(rate, "best")] = totals.get((rate, "best"), 0.0) + best
            with torch.inference_mode():
                auto = select("spike_conv2d", x, w, None, stride, pad, 1, groups).impl
            totals[(rate, "auto")] = totals.get((rate, "auto"), 0.0) + med[auto]
            cells = "  ".join(
                f"{n} {t * 1e3:7.1f} (x{med['dense'] / t:4.2f}, diff {diffs[n]:.1e})" for n, t in med.items()
            )
            extra = f"  [table {build:.0f} ms once]" if linear_map and rate == rates[0] else ""
            print(
                f"{name:22s} rate {rate:4.2f} (measured {float(x.mean()):.3f})  {cells}  auto: {auto}{extra}",
                flush=True,
            )
    print(
        "\nall layers above, summed medians (ms): dense; automatic selection (spike_conv2d's rule); "
        "the fastest spike-aware candidate of each layer"
    )
    for rate in rates:
        d, a, b = (totals.get((rate, k), 0.0) for k in ("dense", "auto", "best"))
        if d:
            print(
                f"rate {rate:4.2f}: dense {d * 1e3:8.1f}  auto {a * 1e3:8.1f} (x{d / a:4.2f})  "
                f"best {b * 1e3:8.1f} (x{d / b:4.2f})"
            )


if __name__ == "__main__":
    main()
