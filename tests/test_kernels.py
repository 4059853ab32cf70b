"""``lif_multistep`` kernels: Triton (under TRITON_INTERPRET=1 on the CPU), torch.compile, and dispatch.

Every alternate must equal the reference (``zoo_core.kernels.lif.lif_multistep_reference``): spikes exactly,
``v_T`` and gradients to rounding. The Triton kernels decide per call whether to run under the interpreter
(``TRITON_INTERPRET`` is read at call time, not when triton is imported), so the tests set the variable with
``monkeypatch`` and do not depend on the order in which modules were imported.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import zoo_core as zoo
from zoo_core.kernels import implementations, select
from zoo_core.kernels import lif_compiled as lc
from zoo_core.kernels import lif_native as ln
from zoo_core.kernels import lif_triton as lt
from zoo_core.kernels.lif import lif_multistep_reference
from zoo_core.neurons.surrogate import SURROGATES, ATan

SURROGATE_NAMES = sorted(SURROGATES)
MODES = {  # name -> charge kwargs
    "if": {"tau": None, "decay_input": False},
    "lif_decay": {"tau": 3.0, "decay_input": True},  # tau=3: a division that is not exact in binary
    "lif_nodecay": {"tau": 3.0, "decay_input": False},
}
RESETS = {"hard0": 0.0, "hard-0.3": -0.3, "soft": None}


def _kwargs(mode: str, reset: str, detach: bool, surrogate: str, alpha: float = 1.7) -> dict:
    return {
        **MODES[mode],
        "k": None,
        "v_threshold": 0.7,
        "v_reset": RESETS[reset],
        "detach_reset": detach,
        "surrogate": SURROGATES[surrogate](alpha=alpha),
    }


def _inputs(dtype: torch.dtype, shape=(4, 3, 5), seed: int = 0):
    """x_seq, v0 (nonzero, both requiring grad) and random upstream gradients for spikes and v_T."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(shape, generator=g, dtype=torch.float64) * 1.2 + 0.3).to(dtype).requires_grad_()
    v0 = (torch.randn(shape[1:], generator=g, dtype=torch.float64) * 0.5).to(dtype).requires_grad_()
    gs = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
    gv = torch.randn(shape[1:], generator=g, dtype=torch.float64).to(dtype)
    return x, v0, gs, gv


def _run(fn, x, v0, gs, gv, kw):
    s, v = fn(x, v0, **kw)
    gx, gv0 = torch.autograd.grad([s, v], [x, v0], [gs, gv])
    return s.detach(), v.detach(), gx, gv0


def assert_matches(got, want, rtol: float, atol: float) -> None:
    s, v, gx, gv0 = got
    rs, rv, rgx, rgv0 = want
    assert s.dtype == rs.dtype and v.dtype == rv.dtype and gx.dtype == rgx.dtype
    assert torch.equal(s, rs), f"{int((s != rs).sum())} spikes differ"
    torch.testing.assert_close(v, rv, rtol=rtol, atol=atol)
    torch.testing.assert_close(gx, rgx, rtol=rtol, atol=atol)
    torch.testing.assert_close(gv0, rgv0, rtol=rtol, atol=atol)


# ------------------------------------------------------------------------------------------------ Triton
@pytest.fixture
def interpret(monkeypatch):
    """Triton under its CPU interpreter (skips cleanly when triton is not installed)."""
    pytest.importorskip("triton")
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert lt.available()


