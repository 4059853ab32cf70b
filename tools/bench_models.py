#!/usr/bin/env python
"""Benchmark every plugin's main model on each kernel path, in one process, with honest equality checks.

For each model (``--models``; default: one main model per plugin at a CPU-sized input, ``--full`` adds
SpikingResformer-Ti at its official 224x224) and each ``lif_multistep`` path the model can use (``reference``,
``inplace`` -- the reference's loop without its allocations, whose training calls run the reference --,
``native`` (the C loop: the default inference path once built) and ``compiled`` on the CPU,
``triton`` on CUDA; models whose neurons run their own code have the reference only), plus ``spike_aware`` for
models with a layer the spike-aware kernels can run (1x1 and patch convs, linears:
``zoo.create_model(name, spike_aware=True)``): the default inference path (``inplace`` where the neurons
dispatch ``lif_multistep``) with
:func:`zoo_core.layers.spike_aware`'s automatic per-call selection of ``spike_conv2d`` / ``spike_linear``
(``lut`` / ``gather`` where they measured faster than dense, dense elsewhere; the alternates are
inference-only, so its training calls run the reference and dense layers, as ``inplace``'s do). Below its row
the table says how many layer calls of one forward ran each implementation:

* eval forward (``torch.no_grad()``) and training forward+backward (``out.sum().backward()`` in training mode,
  as a training step runs) times and forward throughput; every ratio against the reference is the **median of interleaved** runs
  (reference, compiled, reference, compiled, ...), so load from other processes hits both alike;
* peak tensor memory of one forward and one forward+backward (torch profiler, weights excluded);
* the compiled path's compile time: its first call minus its median call (with whether the persistent
  inductor cache already held the graphs: ``cached``);
* the firing rate of the model's spiking neurons beside the max |output difference| between the paths (an
  equality on a silent network proves nothing, so the weights are made to fire with
  :func:`zoo_core.testing_parity.make_fire`: every normalisation layer's affine set to weight 2, bias 0.6 and
  its running statistics taken from the benchmark input (2 calls in training mode; 10 for a norm other than
  torch's BatchNorm, which keeps its own momentum); the input is a fixed random image in [0, 1] or random 0/1
  spikes).

With ``--official PLUGIN=DIR`` (repeatable; a local checkout of that plugin's official code, never downloaded
here; a bare ``DIR`` means ``spikingresformer=DIR``; the official code's dependencies passed with ``--site DIR``)
the plugin's ``scripts/official_parity.py`` hook adds its ``BENCH`` models (``(model, constructor overrides,
batch)``: paper architectures at CPU-sized inputs) with an ``official`` path: ``bench_official(name, cfg, model,
device) -> (official_module, run)`` builds the official model with the zoo model's weights, and ``run(x)`` gives
the quantity the zoo model returns for the same input (e.g. SpikingResformer: the mean over T of the official
per-step logits, SpikingJelly's ``torch`` backend). It is timed interleaved with the others (forward under
``no_grad`` in eval mode, forward+backward ``run(x).sum().backward()`` in training mode) and compared with the
reference's output; its firing rate is over the official neurons (SpikingJelly's, or the class names the script
lists in ``BENCH_NEURONS``). While a hook builds its model the checkout is the first ``sys.path`` entry and modules
imported from other checkouts are forgotten (several have a top-level ``utils`` / ``models``); models listed in
``BENCH_INFERENCE_ONLY`` (official neurons without a gradient) get no official forward+backward, with a note.

Triton on the CPU (``TRITON_INTERPRET=1``) interprets every program in Python, thousands of times slower than
the reference: it is not timed here (the kernel tests check its values). Examples::

    python tools/bench_models.py                          # all main models, CPU sizes (minutes)
    python tools/bench_models.py --quick --models spiking_cnn
    python tools/bench_models.py --quick --models spikingresformer_ti --kernels reference,inplace,spike_aware
    python tools/bench_models.py --models spikingresformer_ti --full --json out.json
    python tools/bench_models.py --device cuda            # reference and triton on a GPU
    python tools/bench_models.py --models 'lmht_*' --official lmht=/tmp/official/lmht --site /tmp/official/site
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import platform
import statistics
import sys
import time
import warnings
from typing import Any

import torch

#: plugin -> (model, constructor overrides, batch): a CPU-sized input per plugin's main model
MAIN_MODELS: dict[str, tuple[str, dict[str, Any], int]] = {
    "zoo_core": ("spiking_cnn", {}, 64),
    "spikingresformer": ("spikingresformer_ti", {"img_size": 64, "T": 4}, 2),
    "dpcnn": ("dpcnn_vgg9_lif_wide", {"T": 4, "img_size": 32}, 4),
    "dpcnn (PCNN)": ("dpcnn_vgg9", {"T": 4, "img_size": 32}, 4),
    "empf": ("empf_digits", {}, 64),
    "lmht": ("lmht_cnn_digits", {}, 64),
    "parallel_conversion": ("qcfs_cnn_digits_parallel", {}, 64),
    "sparse_grad": ("sparse_grad_mlp_digits", {}, 64),
    "stc": ("spiking_predictor_stc_lif_mdigits", {}, 8),
    "usp_gaussian": ("usp_spkrecon", {}, 2),
    "neuroprosthesis": ("retina_off_cnn", {}, 32),
}
#: the official input size, where it fits this machine (``--full``)
FULL_MODELS: dict[str, tuple[str, dict[str, Any], int]] = {
    "spikingresformer (official size)": ("spikingresformer_ti", {"img_size": 224, "T": 4}, 1),
}


def peak_tensor_bytes(fn: Any) -> int:
    """Peak of live tensor bytes allocated while ``fn()`` runs (torch profiler memory events, in time order)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    cur = peak = 0
    for e in sorted(prof.events(), key=lambda e: e.time_range.start):
        cur += e.self_cpu_memory_usage
        peak = max(peak, cur)
    return peak


