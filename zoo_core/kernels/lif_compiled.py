r"""``lif_multistep:compiled``: the IF/LIF loop through ``torch.compile`` (a real speed path on CPU).

Inductor fuses a loop over ``x_seq.unbind(0)`` into one vectorised pass over the neurons that keeps the
membrane potential in registers across all ``T`` steps. For IF/LIF with a float ``tau`` and a built-in
surrogate the autograd graph is hand-written (:class:`_LIFCompiledFn`) so that memory traffic is minimal:

* forward reads :math:`X` and writes :math:`S` (8 bytes per neuron-step in float32) and saves nothing new
  for backward: it keeps references to ``x_seq`` and ``v0``, which exist anyway;
* backward is a second compiled loop that recomputes :math:`H_t` from ``x_seq`` and ``v0`` in registers, then
  runs the recurrence backwards in time (equations in :mod:`zoo_core.kernels.lif_triton`): it reads
  :math:`X` and :math:`\partial L/\partial S` and writes :math:`\partial L/\partial X` (12 bytes).

That is 20 bytes per neuron-step for forward+backward, with two output allocations (spikes, input
gradient) instead of the reference's per-step temporaries; storing :math:`H_t` would cost 4 more bytes and a
third allocation. PLIF (a tensor ``k`` that needs its own gradient), mixed dtypes or a broadcast ``v0`` use
``torch.compile`` of the reference loop instead, with AOTAutograd deriving the backward.

Each function is traced once per input shape and configuration (``dynamic=False``) with
``emulate_precision_casts`` so float16/bfloat16 round after every operation as eager PyTorch does. If
compilation fails (no C++ compiler, an unsupported platform) the call falls back to the reference and the
failure is remembered for the rest of the process.

**Compile cost across processes.** Inductor's FX graph cache (and the AOTAutograd cache of the PLIF path) live
in :func:`compile_cache_dir` (``$TORCHINDUCTOR_CACHE_DIR`` if set, else ``$ZOO_CACHE/inductor/<cpu>``, else
``~/.cache/zoo/inductor/<cpu>``, one folder per kind of CPU), so a second process loads the generated code instead of compiling it again; each
compiled forward also leaves a marker there, which tells automatic selection the graph is cached.

**Automatic selection** (``ZOO_AUTO_COMPILE``, read per call):

* unset or ``auto`` (the default): a cost model, for inference calls only (no autograd graph; the compiled
  forward's spikes equal the reference's bit for bit, so outputs do not depend on the choice). Per call
  signature the neuron-steps :math:`W` (``x_seq.numel()``) run on the reference are summed, and the compiled
  loop is chosen once :math:`W \cdot s \ge C`, :math:`s` the time it saves per neuron-step and :math:`C` the
  compile cost (graph cached on disk or not; plus the one-off start of the compiler in a process that has not
  compiled yet): the ski-rental rule, never more than twice the cost of the better fixed choice. Signatures
  already compiled in the process always take it. :data:`COMPILE_COST_S` and :data:`SAVED_NS_PER_STEP` are
  the costs measured on this machine (``tools/bench_models.py`` prints them: "compile s"). Until then an
  inference call runs ``lif_multistep:inplace`` (:mod:`zoo_core.kernels.lif_inplace`), the reference's loop
  without its allocations. Calls that ``lif_multistep:native`` (:mod:`zoo_core.kernels.lif_native`, the loop in
  C, higher priority) supports go there instead once its library is built.
  Training calls stay on the reference (their gradients round differently, and would then depend on
  the state of the cache).
* ``1``: the opt-in of earlier versions: compiled for every call (training included) with at least
  ``ZOO_COMPILE_MIN_NUMEL`` neurons (default 2**18).
* ``0``: never automatically.

A neuron or model built with ``kernel="compiled"`` (or ``ZOO_KERNELS=lif_multistep=compiled``) uses it for
any call.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import platform
import shutil
import tempfile
import types
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .lif import lif_charge, lif_multistep_reference
from .surrogates import SURROGATE_GRADS

_compiled: dict[str, Any] = {}
_broken: str | None = None

#: compile cost in seconds, measured on this repository's 2-core AMD EPYC (1 thread, ``tools/bench_models.py``):
#: the one-off start of dynamo/inductor in a process (``first_*``) and each further graph (``graph_*``), with
#: the FX graph cache cold or holding the graph
COMPILE_COST_S = {"first_cold": 16.0, "first_cached": 4.0, "graph_cold": 4.0, "graph_cached": 0.25}
#: forward time the compiled loop saves per neuron-step against the reference (measured 3.6-6.1 ns, float32)
SAVED_NS_PER_STEP = 4.0
_done: set[tuple] = set()  # forward signatures compiled (and run) in this process
_work: dict[tuple, int] = {}  # neuron-steps run on the reference per forward signature (automatic mode)
_on_disk: dict[tuple, bool] = {}  # whether a forward signature's marker was in the cache (automatic mode)


def machine_tag() -> str:
    """The kind of CPU compiled code is made for: torch's CPU capability (``ATEN_CPU_CAPABILITY`` lowers it) and a
    hash of the CPU's feature flags (inductor compiles with ``-march=native``)."""
    flags = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
        flags = next((line for line in f if line.startswith(("flags", "Features"))), flags)
    digest = hashlib.sha256(" ".join(sorted(flags.split())).encode()).hexdigest()[:10]
    return f"{torch.backends.cpu.get_cpu_capability().lower()}-{digest}"