@pytest.mark.triton
@pytest.mark.parametrize("surrogate", SURROGATE_NAMES)
@pytest.mark.parametrize("detach", [False, True], ids=["attached", "detached"])
@pytest.mark.parametrize("reset", list(RESETS))
@pytest.mark.parametrize("mode", list(MODES))
def test_triton_equals_reference_float64(interpret, mode, reset, detach, surrogate):
    kw = _kwargs(mode, reset, detach, surrogate)
    x, v0, gs, gv = _inputs(torch.float64)
    assert lt.supports(x, v0, **kw)
    want = _run(lif_multistep_reference, x, v0, gs, gv, kw)
    got = _run(lt.lif_multistep_triton, x, v0, gs, gv, kw)
    assert 0 < want[0].sum() < want[0].numel()  # some neurons fire and some do not
    assert_matches(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.triton
@pytest.mark.parametrize(
    "dtype,rtol,atol", [(torch.float32, 1e-5, 1e-6), (torch.float16, 2e-2, 2e-3)], ids=["float32", "float16"]
)
@pytest.mark.parametrize("mode,reset", [("lif_decay", "hard-0.3"), ("lif_nodecay", "soft"), ("if", "hard0")])
def test_triton_equals_reference_low_precision(interpret, dtype, rtol, atol, mode, reset):
    # every intermediate is rounded to the storage dtype as PyTorch does, so spikes and v_T agree exactly
    kw = _kwargs(mode, reset, False, "sigmoid")
    x, v0, gs, gv = _inputs(dtype, shape=(6, 4, 33))
    want = _run(lif_multistep_reference, x, v0, gs, gv, kw)
    got = _run(lt.lif_multistep_triton, x, v0, gs, gv, kw)
    assert torch.equal(got[1], want[1])
    assert_matches(got, want, rtol=rtol, atol=atol)


@pytest.mark.triton
@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (2, 1), (3, 1, 1)], ids=str)
def test_triton_edge_shapes(interpret, shape):
    kw = _kwargs("lif_decay", "hard-0.3", False, "triangular")
    x, v0, gs, gv = _inputs(torch.float64, shape=shape, seed=3)
    want = _run(lif_multistep_reference, x, v0, gs, gv, kw)
    assert_matches(_run(lt.lif_multistep_triton, x, v0, gs, gv, kw), want, rtol=1e-12, atol=1e-12)


@pytest.mark.triton
def test_triton_partial_gradients_and_no_grad(interpret):
    kw = _kwargs("lif_decay", "hard-0.3", False, "atan")
    x, v0, gs, gv = _inputs(torch.float64)
    # gradient through the spikes only, then through v_T only
    for outputs in ([0], [1]):
        grads = []
        for fn in (lif_multistep_reference, lt.lif_multistep_triton):
            out = fn(x, v0, **kw)
            grads.append(
                torch.autograd.grad([out[i] for i in outputs], [x, v0], [(gs, gv)[i] for i in outputs])
            )
        for a, b in zip(*grads):
            torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)
    # v0 without grad: only x gets one
    v0c = v0.detach()
    s, v = lt.lif_multistep_triton(x, v0c, **kw)
    (gx,) = torch.autograd.grad([s, v], [x], [gs, gv])
    want = _run(lif_multistep_reference, x, v0c.clone().requires_grad_(), gs, gv, kw)
    torch.testing.assert_close(gx, want[2], rtol=1e-12, atol=1e-12)
    # no grad needed: the forward-only kernel (no H written) gives the same values
    with torch.no_grad():
        s, v = lt.lif_multistep_triton(x, v0, **kw)
    assert not s.requires_grad
    assert torch.equal(s, want[0]) and torch.equal(v, want[1])


