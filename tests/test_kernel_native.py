"""``lif_multistep:native``: the C loop against the reference, bit for bit, and its build, cache and selection.

Forward spikes and :math:`V_T` must equal the reference's bit patterns (NaN, infinities, signed zeros, membranes
that land exactly on the threshold, power-of-two and other ``tau``), with streaming stores on and off and rows
that are or are not aligned to a vector. Backward must equal, bit for bit, the unfused formula it evaluates
(``lif_compiled._lif_backward`` run eagerly) and the reference's autograd to rounding.
"""

from __future__ import annotations

import multiprocessing
import os
import warnings

import pytest
import torch

import zoo_core as zoo
from zoo_core.kernels import implementations, select
from zoo_core.kernels import lif_compiled as lc
from zoo_core.kernels import lif_native as ln
from zoo_core.kernels.lif import lif_multistep_reference
from zoo_core.neurons.surrogate import ATan, Rectangular, Sigmoid, Triangular

pytestmark = pytest.mark.skipif(not ln.available(), reason="lif_multistep:native needs a C compiler")

_INT = {torch.float32: torch.int32, torch.float64: torch.int64}

CONFIGS = {
    "if": {"tau": None, "v_reset": 0.0},
    "lif": {"tau": 2.0, "v_reset": 0.0},  # power-of-two tau: the C loop multiplies by 1/tau
    "lif-tau3-reset": {"tau": 3.0, "v_reset": -0.2, "v_threshold": 0.8},  # a division that is not exact
    "nodecay": {"tau": 3.0, "v_reset": 0.0, "decay_input": False},
    "nodecay-reset-tau4": {"tau": 4.0, "v_reset": 0.3, "decay_input": False},
    "soft": {"tau": 2.0, "v_reset": None},
    "soft-negative-threshold": {"tau": 1.7, "v_reset": None, "v_threshold": -0.5},  # 0 * V_th is -0
}
#: PLIF (inference): k = sigmoid(w) in place of 1/tau, every charge form (the C loop's multiplication by 1/tau)
PLIF_CONFIGS = {
    "plif": {"tau": None, "k": 0.37, "v_reset": 0.0},
    "plif-reset": {"tau": None, "k": 0.61, "v_reset": -0.2},
    "plif-nodecay": {"tau": None, "k": 0.37, "v_reset": 0.0, "decay_input": False},
    "plif-nodecay-reset": {"tau": None, "k": 0.45, "v_reset": 0.3, "decay_input": False},
    "plif-soft": {"tau": None, "k": 0.52, "v_reset": None},
    "plif-soft-nodecay": {"tau": None, "k": 0.52, "v_reset": None, "decay_input": False},
}
SHAPES = {"unaligned": (6, 4, 37), "blocks": (5, 2, 320)}  # 148 neurons (rows off the vector grid); 5 blocks


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(_INT[t.dtype])


def _kw(cfg: dict, surrogate=None, detach: bool = False) -> dict:
    return {
        "v_threshold": 1.0,
        "decay_input": True,
        "detach_reset": detach,
        "surrogate": surrogate or ATan(),
        **cfg,
    }


def _inputs(shape: tuple, dtype: torch.dtype, special: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=g, dtype=torch.float64) + 0.5
    x[:, 2 % shape[1]] = x[:, 2 % shape[1]].round()  # integers: membranes that hit the threshold exactly
    if special:
        values = torch.tensor(
            [float("nan"), float("inf"), -float("inf"), 0.0, -0.0, 1.0, 2.0, 0.8, -0.5, 1.6]
        )
        x[:, 0, : values.numel()] = values.double()  # the same special value at every step
        x[2, 1, : values.numel()] = values.double()  # and once mid-sequence
    v0 = 0.3 * torch.randn(shape[1:], generator=g, dtype=torch.float64)
    v0.view(-1)[:2] = torch.tensor([-0.0, 1.0], dtype=torch.float64)
    return x.to(dtype), v0.to(dtype)


