r"""``lif_multistep:native``: the IF/LIF loop as a hand-written C kernel, compiled once per machine.

The loop of :func:`zoo_core.kernels.lif.lif_multistep_reference` (equations there) in C, built with the system C
compiler on first use and loaded with :mod:`ctypes`; the library is cached on disk beside inductor's graphs
(:func:`zoo_core.kernels.lif_compiled.compile_cache_dir`, one folder per kind of CPU), so a process finds it
ready in about a millisecond. It needs no ``torch.compile``. What makes it faster than the inductor loop
(``tools/bench_neurons.py``):

* **Blocks of neurons.** The neurons are processed in blocks of 64; a block's membranes stay in an L1 buffer for
  all ``T`` steps, and each step reads 64 contiguous inputs and writes 64 spikes. The inductor loop instead
  walks all ``T`` rows at once, 8 or 16 neurons at a time: ``2T`` streams at a stride of ``N`` floats. When
  ``N`` is a multiple of 1024 (the benchmark's ``[32, 64, 32, 32]``, most feature maps) every stream maps to
  the same cache sets, and at ``T = 16`` the hardware prefetchers no longer keep up.
* **Software prefetch** of every row about 16 row-visits ahead (64 in the backward), and of the per-block vectors
  (``v0``, the incoming gradient of :math:`V_T`) too: without it a backward at ``T = 4`` ran at half speed,
  stalled on them. The backward's speed still varies between processes with where their pages land (1.1-2.2 G
  neuron-steps/s at ``T = 16`` over twelve fresh processes); the forward's does not. On 2 MiB pages (PyTorch's
  ``THP_MEM_ALLOC_ENABLE=1``, set before the process starts) the slow tail goes: 1.94-2.29 G/s over six.
* **Streaming stores.** Outputs larger than :data:`STREAM_MIN_BYTES` are written with non-temporal stores
  (``vmovntps``): a normal store first reads the line it writes (read-for-ownership), so a spike write cost a
  read and a write; streamed, it costs the write only. Smaller outputs use normal stores, which leave them in
  the cache for the layer that reads them next.

**Values.** Forward: the spikes and :math:`V_T` are bit-identical to the reference in float32 and float64
(NaN, infinities, signed zeros and exact-threshold membranes included): the same operations in the same order,
compiled with ``-ffp-contract=off`` (no fused multiply-adds) and without ``-ffast-math``; fire/reset is the select
of :func:`zoo_core.kernels.lif_compiled._fire_reset`. Backward recomputes :math:`H_t` for one block into an L1
buffer, runs the recurrence backwards in time into a second one and writes the block's ``T`` gradient rows at the
end (after all of its loads: at ``T = 4`` that ran 10-20% faster over fresh processes than a store per row), with
the operations of
:func:`zoo_core.kernels.lif_compiled._lif_backward` evaluated eagerly, to which its gradients are bit-identical;
they differ from the reference's autograd in the last bits (autograd sums the reset's terms in another order),
so training calls take this path only when asked (``kernel="native"``, ``ZOO_AUTO_COMPILE=1``). The backward
covers the ``atan``, ``rectangular`` and ``triangular`` surrogates (rational derivatives); ``sigmoid`` and ``erf``
need ``exp``, whose C library rounding differs from PyTorch's, so training with them runs another path.

**Scope.** CPU, float32/float64, ``v0`` shaped like one step, IF or LIF with a float ``tau``, PLIF for inference
(its ``k`` needing no gradient), a built-in surrogate. Other calls run the other implementations. With more than
one intra-op thread the neurons are split into one contiguous range per thread (:mod:`ctypes` releases the GIL
during the call).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import math
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from string import Template
from typing import Any

import torch
from torch import Tensor

from . import lif_compiled
from .lif_compiled import _training, compile_cache_dir, machine_tag
from .surrogates import SURROGATE_GRADS

__all__ = ["available", "library", "lif_multistep_native", "prefer", "supports"]

#: neurons per block (the membranes of one block stay in L1 for all T steps)
BLOCK = 64
#: outputs of at least this many bytes are written with streaming (non-temporal) stores
STREAM_MIN_BYTES = 8 << 20
#: surrogates whose derivative the C backward evaluates, with their code there
BACKWARD_SURROGATES = {"atan": 0, "rectangular": 1, "triangular": 2}
#: builds kept in the cache folder (a changed source or compiler adds one; the oldest beyond these are removed)
KEEP_BUILDS = 3
#: seconds to build the library (measured 3.3 s on this repository's 2-core AMD EPYC; once per machine)
BUILD_COST_S = 4.0

_COMMON = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif
#define BLOCK @BLOCK@
/* rows of prefetch distance (the backward's lines wait longer between prefetch and use); the backward's speed
   varies between processes with where their pages land, 1.1-2.2 G steps/s at T = 16, with any distance tried */
#define PF_ROWS 16
#define PF_ROWS_BACKWARD 64

/* prefetch rows ahead of use: NTA (into L1, bypassing the outer caches) for the forward's single pass, into L2
   (locality 1) for the backward, whose lines wait longer between prefetch and use */
static inline void prefetch_nta(const char* p, int64_t bytes) {
    for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 0);
}
static inline void prefetch_l2(const char* p, int64_t bytes) {
    for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(p + o, 0, 1);
}
static void fence(void) {
#if defined(__SSE2__)
    _mm_sfence();  /* streaming stores are weakly ordered: finish them before the caller reads */
#endif
}
"""