@pytest.mark.triton
def test_triton_non_contiguous_input_and_neuron_api(interpret):
    kw = _kwargs("lif_nodecay", "soft", True, "erf")
    base = torch.randn(3, 5, 4, dtype=torch.float64) + 0.5
    x = base.transpose(1, 2)  # [3, 4, 5], not contiguous
    v0 = torch.zeros(4, 5, dtype=torch.float64)
    assert not x.is_contiguous() and lt.supports(x, v0, **kw)
    s, v = lt.lif_multistep_triton(x, v0, **kw)
    rs, rv = lif_multistep_reference(x, v0, **kw)
    assert torch.equal(s, rs) and torch.equal(v, rv)

    # through a neuron: kernel="triton" really runs Triton and matches the reference neuron
    ref = zoo.create_neuron("lif", tau=2.0, v_reset=None, kernel="reference").double()
    tri = zoo.create_neuron("lif", tau=2.0, v_reset=None, kernel="triton").double()
    xs = (torch.randn(5, 2, 6, dtype=torch.float64) + 0.8).requires_grad_()
    assert select("lif_multistep", xs, torch.zeros(2, 6, dtype=torch.float64), kernel="triton", **{
        "tau": 2.0, "k": None, "v_threshold": 1.0, "v_reset": None, "decay_input": True,
        "detach_reset": False, "surrogate": tri.surrogate,
    }).impl == "triton"  # fmt: skip
    out_r, out_t = ref(xs), tri(xs)
    assert torch.equal(out_r, out_t)
    (g_r,) = torch.autograd.grad(out_r.sum(), xs)
    (g_t,) = torch.autograd.grad(out_t.sum(), xs)
    torch.testing.assert_close(g_t, g_r, rtol=1e-12, atol=1e-12)


@pytest.mark.triton
def test_triton_supports_declines_what_it_cannot_do(interpret, monkeypatch):
    x = torch.randn(3, 4)
    v0 = torch.zeros(4)
    kw = _kwargs("lif_decay", "hard0", False, "atan")
    assert lt.supports(x, v0, **kw)
    assert not lt.supports(x, v0, **{**kw, "k": torch.tensor(0.5)})  # PLIF
    assert not lt.supports(x.double(), v0, **kw)  # mixed dtypes
    assert not lt.supports(x, torch.zeros(5), **kw)  # v0 not shaped like x[0]
    assert not lt.supports(x.to(torch.int32), v0.to(torch.int32), **kw)
    assert not lt.supports(x.bfloat16(), v0.bfloat16(), **kw)  # the interpreter truncates bfloat16
    assert not lt.supports(x[:0], v0, **kw)  # T = 0: the reference raises its own error

    class Custom(ATan):  # keeps the name "atan" but changes the derivative
        @staticmethod
        def grad(x, alpha):
            return torch.ones_like(x)

    class Plugin(torch.nn.Module):
        name, alpha = "my_surrogate", 1.0

    assert not lt.supports(x, v0, **{**kw, "surrogate": Custom()})
    assert not lt.supports(x, v0, **{**kw, "surrogate": Plugin()})
    with pytest.raises(ValueError, match="does not support"):
        lt.lif_multistep_triton(x, v0, **{**kw, "k": torch.tensor(0.5)})
    # without the interpreter a CPU tensor cannot run, and without CUDA the kernel is unavailable
    monkeypatch.delenv("TRITON_INTERPRET")
    assert not lt.supports(x, v0, **kw)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert not lt.available()