@pytest.mark.parametrize("stream", [False, True], ids=["stores", "streaming"])
@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cfg", [*CONFIGS.values(), *PLIF_CONFIGS.values()], ids=[*CONFIGS, *PLIF_CONFIGS])
def test_forward_is_bit_identical_to_the_reference(cfg, dtype, shape, stream, monkeypatch):
    monkeypatch.setattr(ln, "STREAM_MIN_BYTES", 0 if stream else 1 << 62)
    x, v0 = _inputs(shape, dtype)
    kw = _kw(cfg)
    if "k" in cfg:  # a 0-d float32 k, as PLIF's sigmoid(w) of a float32 parameter (cast when x is float64)
        kw["k"] = torch.tensor(cfg["k"], dtype=torch.float32)
        assert ln.supports(x, v0, **kw)
    with torch.no_grad():
        s_ref, v_ref = lif_multistep_reference(x, v0, **kw)
        s, v = ln.lif_multistep_native(x, v0, **kw)
        s_drop, v_drop = ln.lif_multistep_native(x, v0, keep_state=False, **kw)
    assert 0 < s_ref.sum() < s_ref.numel()
    assert torch.equal(_bits(s), _bits(s_ref)) and torch.equal(_bits(v), _bits(v_ref))
    assert v_drop is None and torch.equal(_bits(s_drop), _bits(s_ref))