# One copy per dtype (values from _typed: $R the C type, $S the symbols' suffix, $F libm's suffix, $STREAM256 /
# $STREAM128 a streaming store of one vector).
# Charge modes: 0 IF, 1 decay_input with V_r = 0 (or soft), 2 decay_input, 3 no decay_input with V_r = 0, 4 no
# decay_input. Every expression is lif_charge's / _fire_reset's / _lif_backward's, operation for operation.
_TYPED = Template(r"""
/* a / tau; P: tau is a power of two, so a * (1 / tau) is the same value (one exact scaling) and much cheaper */
#define DIV_$S(P, a) ((P) ? (a) * inv : (a) / tau)
#define CHARGE_$S(M, P, v, x) ((M) == 0 ? (v) + (x) : (M) == 1 ? (v) + DIV_$S(P, (x) - (v)) : \
    (M) == 2 ? (v) + DIV_$S(P, (x) - ((v) - vr)) : (M) == 3 ? (v) * c_nd + (x) : (v) - DIV_$S(P, (v) - vr) + (x))

/* a row of one block to its place: streamed (non-temporal) if asked and aligned for it */
static inline void put_$S($R* restrict d, const $R* restrict s, int64_t n, int stream) {
#if defined(__AVX__)
    if (stream && !((uintptr_t)d & 31)) {
        int64_t i = 0;
        for (; i + 32 / (int64_t)sizeof($R) <= n; i += 32 / (int64_t)sizeof($R)) $STREAM256;
        for (; i < n; ++i) d[i] = s[i];
        return;
    }
#elif defined(__SSE2__)
    if (stream && !((uintptr_t)d & 15)) {
        int64_t i = 0;
        for (; i + 16 / (int64_t)sizeof($R) <= n; i += 16 / (int64_t)sizeof($R)) $STREAM128;
        for (; i < n; ++i) d[i] = s[i];
        return;
    }
#endif
    memcpy(d, s, n * sizeof($R));
}

/* one step of one block: OUT_H writes H_t (backward's recomputation), else the spikes */
#define FWD_$S(M, HARD, OUT_H, P) \
static void fwd_${S}_##M##_##HARD##_##OUT_H##_##P(const $R* restrict xt, $R* restrict out, $R* restrict vb, \
        int64_t n, $R tau, $R inv, $R c_nd, $R vth, $R vr) { \
    const $R zr = ($R)0 * vr, zt = ($R)0 * vth; \
    for (int64_t i = 0; i < n; ++i) { \
        $R v = vb[i], x = xt[i]; \
        $R h = CHARGE_$S(M, P, v, x); \
        int fire = h >= vth; \
        $R a = (HARD) ? h * ($R)0 + vr : h - vth; \
        $R b = (HARD) ? h + zr : h - zt; \
        vb[i] = fire ? a : b; \
        out[i] = (OUT_H) ? h : (fire ? ($R)1 : ($R)0); \
    } \
}
#define FWD_ALL_$S(M) FWD_$S(M, 0, 0, 0) FWD_$S(M, 0, 1, 0) FWD_$S(M, 1, 0, 0) FWD_$S(M, 1, 1, 0) \
    FWD_$S(M, 0, 0, 1) FWD_$S(M, 0, 1, 1) FWD_$S(M, 1, 0, 1) FWD_$S(M, 1, 1, 1)
FWD_ALL_$S(0) FWD_ALL_$S(1) FWD_ALL_$S(2) FWD_ALL_$S(3) FWD_ALL_$S(4)

static inline void load_v0_$S($R* restrict vb, const $R* restrict v0, int64_t b, int64_t n, int v0_step) {
    if (v0_step) memcpy(vb, v0 + b, n * sizeof($R));
    else for (int64_t i = 0; i < n; ++i) vb[i] = v0[0];  /* one value broadcast (a neuron's rest state) */
}

void lif_forward_$S(const $R* x, const $R* v0, int v0_step, $R* s, $R* vT, int64_t T, int64_t N, int64_t lo,
                    int64_t hi, int charge, int hard, int pow2, $R tau, $R inv, $R c_nd, $R vth, $R vr, int stream) {
    $R vb[BLOCK] __attribute__((aligned(64)));
    $R sb[BLOCK] __attribute__((aligned(64)));
    const int64_t ahead = T >= PF_ROWS ? 1 : (PF_ROWS + T - 1) / T;  /* blocks: about PF_ROWS rows ahead */
#define FWD_LOOP_$S(M, HARD, P) \
    for (int64_t b = lo; b < hi; b += BLOCK) { \
        int64_t n = hi - b < BLOCK ? hi - b : BLOCK; \
        if (v0_step) prefetch_nta((const char*)(v0 + b + ahead * BLOCK), BLOCK * sizeof($R)); \
        load_v0_$S(vb, v0, b, n, v0_step); \
        for (int64_t t = 0; t < T; ++t) { \
            prefetch_nta((const char*)(x + t * N + b + ahead * BLOCK), BLOCK * sizeof($R)); \
            fwd_${S}_##M##_##HARD##_0_##P(x + t * N + b, sb, vb, n, tau, inv, c_nd, vth, vr); \
            put_$S(s + t * N + b, sb, n, stream); \
        } \
        if (vT) put_$S(vT + b, vb, n, stream); \
    }
#define FWD_CASE_$S(M) case M: \
        if (hard) { if (pow2) { FWD_LOOP_$S(M, 1, 1) } else { FWD_LOOP_$S(M, 1, 0) } } \
        else { if (pow2) { FWD_LOOP_$S(M, 0, 1) } else { FWD_LOOP_$S(M, 0, 0) } } break;
    switch (charge) { FWD_CASE_$S(0) FWD_CASE_$S(1) FWD_CASE_$S(2) FWD_CASE_$S(3) FWD_CASE_$S(4) }
    fence();
}

/* surrogate derivative sigma'(z), z = H - V_th, as zoo_core.kernels.surrogates evaluates it */
__attribute__((noinline)) static void surrogate_$S(int sur, const $R* restrict h, $R* restrict sg, int64_t n, $R vth, $R p1, $R p2) {
    if (sur == 0) {        /* atan: p1 = pi/2 alpha, p2 = alpha/2: reciprocal(1 + (z p1)^2) * p2 */
        for (int64_t i = 0; i < n; ++i) { $R y = (h[i] - vth) * p1; sg[i] = (($R)1 / (y * y + ($R)1)) * p2; }
    } else if (sur == 1) { /* rectangular: p1 = 1/(2 alpha), p2 = alpha: [|z| < p1] * p2 */
        for (int64_t i = 0; i < n; ++i) sg[i] = (fabs$F(h[i] - vth) < p1 ? ($R)1 : ($R)0) * p2;
    } else {               /* triangular: p1 = alpha, p2 = alpha^2: max(p1 - p2 |z|, 0) */
        for (int64_t i = 0; i < n; ++i) { $R y = p1 - p2 * fabs$F(h[i] - vth); sg[i] = y < ($R)0 ? ($R)0 : y; }
    }
}

/* one step backwards of one block: gv (dL/dV_t in, dL/dV_{t-1} out), gx = dL/dX_t */
#define BWD_$S(M, HARD, P) \
static void bwd_${S}_##M##_##HARD##_##P(const $R* restrict hb, const $R* restrict sg, const $R* restrict gs, \
        $R* restrict gv, $R* restrict gx, int64_t n, int detach, $R tau, $R inv, $R c_nd, $R vth, $R vr) { \
    for (int64_t i = 0; i < n; ++i) { \
        $R h = hb[i], z = h - vth, d; \
        if (HARD) { $R keep = ($R)1 - (z >= ($R)0 ? ($R)1 : ($R)0); d = detach ? keep : keep + (vr - h) * sg[i]; } \
        else d = detach ? ($R)1 : ($R)1 - sg[i] * vth; \
        $R gh = gs[i] * sg[i] + gv[i] * d; \
        if ((M) == 0) { gx[i] = gh; gv[i] = gh; } \
        else if ((M) == 1 || (M) == 2) { $R g = DIV_$S(P, gh); gx[i] = g; gv[i] = gh - g; } \
        else if ((M) == 3) { gx[i] = gh; gv[i] = gh * c_nd; } \
        else { gx[i] = gh; gv[i] = gh - DIV_$S(P, gh); } \
    } \
}
#define BWD_ALL_$S(M) BWD_$S(M, 0, 0) BWD_$S(M, 1, 0) BWD_$S(M, 0, 1) BWD_$S(M, 1, 1)
BWD_ALL_$S(0) BWD_ALL_$S(1) BWD_ALL_$S(2) BWD_ALL_$S(3) BWD_ALL_$S(4)
int lif_backward_$S(const $R* x, const $R* v0, int v0_step, const $R* gs, const $R* gvT, $R* gx, $R* gv0, int64_t T,
                    int64_t N, int64_t lo, int64_t hi, int charge, int hard, int detach, int sur, int pow2, $R tau,
                    $R inv, $R c_nd, $R vth, $R vr, $R p1, $R p2, int stream) {
    /* H_t of one block, then its gradient rows: written out together at the block's end */
    $R* hbuf = ($R*)aligned_alloc(64, (size_t)2 * T * BLOCK * sizeof($R));
    if (!hbuf) return 1;
    $R* gbuf = hbuf + T * BLOCK;
    $R vb[BLOCK] __attribute__((aligned(64)));
    $R sg[BLOCK] __attribute__((aligned(64)));
    const int64_t ahead = T >= PF_ROWS_BACKWARD ? 1 : (PF_ROWS_BACKWARD + T - 1) / T;
#define BWD_LOOP_$S(M, HARD, P) \
    for (int64_t b = lo; b < hi; b += BLOCK) { \
        int64_t n = hi - b < BLOCK ? hi - b : BLOCK; \
        if (v0_step) prefetch_l2((const char*)(v0 + b + ahead * BLOCK), BLOCK * sizeof($R)); \
        if (gvT) prefetch_l2((const char*)(gvT + b + ahead * BLOCK), BLOCK * sizeof($R)); \
        load_v0_$S(vb, v0, b, n, v0_step); \
        for (int64_t t = 0; t < T; ++t) {  /* recompute H_t of this block */ \
            prefetch_l2((const char*)(x + t * N + b + ahead * BLOCK), BLOCK * sizeof($R)); \
            fwd_${S}_##M##_##HARD##_1_##P(x + t * N + b, hbuf + t * BLOCK, vb, n, tau, inv, c_nd, vth, vr); \
        } \
        if (gvT) memcpy(vb, gvT + b, n * sizeof($R)); else memset(vb, 0, n * sizeof($R)); /* +0: V_T unused */ \
        for (int64_t t = T - 1; t >= 0; --t) { \
            prefetch_l2((const char*)(gs + t * N + b + ahead * BLOCK), BLOCK * sizeof($R)); \
            surrogate_$S(sur, hbuf + t * BLOCK, sg, n, vth, p1, p2); \
            bwd_${S}_##M##_##HARD##_##P(hbuf + t * BLOCK, sg, gs + t * N + b, vb, gbuf + t * BLOCK, n, detach, \
                                        tau, inv, c_nd, vth, vr); \
        } \
        for (int64_t t = 0; t < T; ++t) put_$S(gx + t * N + b, gbuf + t * BLOCK, n, stream); \
        put_$S(gv0 + b, vb, n, stream); \
    }
#define BWD_CASE_$S(M) case M: \
        if (hard) { if (pow2) { BWD_LOOP_$S(M, 1, 1) } else { BWD_LOOP_$S(M, 1, 0) } } \
        else { if (pow2) { BWD_LOOP_$S(M, 0, 1) } else { BWD_LOOP_$S(M, 0, 0) } } break;
    switch (charge) { BWD_CASE_$S(0) BWD_CASE_$S(1) BWD_CASE_$S(2) BWD_CASE_$S(3) BWD_CASE_$S(4) }
    free(hbuf);
    fence();
    return 0;
}
""")


