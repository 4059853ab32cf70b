"""Recording what the spiking layers of a model do, time step by time step (no matplotlib needed).

A **spiking layer** is

* every :class:`~zoo_core.neurons.base.BaseNeuron` of the model that is not inside another one, named by its
  module path; its spikes are its outputs ``[T, B, ...]`` (successive calls, e.g. streaming one step at a time,
  are concatenated along time; a neuron in the time-folded layout of conversion code, ``fold_T = T`` and
  ``[T*B, ...]``, is unfolded to ``[T, B, ...]``);
* every surrogate spike function (:class:`~zoo_core.neurons.surrogate.Surrogate`) outside such a neuron, for a
  plugin's own cells that fire through one (the STC cells): named by the module that owns it, each call is one
  time step, and its outputs ``[B, ...]`` are stacked to ``[T, B, ...]``.

The **membrane potential** recorded is the value the layer compares with its threshold at each step, before the
reset: the surrogate spike function is called with ``H_t - V_th`` (:class:`LayerRecord.margin`), and the
layer's scalar ``v_threshold`` (when it has one) gives ``H_t`` back. It is kept only when the surrogate's calls
fire exactly where the layer's spikes are (else the record's ``margin`` is ``None``). While recording, every
kernel operation runs its reference implementation (:func:`zoo_core.kernels.reference_only`), whose loop calls
the spike function once per step; the inference and compiled alternates give the same spikes without calling
it.

Nothing in the model changes: the pass runs in eval mode under ``torch.no_grad()`` from rest, and afterwards the
train/eval mode and every neuron's stored state are restored and the hooks removed, also when the forward
raises.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError
from ..kernels import reference_only
from ..neurons.base import BaseNeuron, reset
from ..neurons.surrogate import Surrogate
from ..tasks.base import model_dtype

__all__ = ["LayerRecord", "Recording", "record", "recording", "spiking_layers"]


@dataclass
class LayerRecord:
    """What one spiking layer did during a recorded pass.

    Attributes:
        name: the layer's module path (see the module docstring).
        type: its class name.
        spikes: ``[T, B, ...]`` outputs (0/1 for binary spikes; graded spikes keep their values).
        margin: ``[T, B, ...]`` the membrane potential minus the threshold at each step, before the reset (what
            the surrogate spike function saw: the layer fires where it is ``>= 0``), or ``None`` when the layer
            does not show it.
        threshold: the layer's scalar ``v_threshold``, or ``None`` (per-channel, learned or no threshold).
    """

    name: str
    type: str
    spikes: Tensor
    margin: Tensor | None = None
    threshold: float | None = None

    @property
    def membrane(self) -> Tensor | None:
        """``[T, B, ...]`` membrane potential before the reset (``margin + threshold``; ``margin`` alone when the
        threshold is unknown)."""
        if self.margin is None:
            return None
        return self.margin + (self.threshold or 0.0)

    @property
    def steps(self) -> int:
        """Recorded time steps ``T``."""
        return int(self.spikes.shape[0])

    @property
    def neurons(self) -> int:
        """Neurons of the layer per sample (elements of one step of one sample)."""
        return int(self.spikes[0, 0].numel()) if self.spikes.dim() >= 2 else 1

    def sample(self, index: int = 0, what: str = "spikes") -> Tensor:
        """``[T, neurons]``: the spikes (or ``"margin"``, ``"membrane"``) of sample ``index``, neurons flattened."""
        t = getattr(self, what)
        if t is None:
            raise ConfigError(f"layer {self.name!r}: no {what} recorded")
        batch = int(t.shape[1]) if t.dim() >= 2 else 1
        if not 0 <= index < batch:
            raise ConfigError(f"sample {index} is out of range: the recorded batch holds {batch} sample(s)")
        return t[:, index].reshape(t.shape[0], -1)

    def rates(self) -> Tensor:
        """``[T]`` firing rate per step: the fraction of neurons that fired (non-zero output), over the batch."""
        return (self.spikes != 0).to(torch.float64).reshape(self.steps, -1).mean(1)


@dataclass
class Recording:
    """The spiking layers of one recorded pass, in the order they first ran, and the model's output."""

    layers: dict[str, LayerRecord] = field(default_factory=dict)
    output: Any = None

    def layer(self, name: str | None = None) -> LayerRecord:
        """The layer ``name`` (``None``: the first that ran); an unknown name is a :class:`ConfigError` naming the
        recorded ones."""
        if not self.layers:
            raise ConfigError(
                "no spiking layer ran: the model holds no BaseNeuron and no surrogate spike function"
            )
        if name is None:
            return next(iter(self.layers.values()))
        if name not in self.layers:
            raise ConfigError(f"no spiking layer {name!r}; layers: {', '.join(self.layers)}")
        return self.layers[name]


