"""Conformance kit: the checks every registered neuron and model must pass.

Plugins call these from their own tests; the core's test suite runs them over every registered entry::

    from zoo_core.testing import check_model, check_neuron

    def test_my_neuron():
        check_neuron("my_lif")

    def test_my_model():
        check_model("my_net")            # uses ModelInfo.test_config (small sizes) + overrides

Each check raises :class:`ConformanceError` (an ``AssertionError``) that names the entry, the check and what was
expected. The checks follow the model's declared task and I/O spec (:class:`zoo_core.info.IOSpec`):

models
    forward on every declared input gives the declared output shape; outputs are finite; backward reaches every
    trainable parameter; two identical calls give identical outputs (no leaked state), also with another batch
    in between; in eval mode a sample's output does not depend on the rest of its batch (float64); a state-dict
    round trip through safetensors is bit-exact; float64 works; bad input (wrong rank, NaN, ``T <= 0``) raises a
    ``ValueError`` (zoo's ``InputError``/``ConfigError``) with a message. The model's task adds its own checks
    (:meth:`zoo_core.tasks.Task.check_model`, :meth:`~zoo_core.tasks.Task.bad_inputs`): a classifier gives the
    same logits for a static image and for that image repeated T times as frames, and refuses wrong channels.
neurons
    output ``[T, B, ...]``; identical calls identical (no leaked state); streaming one step at a time and in
    chunks equals one multi-step call (a non-causal neuron, ``causal = False``, must instead refuse streaming
    with a clear error); ``zoo.reset`` returns to rest; gradients reach the input and every parameter; dtype
    (float32, float64) is preserved; bad input (rank < 2, T = 0, integer dtype) raises. The kit feeds
    ``T = 6`` steps; ``NeuronInfo.test_config`` holds constructor overrides it builds the neuron with.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Iterator
from typing import Any

import torch
from safetensors.torch import load, save
from torch import Tensor, nn

from .api import create_model, create_neuron, get_task, model_info, neuron_info
from .info import ModelInfo, TensorSpec
from .neurons.base import SPIKE_KINDS, BaseNeuron, reset, streaming
from .tasks import Task

__all__ = ["ConformanceError", "check_model", "check_neuron", "make_input"]


class ConformanceError(AssertionError):
    """A registered component broke the zoo's contract."""


def _fail(who: str, check: str, why: str) -> ConformanceError:
    return ConformanceError(f"{who}: check '{check}' failed: {why}")


@contextlib.contextmanager
def _check(who: str, check: str) -> Iterator[None]:
    """Turn any unexpected exception inside a check into a ConformanceError naming the check."""
    try:
        yield
    except ConformanceError:
        raise
    except Exception as exc:
        raise _fail(who, check, f"raised {type(exc).__name__}: {exc}") from exc


def _expect_error(who: str, check: str, fn: Callable[[], Any], what: str) -> None:
    try:
        fn()
    except (ValueError, TypeError) as exc:
        if not str(exc).strip():
            raise _fail(who, check, f"{what} raised {type(exc).__name__} without a message") from exc
        return
    except Exception as exc:
        raise _fail(
            who,
            check,
            f"{what} raised {type(exc).__name__} ({exc}); expected a ValueError "
            "(zoo_core.errors.InputError / ConfigError) with a clear message",
        ) from exc
    raise _fail(who, check, f"{what} was accepted silently; it must raise a ValueError naming the problem")


def make_input(
    spec: TensorSpec,
    config: dict[str, Any],
    batch: int = 2,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    sizes: dict[str, int] | None = None,
) -> Tensor:
    """A deterministic random tensor for ``spec`` (``unit``: [0,1), ``binary``: 0/1, ``real``: normal); free
    dimensions at ``sizes`` (default: the kit's sizes)."""
    g = torch.Generator().manual_seed(seed)
    shape = spec.resolve(config, batch, sizes)
    if spec.kind == "binary":
        return (torch.rand(shape, generator=g) < 0.3).to(dtype)
    if spec.kind == "unit":
        return torch.rand(shape, generator=g).to(dtype)
    return torch.randn(shape, generator=g).to(dtype)


def _batch_dim(spec: TensorSpec) -> int:
    return list(spec.shape).index("B")