def _typed(c_type: str, suffix: str, libm: str, vec: str) -> dict[str, str]:
    """The template's values for one dtype: C type, symbol suffix, libm suffix, SSE/AVX suffix (``ps``/``pd``)."""
    stream = "_mm{0}_stream_{1}(d + i, _mm{0}_loadu_{1}(s + i))"
    return dict(
        R=c_type, S=suffix, F=libm, STREAM256=stream.format(256, vec), STREAM128=stream.format("", vec)
    )


_TYPES = {torch.float32: _typed("float", "f32", "f", "ps"), torch.float64: _typed("double", "f64", "", "pd")}
_CTYPE = {torch.float32: ctypes.c_float, torch.float64: ctypes.c_double}
SOURCE = _COMMON.replace("@BLOCK@", str(BLOCK)) + "".join(_TYPED.substitute(**kw) for kw in _TYPES.values())


def _flags() -> list[str]:
    """``-march=native`` (lowered to what ``ATEN_CPU_CAPABILITY`` allows, as inductor's code is), no contraction
    into fused multiply-adds and no fast-math, so that every operation rounds as PyTorch's.

    ``-O2`` with the vectoriser builds in a third of ``-O3``'s time with the same loops; 256-bit vectors on an
    AVX-512 CPU measured about 10% faster (the loop is bound by memory, and wider vectors only cost frequency).
    """
    flags = ["-O2", "-ftree-vectorize", "-fvect-cost-model=dynamic", "-std=c11", "-ffp-contract=off"]
    flags += [
        "-fno-trapping-math",
        "-Werror=implicit-function-declaration",
        "-fPIC",
        "-shared",
        "-march=native",
    ]
    if platform.machine().lower() in ("x86_64", "amd64", "i686", "x86"):
        cap = torch.backends.cpu.get_cpu_capability().upper()
        if cap == "AVX512":
            flags.append("-mprefer-vector-width=256")
        elif cap == "AVX2":
            flags.append("-mno-avx512f")
        else:
            flags.append("-mno-avx")
    return flags