def test_triton_is_not_imported_by_registration():
    code = (
        "import sys, zoo_core as zoo\n"
        "assert 'lif_multistep:triton' in zoo.list_kernels()\n"
        "from zoo_core.kernels import lif_triton\n"
        "print(lif_triton.tl is None, lif_triton._kernels == {})\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]


# ---------------------------------------------------------------------------------------- torch.compile
@pytest.mark.slow
def test_compiled_neuron_equals_reference():
    if not lc.available():
        pytest.skip("torch.compile needs a C++ compiler")
    torch.manual_seed(0)
    kwargs = {"tau": 3.0, "v_reset": -0.2, "v_threshold": 0.8, "surrogate": "sigmoid"}
    ref = zoo.create_neuron("lif", kernel="reference", **kwargs)
    comp = zoo.create_neuron("lif", kernel="compiled", **kwargs)
    x = (torch.randn(4, 3, 8) + 0.6).requires_grad_()
    before = len(lc._compiled)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a fallback to the reference would warn
        out_c = comp(x)
        (g_c,) = torch.autograd.grad(out_c, x, torch.linspace(-1, 1, out_c.numel()).view_as(out_c))
        with torch.no_grad():
            out_nograd = comp(x)
    assert lc._broken is None
    # the compiled path ran: a training forward, its backward, and the inference forward without V_T (a neuron
    # outside streaming mode discards it)
    assert {name for name, _ in list(lc._compiled)[before:]} == {"fwd", "bwd", "spk"}
    out_r = ref(x)
    (g_r,) = torch.autograd.grad(out_r, x, torch.linspace(-1, 1, out_r.numel()).view_as(out_r))
    assert 0 < out_r.sum() < out_r.numel()
    assert torch.equal(out_c, out_r) and torch.equal(out_nograd, out_r)
    torch.testing.assert_close(g_c, g_r, rtol=1e-5, atol=1e-6)


_INT_VIEW = {
    torch.float64: torch.int64,
    torch.float32: torch.int32,
    torch.float16: torch.int16,
    torch.bfloat16: torch.int16,
}


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(_INT_VIEW[t.dtype])


@pytest.mark.slow
@pytest.mark.parametrize(
    "cfg,dtype",
    [
        ({"tau": None, "v_reset": 0.0}, torch.float32),  # IF
        ({"tau": 2.0, "v_reset": 0.0}, torch.float32),  # the default LIF
        ({"tau": 3.0, "v_reset": -0.2, "decay_input": False, "v_threshold": 0.8}, torch.float32),
        ({"tau": 2.0, "v_reset": None}, torch.float32),  # soft reset
        ({"tau": 2.0, "v_reset": None, "v_threshold": -0.5}, torch.float32),  # 0 * V_th is -0
        ({"tau": 2.0, "v_reset": 0.0}, torch.float64),
        ({"tau": 2.0, "v_reset": 0.0}, torch.float16),
        ({"tau": 3.0, "v_reset": -0.2}, torch.bfloat16),
    ],
    ids=[
        "if",
        "lif",
        "lif-nodecay-reset-0.2",
        "soft",
        "soft-negative-threshold",
        "float64",
        "float16",
        "bfloat16",
    ],
)
def test_compiled_forward_is_bit_identical_to_the_reference_at_special_values(cfg, dtype):
    """The compiled loop's select form of fire/reset against the reference's arithmetic, bit for bit: NaN, +-inf,
    +-0, inputs that land exactly on the threshold, sub-threshold and firing values, every reset and charge."""
    if not lc.available():
        pytest.skip("torch.compile needs a C++ compiler")
    torch.manual_seed(0)
    inf, nan = float("inf"), float("nan")
    special = torch.tensor(
        [nan, inf, -inf, 0.0, -0.0, 1.0, 2.0, 0.8, -0.5, -1.0, 1.6, 0.5], dtype=torch.float64
    )
    x = torch.randn(6, 4, 32, dtype=torch.float64) + 0.5
    x[:, 0, : special.numel()] = special  # the same special value at every step
    x[2, 1, : special.numel()] = special  # and once mid-sequence
    x[:, 2] = x[:, 2].round()  # integers: membranes that hit the threshold exactly
    x = x.to(dtype)
    v0 = torch.zeros_like(x[0])
    v0[3, :4] = torch.tensor([-0.0, 0.5, 1.0, -2.0], dtype=dtype)
    kw = {"v_threshold": 1.0, "decay_input": True, "detach_reset": False, "surrogate": ATan(), **cfg}
    with torch.no_grad():
        s_ref, v_ref = lif_multistep_reference(x, v0, **kw)
        s_c, v_c = lc.lif_multistep_compiled(x, v0, **kw)
    assert lc._broken is None
    assert lc.is_cached(x, v0, **kw)  # the compiled forward ran, not the fallback
    assert 0 < s_ref.sum() < s_ref.numel()
    assert torch.equal(_bits(s_c), _bits(s_ref))
    assert torch.equal(_bits(v_c), _bits(v_ref))


@pytest.mark.slow
def test_keep_state_false_skips_the_final_membrane_and_streaming_keeps_it():
    if not lc.available():
        pytest.skip("torch.compile needs a C++ compiler")
    torch.manual_seed(1)
    x = torch.randn(5, 2, 16) + 0.6
    kw = {"tau": 2.0, "v_threshold": 1.0, "v_reset": 0.0, "decay_input": True, "surrogate": ATan()}
    v0 = torch.zeros(2, 16)
    with torch.no_grad():
        s_ref, v_ref = lif_multistep_reference(x, v0, **kw)
        s_drop, v_drop = lc.lif_multistep_compiled(x, v0, keep_state=False, **kw)
        s_keep, v_keep = lc.lif_multistep_compiled(x, v0, keep_state=True, **kw)
    assert v_drop is None and torch.equal(s_drop, s_ref)
    assert torch.equal(s_keep, s_ref) and torch.equal(v_keep, v_ref)
    # a streaming neuron carries V_T from call to call: two halves equal the whole sequence
    n = zoo.create_neuron("lif", kernel="compiled")
    with torch.no_grad(), zoo.streaming(n):
        halves = torch.cat([n(x[:2]), n(x[2:])])
        v_stream = n.state["v"]
    assert torch.equal(halves, s_ref)
    assert torch.equal(v_stream, v_ref)


# --------------------------------------------------------------------------------------------- dispatch
def _call(x: torch.Tensor, **over):
    kw = {
        "tau": 2.0,
        "k": None,
        "v_threshold": 1.0,
        "v_reset": 0.0,
        "decay_input": True,
        "detach_reset": False,
        "surrogate": ATan(),
    }
    kw.update(over)
    return (x, torch.zeros_like(x[0])), kw


@pytest.fixture
def clean_env(monkeypatch):
    for var in (
        "ZOO_KERNELS",
        "TRITON_INTERPRET",
        "ZOO_NO_COMPILE",
        "ZOO_COMPILE_MIN_NUMEL",
        "ZOO_AUTO_COMPILE",
        "ZOO_CACHE",
    ):
        monkeypatch.delenv(var, raising=False)
    for k in implementations("lif_multistep").values():  # the fallback warning is once per process
        monkeypatch.setattr(k, "_warned", set())
    # the C loop would take every call it supports (test_kernel_native.py): these tests are about the others
    monkeypatch.setattr(ln, "_broken", "not under test here")
    return monkeypatch


def test_select_small_cpu_tensor_uses_reference(clean_env):
    args, kw = _call(torch.randn(4, 2, 8).requires_grad_())
    assert select("lif_multistep", *args, **kw).impl == "reference"
    # without gradients the reference's loop in preallocated buffers (bit-identical; test_kernel_inplace.py)
    args, kw = _call(torch.randn(4, 2, 8))
    assert select("lif_multistep", *args, **kw).impl == "inplace"
    # the measured compile cost is worth far more reference time than a small tensor's call
    assert lc.min_work(cached=True) > 1e7 and lc.min_work(cached=False) > lc.min_work(cached=True)


def test_select_large_cpu_tensor_uses_compiled_unless_env_says_reference(clean_env):
    if not lc.available():
        pytest.skip("torch.compile needs a C++ compiler")
    clean_env.setenv("ZOO_COMPILE_MIN_NUMEL", "16")  # "large" without allocating a large tensor
    args, kw = _call(torch.randn(4, 2, 8))
    clean_env.setenv("ZOO_AUTO_COMPILE", "1")  # automatic compilation is opt-in
    assert select("lif_multistep", *args, **kw).impl == "compiled"
    clean_env.setenv("ZOO_KERNELS", "other_op=compiled, lif_multistep=reference")
    assert select("lif_multistep", *args, **kw).impl == "reference"


@pytest.fixture
def cost_model(clean_env, tmp_path):
    """Automatic mode with a compile cost of 160 neuron-steps cold and 64 cached (4 ns saved per step)."""
    if not lc.available():
        pytest.skip("torch.compile needs a C++ compiler")
    clean_env.setattr(lc, "_work", {})
    clean_env.setattr(lc, "_done", set())
    clean_env.setattr(lc, "_on_disk", {})
    clean_env.setattr(lc, "SAVED_NS_PER_STEP", 4.0)
    steps = 4e-9
    cost = {"first_cold": 0.0, "first_cached": 0.0, "graph_cold": 160 * steps, "graph_cached": 64 * steps}
    clean_env.setattr(lc, "COMPILE_COST_S", cost)
    clean_env.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)  # markers go to a temporary cache
    clean_env.setenv("ZOO_CACHE", str(tmp_path))
    return clean_env