def compile_cache_dir() -> Path:
    """Where inductor caches compiled graphs: ``$TORCHINDUCTOR_CACHE_DIR`` as set, else one folder per
    :func:`machine_tag` in ``$ZOO_CACHE/inductor``, else in ``$XDG_CACHE_HOME/zoo/inductor``
    (``~/.cache/zoo/inductor``).

    One folder per kind of CPU because inductor's cache does not tell them apart: a process with
    ``ATEN_CPU_CAPABILITY=avx2`` loaded graphs cached by an AVX-512 one and returned wrong spikes, and the
    reverse crashed (torch 2.14.1); a home folder shared by a cluster's machines would do the same.
    """
    user = _user_cache_dir()
    if user:
        return Path(user)
    if os.environ.get("ZOO_CACHE"):
        return Path(os.environ["ZOO_CACHE"]) / "inductor" / machine_tag()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "zoo" / "inductor" / machine_tag()


def _inductor_default_dir() -> str:
    """The folder inductor uses when ``TORCHINDUCTOR_CACHE_DIR`` is unset (one for every kind of CPU)."""
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir  # reason: torch-internal, light
    except ImportError:  # another torch: its usual place
        return os.path.join(tempfile.gettempdir(), f"torchinductor_{getpass.getuser()}")
    return os.path.abspath(default_cache_dir())


def _user_cache_dir() -> str | None:
    """``TORCHINDUCTOR_CACHE_DIR`` if the user chose it; ``None`` if unset or set by inductor itself (its first
    use in a process writes its default folder into the variable)."""
    d = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if not d or os.path.abspath(d) == _inductor_default_dir():
        return None
    return d


def _use_persistent_cache() -> None:
    """Point inductor at :func:`compile_cache_dir` and turn its graph caches on, before the first compile.

    If inductor already ran in this process (``torch.compile`` elsewhere) it has put its default folder, shared
    by every kind of CPU, into ``TORCHINDUCTOR_CACHE_DIR``: that is replaced and inductor's in-memory caches of
    paths cleared, as its own ``temporary_cache_dir`` does.
    """
    target = str(compile_cache_dir())
    if os.environ.get("TORCHINDUCTOR_CACHE_DIR") != target:
        switched = "TORCHINDUCTOR_CACHE_DIR" in os.environ
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = target  # before inductor reads it
        if switched:
            import torch._inductor.utils as inductor_utils  # reason: loaded only when compiling

            inductor_utils.clear_caches()
    import torch._functorch.config as functorch_config  # reason: the compiler is loaded only when compiling
    import torch._inductor.config as inductor_config  # reason: the compiler is loaded only when compiling

    if os.environ.get("TORCHINDUCTOR_FX_GRAPH_CACHE", "") != "0":
        inductor_config.fx_graph_cache = True
    if os.environ.get("TORCHINDUCTOR_AUTOGRAD_CACHE", "") != "0":
        functorch_config.enable_autograd_cache = True


def _marker(key: tuple) -> Path:
    tag = repr((key, torch.__version__, torch.backends.cpu.get_cpu_capability()))
    return compile_cache_dir() / "zoo_lif" / hashlib.sha256(tag.encode()).hexdigest()[:32]