def _same(a: Tensor, b: Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and bool(torch.equal(a, b))


# ------------------------------------------------------------------------------------------------- models
def check_model(name: str, **overrides: Any) -> None:
    """Run the model battery on ``name`` built with ``ModelInfo.test_config`` updated by ``overrides``."""
    info: ModelInfo = model_info(name)
    task = get_task(info.task)
    cfg = {**info.test_config, **overrides}
    who = f"model {name!r}"

    def build(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return create_model(name, **cfg)

    with _check(who, "construct"):
        model = build(0)
    config = dict(getattr(model, "zoo_args", cfg))
    io = info.io or task.io
    out_spec = io.output
    with _check(who, "io spec"):
        out_shape = out_spec.resolve(config)
        inputs = [(spec, make_input(spec, config, seed=i)) for i, spec in enumerate(io.inputs)]
    if not inputs:
        raise _fail(who, "io spec", "the model declares no inputs")

    # forward shapes, finiteness
    model.eval()
    for spec, x in inputs:
        with _check(who, f"forward on {spec.name}"), torch.no_grad():
            y = model(x)
        if not isinstance(y, Tensor):
            raise _fail(who, f"forward on {spec.name}", f"returned {type(y).__name__}, expected a Tensor")
        if tuple(y.shape) != out_shape:
            raise _fail(
                who,
                f"output shape for {spec.name}",
                f"input {tuple(x.shape)} gave {tuple(y.shape)}, declared {out_spec.shape} = {out_shape}",
            )
        if not bool(torch.isfinite(y).all()):
            raise _fail(who, f"finite output for {spec.name}", "the output contains NaN or Inf")

    _check_model_free_sizes(who, model, io.inputs, out_spec, config)
    spec0, x0 = inputs[0]
    _check_model_backward(who, model, x0)
    _check_model_determinism(who, model, spec0, x0, config)
    _check_model_batch_independence(who, model, spec0, out_spec, config)
    _check_model_roundtrip(who, model, build, x0)
    _check_model_float64(who, model, x0)
    with _check(who, f"task {task.name!r} checks"):
        try:
            task.check_model(who, model, inputs, config)
        except AssertionError as exc:
            raise ConformanceError(str(exc)) from exc
    _check_model_bad_input(who, name, model, x0, cfg, info, task)


def _check_model_backward(who: str, model: nn.Module, x: Tensor) -> None:
    model.train()
    model.zero_grad(set_to_none=True)
    with _check(who, "backward"):
        y = model(x)
        w = torch.randn(y.shape, generator=torch.Generator().manual_seed(1), dtype=y.dtype)
        (y * w).sum().backward()
    dead = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    if dead:
        raise _fail(
            who,
            "backward reaches every parameter",
            f"no gradient for {', '.join(dead[:8])}"
            + (f" and {len(dead) - 8} more" if len(dead) > 8 else "")
            + " (unused parameter, a detach, or a non-differentiable spike function)",
        )
    bad = [
        n
        for n, p in model.named_parameters()
        if p.grad is not None and not bool(torch.isfinite(p.grad).all())
    ]
    if bad:
        raise _fail(who, "finite gradients", f"NaN/Inf gradient in {', '.join(bad[:8])}")
    model.zero_grad(set_to_none=True)
    model.eval()


def _check_model_determinism(who: str, model: nn.Module, spec: TensorSpec, x: Tensor, config: dict) -> None:
    model.eval()
    with torch.no_grad(), _check(who, "identical calls"):
        a = model(x)
        b = model(x)
        other = make_input(spec, config, seed=99)
        model(other)
        c = model(x)
    if not _same(a, b):
        raise _fail(
            who,
            "identical calls",
            "two identical calls gave different outputs (state leaks between "
            f"calls?), max diff {float((a - b).abs().max()):.3g}",
        )
    if not _same(a, c):
        raise _fail(
            who,
            "no state across calls",
            "a call with another batch in between changed the output; "
            "every forward must start from reset state",
        )


def _check_model_free_sizes(
    who: str, model: nn.Module, specs: tuple[TensorSpec, ...], out_spec: TensorSpec, config: dict
) -> None:
    """A declared free dimension is any size: each input again at twice the kit's sizes, the output's free
    dimensions following."""
    doubled = {d: 2 * n for spec in (*specs, out_spec) for d, n in spec.free.items()}
    for i, spec in enumerate(specs):
        if not spec.free:
            continue
        x = make_input(spec, config, seed=i, sizes=doubled)
        want = out_spec.resolve(config, sizes=doubled)
        with _check(who, f"forward on {spec.name} at free sizes {doubled}"), torch.no_grad():
            y = model(x)
        if tuple(y.shape) != want:
            raise _fail(
                who,
                f"free dimensions of {spec.name}",
                f"input {tuple(x.shape)} gave {tuple(y.shape)}, declared {out_spec.shape} = {want} (free "
                f"dimensions {sorted(doubled)} at twice the kit's sizes)",
            )


def _check_model_batch_independence(
    who: str, model: nn.Module, spec: TensorSpec, out_spec: TensorSpec, config: dict
) -> None:
    m = copy.deepcopy(model).double().eval()
    xb = make_input(spec, config, batch=3, seed=5, dtype=torch.float64)
    with torch.no_grad(), _check(who, "batch independence"):
        full = m(xb)
        single = m(xb.narrow(_batch_dim(spec), 1, 1))
    ref = full.narrow(_batch_dim(out_spec), 1, 1)
    if not torch.allclose(single, ref, rtol=1e-7, atol=1e-9):
        raise _fail(
            who,
            "eval-mode batch independence",
            "a sample's output depends on the rest of its batch "
            f"(max diff {float((single - ref).abs().max()):.3g} in float64); BatchNorm left in train "
            "mode, or statistics computed over the batch?",
        )


def _check_model_roundtrip(who: str, model: nn.Module, build: Callable[[int], nn.Module], x: Tensor) -> None:
    with _check(who, "safetensors round trip"):
        sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
        blob = save(sd)
        other = build(12345)
        other.load_state_dict(load(blob), strict=True)
    for k, v in other.state_dict().items():
        if not _same(v, sd[k]):
            raise _fail(who, "safetensors round trip", f"tensor {k!r} changed in the round trip")
    model.eval()
    other.eval()
    with torch.no_grad():
        a, b = model(x), other(x)
    if not _same(a, b):
        raise _fail(
            who,
            "safetensors round trip",
            "a model loaded from the saved state dict gives different "
            "outputs: some state (a buffer?) is not in the state dict",
        )


def _check_model_float64(who: str, model: nn.Module, x: Tensor) -> None:
    m = copy.deepcopy(model).double().eval()
    with torch.no_grad(), _check(who, "float64"):
        y = m(x.double())
    if y.dtype != torch.float64:
        raise _fail(who, "float64", f"a float64 model and input gave {y.dtype}")


def _check_model_bad_input(
    who: str, name: str, model: nn.Module, x: Tensor, cfg: dict, info: ModelInfo, task: Task
) -> None:
    model.eval()
    check = "bad input"
    with torch.no_grad():
        _expect_error(
            who,
            check,
            lambda: model(x.flatten(0, 1)),
            f"an input of wrong rank {tuple(x.flatten(0, 1).shape)}",
        )
        nan = x.clone()
        nan.view(-1)[0] = float("nan")
        _expect_error(who, check, lambda: model(nan), "an input containing NaN")
        for what, bad in task.bad_inputs(x):
            _expect_error(who, check, lambda bad=bad: model(bad), what)
    if "T" in info.defaults or "T" in cfg:
        _expect_error(who, check, lambda: create_model(name, **{**cfg, "T": 0}), "create_model(..., T=0)")


# ------------------------------------------------------------------------------------------------- neurons
#: time steps of the inputs :func:`check_neuron` feeds
NEURON_CHECK_T = 6


def check_neuron(name: str, **kwargs: Any) -> None:
    """Run the neuron battery on ``create_neuron(name, **test_config, **kwargs)`` (inputs have ``T = 6``)."""
    who = f"neuron {name!r}"
    with _check(who, "construct"):
        torch.manual_seed(0)
        n = create_neuron(name, **{**neuron_info(name).test_config, **kwargs})
    if not isinstance(n, BaseNeuron):
        raise _fail(who, "base class", f"{type(n).__name__} must subclass zoo_core.neurons.BaseNeuron")
    g = torch.Generator().manual_seed(0)
    T, B = NEURON_CHECK_T, 3
    x = torch.rand(T, B, 4, 5, generator=g) * 2.0  # mean 1: crosses a unit threshold often
    x2 = torch.rand(T, B, 4, 5, generator=g) * 3.0

    with torch.no_grad(), _check(who, "forward"):
        a = n(x)
    if not isinstance(a, Tensor) or tuple(a.shape[:2]) != (T, B):
        raise _fail(
            who,
            "output shape",
            f"input {tuple(x.shape)} gave "
            f"{tuple(a.shape) if isinstance(a, Tensor) else type(a).__name__}; expected [T, B, ...]",
        )
    if not bool(torch.isfinite(a).all()):
        raise _fail(who, "finite output", "the output contains NaN or Inf")
    kind = getattr(n, "spike_kind", "binary")
    if kind not in SPIKE_KINDS:
        raise _fail(who, "spike kind", f"spike_kind is {kind!r}; declare one of {SPIKE_KINDS}")
    if kind == "binary" and not bool(((a == 0) | (a == 1)).all()):
        raise _fail(
            who,
            "binary spikes",
            f"spike_kind is 'binary' (the default) but the output holds values outside {{0, 1}} (e.g. "
            f"{float(a[(a != 0) & (a != 1)][0]):g}); declare spike_kind = 'graded' (a few amplitude levels) or "
            "'real' (real values) so that zoo.profile counts the operations it drives correctly",
        )
    with torch.no_grad():
        b = n(x)
        n(x2)
        c = n(x)
    if not (_same(a, b) and _same(a, c)):
        raise _fail(
            who,
            "no state across calls",
            "identical calls gave different outputs; every forward must "
            "start from rest unless streaming is switched on",
        )

    if getattr(n, "causal", True):
        with torch.no_grad(), _check(who, "streaming"):
            with streaming(n):
                steps = torch.stack([n.step(xt) for xt in x.unbind(0)])
            with streaming(n):
                chunks = torch.cat([n(x[:2]), n(x[2:3]), n(x[3:])])
        if not torch.allclose(steps, a, rtol=0, atol=1e-6) or not torch.allclose(
            chunks, a, rtol=0, atol=1e-6
        ):
            raise _fail(
                who,
                "streaming equals multi-step",
                "running one step (or one chunk) at a time with state "
                "carried across calls differs from one multi-step call",
            )
    else:
        with torch.no_grad(), streaming(n):
            _expect_error(
                who, "non-causal neuron refuses streaming", lambda: n.step(x[0]), "streaming one step"
            )
    with torch.no_grad():
        if getattr(n, "causal", True):
            n.step(x[0])
        reset(n)
        n.streaming = False
        d = n(x)
    if getattr(n, "state", {}) or not _same(a, d):
        raise _fail(who, "reset", "zoo.reset(neuron) did not return the neuron to rest")

    xg = x.clone().requires_grad_(True)
    n.zero_grad(set_to_none=True)
    with _check(who, "backward"):
        out = n(xg)
    if not out.requires_grad:
        raise _fail(
            who,
            "gradient reaches the input",
            "the output does not require grad: the spike function must be differentiable through a surrogate",
        )
    with _check(who, "backward"):
        w = torch.randn(out.shape, generator=torch.Generator().manual_seed(3))
        (out * w).sum().backward()
    if xg.grad is None or not bool(torch.isfinite(xg.grad).all()) or not bool((xg.grad != 0).any()):
        raise _fail(
            who,
            "gradient reaches the input",
            "the input gradient is missing, non-finite or all zero "
            "(is the spike function differentiable through a surrogate?)",
        )
    dead = [k for k, p in n.named_parameters() if p.requires_grad and p.grad is None]
    if dead:
        raise _fail(who, "gradient reaches every parameter", f"no gradient for {', '.join(dead)}")

    for dtype in (torch.float32, torch.float64):
        m = copy.deepcopy(n).to(dtype)
        with torch.no_grad(), _check(who, f"{dtype}"):
            y = m(x.to(dtype))
        if y.dtype != dtype or y.device != x.device:
            raise _fail(who, "dtype and device preserved", f"{dtype} input gave {y.dtype} on {y.device}")

    check = "bad input"
    _expect_error(who, check, lambda: n(torch.rand(5)), "a 1-D input (no [T, B] dimensions)")
    _expect_error(who, check, lambda: n(torch.rand(0, 2, 3)), "an input with T = 0")
    _expect_error(who, check, lambda: n(torch.ones(3, 2, 4, dtype=torch.int64)), "an integer input")
