"""Memory of EM-PF online training vs BPTT as T grows (the paper's "memory independent of T" claim).

    python tools/bench_empf_memory.py                      # empf_resnet18, CIFAR size, batch 16, T = 2 4 8 16
    python tools/bench_empf_memory.py --width-mult 0.25 --batch 8 --Ts 2 4 8   # quicker on a small CPU

Trains the same model (same initial weights) for one batch with the online rule ``empf_online`` (per-step
forward / backward / optimiser step) and with the core's ``bptt`` rule (one loss on the mean logits, backward
through all steps), for each T, and prints per T:

* the peak bytes of tensors saved for backward (``saved_tensors_hooks``, counted once per storage; device
  independent: the activation memory of training),
* on CUDA also the peak allocated memory above the model's own (``torch.cuda.max_memory_allocated``),
* the wall time of the training step,

each also as a ratio to the first T, all in the same process. Expected: online flat (within 10 %), BPTT
growing about linearly with T. ``--check`` exits non-zero if that does not hold.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="empf_resnet18")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--img-size", type=int, default=32)
    p.add_argument("--width-mult", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--Ts", type=int, nargs="+", default=[2, 4, 8, 16])
    p.add_argument("--device", default="cuda" if _cuda() else "cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write the rows to this file")
    p.add_argument("--check", action="store_true", help="fail unless online is flat (10 %%) and BPTT grows")
    args = p.parse_args(argv)

    import torch
    from zoo_empf.online import training_step_memory

    import zoo_core as zoo

    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    rows = []
    for T in args.Ts:
        for rule in ("empf_online", "bptt"):
            torch.manual_seed(0)
            model = zoo.create_model(
                args.model,
                T=T,
                num_classes=args.num_classes,
                img_size=args.img_size,
                width_mult=args.width_mult,
            ).to(dev)
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            g = torch.Generator().manual_seed(1)
            x = torch.rand(args.batch, model.in_chans, args.img_size, args.img_size, generator=g).to(dev)
            y = torch.randint(0, args.num_classes, (args.batch,), generator=g).to(dev)
            training_step_memory(
                model, zoo.create_learning_rule(rule), (x, y), opt
            )  # warm-up (allocator, kernels)
            r = training_step_memory(model, zoo.create_learning_rule(rule), (x, y), opt)
            rows.append({"T": T, "rule": rule, **r})
            del model, opt

    def ratio(rule: str, key: str, T: int) -> float:
        first = next(r for r in rows if r["rule"] == rule)
        cur = next(r for r in rows if r["rule"] == rule and r["T"] == T)
        return cur[key] / first[key]

    has_cuda = "cuda_peak_bytes" in rows[0]
    print(f"{args.model} width_mult={args.width_mult} batch={args.batch} img={args.img_size} device={dev}")
    head = f"{'T':>3} {'rule':>12} {'saved MB':>10} {'x T0':>6}" + (
        f" {'cuda MB':>9} {'x T0':>6}" if has_cuda else ""
    )
    print(head + f" {'time s':>8} {'x T0':>6}")
    for r in rows:
        line = f"{r['T']:>3} {r['rule']:>12} {r['peak_saved_bytes'] / 1e6:>10.1f} {ratio(r['rule'], 'peak_saved_bytes', r['T']):>6.2f}"
        if has_cuda:
            line += f" {r['cuda_peak_bytes'] / 1e6:>9.1f} {ratio(r['rule'], 'cuda_peak_bytes', r['T']):>6.2f}"
        print(line + f" {r['seconds']:>8.3f} {ratio(r['rule'], 'seconds', r['T']):>6.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)
    if args.check:
        last = args.Ts[-1]
        keys = ["peak_saved_bytes"] + (["cuda_peak_bytes"] if has_cuda else [])
        ok = all(ratio("empf_online", k, T) <= 1.10 for k in keys for T in args.Ts)
        ok &= all(ratio("bptt", k, last) >= 0.5 * last / args.Ts[0] for k in keys)
        print("check:", "ok" if ok else "FAILED (online not flat or BPTT not growing)")
        return 0 if ok else 1
    return 0


def _cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


if __name__ == "__main__":
    sys.exit(main())