def test_auto_compile_pays_off_inference_calls_only(cost_model):
    x = torch.randn(4, 2, 8)  # 64 neuron-steps per call
    args, kw = _call(x)
    picks = [select("lif_multistep", *args, **kw).impl for _ in range(4)]
    assert picks == ["inplace", "inplace", "compiled", "compiled"]  # 192 >= 160 steps on the 3rd call
    # training calls never switch automatically, however much work
    xg = torch.randn(4, 2, 8).requires_grad_()
    args_g, kw_g = _call(xg)
    for _ in range(5):
        assert select("lif_multistep", *args_g, **kw_g).impl == "reference"
    # ZOO_AUTO_COMPILE=0: never; =1: the opt-in of large tensors, training included
    cost_model.setenv("ZOO_AUTO_COMPILE", "0")
    assert select("lif_multistep", *args, **kw).impl == "inplace"
    cost_model.setenv("ZOO_AUTO_COMPILE", "1")
    cost_model.setenv("ZOO_COMPILE_MIN_NUMEL", "16")
    assert select("lif_multistep", *args_g, **kw_g).impl == "compiled"


def test_auto_compile_threshold_is_lower_for_a_cached_graph_and_nothing_once_compiled(cost_model):
    x = torch.randn(4, 2, 8)
    args, kw = _call(x)
    assert not lc.is_cached(*args, **kw)
    key = lc._forward_key(*args, kw)
    lc._marker(key).parent.mkdir(parents=True)
    lc._marker(key).touch()  # as an earlier process that compiled this graph leaves it
    assert lc.is_cached(*args, **kw)
    assert [select("lif_multistep", *args, **kw).impl for _ in range(2)] == [
        "compiled",
        "compiled",
    ]  # 64 >= 64
    y = torch.randn(4, 3, 8)  # another shape: not cached, not compiled in this process
    args_y, kw_y = _call(y)
    assert select("lif_multistep", *args_y, **kw_y).impl == "inplace"
    lc._done.add(lc._forward_key(*args_y, kw_y))  # compiled in this process: its cost is paid
    assert select("lif_multistep", *args_y, **kw_y).impl == "compiled"