class _Unit:
    """Hooks and buffers of one spiking layer."""

    def __init__(self, name: str, owner: nn.Module, neuron: bool, surrogates: list[nn.Module]) -> None:
        self.name, self.owner, self.neuron, self.surrogates = name, owner, neuron, surrogates
        self.outputs: list[Tensor] = []  # the neuron's outputs (neuron units)
        self.fired: list[Tensor] = []  # the surrogates' outputs
        self.margins: list[Tensor] = []  # the surrogates' inputs
        self.order = -1

    def hooks(self, clock: list[int]) -> list[Any]:
        def first() -> None:
            if self.order < 0:
                self.order, clock[0] = clock[0], clock[0] + 1

        def on_neuron(module: nn.Module, args: tuple, output: Any) -> None:
            if isinstance(output, Tensor):
                first()
                out = output.detach().cpu()
                T = getattr(module, "fold_T", None)
                if (
                    isinstance(T, int)
                    and not isinstance(T, bool)
                    and out.dim() >= 1
                    and out.shape[0] % T == 0
                ):
                    out = out.reshape(T, -1, *out.shape[1:])  # the time-folded layout [T*B, ...], time outer
                self.outputs.append(out)

        def on_spike(module: nn.Module, args: tuple, output: Any) -> None:
            if args and isinstance(args[0], Tensor) and isinstance(output, Tensor):
                if not self.neuron:
                    first()
                self.margins.append(args[0].detach().cpu())
                self.fired.append(output.detach().cpu())

        handles = [s.register_forward_hook(on_spike) for s in self.surrogates]
        if self.neuron:
            handles.append(self.owner.register_forward_hook(on_neuron))
        return handles

    def result(self) -> LayerRecord | None:
        if self.neuron:
            # calls that do not continue one sequence (another batch or shape) make no time axis: not a layer
            if not self.outputs or any(
                o.dim() < 2 or o.shape[1:] != self.outputs[0].shape[1:] for o in self.outputs
            ):
                return None
            spikes = torch.cat(self.outputs, 0)
            margin = _per_step(self.margins, spikes.shape)
            fired = _per_step(self.fired, spikes.shape)
            # the surrogate's calls are the layer's membrane only if they fire exactly where the layer does
            if margin is not None and (fired is None or not torch.equal(fired != 0, spikes != 0)):
                margin = None
        else:
            if not self.fired or any(f.shape != self.fired[0].shape for f in self.fired):
                return None
            spikes, margin = torch.stack(self.fired), torch.stack(self.margins)
        return LayerRecord(self.name, type(self.owner).__name__, spikes, margin, _threshold(self.owner))


def _per_step(calls: list[Tensor], shape: torch.Size) -> Tensor | None:
    """The calls of a spike function as one ``[T, ...]`` tensor shaped ``shape``: one call per step, or calls on
    whole chunks of steps; ``None`` when they do not add up to ``shape``."""
    if not calls:
        return None
    if all(c.shape == shape[1:] for c in calls) and len(calls) == shape[0]:
        return torch.stack(calls)
    if all(c.dim() == len(shape) and c.shape[1:] == shape[1:] for c in calls):
        joined = torch.cat(calls, 0)
        return joined if joined.shape == shape else None
    return None


def _threshold(owner: nn.Module) -> float | None:
    v = getattr(owner, "v_threshold", None)
    if isinstance(v, Tensor) and v.numel() == 1:
        return float(v)
    if isinstance(v, int | float) and not isinstance(v, bool):
        return float(v)
    return None