def _compiler() -> str | None:
    """``$CC`` if set (then only it), else the first of ``cc``, ``gcc``, ``clang`` on ``PATH`` (looked up once per
    ``CC`` and ``PATH``: :func:`available` asks on every dispatch until the library is loaded)."""
    return _find_compiler(os.environ.get("CC") or None, os.environ.get("PATH"))


@functools.lru_cache(maxsize=8)
def _find_compiler(cc: str | None, path: str | None) -> str | None:
    if cc:
        return cc if shutil.which(cc, path=path) else None
    return next((c for c in ("cc", "gcc", "clang") if shutil.which(c, path=path)), None)


_lib: list[Any] = []  # the loaded library, once
_broken: str | None = None
_lock = threading.Lock()


_paths: dict[tuple, Path] = {}


def library_path() -> Path:
    """Where the built library is cached: named by a hash of the source, the flags, the compiler and the CPU
    (looked up once per setting of the variables that decide it: automatic selection asks on every call)."""
    env = tuple(
        os.environ.get(v) for v in ("CC", "PATH", "ZOO_CACHE", "TORCHINDUCTOR_CACHE_DIR", "XDG_CACHE_HOME")
    )
    path = _paths.get(env)
    if path is None:
        tag = "\n".join([SOURCE, " ".join(_flags()), _compiler() or "cc", machine_tag()])
        name = f"lif_{hashlib.sha256(tag.encode()).hexdigest()[:24]}.so"
        path = _paths[env] = compile_cache_dir() / "zoo_native" / name
    return path