def cpu_capability() -> str:
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # older torch
        return "unknown"


def make_input(name: str, cfg: dict[str, Any], batch: int, device: str) -> torch.Tensor:
    """A fixed input of the model's first declared input: images in [0, 1], spikes 0/1."""
    import zoo_core as zoo

    info = zoo.model_info(name)
    spec = info.io.inputs[0]
    values = {**info.defaults, **cfg, "B": batch}
    shape = [d if isinstance(d, int) else int(values[d]) for d in spec.shape]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(*shape, generator=g)
    if spec.name == "spikes":
        x = (x < 0.3).float()
    return x.to(device)


def spiking_modules(model: torch.nn.Module, names: tuple[str, ...] = ()) -> list[torch.nn.Module]:
    """The zoo's neurons, or (in an official model) SpikingJelly's and those whose class name is in ``names``."""
    from zoo_core.sdk import BaseNeuron

    def spiking(m: torch.nn.Module) -> bool:
        return (
            isinstance(m, BaseNeuron)
            or (hasattr(m, "v_threshold") and hasattr(m, "step_mode"))
            or type(m).__name__ in names
        )

    return [m for m in model.modules() if spiking(m)]


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_official(values: list[str]) -> dict[str, str]:
    """``--official`` values -> {plugin: checkout}: ``PLUGIN=DIR``, or a bare ``DIR`` for ``spikingresformer``."""
    out: dict[str, str] = {}
    for v in values:
        plugin, sep, d = v.partition("=")
        if not sep:
            plugin, d = "spikingresformer", v
        if not plugin or not d:
            raise ValueError(f"--official {v!r}: expected PLUGIN=DIR or DIR")
        out[plugin] = d
    return out


def official_imports(checkout: str, checkouts: list[str]) -> None:
    """Make ``checkout`` the first ``sys.path`` entry and forget modules imported from any checkout (several
    official codes have top-level ``utils`` / ``models``); the models already built keep their own modules."""
    roots = [os.path.abspath(d) + os.sep for d in checkouts]
    for key, mod in list(sys.modules.items()):
        files = [getattr(mod, "__file__", None)]
        with contextlib.suppress(Exception):  # a package's folders (not every module object has a list)
            files += list(mod.__path__)
        if any(isinstance(f, str) and os.path.abspath(f).startswith(r) for f in files for r in roots):
            del sys.modules[key]
    sys.path[:] = [os.path.abspath(checkout)] + [
        p for p in sys.path if os.path.abspath(p) + os.sep not in roots
    ]