def _mark_done(key: tuple) -> None:
    if key not in _done:
        _done.add(key)
        try:
            path = _marker(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        except OSError:  # a read-only cache only costs the automatic choice its knowledge
            pass


def is_cached(x_seq: Tensor, v0: Tensor, **kw: Any) -> bool:
    """Whether this call's forward graph was compiled here or by an earlier process (a marker on disk)."""
    key = _forward_key(x_seq, v0, kw)
    return key is not None and (key in _done or _marker(key).exists())


def min_work(cached: bool) -> float:
    """Neuron-steps whose reference time equals the compile cost (:data:`COMPILE_COST_S`)."""
    c = COMPILE_COST_S
    cost = c["graph_cached"] if cached else c["graph_cold"]
    if not _done:
        cost += c["first_cached"] if cached else c["first_cold"]
    return cost / (SAVED_NS_PER_STEP * 1e-9)


def auto_mode() -> str:
    """``ZOO_AUTO_COMPILE`` as ``"auto"`` (default), ``"on"`` or ``"off"``."""
    v = os.environ.get("ZOO_AUTO_COMPILE", "").strip().lower()
    if v in ("1", "true", "yes", "on"):
        return "on"
    if v in ("0", "false", "no", "off"):
        return "off"
    return "auto"


def prefer_auto(x_seq: Tensor, v0: Tensor, **kw: Any) -> bool:
    """Automatic selection (see the module docstring): ``ZOO_AUTO_COMPILE`` and the compile-cost model."""
    mode = auto_mode()
    if mode == "off":
        return False
    if mode == "on":
        return prefer(x_seq, v0, **kw)
    if _training(x_seq, v0):
        return False
    key = _forward_key(x_seq, v0, kw)
    if key is None:
        return False
    if key in _done:
        return True
    work = _work[key] = _work.get(key, 0) + x_seq.numel()
    on_disk = _on_disk.get(key)
    if on_disk is None:  # one look at the cache per signature and process
        on_disk = _on_disk[key] = _marker(key).exists()
    return work >= min_work(on_disk)


_compiler: list[bool] = []  # whether a C++ compiler is on PATH, looked up once (it is asked every call)


def available() -> bool:
    if _broken is not None or os.environ.get("ZOO_NO_COMPILE", "") not in ("", "0"):
        return False
    if not _compiler:
        _compiler.append(any(shutil.which(c) is not None for c in ("g++", "c++", "cl")))
    return _compiler[0]


def supports(x_seq: Tensor, v0: Tensor, **kw: Any) -> bool:
    # custom (plugin) surrogates may hold Python state dynamo cannot trace; built-ins are plain functions
    sur = kw.get("surrogate")
    return getattr(sur, "name", None) in SURROGATE_GRADS and x_seq.device.type == "cpu"


def prefer(x_seq: Tensor, v0: Tensor, **kw: Any) -> bool:
    return v0.numel() >= int(os.environ.get("ZOO_COMPILE_MIN_NUMEL", 2**18))


# ----------------------------------------------------------------------------------- traced loop bodies
def _fire_reset(h: Tensor, v_threshold: float, v_reset: float | None) -> tuple[Tensor, Tensor]:
    r"""Heaviside fire and reset with the reference's values, as a select so the membrane's chain is short.

    ``h >= V_th`` equals the reference's ``h - V_th >= 0`` for every float (a difference of two floats is zero only
    when they are equal). Where :math:`S = 1` the reference's :math:`(1 - S) H + S V_r` is :math:`0 \cdot H + V_r`,
    where :math:`S = 0` it is :math:`H + 0 \cdot V_r` (IEEE: :math:`1 \cdot H = H`), so a select of the two is
    bit-identical, infinities and the sign of zero included; likewise :math:`H - S V_{th}`. The select puts one
    comparison and one blend on the step-to-step dependency chain instead of a subtraction, a comparison, a
    conversion, two multiplications and two additions: the loop is bound by that chain's latency at large ``T``.
    """
    fire = h >= v_threshold
    if v_reset is None:
        v = torch.where(fire, h - v_threshold, h - 0.0 * v_threshold)
    else:
        v = torch.where(fire, h * 0.0 + v_reset, h + 0.0 * v_reset)
    return fire.to(h.dtype), v


def _lif_forward(
    x_seq: Tensor, v0: Tensor, tau: float | None, v_threshold: float, v_reset: float | None, decay_input: bool
) -> tuple[Tensor, Tensor]:
    v = v0
    spikes = []
    for x in x_seq.unbind(0):
        h = lif_charge(v, x, tau, None, v_reset, decay_input)
        s, v = _fire_reset(h, v_threshold, v_reset)
        spikes.append(s)
    return torch.stack(spikes), v


def _lif_backward(
    x_seq: Tensor,
    v0: Tensor,
    grad_s: Tensor,
    grad_v: Tensor,
    tau: float | None,
    v_threshold: float,
    v_reset: float | None,
    decay_input: bool,
    detach_reset: bool,
    surrogate: str,
    alpha: float,
) -> tuple[Tensor, Tensor]:
    derivative = SURROGATE_GRADS[surrogate][0]
    # recompute the pre-spike membrane H_t (cheaper than storing it: no extra write, read nor allocation)
    v = v0
    hs = []
    for x in x_seq.unbind(0):
        h = lif_charge(v, x, tau, None, v_reset, decay_input)
        hs.append(h)
        _, v = _fire_reset(h, v_threshold, v_reset)
    # backwards in time
    gv = grad_v
    gxs: list[Tensor] = []
    for h, gs in zip(reversed(hs), reversed(grad_s.unbind(0))):
        z = h - v_threshold
        sg = derivative(z, alpha)
        if v_reset is None:
            dv_dh = 1.0 if detach_reset else 1.0 - v_threshold * sg
        else:
            dv_dh = 1.0 - (z >= 0).to(h.dtype)
            if not detach_reset:
                dv_dh = dv_dh + (v_reset - h) * sg
        gh = gs * sg + gv * dv_dh
        if tau is None:  # IF: H = V + X
            gx, gv = gh, gh
        elif decay_input:  # H = V + (X - (V - V_r)) / tau
            gx = gh / tau
            gv = gh - gx
        else:  # H = V - (V - V_r) / tau + X
            gx = gh
            gv = gh * (1.0 - 1.0 / tau) if (v_reset is None or v_reset == 0.0) else gh - gh / tau
        gxs.append(gx)
    gxs.reverse()
    return torch.stack(gxs), gv


def _lif_spikes(
    x_seq: Tensor, v0: Tensor, tau: float | None, v_threshold: float, v_reset: float | None, decay_input: bool
) -> Tensor:
    """:func:`_lif_forward` without the final membrane (``keep_state=False``): one write fewer per neuron."""
    return _lif_forward(x_seq, v0, tau, v_threshold, v_reset, decay_input)[0]


_TARGETS = {"fwd": _lif_forward, "spk": _lif_spikes, "bwd": _lif_backward, "ref": lif_multistep_reference}


def _get(name: str, key: tuple) -> Any:
    """The compiled ``name`` function for one call signature ``key`` (shapes, dtypes, configuration).

    Every key gets its own copy of the function's code object and so its own dynamo cache: a model with many
    neuron layers of different shapes never runs into dynamo's recompile limit (after which it would silently
    fall back to eager execution), and each call checks one set of guards only.
    """
    fn = _compiled.get((name, key))
    if fn is None:
        _use_persistent_cache()
        target = _TARGETS[name]
        fresh = types.FunctionType(
            target.__code__.replace(), target.__globals__, target.__name__, target.__defaults__
        )
        fresh.__kwdefaults__ = target.__kwdefaults__
        fn = _compiled[(name, key)] = torch.compile(
            fresh, dynamic=False, options={"emulate_precision_casts": True}
        )
    return fn


def _key(*tensors: Tensor) -> tuple:
    return tuple((tuple(t.shape), t.stride(), t.dtype) for t in tensors)


def _forward_cfg(kw: dict[str, Any]) -> tuple:
    tau = kw.get("tau", 2.0)
    v_reset = kw.get("v_reset", 0.0)
    return (
        None if tau is None else float(tau),
        float(kw.get("v_threshold", 1.0)),
        None if v_reset is None else float(v_reset),
        bool(kw.get("decay_input", True)),
    )


def _training(x_seq: Tensor, v0: Tensor) -> bool:
    """Whether the call builds an autograd graph (then it runs :class:`_LIFCompiledFn`, which keeps ``V_T``)."""
    return torch.is_grad_enabled() and (x_seq.requires_grad or v0.requires_grad)


def _signature(x_seq: Tensor, v0: Tensor, kw: dict[str, Any]) -> tuple:
    """``(shapes, configuration, keeps V_T)`` of the hand-written forward graph a call runs."""
    return (_key(x_seq, v0), _forward_cfg(kw), _training(x_seq, v0) or bool(kw.get("keep_state", True)))


def _forward_key(x_seq: Tensor, v0: Tensor, kw: dict[str, Any]) -> tuple | None:
    """The signature of the hand-written forward graph this call runs (``None``: it runs another path)."""
    return _signature(x_seq, v0, kw) if _hand_written_backward_applies(x_seq, v0, kw) else None


class _LIFCompiledFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x_seq: Tensor, v0: Tensor, cfg: tuple) -> tuple[Tensor, Tensor]:  # type: ignore[override]
        tau, v_threshold, v_reset, decay_input, _, _, _ = cfg
        s, v = _get("fwd", (_key(x_seq, v0), cfg[:4]))(x_seq, v0, tau, v_threshold, v_reset, decay_input)
        ctx.save_for_backward(x_seq, v0)
        ctx.cfg = cfg
        return s, v

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad_s: Tensor, grad_v: Tensor) -> tuple[Tensor | None, Tensor | None, None]:  # type: ignore[override]
        x_seq, v0 = ctx.saved_tensors
        try:
            fn = _get("bwd", (_key(x_seq, v0, grad_s, grad_v), ctx.cfg))
            gx, gv0 = fn(x_seq, v0, grad_s, grad_v, *ctx.cfg)
        except Exception as exc:  # the same loop, uncompiled
            _mark_broken(exc)
            gx, gv0 = _lif_backward(x_seq, v0, grad_s, grad_v, *ctx.cfg)
        return (gx if ctx.needs_input_grad[0] else None, gv0 if ctx.needs_input_grad[1] else None, None)