@pytest.mark.parametrize("detach", [False, True], ids=["", "detach"])
@pytest.mark.parametrize("surrogate", [ATan(alpha=2.0), Rectangular(alpha=1.3), Triangular(alpha=0.9)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("cfg", list(CONFIGS.values()), ids=list(CONFIGS))
def test_backward_is_the_unfused_formula_bit_for_bit_and_the_reference_to_rounding(
    cfg, dtype, surrogate, detach
):
    x, v0 = _inputs(SHAPES["blocks"], dtype, special=False)
    kw = _kw(cfg, surrogate, detach)
    g = torch.Generator().manual_seed(1)
    gs = torch.randn(x.shape, generator=g, dtype=dtype)
    gv = torch.randn(v0.shape, generator=g, dtype=dtype)
    tau, vth, vr = kw["tau"], kw["v_threshold"], kw["v_reset"]
    cfg_b = (tau, vth, vr, kw["decay_input"], detach, surrogate.name, surrogate.alpha)
    gx_e, gv_e = lc._lif_backward(x, v0, gs, gv, *cfg_b)  # eager: every operation rounds to dtype
    gx, gv0 = ln.native_backward(x, v0, gs, gv, kw)
    assert torch.equal(_bits(gx), _bits(gx_e)) and torch.equal(_bits(gv0), _bits(gv_e))
    unused = ln.native_backward(x, v0, gs, None, kw)  # V_T not used: its gradient is zero, never materialised
    zeros = lc._lif_backward(x, v0, gs, torch.zeros_like(gv), *cfg_b)
    assert all(torch.equal(_bits(a), _bits(b)) for a, b in zip(unused, zeros))
    # through autograd, against the reference's own graph
    xr, vr0 = x.clone().requires_grad_(), v0.clone().requires_grad_()
    s_n, v_n = ln.lif_multistep_native(xr, vr0, **kw)
    grads_n = torch.autograd.grad((s_n * gs).sum() + (v_n * gv).sum(), (xr, vr0))
    s_r, v_r = lif_multistep_reference(xr, vr0, **kw)
    grads_r = torch.autograd.grad((s_r * gs).sum() + (v_r * gv).sum(), (xr, vr0))
    assert torch.equal(s_n, s_r)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}
    for a, b in zip(grads_n, grads_r):
        torch.testing.assert_close(a, b, **tol)


def test_training_without_the_final_membrane_writes_none_and_its_gradients_agree():
    x, v0 = _inputs(SHAPES["blocks"], torch.float32, special=False)
    x.requires_grad_()
    kw = _kw(CONFIGS["lif-tau3-reset"])
    gs = torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    s_drop, v_drop = ln.lif_multistep_native(x, v0, keep_state=False, **kw)
    s_keep, _ = ln.lif_multistep_native(x, v0, **kw)
    assert v_drop is None and torch.equal(s_drop, s_keep)
    (g_drop,) = torch.autograd.grad(s_drop, x, gs)
    (g_keep,) = torch.autograd.grad(s_keep, x, gs)  # V_T unused: autograd passes no gradient for it
    assert torch.equal(_bits(g_drop), _bits(g_keep))
    _, v_only = ln.lif_multistep_native(x, v0, **kw)  # only V_T used: the spikes' gradient is zero
    (g_v,) = torch.autograd.grad(v_only.sum(), x)
    (g_v_ref,) = torch.autograd.grad(lif_multistep_reference(x, v0, **kw)[1].sum(), x)
    torch.testing.assert_close(g_v, g_v_ref, rtol=1e-5, atol=1e-6)


def test_neuron_with_the_native_kernel_equals_the_reference_and_streams():
    torch.manual_seed(0)
    kwargs = {"tau": 3.0, "v_reset": -0.2, "v_threshold": 0.8, "surrogate": "atan"}
    ref = zoo.create_neuron("lif", kernel="reference", **kwargs)
    nat = zoo.create_neuron("lif", kernel="native", **kwargs)
    x = (torch.randn(6, 3, 70) + 0.6).requires_grad_()
    g = torch.linspace(-1, 1, x.numel()).view_as(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to the reference would warn
        out = nat(x)
        (gx,) = torch.autograd.grad(out, x, g)
    out_r = ref(x)
    (gx_r,) = torch.autograd.grad(out_r, x, g)
    assert 0 < out_r.sum() < out_r.numel() and torch.equal(out, out_r)
    torch.testing.assert_close(gx, gx_r, rtol=1e-5, atol=1e-6)
    with torch.no_grad(), zoo.streaming(nat):  # V_T carried from call to call: two halves equal the whole
        halves = torch.cat([nat(x[:2]), nat(x[2:])])
    assert torch.equal(halves, out_r)


def test_plif_inference_takes_the_c_loop_and_training_another_path(monkeypatch):
    """A PLIF layer's k = sigmoid(w) is a constant under no_grad: the C loop runs it, bit-identical; with its
    gradient wanted (training, or grad mode on) the call goes elsewhere, and the C loop is never asked for it."""
    monkeypatch.delenv("ZOO_KERNELS", raising=False)
    monkeypatch.delenv("ZOO_AUTO_COMPILE", raising=False)
    monkeypatch.setattr(ln, "is_built", lambda: True)
    plif = zoo.create_neuron("plif", init_tau=3.0, v_reset=-0.2, surrogate="atan").eval()
    with torch.no_grad():
        plif.w.add_(0.37)  # k away from the initial 1/3
    x = torch.randn(6, 3, 70) + 0.6
    kw = {"v_threshold": 1.0, "v_reset": -0.2, "detach_reset": False, "surrogate": plif.surrogate}
    kw.update(plif._charge_kwargs())
    with torch.no_grad():
        assert select("lif_multistep", x, x[0], **kw).impl == "native"
        ref = lif_multistep_reference(x, torch.full_like(x[0], -0.2), **kw)[0]
        assert 0 < ref.sum() < ref.numel() and torch.equal(plif(x), ref)
    assert select("lif_multistep", x, x[0], **kw).impl != "native"  # k needs its gradient: dL/dw
    calls = []
    monkeypatch.setattr(ln, "native_forward", lambda *a, **k: calls.append(1))
    out = plif(x)
    out.sum().backward()
    assert not calls and plif.w.grad is not None and torch.equal(out, ref)


def test_a_broadcast_rest_state_is_read_in_place():
    x, _ = _inputs(SHAPES["blocks"], torch.float32)
    v0 = torch.full((), 0.25).expand(x.shape[1:])  # how a neuron passes its rest state
    assert ln._initial(v0)[1] == 0
    kw = _kw(CONFIGS["lif-tau3-reset"])
    with torch.no_grad():
        s, v = ln.lif_multistep_native(x, v0, **kw)
        s_ref, v_ref = lif_multistep_reference(x, v0.contiguous(), **kw)
    assert torch.equal(_bits(s), _bits(s_ref)) and torch.equal(_bits(v), _bits(v_ref))


def test_two_threads_split_the_neurons_and_agree(monkeypatch):
    x = torch.randn(3, 4, 1 << 14) + 0.5  # 65536 neurons: two ranges
    v0 = torch.zeros(x.shape[1:])
    kw = _kw(CONFIGS["lif"])
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert len(ln._ranges(v0.numel())) == 2
        with torch.no_grad():
            s, v = ln.lif_multistep_native(x, v0, **kw)
    finally:
        torch.set_num_threads(threads)
    s_ref, v_ref = lif_multistep_reference(x, v0, **kw)
    assert torch.equal(s, s_ref) and torch.equal(v, v_ref)


def _child(queue) -> None:  # runs in a forked child: the parent's pools are gone, a new one works
    queue.put((len(ln._pools), ln._parallel(lambda lo, hi: hi - lo, 1 << 16)))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_a_forked_child_runs_its_own_thread_pool():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        x = torch.randn(2, 4, 1 << 14) + 0.5
        with torch.no_grad():
            ln.lif_multistep_native(x, torch.zeros(x.shape[1:]), **_kw(CONFIGS["lif"]))  # the parent's pool
        assert ln._pools
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads: what DataLoader does
            proc = ctx.Process(target=_child, args=(queue,))
            proc.start()
        proc.join(60)
        if proc.exitcode is None:
            proc.kill()
        assert proc.exitcode == 0, "the child hung on the parent's thread pool"
        assert queue.get(timeout=5) == (0, [1 << 15, 1 << 15])
    finally:
        torch.set_num_threads(threads)


def test_supports_declines_what_the_c_loop_does_not_compute():
    x = torch.randn(3, 2, 8)
    v0 = torch.zeros(2, 8)
    kw = _kw(CONFIGS["lif"])
    assert ln.supports(x, v0, **kw)
    assert not ln.supports(x.half(), v0.half(), **kw)  # float16/bfloat16: the inductor loop
    k = torch.tensor(0.5)
    assert ln.supports(x, v0, **{**kw, "k": k})  # PLIF, for inference
    assert not ln.supports(
        x.clone().requires_grad_(), v0, **{**kw, "k": k}
    )  # training: the C loop has no dL/dk
    assert not ln.supports(x, v0, **{**kw, "k": k.clone().requires_grad_()})  # a k that needs its gradient
    assert not ln.supports(x, v0, **{**kw, "k": torch.tensor([0.5, 0.6])})  # one k per layer
    assert not ln.supports(x, v0[:1], **kw)  # v0 not shaped like one step
    assert not ln.supports(x.double(), v0, **kw)  # mixed dtypes
    assert not ln.supports(x[:0], v0, **kw)  # no steps
    xg = x.clone().requires_grad_()
    assert ln.supports(xg, v0, **kw)
    sig = {**kw, "surrogate": Sigmoid()}
    assert ln.supports(x, v0, **sig)  # inference: the surrogate is not evaluated
    assert not ln.supports(xg, v0, **sig)  # training: its exp rounds differently in C


@pytest.fixture
def selection(monkeypatch):
    for var in ("ZOO_KERNELS", "ZOO_NO_COMPILE", "ZOO_AUTO_COMPILE", "ZOO_COMPILE_MIN_NUMEL", "CC"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(ln, "_work", [0])
    return monkeypatch


def test_inference_takes_it_once_built_and_training_only_when_asked(selection):
    x = torch.randn(4, 2, 8)
    kw = _kw(CONFIGS["lif"])
    args = (x, torch.zeros_like(x[0]))
    selection.setattr(ln, "is_built", lambda: True)
    assert select("lif_multistep", *args, **kw).impl == "native"
    xg = x.clone().requires_grad_()
    assert select("lif_multistep", xg, args[1], **kw).impl == "reference"  # gradients round differently
    selection.setenv(
        "ZOO_AUTO_COMPILE", "1"
    )  # the opt-in for calls of at least ZOO_COMPILE_MIN_NUMEL neurons
    selection.setenv("ZOO_COMPILE_MIN_NUMEL", "16")
    assert select("lif_multistep", xg, args[1], **kw).impl == "native"
    selection.setenv("ZOO_COMPILE_MIN_NUMEL", "17")
    assert select("lif_multistep", xg, args[1], **kw).impl == "reference"
    selection.setenv("ZOO_AUTO_COMPILE", "0")
    assert select("lif_multistep", *args, **kw).impl == "inplace"
    selection.delenv("ZOO_AUTO_COMPILE")
    # not built yet: inference calls wait until their reference time would have paid the build
    selection.setattr(ln, "is_built", lambda: False)
    selection.setattr(ln, "BUILD_COST_S", 160 * lc.SAVED_NS_PER_STEP * 1e-9)  # 160 neuron-steps
    picks = [select("lif_multistep", *args, **kw).impl for _ in range(3)]
    assert picks == ["inplace", "inplace", "native"]  # 64, 128, 192 >= 160


def test_a_failing_compiler_falls_back_to_the_reference_with_one_warning(selection, tmp_path):
    selection.setenv("ZOO_CACHE", str(tmp_path))
    selection.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    selection.setenv("CC", "false")  # a "compiler" that fails
    selection.setattr(ln, "_lib", [])
    selection.setattr(ln, "_broken", None)
    selection.setattr(ln, "_paths", {})
    x, v0 = _inputs(SHAPES["unaligned"], torch.float32, special=False)
    kw = _kw(CONFIGS["lif"])
    with pytest.warns(RuntimeWarning, match=r"lif_multistep:native is unavailable .*false failed"):
        s, v = ln.lif_multistep_native(x, v0, **kw)
    s_ref, v_ref = lif_multistep_reference(x, v0, **kw)
    assert torch.equal(s, s_ref) and torch.equal(v, v_ref)
    assert not ln.available() and "native" in implementations("lif_multistep")
    assert not any(tmp_path.rglob("*.so"))  # nothing half-written


@pytest.mark.slow
def test_the_library_is_built_once_atomically_and_a_corrupt_file_is_rebuilt(selection, tmp_path):
    selection.setenv("ZOO_CACHE", str(tmp_path))
    selection.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    selection.setattr(ln, "_lib", [])
    selection.setattr(ln, "_paths", {})
    path = ln.library_path()
    assert path.is_relative_to(tmp_path) and not ln.is_built()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x7fELF truncated")  # as a full disk or a killed copy might leave it
    stale = [path.parent / f"lif_old{i}.so" for i in range(4)]  # older versions' builds, oldest first
    for i, p in enumerate(stale):
        p.write_bytes(b"old")
        os.utime(p, (1e9 + i, 1e9 + i))
    (path.parent / "notes.txt").write_text("not a build")
    ln.library()
    assert ln.is_built()
    kept = sorted(p.name for p in path.parent.iterdir())  # no temporaries; the KEEP_BUILDS newest builds
    assert ln.KEEP_BUILDS == 3 and kept == sorted([path.name, "lif_old2.so", "lif_old3.so", "notes.txt"])
    x, v0 = _inputs(SHAPES["blocks"], torch.float64)
    with torch.no_grad():
        s, _ = ln.lif_multistep_native(x, v0, **_kw(CONFIGS["soft"]))
    assert torch.equal(s, lif_multistep_reference(x, v0, **_kw(CONFIGS["soft"]))[0])