def official_script(plugin: str) -> Any:
    """The plugin's ``scripts/official_parity.py`` as a module, checked for the bench hook."""
    import importlib.util

    path = os.path.join(ROOT, "plugins", plugin, "scripts", "official_parity.py")
    if not os.path.isfile(path):
        raise ValueError(f"--official {plugin}=...: no plugins/{plugin}/scripts/official_parity.py")
    spec = importlib.util.spec_from_file_location(f"{plugin}_official_parity", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if not hasattr(mod, "BENCH") or not callable(getattr(mod, "bench_official", None)):
        raise ValueError(
            f"--official {plugin}=...: its official_parity.py defines no BENCH / bench_official hook"
        )
    return mod


def spike_kernel_calls(run: Any) -> dict[str, int]:
    """How many ``spike_conv2d`` / ``spike_linear`` calls during ``run()`` each implementation ran (what
    :func:`zoo_core.kernels.select` picked for them: ``dispatch`` looks it up per call)."""
    from zoo_core import kernels

    picked: dict[str, int] = {}
    real = kernels.select

    def recording(op: str, *a: Any, **kw: Any) -> Any:
        k = real(op, *a, **kw)
        if op in ("spike_conv2d", "spike_linear"):
            picked[k.impl] = picked.get(k.impl, 0) + 1
        return k

    kernels.select = recording
    try:
        run()
    finally:
        kernels.select = real
    return dict(sorted(picked.items()))


def firing_rates(model: torch.nn.Module, run: Any, names: tuple[str, ...] = ()) -> list[float]:
    """Fraction of non-zero outputs of every spiking neuron during ``run()``."""
    rates: list[float] = []
    hooks = [
        m.register_forward_hook(lambda m, i, o: rates.append(float((spikes_of(o) != 0).float().mean())))
        for m in spiking_modules(model, names)
    ]
    try:
        run()
    finally:
        for h in hooks:
            h.remove()
    return rates


def spikes_of(out: Any) -> torch.Tensor:
    """A neuron's spikes: its output, the first of a tuple (a recurrent cell's ``(s, h, ...)``) or ``out["s"]``."""
    return out["s"] if isinstance(out, dict) and "s" in out else first_output(out)


def first_output(out: Any) -> torch.Tensor:
    while isinstance(out, tuple | list):
        out = out[0]
    if isinstance(out, dict):
        out = next(iter(out.values()))
    return out


def kernel_paths(model: torch.nn.Module, device: str, requested: list[str] | None) -> list[str]:
    from zoo_core.kernels import implementations
    from zoo_core.layers import spike_aware

    paths = ["reference"]
    if any(getattr(type(m), "kernel_ops", None) for m in model.modules()):
        impls = implementations("lif_multistep")
        paths.append("inplace")  # inplace: the default inference path (its training calls run the reference)
        for impl in ("native", "compiled"):  # the C loop (built once per machine) and the inductor loop
            k = impls.get(impl)
            if device == "cpu" and k is not None and k.available is not None and k.available():
                paths.append(impl)
        if device == "cuda" and impls["triton"].available is not None and impls["triton"].available():
            paths.append("triton")
    if device == "cpu":  # the spike-aware alternates are CPU kernels
        eligible = spike_aware(model)
        spike_aware(model, enable=False)  # dense until the path is used
        if eligible:
            paths.append("spike_aware")
    if requested:  # the reference stays: every ratio and difference is against it
        paths = [p for p in paths if p in requested or p == "reference"]
    return paths


def bench_model(
    label: str, name: str, cfg: dict[str, Any], batch: int, args: argparse.Namespace
) -> dict[str, Any]:
    import zoo_core as zoo
    from zoo_core.api import set_model_kernel
    from zoo_core.kernels import lif_compiled
    from zoo_core.layers import spike_aware
    from zoo_core.testing_parity import make_fire

    torch.manual_seed(0)
    model = zoo.create_model(name, **cfg).to(args.device)
    x = make_input(name, cfg, batch, args.device)
    make_fire(model, x)
    paths = kernel_paths(model, args.device, args.kernels)
    has_ops = any(getattr(type(m), "kernel_ops", None) for m in model.modules())
    official, run_official, neuron_names = None, None, ()
    row_notes: list[str] = []
    no_bwd: set[str] = set()  # paths without a forward+backward
    for plugin, script in args.official_scripts.items():
        if any(b[0] == name for b in script.BENCH):
            official_imports(args.official_dirs[plugin], list(args.official_dirs.values()))
            official, run_official = script.bench_official(name, cfg, model, args.device)
            neuron_names = tuple(getattr(script, "BENCH_NEURONS", ()))
            if name in getattr(script, "BENCH_INFERENCE_ONLY", ()):  # no gradient through its neurons
                row_notes.append("official: inference only (its neurons pass no gradient): no fwd+bwd")
                no_bwd.add("official")
            official.eval()
            official_state = {k: v.clone() for k, v in official.state_dict().items()}
            paths.append("official")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    row: dict[str, Any] = {"plugin": label, "model": name, "config": cfg, "batch": batch, "paths": {}}
    if row_notes:
        row["notes"] = row_notes
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)

    current = {"path": paths[0]}

    def forward_of() -> torch.Tensor:
        if current["path"] == "official":
            return run_official(x)
        return first_output(model(x))

    def fwd() -> torch.Tensor:
        with torch.no_grad():
            out = forward_of()
        sync()
        return out

    def fwdbwd() -> None:  # a training step's work: training mode (SpikingJelly's eval path has no surrogate)
        net = official if current["path"] == "official" else model
        net.zero_grad(set_to_none=True)
        net.train()
        # inference only: training runs the reference (and, under autograd, the spike-aware layers run dense)
        default = current["path"] in ("inplace", "spike_aware") and has_ops
        if default:
            set_model_kernel(model, "reference", name)
        try:
            forward_of().float().sum().backward()
        finally:
            net.eval()
            if default:
                set_model_kernel(model, "inplace", name)
        sync()

    def use(p: str) -> None:
        current["path"] = p
        if p == "official":
            return
        spike_aware(model, enable=p == "spike_aware")  # automatic per-call selection; undone for the others
        if has_ops:
            set_model_kernel(model, "inplace" if p == "spike_aware" else p, name)

    def timed(fn: Any) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    def markers() -> set[str]:
        d = lif_compiled.compile_cache_dir() / "zoo_lif"
        return set(os.listdir(d)) if d.is_dir() else set()

    outputs: dict[str, torch.Tensor] = {}
    times: dict[str, dict[str, list[float]]] = {p: {"fwd": [], "fwdbwd": []} for p in paths}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for p in paths:  # first calls (compiling, where a path compiles), outside the timed runs
            use(p)
            model.load_state_dict(state)  # training-mode calls move the statistics: same state for each path
            if official is not None:
                official.load_state_dict(official_state)
            rec: dict[str, Any] = {}
            before = markers()
            rec["fwd_first_s"] = timed(fwd)
            outputs[p] = fwd()
            rec["rates"] = firing_rates(official if p == "official" else model, fwd, neuron_names)
            if p == "spike_aware":
                rec["spike_kernel_calls"] = spike_kernel_calls(fwd)
            if not args.no_backward and p not in no_bwd:
                rec["fwdbwd_first_s"] = timed(fwdbwd)
            if p == "compiled":  # no new marker: every forward graph came from the persistent cache
                rec["cached"] = markers() == before
            row["paths"][p] = rec
        for _ in range(args.repeats):  # interleaved: A, B, A, B, ...
            for p in paths:
                use(p)
                times[p]["fwd"].append(timed(fwd))
                if not args.no_backward and p not in no_bwd:
                    times[p]["fwdbwd"].append(timed(fwdbwd))
    fallbacks = sorted({str(w.message)[:120] for w in caught if "using the reference" in str(w.message)})
    if fallbacks:
        row["fell_back"] = fallbacks
    for p in paths:
        rec = row["paths"][p]
        rec["fwd_s"] = statistics.median(times[p]["fwd"])
        rec["img_per_s"] = batch / rec["fwd_s"]
        if not args.no_backward and p not in no_bwd:
            rec["fwdbwd_s"] = statistics.median(times[p]["fwdbwd"])
        if p != "reference":
            rec["fwd_ratio"] = statistics.median(
                r / c for r, c in zip(times["reference"]["fwd"], times[p]["fwd"])
            )
            if "fwdbwd_s" in rec:
                rec["fwdbwd_ratio"] = statistics.median(
                    r / c for r, c in zip(times["reference"]["fwdbwd"], times[p]["fwdbwd"])
                )
            rec["compile_s"] = max(0.0, rec["fwd_first_s"] - rec["fwd_s"]) + max(
                0.0, rec.get("fwdbwd_first_s", 0.0) - rec.get("fwdbwd_s", 0.0)
            )
            rec["max_abs_diff"] = float((outputs[p].float() - outputs["reference"].float()).abs().max())
        if not args.no_memory and args.device == "cpu":
            use(p)
            rec["fwd_peak_mib"] = peak_tensor_bytes(fwd) / 2**20
            if not args.no_backward and p not in no_bwd:
                rec["fwdbwd_peak_mib"] = peak_tensor_bytes(fwdbwd) / 2**20
        elif args.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
            fwd()
            rec["fwd_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    row["output_abs_max"] = float(outputs["reference"].float().abs().max())
    return row


def fmt_row(row: dict[str, Any]) -> list[str]:
    lines = []
    for p, rec in row["paths"].items():
        rates = rec["rates"]
        rate = (
            f"{statistics.mean(rates):.3f} ({sum(r > 0 for r in rates)}/{len(rates)} fire)" if rates else "-"
        )
        bwd = f"{rec['fwdbwd_s'] * 1e3:.1f}" if "fwdbwd_s" in rec else "-"
        mem = (
            f"{rec['fwd_peak_mib']:.1f} / "
            + (f"{rec['fwdbwd_peak_mib']:.1f}" if "fwdbwd_peak_mib" in rec else "-")
            if "fwd_peak_mib" in rec
            else "-"
        )
        if p == "reference":
            ratio, comp, diff = "1", "-", "-"
        else:
            ratio = f"x{rec['fwd_ratio']:.2f}" + (
                f" / x{rec['fwdbwd_ratio']:.2f}" if "fwdbwd_ratio" in rec else ""
            )
            comp = (
                f"{rec['compile_s']:.1f}" + (" (cached)" if rec.get("cached") else "")
                if p == "compiled"
                else "-"
            )
            diff = f"{rec['max_abs_diff']:.3g}"
        cfg = ", ".join(f"{k}={v}" for k, v in row["config"].items())
        lines.append(
            f"| {row['model']} | {cfg or 'defaults'}, batch {row['batch']} | {p} | {rec['fwd_s'] * 1e3:.1f} | "
            f"{bwd} | {rec['img_per_s']:.1f} | {ratio} | {mem} | {comp} | {rate} | {diff} |"
        )
    return lines


HEADER = (
    "| model | input | path | fwd ms | fwd+bwd ms | img/s | speed-up fwd / fwd+bwd | peak MiB fwd / fwd+bwd "
    "| compile s | firing rate | max abs diff |\n|---|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--models",
        default=None,
        help="comma-separated model names or patterns (default: all mains); a pattern no main matches runs the "
        "registered models it names at their default configuration, batch 1",
    )
    p.add_argument(
        "--kernels",
        default=None,
        help="comma-separated paths to run: reference, inplace, native, compiled, triton, spike_aware (default: all "
        "available; the reference always runs, as the baseline of every ratio; --official adds official)",
    )
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--repeats", type=int, default=5, help="interleaved timed calls per path (median)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--full", action="store_true", help="also the official input sizes that fit this machine")
    p.add_argument("--quick", action="store_true", help="smoke test: 2 repeats, batch <= 2, no memory")
    p.add_argument("--no-memory", action="store_true", help="skip the (profiled) memory measurements")
    p.add_argument("--no-backward", action="store_true", help="forward only")
    p.add_argument(
        "--official",
        action="append",
        default=[],
        metavar="PLUGIN=DIR",
        help="a local checkout of PLUGIN's official code (repeatable; a bare DIR: spikingresformer): adds the "
        "plugin's BENCH models with an 'official' path",
    )
    p.add_argument("--site", action="append", default=[], metavar="DIR", help="sys.path entry for --official")
    p.add_argument("--json", default=None, help="also write the results to this file")
    args = p.parse_args(argv)
    args.kernels = [k.strip() for k in args.kernels.split(",")] if args.kernels else None
    if args.quick:
        args.repeats, args.no_memory = 2, True
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device")

    import zoo_core as zoo  # noqa: F401  (registers the plugins before the models are looked up)

    try:
        official = parse_official(args.official)
        args.official_scripts = {plugin: official_script(plugin) for plugin in official}
        args.official_dirs = official
    except ValueError as exc:
        p.error(str(exc))
    chosen = dict(MAIN_MODELS)
    if args.full:
        chosen.update(FULL_MODELS)
    for plugin, script in args.official_scripts.items():  # its BENCH models, unless already there
        for i, bench in enumerate(script.BENCH):
            if tuple(bench) not in [tuple(v) for v in chosen.values()]:
                chosen[f"{plugin} (official {i})"] = tuple(bench)
    if args.models:
        pats = [m.strip() for m in args.models.split(",") if m.strip()]
        mains = chosen
        chosen = {k: v for k, v in mains.items() if any(fnmatch.fnmatchcase(v[0], pt) for pt in pats)}
        for pt in pats:  # any other registered model: its defaults, batch 1
            if not any(fnmatch.fnmatchcase(v[0], pt) for v in mains.values()):
                for name in zoo.list_models(pt):
                    chosen[name] = (name, {}, 1)
        if not chosen:
            p.error(
                f"--models {args.models!r} matches no registered model (zoo list; the mains: "
                f"{', '.join(sorted(v[0] for v in MAIN_MODELS.values()))})"
            )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU capability {cpu_capability()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else ""),
        flush=True,
    )
    if official:
        for d in (*official.values(), *args.site):
            if not os.path.isdir(d):
                p.error(f"--official/--site: {d} is not a directory")
        sys.path[:0] = list(args.site)  # each checkout goes first while its model is built
    print("note: triton under TRITON_INTERPRET=1 is not timed on the CPU (interpreted, far slower)")
    print(HEADER, flush=True)
    rows = []
    for label, (name, cfg, batch) in chosen.items():
        if args.quick:
            batch = min(batch, 2)
        try:
            row = bench_model(label, name, cfg, batch, args)
        except Exception as exc:  # report and go on: one model must not hide the others
            print(f"| {name} | - | skipped: {type(exc).__name__}: {str(exc)[:150]} |", flush=True)
            rows.append({"plugin": label, "model": name, "skipped": f"{type(exc).__name__}: {exc}"})
            continue
        rows.append(row)
        for line in fmt_row(row):
            print(line, flush=True)
        calls = row["paths"].get("spike_aware", {}).get("spike_kernel_calls")
        if calls is not None:
            print(
                "  spike_aware: layer calls of one forward per implementation: "
                + (", ".join(f"{k} {v}" for k, v in calls.items()) or "none")
            )
        for note in row.get("notes", []):
            print(f"  {note}")
        if row.get("fell_back"):
            print(f"  FELL BACK to the reference: {row['fell_back']}")
    if args.json:
        meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "cpu": cpu_capability()}
        with open(args.json, "w") as f:
            json.dump({**meta, "rows": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