def test_compile_cache_dir_follows_the_environment(clean_env, tmp_path):
    clean_env.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    clean_env.setenv("ZOO_CACHE", str(tmp_path / "zoo"))
    tag = lc.machine_tag()
    assert lc.compile_cache_dir() == tmp_path / "zoo" / "inductor" / tag
    clean_env.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "ind"))
    assert lc.compile_cache_dir() == tmp_path / "ind"  # the user's folder, as set
    clean_env.delenv("TORCHINDUCTOR_CACHE_DIR")
    clean_env.delenv("ZOO_CACHE")
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert lc.compile_cache_dir() == tmp_path / "xdg" / "zoo" / "inductor" / tag


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 capabilities")
def test_compiled_code_is_cached_per_kind_of_cpu(clean_env):
    """Inductor's cache does not tell CPU capabilities apart (an AVX2 process served AVX-512 graphs gave wrong
    spikes): the default folder is one per capability."""
    code = "from zoo_core.kernels import lif_compiled as lc; print(lc.compile_cache_dir().name)"
    names = {}
    for cap in ("avx2", "default"):
        env = {
            k: v for k, v in os.environ.items() if k not in ("TORCHINDUCTOR_CACHE_DIR", "ATEN_CPU_CAPABILITY")
        }
        env["ATEN_CPU_CAPABILITY"] = cap
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        names[cap] = out.stdout.strip()
    assert names["avx2"].startswith("avx2-") and names["default"].startswith("default-")  # two folders ...
    assert names["avx2"].split("-")[1] == names["default"].split("-")[1]  # ... for one CPU