def is_built() -> bool:
    """Whether the library is loaded in this process or built on disk (its cost is then paid)."""
    return bool(_lib) or library_path().exists()


def _build(path: Path) -> None:
    """Compile :data:`SOURCE` into ``path``: written in a temporary file and renamed, so that another process (or
    a crash) never sees half a library."""
    cc = _compiler()
    if cc is None:
        raise RuntimeError(
            "no C compiler: $CC is not on PATH"
            if os.environ.get("CC")
            else "no C compiler (cc, gcc or clang) on PATH"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        src, out = Path(tmp) / "lif.c", Path(tmp) / path.name
        src.write_text(SOURCE, encoding="utf-8")
        cmd = [cc, *_flags(), "-o", str(out), str(src), "-lm"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd[:1])} failed (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}"
            )
        os.replace(out, path)
    _prune(path)


def _prune(path: Path) -> None:
    """Remove all but the :data:`KEEP_BUILDS` newest ``lif_*.so`` beside ``path`` (which is kept): older zoo
    versions' builds. A process that still has one loaded keeps its mapping (Linux unlinks, it does not unmap)."""
    others = []
    for p in path.parent.glob("lif_*.so"):
        if p != path:
            with contextlib.suppress(OSError):  # removed by another process meanwhile
                others.append((p.stat().st_mtime, p))
    for _, p in sorted(others, reverse=True)[
        KEEP_BUILDS - 1 :
    ]:  # newest first: keep path and KEEP_BUILDS - 1
        p.unlink(missing_ok=True)


