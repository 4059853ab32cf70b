#!/usr/bin/env python
"""Benchmark multi-step LIF neurons: neuron-steps per second, forward and forward+backward.

Every ``lif_multistep`` implementation in zoo-core's kernel registry that can run on the device
(``reference``, ``compiled``; ``triton`` on CUDA only) is timed beside, when they are installed,
SpikingJelly's ``LIFNode`` (multi-step), snnTorch's ``Leaky`` and Norse's LIF cells, all in one process on
the same input, and printed as a table of ratios to SpikingJelly (or to zoo-core's reference when SpikingJelly
is absent).

Throughput is ``T * N / time`` (neuron-steps per second, ``N`` neurons per step). "fwd" runs under
``torch.no_grad()``; "fwd+bwd" runs the forward with ``x`` requiring grad, then
``torch.autograd.grad(spikes, x, g)`` with a fixed random ``g``. Each figure is the median of ``--reps``
timed calls after ``--warmup`` untimed ones (compilation happens in warm-up); the timed calls of all
implementations and of the bandwidth probes are interleaved round by round, so that a shared machine's drifting
speed affects them alike.

The memory-bandwidth bound: a fused kernel must at least read ``x`` and write the spikes (8 bytes per
neuron-step in float32) for the forward, and for forward+backward also write and read back the pre-spike
membrane and read the spike gradient and write the input gradient (24 bytes). Two copy bandwidths of a tensor
shaped like ``x`` are measured (bytes read + written per second):

* ``clone``: ``x.clone()``, which, like every kernel that returns a new tensor, allocates its output. With the
  C library's defaults (``ZOO_HOST_MEMORY=system``) an allocation of more than a few tens of MiB is fresh
  memory from the OS, and the page faults that first touching it costs often dominate; zoo-core's default
  (``retain``, :mod:`zoo_core.kernels.host_memory`, applied to the whole process and so to every library
  timed here) reuses freed blocks instead. This is the bound that an allocating kernel can reach;
* ``copy``: ``y.copy_(x)`` into a buffer allocated once: the bandwidth of the memory system itself.

The bound in neuron-steps/s is bandwidth / bytes per neuron-step; each implementation's fraction of both
bounds is reported.

Examples::

    python tools/bench_neurons.py                       # T in {4, 16}, x[t] of shape [32, 64, 32, 32]
    python tools/bench_neurons.py --quick               # seconds: a small smoke run
    python tools/bench_neurons.py --device cuda --json bench.json
    python tools/bench_neurons.py -T 8 --shape 16 128 16 16 --threads 1 --only zoo:compiled spikingjelly

Install the other libraries with ``pip install -e ".[bench]" -c <(echo torch==<your torch>)`` (the constraint
keeps pip from replacing torch).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import inspect
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from zoo_core.kernels import host_memory  # applies ZOO_HOST_MEMORY for every library in this process

# --------------------------------------------------------------------------------- the LIF configuration
# The same neuron for every library, as far as each library allows:
#   tau = 2, v_threshold = 1, hard reset to 0, decay_input = True (H = V + (X - V) / tau), ATan surrogate
#   with alpha = 2 where the library has one, no detach of the reset, v0 = 0.
TAU, V_TH, V_RESET, ALPHA = 2.0, 1.0, 0.0, 2.0


@dataclass
class Case:
    """One implementation: ``make(T)`` returns ``run(x) -> spikes`` for inputs of that ``T``."""

    name: str
    library: str
    config: str
    make: Callable[[torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]
    exact: bool = False  # computes exactly zoo-core's LIF: spikes are checked against the reference
    notes: list[str] = field(default_factory=list)
    inference_only: bool = False  # no backward (zoo:inplace): the fwd+bwd columns stay empty


def _version(dist: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:
        return None


# ------------------------------------------------------------------------------------------- zoo-core
def zoo_cases(device: torch.device) -> list[Case]:
    import zoo_core as zoo
    from zoo_core.kernels import implementations

    sur = zoo.create_surrogate("atan", alpha=ALPHA)
    kw = {
        "tau": TAU,
        "k": None,
        "v_threshold": V_TH,
        "v_reset": V_RESET,
        "decay_input": True,
        "detach_reset": False,
        "surrogate": sur,
    }
    cases = []
    impls = implementations("lif_multistep")
    for name in sorted(impls, key=lambda n: (not impls[n].is_reference, n)):
        impl = impls[name]
        if name == "triton" and device.type != "cuda":
            continue  # the interpreter (TRITON_INTERPRET=1) is a test tool, not a speed path

        def make(
            x: torch.Tensor, impl: Any = impl, name: str = name
        ) -> Callable[[torch.Tensor], torch.Tensor]:
            v0 = torch.zeros_like(x[0])
            if not (impl.is_reference or impl.can_run(x.device.type, (x, v0), kw)):
                raise RuntimeError("cannot run this call here (unavailable or unsupported)")
            # the neuron as a user runs it (its rest state made per sequence, as SpikingJelly's reset + call)
            neuron = zoo.create_neuron(
                "lif", tau=TAU, v_threshold=V_TH, v_reset=V_RESET, surrogate=sur, kernel=name
            ).to(x.device)
            return neuron

        probe = torch.zeros(2, 1, device=device, requires_grad=True)
        cases.append(
            Case(
                f"zoo:{name}",
                "zoo-core",
                "LIF(tau=2, decay_input=True, v_th=1, v_reset=0, atan alpha=2)",
                make,
                exact=True,
                # an alternate that refuses a call needing gradients (inplace) is timed forward only
                inference_only=impl.supports is not None
                and not impl.supports(probe, probe[0].detach(), **kw),
            )
        )
    return cases


# --------------------------------------------------------------------------------------- SpikingJelly
def spikingjelly_cases(device: torch.device) -> list[Case]:
    try:
        from spikingjelly.activation_based import neuron, surrogate
    except Exception:
        return []
    version = _version("spikingjelly") or "?"
    config = f"LIFNode(tau=2., decay_input=True, v_threshold=1., v_reset=0., ATan(alpha=2), step_mode='m') {version}"
    cases = []

    class TorchATan(surrogate.ATan):  # type: ignore[misc, name-defined]
        """ATan outside SpikingJelly's module: its dispatcher only knows its own classes, so this forces
        the plain-PyTorch loop with autograd (SpikingJelly 2.0's "torch" path)."""

    def node(sur: Any, **extra: Any) -> Any:
        return neuron.LIFNode(
            tau=TAU,
            decay_input=True,
            v_threshold=V_TH,
            v_reset=V_RESET,
            surrogate_function=sur,
            detach_reset=False,
            step_mode="m",
            **extra,
        ).to(device)

    def maker(sur_factory: Callable[[], Any], **extra: Any) -> Callable[..., Any]:
        def make(x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
            n = node(sur_factory(), **extra)

            def run(x: torch.Tensor) -> torch.Tensor:
                n.reset()
                return n(x)

            return run

        return make

    params = inspect.signature(neuron.LIFNode.__init__).parameters
    if "backend" in params:  # SpikingJelly < 2.0: explicit backends ("torch", "cupy", ...)
        probe = neuron.LIFNode(step_mode="m")
        for backend in getattr(probe, "supported_backends", ("torch",)):
            if backend != "torch" and device.type != "cuda":
                continue
            cases.append(
                Case(
                    f"spikingjelly:{backend}",
                    "spikingjelly",
                    config + f" backend={backend!r}",
                    maker(lambda: surrogate.ATan(alpha=ALPHA), backend=backend),
                    exact=True,
                )
            )
    else:  # 2.0: one dispatcher picks the implementation for the device (CPU op, or native CUDA / Triton)
        cases.append(
            Case(
                "spikingjelly",
                "spikingjelly",
                config + " (automatic dispatch: fastest registered implementation for the device)",
                maker(lambda: surrogate.ATan(alpha=ALPHA)),
                exact=True,
            )
        )
        cases.append(
            Case(
                "spikingjelly:torch",
                "spikingjelly",
                config + " with an ATan subclass: the plain-PyTorch loop + autograd",
                maker(lambda: TorchATan(alpha=ALPHA)),
                exact=True,
            )
        )
    return cases


# -------------------------------------------------------------------------------------------- snnTorch
def snntorch_cases(device: torch.device) -> list[Case]:
    try:
        import snntorch as snn
        from snntorch import surrogate
    except Exception:
        return []

    # Leaky(beta=1 - 1/tau = 0.5, threshold=1, reset_mechanism="zero", reset_delay=False, atan(alpha=2)):
    # H = beta V + X (snnTorch has no decay_input: the input is not divided by tau), S = [H > 1], hard reset
    # to 0 in the same step (reset_delay=False). The multi-step loop over x.unbind(0) is ours.
    def make(x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        lif = snn.Leaky(
            beta=1 - 1 / TAU,
            threshold=V_TH,
            spike_grad=surrogate.atan(alpha=ALPHA),
            reset_mechanism="zero",
            reset_delay=False,
        ).to(device)

        def run(x: torch.Tensor) -> torch.Tensor:
            mem = torch.zeros_like(x[0])
            out = []
            for xt in x.unbind(0):
                spk, mem = lif(xt, mem)
                out.append(spk)
            return torch.stack(out)

        return run

    return [
        Case(
            "snntorch:Leaky",
            "snntorch",
            f"Leaky(beta=0.5, threshold=1, reset_mechanism='zero', reset_delay=False, atan(alpha=2)) "
            f"{_version('snntorch') or '?'}",
            make,
        )
    ]


# ----------------------------------------------------------------------------------------------- Norse
def norse_cases(device: torch.device) -> list[Case]:
    try:
        import norse.torch as nt
    except Exception:
        return []
    version = _version("norse") or "?"
    dt = 1e-3
    cases = []

    # LIFBoxCell: the LIF without a synaptic current, dv = dt/tau_mem (v_leak - v + x); with
    # dt * tau_mem_inv = 1/2 this is H = V + (X - V) / 2 (decay_input=True, tau=2), v_th=1, hard reset to 0.
    # Norse has no ATan: SuperSpike surrogate (method="super", alpha=100, its default). Loop over x.unbind(0).
    def make_box(x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        p = nt.LIFBoxParameters(
            tau_mem_inv=torch.as_tensor(1 / (TAU * dt), device=device),
            v_leak=torch.as_tensor(0.0, device=device),
            v_th=torch.as_tensor(V_TH, device=device),
            v_reset=torch.as_tensor(V_RESET, device=device),
            method="super",
            alpha=torch.as_tensor(100.0, device=device),
        )
        cell = nt.LIFBoxCell(p, dt=dt)

        def run(x: torch.Tensor) -> torch.Tensor:
            state = nt.LIFBoxFeedForwardState(v=torch.zeros_like(x[0]))
            out = []
            for xt in x.unbind(0):
                z, state = cell(xt, state)
                out.append(z)
            return torch.stack(out)

        return run

    cases.append(
        Case(
            "norse:LIFBoxCell",
            "norse",
            f"LIFBoxCell(tau_mem_inv=500, dt=1e-3 -> tau=2 steps, v_th=1, v_reset=0, method='super') {version}",
            make_box,
        )
    )

    # LIF: Norse's multi-step module (it loops over T itself). It is current-based: X enters a synaptic
    # current that reaches v one step later; dt * tau_syn_inv = 1 makes the current the last input alone.
    def make_lif(x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        p = nt.LIFParameters(
            tau_syn_inv=torch.as_tensor(1 / dt, device=device),
            tau_mem_inv=torch.as_tensor(1 / (TAU * dt), device=device),
            v_leak=torch.as_tensor(0.0, device=device),
            v_th=torch.as_tensor(V_TH, device=device),
            v_reset=torch.as_tensor(V_RESET, device=device),
            method="super",
            alpha=torch.as_tensor(100.0, device=device),
        )
        lif = nt.LIF(p, dt=dt).to(device)
        return lambda x: lif(x)[0]

    cases.append(
        Case(
            "norse:LIF",
            "norse",
            f"LIF (current-based: one more state, input delayed one step) tau_mem=2 steps, v_th=1, "
            f"v_reset=0, method='super' {version}",
            make_lif,
        )
    )
    return cases


# ---------------------------------------------------------------------------------------------- timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], Any], device: torch.device) -> float:
    """Wall time of one ``fn()`` call in seconds (its result is dropped inside the timed region)."""
    _sync(device)
    t0 = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t0


class Timer:
    """Interleaved timing: every round calls each registered function once, in a rotating order.

    A shared machine's speed drifts over seconds to minutes (other tenants, memory bandwidth, turbo); timing
    one implementation after another would turn that drift into false ratios. Interleaving exposes every
    implementation (and the bandwidth probes) to the same conditions, and the median per function drops the
    outliers.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.fns: dict[str, Callable[[], Any]] = {}
        self.times: dict[str, list[float]] = {}

    def add(self, key: str, fn: Callable[[], Any], warmup: int) -> None:
        for _ in range(warmup):
            fn()
        self.fns[key] = fn
        self.times[key] = []

    def run(self, rounds: int) -> None:
        keys = list(self.fns)
        for r in range(rounds):
            shift = r % max(len(keys), 1)
            for key in keys[shift:] + keys[:shift]:
                try:
                    self.times[key].append(_timed(self.fns[key], self.device))
                except Exception:  # a failing call marks its entry; the others go on
                    self.times[key].append(float("nan"))
                gc.collect()

    def median(self, key: str) -> float | None:
        ts = [t for t in self.times.get(key, []) if t == t]
        return statistics.median(ts) if ts else None


def add_bandwidth_probes(timer: Timer, like: torch.Tensor, warmup: int) -> int:
    """Register the copy probes on a tensor shaped like ``like``; returns the bytes each moves (read + write)."""
    src = torch.randn_like(like)
    dst = torch.empty_like(src)
    timer.add("bw:clone", lambda: src.clone(), warmup)
    timer.add("bw:copy", lambda: dst.copy_(src), warmup)
    return 2 * src.numel() * src.element_size()


def prepare_case(
    case: Case,
    x: torch.Tensor,
    g: torch.Tensor,
    ref_spikes: torch.Tensor | None,
    timer: Timer,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Build ``case`` for ``x``, check its spikes, warm it up (compilation) and register it with ``timer``."""
    row: dict[str, Any] = {"name": case.name, "library": case.library, "config": case.config}
    try:
        run = case.make(x)
        with torch.no_grad():
            s = run(x)
        row["firing_rate"] = float(s.float().mean())
        if case.exact and ref_spikes is not None and not torch.equal(s, ref_spikes):
            row["mismatch"] = int((s != ref_spikes).sum())
        del s

        def fwd() -> None:
            with torch.no_grad():
                run(x)

        timer.add(f"{case.name}:fwd", fwd, args.warmup)
        if not args.no_backward and not case.inference_only:
            xr = x.detach().clone().requires_grad_()

            def fwd_bwd() -> None:
                torch.autograd.grad(run(xr), xr, g)

            timer.add(f"{case.name}:fwdbwd", fwd_bwd, args.warmup)
    except Exception as exc:  # one library failing must not end the benchmark
        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"
    gc.collect()
    return row


# ---------------------------------------------------------------------------------------------- report
def _fmt(v: float | None, spec: str) -> str:
    return "-".rjust(int(spec.split(".")[0] or 0)) if v is None else format(v, spec)


def report(result: dict[str, Any], baseline: str) -> str:
    T = result["T"]
    n = result["neurons_per_step"]
    bw = result["bandwidth"]
    lines = [
        f"T={T}  x: {result['shape']} {result['dtype']} on {result['device']}, {result['threads']} thread(s)",
        f"  copy bandwidth (read+write): clone (allocating) {bw['clone'] / 1e9:.2f} GB/s, "
        f"copy into a preallocated buffer {bw['copy'] / 1e9:.2f} GB/s",
        f"  bound (neuron-steps/s): fwd (8 B) {bw['clone'] / 8 / 1e9:.3f} G alloc / {bw['copy'] / 8 / 1e9:.3f} G "
        f"DRAM;  fwd+bwd (24 B) {bw['clone'] / 24 / 1e9:.3f} G alloc / {bw['copy'] / 24 / 1e9:.3f} G DRAM",
        f"  ratios are to {baseline}; %alloc / %DRAM: fraction of the clone / copy bound",
        "",
        f"  {'implementation':<22}{'fwd G/s':>9}{'ratio':>8}{'%alloc':>8}{'%DRAM':>7}   "
        f"{'f+b G/s':>9}{'ratio':>8}{'%alloc':>8}{'%DRAM':>7}   {'rate':>5}",
    ]
    base = next((r for r in result["rows"] if r["name"] == baseline), None)
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"  {r['name']:<22}error: {r['error']}")
            continue
        cells = []
        for key, nbytes in (("fwd", 8), ("fwdbwd", 24)):
            sec = r.get(f"{key}_s")
            thr = None if sec is None else T * n / sec
            bsec = None if base is None else base.get(f"{key}_s")
            ratio = None if (sec is None or bsec is None) else bsec / sec
            fa = None if thr is None else thr / (bw["clone"] / nbytes)
            fd = None if thr is None else thr / (bw["copy"] / nbytes)
            cells.append(
                f"{_fmt(None if thr is None else thr / 1e9, '9.3f')}{_fmt(ratio, '8.2f')}"
                f"{_fmt(None if fa is None else 100 * fa, '8.0f')}{_fmt(None if fd is None else 100 * fd, '7.0f')}"
            )
            r[f"{key}_steps_per_s"] = thr
            r[f"{key}_ratio"] = ratio
            r[f"{key}_frac_alloc_bound"] = fa
            r[f"{key}_frac_dram_bound"] = fd
        flag = "" if "mismatch" not in r else f"  MISMATCH: {r['mismatch']} spikes differ from zoo:reference"
        lines.append(f"  {r['name']:<22}{cells[0]}   {cells[1]}   {r['firing_rate']:5.3f}{flag}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench_neurons.py",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1].replace("``", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("-T", "--T", type=int, nargs="+", default=[4, 16], help="time steps (default: 4 16)")
    p.add_argument(
        "--shape",
        type=int,
        nargs="+",
        default=[32, 64, 32, 32],
        help="shape of one time step, batch first (default: 32 64 32 32, i.e. 2**21 neurons)",
    )
    p.add_argument("--dtype", default="float32", choices=["float32", "float64", "float16", "bfloat16"])
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: every core this process may use)",
    )
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (default: 2)")
    p.add_argument(
        "--reps",
        type=int,
        default=7,
        help="timed rounds; the median per implementation is reported (default: 7)",
    )
    p.add_argument("--no-backward", action="store_true", help="time the forward only")
    p.add_argument(
        "--only",
        nargs="+",
        default=None,
        metavar="NAME",
        help="run only implementations whose name starts with one of these (e.g. zoo:compiled spikingjelly)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run in seconds: T=4, shape 4 16 16 16, 1 warm-up, 3 repetitions",
    )
    p.add_argument("--json", metavar="OUT", default=None, help="also write every number to this JSON file")
    args = p.parse_args(argv)
    if args.quick:
        args.T, args.shape, args.warmup, args.reps = [4], [4, 16, 16, 16], 1, 3
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available", file=sys.stderr)
        return 2
    if args.threads is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        args.threads = cores or 1
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)

    cases = zoo_cases(device) + spikingjelly_cases(device) + snntorch_cases(device) + norse_cases(device)
    if args.only:
        cases = [c for c in cases if any(c.name.startswith(o) for o in args.only)]
    names = [c.name for c in cases]
    baseline = (
        "spikingjelly"
        if "spikingjelly" in names
        else (next((n for n in names if n.startswith("spikingjelly")), None) or "zoo:reference")
    )
    meta = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "versions": {d: _version(d) for d in ("zoo-core", "spikingjelly", "snntorch", "norse", "triton")},
        "baseline": baseline,
        "loadavg_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "thp_mem_alloc": os.environ.get("THP_MEM_ALLOC_ENABLE", ""),
        "host_memory": host_memory.state(),
    }
    print(
        f"bench_neurons: torch {torch.__version__}, {meta['device']}, {meta['threads']} thread(s), host memory "
        f"{meta['host_memory']} (ZOO_HOST_MEMORY); "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if v)
    )
    for c in cases:
        print(f"  {c.name:<22}{c.config}")
    results = []
    gen = torch.Generator().manual_seed(0)
    for T in args.T:
        # inputs that make about a quarter of the neurons fire per step
        x = (torch.randn((T, *args.shape), generator=gen) + 1.0).to(device=device, dtype=dtype)
        g = torch.randn((T, *args.shape), generator=gen).to(device=device, dtype=dtype)
        ref_spikes = None
        with contextlib.suppress(Exception), torch.no_grad():
            from zoo_core.kernels import reference

            sur = __import__("zoo_core").create_surrogate("atan", alpha=ALPHA)
            ref_spikes = reference("lif_multistep")(
                x, torch.zeros_like(x[0]), tau=TAU, v_threshold=V_TH, v_reset=V_RESET, surrogate=sur
            )[0]
        timer = Timer(device)
        nbytes = add_bandwidth_probes(timer, x, max(args.warmup, 2))
        rows = []
        for c in cases:
            rows.append(prepare_case(c, x, g, ref_spikes, timer, args))
            print(f"    T={T} {c.name}: ready", file=sys.stderr, flush=True)
        timer.run(args.reps)
        bw = {k: nbytes / timer.median(f"bw:{k}") for k in ("clone", "copy")}
        for r in rows:
            for key in ("fwd", "fwdbwd"):
                r[f"{key}_s"] = timer.median(f"{r['name']}:{key}")
            r["times"] = {k: timer.times.get(f"{r['name']}:{k}") for k in ("fwd", "fwdbwd")}
        result = {
            "T": T,
            "shape": list(args.shape),
            "neurons_per_step": int(torch.Size(args.shape).numel()),
            "dtype": args.dtype,
            "device": meta["device"],
            "threads": meta["threads"],
            "bandwidth": bw,
            "rows": rows,
        }
        print()
        print(report(result, baseline))
        results.append(result)
        del x, g, ref_spikes
        gc.collect()
    if hasattr(os, "getloadavg"):
        meta["loadavg_end"] = list(os.getloadavg())
        print(
            f"\nload average (1 min) at start {meta['loadavg_start'][0]:.2f}, at end {meta['loadavg_end'][0]:.2f} "
            f"on {os.cpu_count()} CPUs: other processes competing for the cores distort every figure"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