def _inside(name: str, outer: str) -> bool:
    return name != outer and (outer == "" or name.startswith(f"{outer}."))


def _units(model: nn.Module) -> list[_Unit]:
    """The spiking layers of ``model`` in module order (see the module docstring)."""
    modules = dict(model.named_modules())
    top: list[str] = []  # neurons not inside another neuron (named_modules lists parents first)
    for name, m in modules.items():
        if isinstance(m, BaseNeuron) and not any(_inside(name, o) for o in top):
            top.append(name)
    units: dict[str, _Unit] = {}
    for name, m in modules.items():
        if name in top:
            surrogates = [s for s in m.modules() if isinstance(s, Surrogate)]
            units[name or "(root)"] = _Unit(name or "(root)", m, True, surrogates)
        elif isinstance(m, Surrogate) and name and not any(_inside(name, o) for o in top):
            parent = name.rpartition(".")[0]
            owner = modules[parent]
            siblings = [c for c in owner.children() if isinstance(c, Surrogate)]
            label = (parent or "(root)") if len(siblings) == 1 else name
            units[label] = _Unit(label, owner, False, [m])
    return list(units.values())


def spiking_layers(model: nn.Module) -> list[str]:
    """The names of ``model``'s spiking layers in module order (no forward pass)."""
    return [u.name for u in _units(model)]


@contextlib.contextmanager
def recording(model: nn.Module, layers: Sequence[str] | None = None) -> Iterator[Recording]:
    """Record the spiking layers (all, or those named in ``layers``) while the block runs the model; the
    :class:`Recording` is filled when the block ends. The model's mode and state are the caller's business
    (:func:`record` runs one pass from rest in eval mode)."""
    units = _units(model)
    if layers is not None:
        names = [u.name for u in units]
        unknown = [n for n in layers if n not in names]
        if unknown:
            raise ConfigError(f"no spiking layer {unknown[0]!r}; layers: {', '.join(names) or 'none'}")
        units = [u for u in units if u.name in set(layers)]
    clock = [0]
    handles = [h for u in units for h in u.hooks(clock)]
    rec = Recording()
    try:
        with reference_only():  # the reference loop calls the spike function on H_t - V_th every step
            yield rec
    finally:
        for h in handles:
            h.remove()
    for u in sorted((u for u in units if u.order >= 0), key=lambda u: u.order):
        r = u.result()
        if r is not None:
            rec.layers[r.name] = r


def _cast(inputs: Any, dtype: torch.dtype) -> Any:
    if isinstance(inputs, Tensor):
        return inputs.to(dtype) if inputs.is_floating_point() else inputs
    if isinstance(inputs, Mapping):
        return {k: _cast(v, dtype) for k, v in inputs.items()}
    if isinstance(inputs, list | tuple):
        return type(inputs)(_cast(v, dtype) for v in inputs)
    return inputs


def record(model: nn.Module, inputs: Any, layers: Sequence[str] | None = None) -> Recording:
    """Run ``model`` once on ``inputs`` and record its spiking layers (all, or those named in ``layers``).

    ``inputs``: a tensor (``model(inputs)``), a tuple/list (``model(*inputs)``) or a dict (``model(**inputs)``);
    floating tensors are cast to the model's dtype. The pass starts from rest, runs in eval mode under
    ``torch.no_grad()``, and leaves the model's mode and stored neuron states as they were."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"zoo.viz.record: expected an nn.Module, got {type(model).__name__}")
    inputs = _cast(inputs, model_dtype(model))
    was = model.training
    states = [(m, m.state) for m in model.modules() if isinstance(m, BaseNeuron)]
    try:
        with torch.no_grad(), recording(model, layers) as rec:
            reset(model.eval())
            if isinstance(inputs, Mapping):
                rec.output = model(**inputs)
            elif isinstance(inputs, list | tuple):
                rec.output = model(*inputs)
            else:
                rec.output = model(inputs)
    finally:
        model.train(was)
        reset(model)
        for m, st in states:
            m.state = st
    return rec