def _load(path: Path) -> Any:
    lib = ctypes.CDLL(str(path))
    i64, ci, p = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
    for dtype, kw in _TYPES.items():
        r = _CTYPE[dtype]
        fwd = getattr(lib, f"lif_forward_{kw['S']}")
        fwd.argtypes = [p, p, ci, p, p, i64, i64, i64, i64, ci, ci, ci, r, r, r, r, r, ci]
        fwd.restype = None
        bwd = getattr(lib, f"lif_backward_{kw['S']}")
        bwd.argtypes = [p, p, ci, p, p, p, p, i64, i64, i64, i64, ci, ci, ci, ci, ci, r, r, r, r, r, r, r, ci]
        bwd.restype = ci
    return lib


def library() -> Any:
    """The loaded C library, built first if not cached (raises ``RuntimeError`` when that fails). A cached file
    that does not load (truncated by a full disk, say) is built again once."""
    if _lib:
        return _lib[0]
    with _lock:
        if not _lib:
            path = library_path()
            if not path.exists():
                _build(path)
            try:
                lib = _load(path)
            except (OSError, AttributeError):
                path.unlink(missing_ok=True)
                _build(path)
                lib = _load(path)
            _lib.append(lib)
    return _lib[0]


def _mark_broken(exc: Exception) -> None:
    global _broken
    if _broken is None:
        _broken = f"{type(exc).__name__}: {exc}"
        warnings.warn(
            f"lif_multistep:native is unavailable ({_broken[:300]}); using another implementation",
            RuntimeWarning,
            stacklevel=4,
        )


def available() -> bool:
    """A C compiler is on PATH (or the library is built), nothing failed, and ``ZOO_NO_COMPILE`` is unset."""
    if _broken is not None or os.environ.get("ZOO_NO_COMPILE", "") not in ("", "0"):
        return False
    return bool(_lib) or _compiler() is not None


def supports(x_seq: Tensor, v0: Tensor, **kw: Any) -> bool:
    sur = kw.get("surrogate")
    name = getattr(sur, "name", None)
    ok = (
        x_seq.device.type == "cpu"
        and x_seq.dtype in _CTYPE
        and v0.dtype == x_seq.dtype
        and v0.device == x_seq.device
        and x_seq.dim() >= 1
        and v0.shape == x_seq.shape[1:]
        and x_seq.numel() > 0
        and _plif_ok(kw.get("k"), x_seq, v0)
        and not isinstance(kw.get("tau"), Tensor)
        and not isinstance(kw.get("v_threshold"), Tensor)
        and not isinstance(kw.get("v_reset"), Tensor)
        and name in SURROGATE_GRADS
        and isinstance(getattr(sur, "alpha", None), float)
    )
    if ok and _training(x_seq, v0):  # the C backward evaluates the built-in rational derivatives only
        ok = name in BACKWARD_SURROGATES and getattr(type(sur), "grad", None) is SURROGATE_GRADS[name][0]
    return ok


def _plif_ok(k: Any, x_seq: Tensor, v0: Tensor) -> bool:
    """No PLIF ``k``, or one for inference: a one-element CPU float tensor that needs no gradient (the C loop
    multiplies by it as by a power-of-two ``1/tau``; its backward has no ``dL/dk``)."""
    if k is None:
        return True
    return (
        isinstance(k, Tensor)
        and k.numel() == 1
        and k.device.type == "cpu"
        and k.is_floating_point()
        and not (torch.is_grad_enabled() and k.requires_grad)
        and not _training(x_seq, v0)
    )


_work = [0]  # inference neuron-steps run elsewhere before the library was built (automatic mode)


def prefer(x_seq: Tensor, v0: Tensor, **kw: Any) -> bool:
    """Automatic selection (``ZOO_AUTO_COMPILE``, as for ``lif_multistep:compiled``). Default: inference calls take
    it once the library is built (by any process on this machine), or once the reference time they have spent
    would have paid its build (:data:`BUILD_COST_S`, the time saved per neuron-step taken as the compiled loop's);
    training calls never. ``1``: every call with at least ``ZOO_COMPILE_MIN_NUMEL`` neurons; ``0``: never."""
    mode = lif_compiled.auto_mode()
    if mode == "off":
        return False
    if mode == "on":  # the opt-in of compiled code for every call with ZOO_COMPILE_MIN_NUMEL neurons
        return lif_compiled.prefer(x_seq, v0)
    if _training(x_seq, v0):
        return False
    if is_built():
        return True
    _work[0] += x_seq.numel()
    return _work[0] * lif_compiled.SAVED_NS_PER_STEP * 1e-9 >= BUILD_COST_S