def _hand_written_backward_applies(x_seq: Tensor, v0: Tensor, kw: dict[str, Any]) -> bool:
    sur = kw.get("surrogate")
    name = getattr(sur, "name", None)
    return (
        kw.get("k") is None
        and name in SURROGATE_GRADS
        and getattr(type(sur), "grad", None) is SURROGATE_GRADS[name][0]
        and isinstance(getattr(sur, "alpha", None), float)
        and v0.shape == x_seq.shape[1:]
        and v0.dtype == x_seq.dtype
    )


def _run(x_seq: Tensor, v0: Tensor, kw: dict[str, Any]) -> tuple[Tensor, Tensor | None]:
    if not _hand_written_backward_applies(x_seq, v0, kw):
        key = (_key(x_seq, v0), tuple(sorted((k, v) for k, v in kw.items() if k not in ("k", "surrogate"))))
        sur = kw.get("surrogate")
        return _get("ref", (*key, type(sur), getattr(sur, "alpha", None)))(x_seq, v0, **kw)
    key = _signature(x_seq, v0, kw)
    shapes, fcfg, keep = key
    if _training(x_seq, v0):
        sur = kw["surrogate"]
        cfg = (*fcfg, bool(kw.get("detach_reset", False)))
        out = _LIFCompiledFn.apply(x_seq, v0, (*cfg, sur.name, sur.alpha))
    else:
        with torch.no_grad():  # one traced graph for inference and training forward (grad mode is guarded)
            if keep:
                out = _get("fwd", (shapes, fcfg))(x_seq, v0, *fcfg)
            else:
                out = _get("spk", (shapes, fcfg))(x_seq, v0, *fcfg), None
    _mark_done(key)
    return out


def _mark_broken(exc: Exception) -> None:
    global _broken
    if _broken is None:
        _broken = f"{type(exc).__name__}: {exc}"
        warnings.warn(
            f"lif_multistep:compiled is unavailable ({_broken[:200]}); using the reference loop",
            RuntimeWarning,
            stacklevel=3,
        )


def lif_multistep_compiled(x_seq: Tensor, v0: Tensor, **kw: Any) -> tuple[Tensor, Tensor | None]:
    if _broken is None:
        try:
            return _run(x_seq, v0, kw)
        except Exception as exc:  # compilation is an optimisation: never let it break a forward pass
            _mark_broken(exc)
    return lif_multistep_reference(x_seq, v0, **kw)
