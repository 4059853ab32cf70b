"""Helpers for official-parity scripts and equality checks: one random state dict for both sides, weights that make
a network fire (:func:`make_fire`), firing rates, a pass/fail report.

A parity script (``plugins/<p>/scripts/official_parity.py``) builds the official model and the zoo's, loads the
same deterministic weights into both, runs them in float64 and compares every output. An equality between two
networks whose neurons never fire proves nothing (all-zero spikes make every downstream layer agree), so the
weights here are drawn to make neurons fire and :class:`FiringRecorder` reports how often they did::

    from zoo_core.testing_parity import FiringRecorder, max_abs_diff, randomise_state_dict, report

    sd = randomise_state_dict(official.state_dict(), seed=0)
    official.load_state_dict(sd)
    zoo_model.load_state_dict(from_official(sd))
    with FiringRecorder(zoo_model) as fr:
        z = zoo_model(x)
    ok = report("resnet18", {"logits": max_abs_diff(official(x), z)}, fr.summary(), tol=1e-12)

Nothing here imports official code; the scripts put the official checkout on ``sys.path`` themselves.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import re
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import ModuleType, TracebackType
from typing import NoReturn

import torch
from torch import Tensor, nn

from .neurons.base import BaseNeuron

__all__ = [
    "THRESHOLD_NAMES",
    "FiringRecorder",
    "grad_diff",
    "is_spiking_module",
    "load_script",
    "make_fire",
    "max_abs_diff",
    "missing_checkout_error",
    "parse_parity_args",
    "randomise_state_dict",
    "report",
    "state_diff",
    "summarise",
    "wanted",
]

#: last key component (lower case) of a parameter/buffer treated as a firing threshold (drawn positive)
THRESHOLD_NAMES = frozenset(
    {"v_th", "vth", "v_threshold", "threshold", "thresh", "th", "theta", "up", "v_thr", "threshold_value"}
)
#: class names (anywhere in the MRO) of neuron modules in the zoo and in common SNN libraries
_NEURON_BASES = frozenset({"BaseNeuron", "ConversionNeuron", "BaseNode", "Neuron", "SpikingNeuron"})
_NEURON_NAME = re.compile(r"(Node|Neuron|LIF|IF|Spike|Spiking)$")


def _key_seed(seed: int, key: str) -> int:
    return (seed * 1_000_003 + zlib.crc32(key.encode())) % (2**63 - 1)


def randomise_state_dict(
    sd: Mapping[str, Tensor],
    seed: int,
    dtype: torch.dtype = torch.float64,
    *,
    gain: float = 1.5,
    thresholds: Iterable[str] = THRESHOLD_NAMES,
    threshold_range: tuple[float, float] = (0.5, 1.0),
    keep: Callable[[str, Tensor], bool] | None = None,
) -> dict[str, Tensor]:
    r"""A deterministic random copy of ``sd`` in ``dtype`` with non-trivial BatchNorm statistics.

    Each entry is drawn from its own generator seeded by ``(seed, key)``, so a key's values do not depend on the
    other keys or their order. By the last key component ``k`` and the tensor ``v``:

    * integer / bool tensors (``num_batches_tracked``, masks) and entries with ``keep(key, v)`` true: copied;
    * ``running_var``: :math:`U(0.5, 1.5)` (strictly positive); ``running_mean``: :math:`U(-0.1, 0.1)`;
    * ``k`` in ``thresholds`` (firing thresholds, clip levels): :math:`U(a, b)` with
      ``(a, b) = threshold_range`` (positive);
    * other 1-D ``weight`` (BatchNorm/LayerNorm scale): :math:`U(0.5, 1.5)`; ``bias``: :math:`U(-0.1, 0.1)`;
    * other 0-D or 1-D floats (decay constants, learnable scalars): copied, cast to ``dtype``;
    * tensors of rank >= 2 (convolution/linear weights, embeddings): :math:`\mathcal N(0, \sigma^2)` with
      :math:`\sigma = \text{gain}\sqrt{2/\text{fan\_in}}`, ``fan_in = v[0].numel()`` — He initialisation scaled by
      ``gain`` (default 1.5) so membrane potentials cross thresholds of order 1 and neurons fire.
    """
    names = {t.lower() for t in thresholds}
    out: dict[str, Tensor] = {}
    for key, v in sd.items():
        if not torch.is_tensor(v):
            raise TypeError(f"randomise_state_dict: entry {key!r} is {type(v).__name__}, not a tensor")
        last = key.rsplit(".", 1)[-1].lower()
        if not v.is_floating_point() or (keep is not None and keep(key, v)):
            out[key] = v.clone()
            continue
        g = torch.Generator().manual_seed(_key_seed(seed, key))
        r = torch.rand(v.shape, generator=g, dtype=dtype)
        if last == "running_var":
            out[key] = r + 0.5
        elif last == "running_mean":
            out[key] = (r - 0.5) * 0.2
        elif last in names:
            lo, hi = threshold_range
            out[key] = lo + (hi - lo) * r
        elif v.dim() == 1 and last == "weight":
            out[key] = r + 0.5
        elif last == "bias":
            out[key] = (r - 0.5) * 0.2
        elif v.dim() <= 1:
            out[key] = v.detach().to(dtype).clone()
        else:
            std = gain * math.sqrt(2.0 / max(1, v[0].numel()))
            out[key] = torch.randn(v.shape, generator=g, dtype=dtype) * std
    return out


#: :func:`make_fire`: the affine every normalisation layer gets (normalised pre-activations ~ N(0.6, 2^2))
FIRE_WEIGHT, FIRE_BIAS = 2.0, 0.6


def _is_norm(m: nn.Module) -> bool:
    return "Norm" in type(m).__name__


def make_fire(
    model: nn.Module,
    x: Tensor,
    *,
    seed: int | None = None,
    calls: int | None = None,
    weight: float = FIRE_WEIGHT,
    bias: float = FIRE_BIAS,
) -> nn.Module:
    r"""Make ``model``'s neurons fire at rates like a trained network's (about 0.05-0.6 per layer), in place, so
    that an equality between two kernel paths or implementations proves something (on a silent network every
    downstream layer agrees whatever it computes). Returns ``model`` in eval mode.

    1. ``seed`` given: every convolution and ``nn.Linear`` weight is redrawn from
       :math:`\mathcal N(0, 1/\text{fan\_in})` (``fan_in = weight[0].numel()``) with a generator seeded by
       ``seed`` (the global RNG is untouched; biases are kept): each layer keeps its input's scale, whatever the
       model's own initialisation (a std-0.02 one lets spikes die out where no normalisation follows).
    2. Every normalisation layer (a module whose class name contains ``Norm``) with an affine weight and bias gets
       :math:`\gamma = ` ``weight`` (2) and :math:`\beta = ` ``bias`` (0.6): its outputs are
       :math:`\mathcal N(0.6, 2^2)` per channel, which cross a threshold of order 1 in part of the steps only.
    3. Their statistics are taken from ``x`` (the model's input, passed as ``model(x)``): ``calls`` training-mode
       forwards under ``no_grad``. torch's BatchNorms first reset their running statistics and average over the
       calls (``momentum=None``, restored after), so 2 calls suffice (the default); if another module among the
       norms keeps running statistics with its own momentum, the default is 10 calls. Other training-mode
       statistics (e.g. SpikingResformer's DSSA firing-rate buffers) are set by the same calls.
    """
    if calls is None:
        other = any(
            _is_norm(m) and hasattr(m, "running_mean") and not isinstance(m, nn.modules.batchnorm._BatchNorm)
            for m in model.modules()
        )
        calls = 10 if other else 2
    if calls < 1:
        raise ValueError(f"make_fire: calls must be at least 1, got {calls}")
    g = None if seed is None else torch.Generator().manual_seed(seed)
    bns: list[tuple[nn.modules.batchnorm._BatchNorm, float | None]] = []
    with torch.no_grad():
        for m in model.modules():
            if g is not None and isinstance(m, nn.modules.conv._ConvNd | nn.Linear):
                w = torch.randn(m.weight.shape, generator=g, dtype=torch.float64) / m.weight[0].numel() ** 0.5
                m.weight.copy_(w)
            if not _is_norm(m):
                continue
            if getattr(m, "weight", None) is not None and getattr(m, "bias", None) is not None:
                m.weight.fill_(weight)
                m.bias.fill_(bias)
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                m.reset_running_stats()
                bns.append((m, m.momentum))
                m.momentum = None  # cumulative average over the calibration calls
        model.train()
        try:
            for _ in range(calls):
                model(x)
        finally:
            for m, momentum in bns:
                m.momentum = momentum
    return model.eval()


def is_spiking_module(module: nn.Module) -> bool:
    """True for zoo neurons and for modules that look like neurons of another library.

    A module counts when it is a :class:`zoo_core.BaseNeuron`, or a class in its MRO is named ``BaseNeuron``,
    ``ConversionNeuron``, ``BaseNode`` (SpikingJelly), ``Neuron`` or ``SpikingNeuron``, or its own class name ends
    in ``Node``, ``Neuron``, ``LIF``, ``IF``, ``Spike`` or ``Spiking``. Pass an explicit predicate to
    :class:`FiringRecorder` for anything else.
    """
    if isinstance(module, BaseNeuron):
        return True
    if any(c.__name__ in _NEURON_BASES for c in type(module).__mro__):
        return True
    return bool(_NEURON_NAME.search(type(module).__name__))


def _first_tensor(out: object) -> Tensor | None:
    if torch.is_tensor(out):
        return out
    if isinstance(out, tuple | list):
        for o in out:
            t = _first_tensor(o)
            if t is not None:
                return t
    return None


class FiringRecorder:
    r"""Context manager recording the firing rate of every selected module while it is active.

    The rate of module ``m`` is :math:`\sum \#\{o \ne 0\} / \sum \#o` over all its outputs ``o`` (the first tensor
    of a tuple output) during the ``with`` block. ``select(name, module)`` picks the modules (default:
    :func:`is_spiking_module`); modules nested inside a selected one are skipped, so a neuron built from
    sub-neurons counts once. Hooks are removed on exit. ``rates`` maps module names to rates (only modules that
    were called); :meth:`summary` condenses them.
    """

    def __init__(
        self,
        model: nn.Module,
        select: Callable[[str, nn.Module], bool] | None = None,
        prefix: str = "",
    ) -> None:
        self.model = model
        self.select = select or (lambda _name, m: is_spiking_module(m))
        self.prefix = prefix
        self._counts: dict[str, list[int]] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _hook(self, name: str) -> Callable[[nn.Module, object, object], None]:
        def hook(_m: nn.Module, _inp: object, out: object) -> None:
            t = _first_tensor(out)
            if t is None:
                return
            c = self._counts.setdefault(name, [0, 0])
            c[0] += int(torch.count_nonzero(t.detach()))
            c[1] += t.numel()

        return hook

    def __enter__(self) -> FiringRecorder:
        chosen: list[str] = []
        for name, m in self.model.named_modules():
            if any(c == "" or name.startswith(c + ".") for c in chosen):
                continue
            if self.select(name, m):
                chosen.append(name)
                self._handles.append(m.register_forward_hook(self._hook(self.prefix + (name or "<root>"))))
        if not chosen:
            self.close()
            raise ValueError(
                f"FiringRecorder: no module of {type(self.model).__name__} matched the selection"
            )
        return self

    def close(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def rates(self) -> dict[str, float]:
        """Firing rate per recorded module name (modules never called are absent)."""
        return {k: n / t if t else 0.0 for k, (n, t) in self._counts.items()}

    def summary(self, label: str = "rate") -> dict[str, float]:
        """``{label min, label mean, label max, label silent layers, label layers}`` over :attr:`rates`.

        Empty if nothing was recorded. The two ``... layers`` entries are counts (:func:`report` prints them as
        integers and does not take them for rates).
        """
        r = list(self.rates.values())
        if not r:
            return {}
        return {
            f"{label} min": min(r),
            f"{label} mean": sum(r) / len(r),
            f"{label} max": max(r),
            f"{label} silent layers": float(sum(1 for v in r if v == 0)),
            f"{label} layers": float(len(r)),
        }


def max_abs_diff(a: Tensor, b: Tensor) -> float:
    """:math:`\\max |a - b|` in float64 (``inf`` if either holds a NaN); shapes must match exactly."""
    if a.shape != b.shape:
        raise ValueError(f"max_abs_diff: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.numel() == 0:
        return 0.0
    d = (a.detach().double() - b.detach().double()).abs()
    return math.inf if bool(torch.isnan(d).any()) else float(d.max())


def state_diff(
    a: Mapping[str, Tensor],
    b: Mapping[str, Tensor],
    keys: Iterable[str] | None = None,
    rename: Callable[[str], str] = lambda k: k,
    reshape: bool = False,
) -> float:
    """Largest :func:`max_abs_diff` between ``a[k]`` and ``b[rename(k)]`` over ``keys`` (default: all of ``a``).

    A key missing from ``b`` raises ``KeyError`` naming it. With ``reshape``, an entry of another shape but the
    same number of elements is compared after reshaping it to ``a[k]``'s shape.
    """
    worst = 0.0
    for k in a if keys is None else keys:
        if rename(k) not in b:
            raise KeyError(f"state_diff: {rename(k)!r} (from {k!r}) is missing on the other side")
        other = b[rename(k)]
        if reshape and other.shape != a[k].shape and other.numel() == a[k].numel():
            other = other.reshape(a[k].shape)
        worst = max(worst, max_abs_diff(a[k], other))
    return worst


def grad_diff(
    a: nn.Module,
    b: nn.Module,
    rename: Callable[[str], str] = lambda k: k,
    relative: bool = False,
    reshape: bool = False,
) -> float:
    r"""Largest gradient difference between parameter ``n`` of ``a`` and ``rename(n)`` of ``b``.

    With ``relative``, each difference is divided by :math:`\max|\nabla_a|` of that parameter. A parameter with a
    gradient on one side only raises ``AssertionError`` naming it; parameters without gradient on both sides are
    skipped. With ``reshape``, a gradient of another shape but the same number of elements (a parameter stored in
    another layout) is compared after reshaping to ``a``'s shape.
    """
    pb = dict(b.named_parameters())
    worst = 0.0
    for n, p in a.named_parameters():
        q = pb.get(rename(n))
        if q is None:
            raise KeyError(f"grad_diff: parameter {rename(n)!r} (from {n!r}) is missing on the other side")
        if (p.grad is None) != (q.grad is None):
            raise AssertionError(f"grad_diff: {n!r} has a gradient on one side only")
        if p.grad is None:
            continue
        qg = q.grad.reshape(p.grad.shape) if reshape and q.grad.numel() == p.grad.numel() else q.grad
        d = max_abs_diff(p.grad, qg)
        if relative:
            d /= max(float(p.grad.abs().max()), 1e-300)
        worst = max(worst, d)
    return worst


_SUMMARY_KEY = re.compile(r"^(.*?) ?\b(min|mean|max|silent layers|layers)$")


def _rate_lines(rates: Mapping[str, float], width: int) -> list[str]:
    """Group ``<label> min/mean/max/silent layers/layers`` into one line per label; others one line each."""
    groups: dict[str, dict[str, float]] = {}
    for k, v in rates.items():
        m = _SUMMARY_KEY.match(k)
        label, part = (m.group(1), m.group(2)) if m else (k, "")
        groups.setdefault(label, {})[part] = v
    lines = []
    for label, parts in groups.items():
        if set(parts) == {""}:
            lines.append(f"  {label:<{width}}  {parts['']:.4f}")
            continue
        bits = [f"{p} {parts[p]:.4f}" for p in ("min", "mean", "max") if p in parts]
        if "layers" in parts:
            bits.append(f"silent {int(parts.get('silent layers', 0))}/{int(parts['layers'])} layers")
        lines.append(f"  {label + ' firing rate':<{width}}  " + ", ".join(bits))
    return lines


def report(
    title: str,
    diffs: Mapping[str, float],
    rates: Mapping[str, float],
    tol: float,
    require_firing: bool = True,
) -> bool:
    """Print one aligned block of differences and firing rates; ``True`` if every difference is ``<= tol``.

    A NaN difference fails. With ``require_firing`` (default) the block also fails when no rate is given or every
    rate is zero: an equality between silent networks is vacuous. Rates named ``<label> min``, ``... mean``,
    ``... max``, ``... silent layers``, ``... layers`` (:meth:`FiringRecorder.summary`) are printed on one line
    per label; the two ``layers`` entries are counts, not rates.
    """
    bad = [k for k, v in diffs.items() if not (v <= tol)]
    real = {k: v for k, v in rates.items() if not k.endswith("layers")}
    silent = require_firing and (not real or max(real.values()) <= 0)
    ok = not bad and not silent
    labels = {
        (_SUMMARY_KEY.match(k).group(1) + " firing rate") if _SUMMARY_KEY.match(k) else k for k in rates
    }
    width = max((len(k) for k in (*diffs, *labels)), default=0)
    lines = [f"== {title}: {'PASS' if ok else 'FAIL'} (tol {tol:.1e})"]
    for k, v in diffs.items():
        lines.append(f"  {k:<{width}}  {v:.3e}{'  > tol' if k in bad else ''}")
    lines += _rate_lines(rates, width)
    if silent:
        lines.append("  no spiking layer fired: the comparison is vacuous")
    print("\n".join(lines), flush=True)
    return ok


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def parse_parity_args(
    argv: Sequence[str] | None, doc: str | None, required: Sequence[str], prog: str = "official_parity.py"
) -> argparse.Namespace:
    """Arguments of an official-parity script: ``OFFICIAL_REPO_DIR [--site DIR ...] [--tol TOL] [--only TEXT ...]``.

    ``required`` lists paths (relative to the official checkout) that must exist. Each ``--site`` directory
    (scratch installs of the official code's dependencies, e.g. SpikingJelly) and then the checkout are put first
    on ``sys.path``. A missing or wrong directory exits with status 2 and one line on stderr naming it. ``--tol``
    defaults to ``None`` (the script's own tolerance); ``--only`` (repeatable) keeps the configurations whose name
    contains one of the texts (case-insensitive; test with :func:`wanted`).
    """
    p = _OneLineParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "official_dir", metavar="OFFICIAL_REPO_DIR", help="local checkout of the official repository"
    )
    p.add_argument(
        "--site", action="append", default=[], metavar="DIR", help="extra sys.path entry (repeatable)"
    )
    p.add_argument("--tol", type=float, default=None, help="largest accepted abs difference")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TEXT",
        help="run the configurations whose name has TEXT",
    )
    a = p.parse_args(argv)
    root = Path(a.official_dir)
    if not root.is_dir():
        p.exit(2, f"{prog}: error: OFFICIAL_REPO_DIR {str(root)!r} is not a directory\n")
    missing = [r for r in required if not (root / r).exists()]
    if missing:
        p.exit(
            2,
            f"{prog}: error: {str(root)!r} is not a checkout of the official repository "
            f"(missing {', '.join(missing)})\n",
        )
    for s in a.site:
        if not Path(s).is_dir():
            p.exit(2, f"{prog}: error: --site {s!r} is not a directory\n")
    for entry in [str(root), *reversed(a.site)]:
        sys.path.insert(0, entry)
    a.official_dir = root
    return a


def wanted(args: argparse.Namespace, name: str) -> bool:
    """Whether the configuration ``name`` is selected by ``--only`` (all are when it is not given)."""
    return not args.only or any(t.lower() in name.lower() for t in args.only)


def summarise(results: list[bool]) -> int:
    """Print ``k/n configurations pass: ALL PASS`` (or ``SOME FAILED``) and return the exit status: 0 only if
    at least one configuration ran and every one passed."""
    ok = bool(results) and all(results)
    print(
        f"{sum(results)}/{len(results)} configurations pass: " + ("ALL PASS" if ok else "SOME FAILED"),
        flush=True,
    )
    return 0 if ok else 1


# ------------------------------------------------------------------------------------------------ script tests
def load_script(path: str | Path, name: str) -> ModuleType:
    """Import a plugin's ``scripts/official_parity.py`` as module ``name`` (scripts are not packages), so a
    test can call its ``main([...])`` and its helpers without the official code."""
    spec = importlib.util.spec_from_file_location(name, Path(path))
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a module")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def missing_checkout_error(script: str | Path, missing: str | Path) -> str:
    """Run ``python SCRIPT MISSING`` (a directory that does not exist) and return its one error line; raise
    ``AssertionError`` unless it exits with status 2, prints nothing on stdout and exactly one line on stderr."""
    r = subprocess.run(
        [sys.executable, str(script), str(missing)], capture_output=True, text=True, timeout=120
    )
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and r.stdout == "" and len(lines) == 1, (r.returncode, r.stdout, r.stderr)
    return lines[0]