# ------------------------------------------------------------------------------------------------ calls
def _config(
    kw: dict[str, Any], dtype: torch.dtype
) -> tuple[int, int, int, float, float, float, float, float]:
    """``(charge mode, hard reset, tau a power of two, tau, 1/tau, 1 - 1/tau, V_th, V_r)`` as the C loop takes
    them (``tau`` rounded to ``dtype`` first, as PyTorch rounds a Python scalar it divides a tensor by).

    PLIF's ``k`` (``sigmoid(w)``) takes the place of an exact ``1/tau``: the loop's multiplication
    by it is the reference's ``* k``, and ``v - (v - 0) * k + x`` is ``v - v * k + x`` bit for bit (``v - 0`` is
    ``v``, ``-0`` and NaN included)."""
    tau = kw.get("tau", 2.0)
    v_reset = kw.get("v_reset", 0.0)
    hard = v_reset is not None
    zero = not hard or v_reset == 0.0
    k = kw.get("k")
    if k is not None:  # k rounded to dtype as PyTorch casts a 0-d tensor it multiplies by
        k = float(k.detach().reshape(()).to(dtype))
        mode = (1 if zero else 2) if kw.get("decay_input", True) else 4
        return (mode, int(hard), 1, 1.0, k, 1.0 - k, float(kw.get("v_threshold", 1.0)), float(v_reset or 0.0))
    if tau is None:
        mode, tau = 0, 1.0
    elif kw.get("decay_input", True):
        mode = 1 if zero else 2
    else:
        mode = 3 if zero else 4
    tau = float(tau)
    mant, exp = math.frexp(torch.tensor(tau, dtype=dtype).item())
    pow2 = int(mant == 0.5 and abs(exp) < 100)  # 1/tau is exact: dividing equals multiplying by it
    return (
        mode,
        int(hard),
        pow2,
        tau,
        1.0 / tau,
        1.0 - 1.0 / tau,
        float(kw.get("v_threshold", 1.0)),
        float(v_reset or 0.0),
    )


_pools: dict[int, ThreadPoolExecutor] = {}
# a forked child (a DataLoader worker) inherits the pools without their threads: it starts its own
os.register_at_fork(after_in_child=_pools.clear)