@pytest.mark.slow
def test_the_cache_folder_wins_over_inductors_default_set_by_an_earlier_compile(tmp_path):
    """Inductor's first use writes its default folder (shared by every kind of CPU) into TORCHINDUCTOR_CACHE_DIR;
    the compiled LIF then still caches in the per-CPU folder. A folder the user chose is kept."""
    if not lc.available():
        pytest.skip("torch.compile needs a C++ compiler")
    pytest.importorskip(
        "torch._inductor.runtime.cache_dir_utils"
    )  # where this torch keeps its default folder
    code = (
        "import os, torch\n"
        "from torch._inductor.runtime.cache_dir_utils import cache_dir\n"
        "cache_dir()  # as any earlier torch.compile in the process does\n"
        "import zoo_core as zoo\n"
        "from zoo_core.kernels import lif_compiled as lc\n"
        "n = zoo.create_neuron('lif', kernel='compiled')\n"
        "with torch.no_grad():\n"
        "    n(torch.randn(2, 3, 8) + 1)\n"
        "assert lc._broken is None, lc._broken\n"
        "print(os.environ['TORCHINDUCTOR_CACHE_DIR'])\n"
        "print(lc.compile_cache_dir())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TORCHINDUCTOR_CACHE_DIR"}
    env["ZOO_CACHE"] = str(tmp_path / "zoo")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    used, ours = out.stdout.split()[-2:]
    assert used == ours and Path(ours).parent == tmp_path / "zoo" / "inductor"
    assert any((Path(ours) / "zoo_lif").iterdir())  # the compiled forward's marker
    env["TORCHINDUCTOR_CACHE_DIR"] = str(tmp_path / "mine")
    out = subprocess.run(
        [sys.executable, "-c", code.replace("cache_dir()  #", "pass  #")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-2:] == [str(tmp_path / "mine")] * 2


def test_forced_triton_on_cpu_without_interpreter_falls_back_with_warning(clean_env):
    args, kw = _call(torch.randn(4, 2, 8))
    with pytest.warns(RuntimeWarning, match="lif_multistep:triton cannot run"):
        assert select("lif_multistep", *args, kernel="triton", **kw).impl == "reference"
    # the same through ZOO_KERNELS and a neuron: it still runs, on the reference
    clean_env.setattr(implementations("lif_multistep")["triton"], "_warned", set())
    clean_env.setenv("ZOO_KERNELS", "lif_multistep=triton")
    neuron = zoo.create_neuron("lif")
    x = torch.randn(4, 2, 8) + 1.0
    with pytest.warns(RuntimeWarning, match="using the reference"):
        out = neuron(x)
    assert torch.equal(out, lif_multistep_reference(x, torch.zeros(2, 8), surrogate=ATan())[0])


@pytest.mark.triton
def test_forced_triton_plif_falls_back_to_reference(clean_env):
    pytest.importorskip("triton")
    clean_env.setenv("TRITON_INTERPRET", "1")  # triton available on the CPU, but PLIF's tensor k is not
    plif = zoo.create_neuron("plif", kernel="triton")
    x = (torch.randn(4, 2, 8) + 1.0).requires_grad_()
    args, kw = _call(x.detach(), k=plif.w.sigmoid())
    with pytest.warns(RuntimeWarning, match="lif_multistep:triton cannot run"):
        assert select("lif_multistep", *args, kernel="triton", **kw).impl == "reference"
    ref = zoo.create_neuron("plif", kernel="reference")
    out = plif(x)  # warned once above: silent now
    assert torch.equal(out, ref(x))
    out.sum().backward()  # the learnable time constant still gets its gradient
    assert plif.w.grad is not None and plif.w.grad != 0


def test_unknown_forced_kernel_is_an_error(clean_env):
    args, kw = _call(torch.randn(2, 3))
    with pytest.raises(ValueError, match="choose from"):
        select("lif_multistep", *args, kernel="cuda_magic", **kw)


# ------------------------------------------------------------------------------------------- benchmarks
def test_bench_models_quick_smoke(tmp_path):
    """tools/bench_models.py --quick on one tiny main model and one registered model outside the main table (its
    defaults, batch 1): a table row each, firing neurons, a JSON record."""
    root = Path(__file__).resolve().parents[1]
    out_json = tmp_path / "bench.json"
    cmd = [
        sys.executable,
        str(root / "tools" / "bench_models.py"),
        "--quick",
        "--models",
        "spiking_cnn,dpcnn_digits",
    ]
    cmd += ["--kernels", "reference", "--json", str(out_json)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=root)
    assert out.returncode == 0, out.stderr
    assert "CPU capability" in out.stdout
    assert "| spiking_cnn | defaults, batch 2 | reference |" in out.stdout
    assert "| dpcnn_digits | defaults, batch 1 | reference |" in out.stdout
    row, other = json.loads(out_json.read_text())["rows"]
    assert other["model"] == "dpcnn_digits"
    rates = row["paths"]["reference"]["rates"]
    assert len(rates) == 2 and min(rates) > 0  # the equality checks of other paths run where neurons fire
    assert row["paths"]["reference"]["fwd_s"] > 0 and row["paths"]["reference"]["fwdbwd_s"] > 0


def test_implementations_follow_registrations_after_a_cached_lookup():
    """Every neuron call looks its implementations up (cached per registry version): a kernel registered or
    removed afterwards is seen by the next call."""
    assert "fx_cache_probe" not in implementations("lif_multistep")

    def probe(x_seq, v0, **kw):
        return lif_multistep_reference(x_seq, v0, **kw)

    zoo.register_kernel("lif_multistep", "fx_cache_probe", probe)
    try:
        assert implementations("lif_multistep")["fx_cache_probe"].impl == "fx_cache_probe"
        args, kw = _call(torch.randn(3, 2, 4))
        assert select("lif_multistep", *args, kernel="fx_cache_probe", **kw).impl == "fx_cache_probe"
    finally:
        zoo.unregister("kernel", "lif_multistep:fx_cache_probe")
    assert "fx_cache_probe" not in implementations("lif_multistep")


def test_hints_reach_only_implementations_that_take_them():
    """``keep_state`` came after plugin API 1.4: an alternate, ``supports`` or ``prefer`` written without it (a
    fixed signature, no ``**kwargs``) is called without it; one that names it gets it."""
    seen: dict[str, object] = {}

    def old_style(x_seq, v0, *, tau, k, v_threshold, v_reset, decay_input, detach_reset, surrogate):
        seen["old"] = "called"
        return lif_multistep_reference(
            x_seq,
            v0,
            tau=tau,
            k=k,
            v_threshold=v_threshold,
            v_reset=v_reset,
            decay_input=decay_input,
            detach_reset=detach_reset,
            surrogate=surrogate,
        )

    def old_supports(x_seq, v0, *, tau, k, v_threshold, v_reset, decay_input, detach_reset, surrogate):
        return True

    def new_style(x_seq, v0, *, keep_state=True, **kw):
        seen["keep_state"] = keep_state
        return lif_multistep_reference(x_seq, v0, **kw)

    zoo.register_kernel("lif_multistep", "fx_old_style", old_style, supports=old_supports)
    zoo.register_kernel("lif_multistep", "fx_new_style", new_style)
    try:
        x = torch.randn(3, 2, 4) + 0.8
        expected = zoo.create_neuron("lif", kernel="reference")(x)
        assert torch.equal(zoo.create_neuron("lif", kernel="fx_old_style")(x), expected)
        assert seen["old"] == "called"
        assert torch.equal(zoo.create_neuron("lif", kernel="fx_new_style")(x), expected)
        assert seen["keep_state"] is False  # a neuron outside streaming mode discards V_T
    finally:
        zoo.unregister("kernel", "lif_multistep:fx_old_style")
        zoo.unregister("kernel", "lif_multistep:fx_new_style")