def _ranges(n: int) -> list[tuple[int, int]]:
    """One contiguous range of neurons per intra-op thread, in whole blocks (none for small calls)."""
    threads = torch.get_num_threads()
    blocks = -(-n // BLOCK)
    parts = min(threads, blocks // 16) if n >= 1 << 15 else 1
    if parts <= 1:
        return [(0, n)]
    per = -(-blocks // parts) * BLOCK
    return [(lo, min(lo + per, n)) for lo in range(0, n, per)]


def _parallel(call: Callable[[int, int], Any], n: int) -> list[Any]:
    """``call(lo, hi)`` over :func:`_ranges`, on a thread pool when there is more than one."""
    ranges = _ranges(n)
    if len(ranges) == 1:
        return [call(0, n)]
    pool = _pools.get(len(ranges))
    if pool is None:
        pool = _pools[len(ranges)] = ThreadPoolExecutor(len(ranges), thread_name_prefix="zoo-lif")
    return list(pool.map(lambda r: call(*r), ranges))


def _initial(v0: Tensor) -> tuple[Tensor, int]:
    """``v0`` as the C loop reads it: ``(tensor, 1)`` contiguous, or ``(tensor, 0)`` for one value broadcast (a
    neuron's rest state, a stride-0 view: not materialised)."""
    if v0.numel() > 0 and all(st == 0 for st in v0.stride()):
        return v0, 0
    return v0.contiguous(), 1


def _stream(t: Tensor) -> int:
    return int(t.numel() * t.element_size() >= STREAM_MIN_BYTES)


def native_forward(
    x_seq: Tensor, v0: Tensor, kw: dict[str, Any], keep_state: bool
) -> tuple[Tensor, Tensor | None]:
    """Spikes ``[T, ...]`` and :math:`V_T` (``None`` unless ``keep_state``) from the C forward."""
    x = x_seq.detach().contiguous()
    v, v_step = _initial(v0.detach())
    cfg = _config(kw, x.dtype)
    s = torch.empty_like(x)
    v_t = torch.empty_like(x[0]) if keep_state else None
    fn = getattr(library(), f"lif_forward_{_TYPES[x.dtype]['S']}")
    T, n = x.shape[0], x[0].numel()
    ptrs = (x.data_ptr(), v.data_ptr(), v_step, s.data_ptr(), None if v_t is None else v_t.data_ptr())
    stream = _stream(s)
    _parallel(lambda lo, hi: fn(*ptrs, T, n, lo, hi, *cfg, stream), n)
    return s, v_t


def native_backward(
    x_seq: Tensor, v0: Tensor, grad_s: Tensor, grad_v: Tensor | None, kw: dict[str, Any]
) -> tuple[Tensor, Tensor]:
    """``(dL/dX, dL/dV_0)`` from the C backward (``_lif_backward``'s operations; ``grad_v=None``: :math:`V_T` was
    not used, its gradient is zero)."""
    x, (v, v_step) = x_seq.contiguous(), _initial(v0)
    gs, gv = grad_s.contiguous(), None if grad_v is None else grad_v.contiguous()
    mode, hard, pow2, tau, inv, c_nd, vth, vr = _config(kw, x.dtype)
    sur = kw["surrogate"]
    alpha = float(sur.alpha)
    code = BACKWARD_SURROGATES[sur.name]
    p1, p2 = [(math.pi / 2 * alpha, alpha / 2), (1 / (2 * alpha), alpha), (alpha, alpha * alpha)][code]
    gx = torch.empty_like(x)
    gv0 = torch.empty_like(x[0])
    fn = getattr(library(), f"lif_backward_{_TYPES[x.dtype]['S']}")
    T, n = x.shape[0], x[0].numel()
    detach = int(bool(kw.get("detach_reset", False)))
    ptrs = (
        x.data_ptr(),
        v.data_ptr(),
        v_step,
        gs.data_ptr(),
        None if gv is None else gv.data_ptr(),
        gx.data_ptr(),
        gv0.data_ptr(),
    )
    cfg = (mode, hard, detach, code, pow2, tau, inv, c_nd, vth, vr, p1, p2, _stream(gx))
    status = _parallel(lambda lo, hi: fn(*ptrs, T, n, lo, hi, *cfg), n)
    if any(status):
        raise MemoryError(
            f"lif_multistep:native backward could not allocate 2 x {T} x {BLOCK} scratch values"
        )
    return gx, gv0


class _LIFNativeFn(torch.autograd.Function):
    """Forward and backward through the C loop. With ``keep_state=False`` (a neuron outside streaming mode) the
    forward writes no :math:`V_T` and returns ``None`` for it, and the backward takes its gradient as zero without
    autograd materialising a tensor of zeros."""

    @staticmethod
    def forward(ctx: Any, x_seq: Tensor, v0: Tensor, kw: dict[str, Any]) -> tuple[Tensor, Tensor | None]:  # type: ignore[override]
        s, v_t = native_forward(x_seq, v0, kw, keep_state=bool(kw.get("keep_state", True)))
        ctx.save_for_backward(x_seq, v0)
        ctx.kw = kw
        ctx.set_materialize_grads(False)
        return s, v_t

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx: Any, grad_s: Tensor | None, grad_v: Tensor | None
    ) -> tuple[Tensor | None, Tensor | None, None]:  # type: ignore[override]
        x_seq, v0 = ctx.saved_tensors
        if grad_s is None:  # only V_T was used
            grad_s = torch.zeros_like(x_seq)
        gx, gv0 = native_backward(x_seq, v0, grad_s, grad_v, ctx.kw)
        return (gx if ctx.needs_input_grad[0] else None, gv0 if ctx.needs_input_grad[1] else None, None)


def lif_multistep_native(x_seq: Tensor, v0: Tensor, **kw: Any) -> tuple[Tensor, Tensor | None]:
    """``lif_multistep`` through the C loop; falls back to the reference (with one warning) if it cannot be
    built."""
    from .lif import lif_multistep_reference  # reason: the fallback only

    if _broken is None:
        try:
            library()
        except Exception as exc:  # a missing or failing compiler must not break a forward pass
            _mark_broken(exc)
    if _broken is not None:
        return lif_multistep_reference(x_seq, v0, **kw)
    if _training(x_seq, v0):
        return _LIFNativeFn.apply(x_seq, v0, kw)
    with torch.no_grad():
        return native_forward(x_seq, v0, kw, keep_state=bool(kw.get("keep_state", True)))
