r"""Profiling: firing rates, synaptic operations (SOPs), MACs and an energy estimate.

>>> p = zoo.profile(model, images)          # one forward pass, nothing in the model changes
>>> print(p)                                # table per layer, with the counting convention
>>> p.sops, p.macs, p.energy_pj             # per sample
>>> p.mean_firing_rate, p.layers[1].firing_rates_t
>>> p.to_dict()                             # JSON-serialisable

Counting convention (also in :data:`CONVENTION`, ``Profile.convention`` and the printed table):

* Only **synaptic layers** are counted: ``nn.Conv1d/2d/3d``, ``nn.ConvTranspose1d/2d/3d``, ``nn.Linear`` and
  layers with a registered counting rule. Pooling (avg/max), normalisation (BN, LN, GN), bias additions,
  residual additions, activations and neuron updates count as zero; neurons are listed with their firing rate.
  Operations done functionally inside a module's ``forward`` (``torch.matmul``, ``F.conv2d``) are invisible to
  the profiler: the module's owner registers a counting rule for its type.
* A layer call whose input holds **any value outside {0, 1}** is fed by non-spike (analog) values and counts
  **MACs**, the dense multiply-accumulates: conv: output elements x (C_in / groups) x prod(kernel); transposed
  conv: input elements x (C_out / groups) x prod(kernel); linear: output elements x in_features.
* A layer call whose input holds **only 0 and 1** is fed by spikes and counts **SOPs** (synaptic operations,
  accumulates): each non-zero input contributes its exact fan-out, the number of output elements it reaches
  (borders, stride, dilation, groups and padding mode included), summed over time steps and batch. For a conv
  this is computed exactly by convolving the non-zero mask with an all-ones kernel of the layer's geometry and
  summing; for a linear layer it is nonzeros x out_features. (An all-zero input is spikes: 0 SOPs.) Precisely,
  an SOP is one synaptic connection driven (one accumulate): with zero padding each input reaches an output
  through at most one kernel tap, so this is the number of outputs reached; with ``reflect``/``replicate``
  padding an input read twice by one output window counts twice.
  Multi-level (integer) spikes are not spikes by default; a counting rule may count them, e.g. a value ``v``
  as ``v`` SOPs with :func:`conv_fanout` / :func:`linear_fanout` applied to the values instead of the mask.
* **Spike kinds** (``spikes="auto"``, the default): every neuron declares ``spike_kind`` (``"binary"``,
  ``"graded"``, ``"real"``; :data:`zoo_core.neurons.base.SPIKE_KINDS`). When a model has a graded or real-valued
  neuron, a call whose input is a neuron's output (a tensor sharing its storage, as below) takes that neuron's
  kind: binary and graded inputs count SOPs (the exact fan-out of each non-zero input, one event per graded
  spike), real-valued inputs count MACs; any other input is ``"binary"`` if it holds only 0/1, else
  ``"analog"`` (MACs). Firing rates are then fractions of non-zero outputs. A model of binary neurons only is
  counted exactly as ``spikes="binary"``.
* **Energy conventions** (``energy=NAME``; :class:`zoo_core.info.EnergyConventionInfo`, registered by the core
  (``zoo``, the default, as described here) and by plugins for their papers' counts): per input kind the count
  mode (``"sops"``, ``"values"`` = value-weighted fan-out, ``"macs"``), the energy per MAC and per SOP of each
  kind, and the layers left out of the totals (module paths, ``<first>``, ``<last>``). :func:`profile_conventions`
  counts several conventions from one forward pass (each call's count is made once per count mode).
* ``spikes="events"`` (for graded spikes: conversion spikes of amplitude :math:`\theta`, multi-level
  :math:`k\theta`, real-valued spikes) counts as for a deployment that folds each neuron's amplitude into the
  next layer's weights: a call whose input **is a neuron's output** (a tensor sharing storage with the output
  of a :class:`~zoo_core.neurons.base.BaseNeuron`: views, reshapes, time slices, eval-mode dropout) or holds
  only 0/1 counts SOPs = the exact fan-out of its **non-zero** inputs, one event each whatever its value; any
  other call counts MACs. Firing rates become the fraction of non-zero outputs (events per neuron and step).
  The neuron outputs are kept alive during the pass so their storage cannot be reused by other tensors.
* Totals cover the whole forward pass (all time steps, the whole batch); per-sample values divide by the batch
  size ``B`` (``[B, C, H, W]`` input: dim 0; 5-D ``[T, B, ...]`` input: dim 1; any other rank: dim 0;
  ``batch_size=`` overrides).
* Energy per sample: ``E = 4.6 pJ x MACs + 0.9 pJ x SOPs`` (32-bit float MAC = 3.7 pJ multiply + 0.9 pJ add,
  and one add per SOP, 45 nm CMOS; M. Horowitz, "Computing's energy problem", ISSCC 2014).
* Firing rate of a neuron layer: the mean of its output over all elements and time steps (per time step:
  ``firing_rates_t``). ``Profile.mean_firing_rate`` averages over all neurons, weighted by element count.

Counting rules
--------------
A rule counts one forward call of a module type and replaces the built-in logic for that type and its
subclasses (the most specific registered class in the MRO wins)::

    def rule(module, inputs, output) -> dict:      # inputs: the positional arguments of the call
        return {"macs": ..., "sops": ..., "spike_input": True}   # spike_input optional; missing counts are 0

Returning ``None`` falls back to the built-in logic for that call. The profiler does not descend into a module
counted by a rule (its children's convs/linears are the rule's business), except to record the firing rates of
the neurons inside it. Register in-process with :func:`register_counting_rule`, or from a plugin::

    @zoo_core.hookimpl
    def register_counting_rules(register):
        register("ssa_matmuls", count_ssa, module_type=SpikingSelfAttention)

One module type has at most one rule (a second is a :class:`~zoo_core.errors.RegistrationConflictError`).
"""

from __future__ import annotations

import fnmatch
import math
import re
import sys
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import ConfigError, InputError
from .info import INPUT_KINDS, EnergyConventionInfo
from .neurons.base import SPIKE_KINDS, BaseNeuron
from .plugins import make_register, module_type_key, registration_owner, runtime

#: energy of one multiply-accumulate (32-bit float, 45 nm; Horowitz, ISSCC 2014), in pJ
E_MAC_PJ = 4.6
#: energy of one accumulate (one synaptic operation; 32-bit float add, 45 nm), in pJ
E_SOP_PJ = 0.9

CONVENTION = (
    "Only synaptic layers (conv, transposed conv, linear, layers with a counting rule) are counted; pooling, "
    "normalisation, bias/residual additions and neuron updates count as zero. A call fed by non-spike values "
    "(any value outside {{0,1}}) counts MACs = dense multiply-accumulates (conv: output elements x C_in/groups x "
    "kernel size; linear: output elements x in_features). A call fed by spikes (only 0 and 1) counts SOPs = for "
    "each non-zero input its exact fan-out (output elements it reaches, borders and stride included); linear: "
    "nonzeros x out_features. Totals cover all time steps and the whole batch; per-sample values divide by the "
    "batch size. Energy per sample E = {e_mac} pJ x MACs + {e_sop} pJ x SOPs (45 nm, Horowitz 2014). Firing "
    "rate = mean neuron output over all elements and time steps."
)
CONVENTION_EVENTS = (
    "Graded spikes as events (spikes='events'): a conv/linear call whose input is a neuron's output (or holds "
    "only 0/1) counts SOPs = for each non-zero input, whatever its value, its exact fan-out (output elements it "
    "reaches; linear: nonzeros x out_features), as for a deployment that folds spike amplitudes into the next "
    "weights; any other call counts MACs = dense multiply-accumulates. Pooling, normalisation, additions and "
    "neuron updates count as zero. Totals cover all time steps and the whole batch; per-sample values divide "
    "by the batch size. Energy per sample E = {e_mac} pJ x MACs + {e_sop} pJ x SOPs (45 nm, Horowitz 2014). "
    "Firing rate = fraction of non-zero neuron outputs over all elements and time steps."
)
CONVENTION_KINDS = (
    "Spike kinds as the neurons declare them (binary, graded, real). A conv/linear call fed by a binary or graded "
    "neuron's output (or by an input holding only 0/1) counts SOPs = for each non-zero input its exact fan-out "
    "(output elements it reaches, borders and stride included; linear: nonzeros x out_features); a graded spike "
    "counts one event whatever its amplitude, as for a deployment that folds amplitudes into the next weights. A "
    "call fed by a real-valued neuron's output or by any other value outside {{0,1}} counts MACs = dense "
    "multiply-accumulates (conv: output elements x C_in/groups x kernel size; linear: output elements x "
    "in_features). Pooling, normalisation, additions and neuron updates count as zero. Totals cover all time "
    "steps and the whole batch; per-sample values divide by the batch size. Energy per sample E = {e_mac} pJ x "
    "MACs + {e_sop} pJ x SOPs (45 nm, Horowitz 2014). Firing rate = fraction of non-zero neuron outputs over all "
    "elements and time steps."
)
#: how ``profile`` tells spike inputs from analog ones: ``auto`` (the neurons' declared spike kinds), ``binary``
#: (only 0/1 inputs are spikes), ``events`` (every neuron output is graded spikes)
SPIKE_MODES = ("auto", "binary", "events")
#: the default convention's count per input kind (``zoo``): spikes count SOPs, real values MACs
ZOO_COUNT = {"binary": "sops", "graded": "sops", "real": "macs", "analog": "macs"}
#: the name of the default energy convention (registered by the core)
DEFAULT_ENERGY = "zoo"

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
#: leaf layers known to do no synaptic work (counted as zero without a note)
_ZERO = (
    nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._MaxPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd,
    nn.modules.pooling._AdaptiveMaxPoolNd,
    nn.modules.pooling._LPPoolNd,
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
)


# ------------------------------------------------------------------------------------------------ results
@dataclass
class LayerProfile:
    """One profiled module (counts per sample unless named ``total_*``).

    Attributes:
        name: module path in the model (``"(root)"`` for the model itself).
        type: class name.
        role: ``"synaptic"`` (built-in conv/linear count), ``"rule"`` (a counting rule), ``"neuron"``, or
            ``"zero"`` (pooling, normalisation, reshapes... counted as zero).
        calls: forward calls during the profiled pass.
        spike_input: ``True`` if every call's input was spikes (only 0/1), ``False`` if none was, ``None`` if
            mixed or no tensor input.
        total_macs, total_sops: over the whole pass (all time steps, whole batch).
        macs, sops, energy_pj: per sample.
        firing_rate: neurons only: mean output over all elements and time steps.
        firing_rates_t: neurons only: mean output per time step (steps of successive calls are appended).
        neurons: neurons only: output elements per time step and sample (the layer's neuron count).
        rule: the counting rule's registered name, if one counted this layer.
        note: why a layer is not counted although it may compute (no rule for a parametrised type).
        input_kind: synaptic layers: the kind of input its calls had (``binary``, ``graded``, ``real``,
            ``analog``; ``mixed`` if several), as the energy convention counts it.
        excluded: the energy convention leaves this layer out of the totals (its counts are still shown).
    """

    name: str
    type: str
    role: str
    calls: int = 0
    spike_input: bool | None = None
    total_macs: int | float = 0
    total_sops: int | float = 0
    macs: float = 0.0
    sops: float = 0.0
    energy_pj: float = 0.0
    firing_rate: float | None = None
    firing_rates_t: list[float] | None = None
    neurons: int | None = None
    rule: str | None = None
    note: str = ""
    input_kind: str | None = None
    excluded: bool = False


@dataclass
class Profile:
    """The result of :func:`profile`: per-layer counts, per-sample totals, firing rates and energy.

    ``macs``, ``sops`` and ``energy_pj`` are per sample; ``total_macs`` / ``total_sops`` cover the whole pass.
    ``convention`` states how everything was counted (see :mod:`zoo_core.profiling`) and ``energy_convention``
    names it (``zoo``, or a paper's registered convention); ``sops_by_kind`` splits the per-sample SOPs by the
    kind of spike that drove them and ``e_sop_pj_by_kind`` is what one costs.
    """

    layers: list[LayerProfile]
    batch_size: int
    total_macs: int | float
    total_sops: int | float
    macs: float
    sops: float
    energy_pj: float
    mean_firing_rate: float | None
    e_mac_pj: float = E_MAC_PJ
    e_sop_pj: float = E_SOP_PJ
    convention: str = field(default="")
    energy_convention: str = DEFAULT_ENERGY
    sops_by_kind: dict[str, float] = field(default_factory=dict)
    e_sop_pj_by_kind: dict[str, float] = field(default_factory=dict)

    @property
    def energy_mj(self) -> float:
        """Energy per sample in mJ."""
        return self.energy_pj * 1e-9

    def summary(self) -> dict[str, Any]:
        """The per-sample figures a model card records: firing rate, SOPs, MACs, energy and the convention."""
        return {
            "mean_firing_rate": self.mean_firing_rate,
            "sops": self.sops,
            "macs": self.macs,
            "energy_pj": self.energy_pj,
            "convention": self.convention,
            "energy_convention": self.energy_convention,
        }

    def layer(self, name: str) -> LayerProfile:
        """The profile of the module at path ``name``."""
        for lp in self.layers:
            if lp.name == name:
                return lp
        raise KeyError(f"no profiled layer {name!r}; profiled: {', '.join(lp.name for lp in self.layers)}")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of everything (``energy_mj`` included)."""
        d = asdict(self)
        d["energy_mj"] = self.energy_mj
        return d

    def __str__(self) -> str:
        head = ("layer", "type", "input", "MACs", "SOPs", "energy mJ", "firing rate")
        rows = []
        for lp in self.layers:
            inp = {True: "spikes", False: "analog", None: "mixed" if lp.calls else "-"}[lp.spike_input]
            if lp.input_kind in ("graded", "real"):
                inp = f"{lp.input_kind} spikes"
            counted = lp.role in ("synaptic", "rule") or lp.rule is not None
            rate = "" if lp.firing_rate is None else f"{lp.firing_rate:.4f}"
            if lp.firing_rates_t is not None and 1 < len(lp.firing_rates_t) <= 8:
                rate += " [" + " ".join(f"{r:.3f}" for r in lp.firing_rates_t) + "]"
            extra = f"  ({lp.note})" if lp.note else (f"  (rule {lp.rule})" if lp.rule else "")
            if lp.excluded:
                extra += f"  (excluded by {self.energy_convention})"
            rows.append(
                (
                    lp.name,
                    lp.type,
                    inp,
                    _num(lp.macs) if counted else "-",
                    _num(lp.sops) if counted else "-",
                    f"{lp.energy_pj * 1e-9:.3e}" if counted else "-",
                    rate + extra,
                )
            )
        rate = "-" if self.mean_firing_rate is None else f"{self.mean_firing_rate:.4f} (mean)"
        rows.append(("total", "", "", _num(self.macs), _num(self.sops), f"{self.energy_mj:.3e}", rate))
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]

        def line(r: tuple[str, ...]) -> str:
            cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r[:-1], widths))]
            return "  ".join([*cells, r[-1]]).rstrip()

        rule = "-" * len(line(head))
        out = [
            f"zoo.profile: batch size {self.batch_size}; MACs, SOPs and energy per sample",
            line(head),
            rule,
            *(line(r) for r in rows[:-1]),
            rule,
            line(rows[-1]),
            f"energy per sample: {self.energy_pj:.6g} pJ = {self.energy_mj:.6g} mJ ({self._energy_terms()})",
            f"whole pass: {_num(self.total_macs)} MACs, {_num(self.total_sops)} SOPs",
            textwrap.fill("convention: " + self.convention, width=110, subsequent_indent="  "),
        ]
        return "\n".join(out)

    def _energy_terms(self) -> str:
        kinds = {k: v for k, v in self.sops_by_kind.items() if v}
        costs = {self.e_sop_pj_by_kind.get(k, self.e_sop_pj) for k in kinds}
        terms = [f"{self.e_mac_pj} pJ x {_num(self.macs)} MACs"]
        if len(costs) <= 1:
            terms.append(f"{self.e_sop_pj if not costs else costs.pop()} pJ x {_num(self.sops)} SOPs")
        else:
            terms += [f"{self.e_sop_pj_by_kind[k]} pJ x {_num(v)} {k} SOPs" for k, v in kinds.items()]
        return " + ".join(terms)


def _num(x: float) -> str:
    if float(x).is_integer():
        return f"{int(x):,}"
    return f"{x:,.2f}"


# ------------------------------------------------------------------------------------------------ counting
def is_spike_tensor(x: Tensor) -> bool:
    """``True`` if every value of ``x`` is 0 or 1 (the built-in definition of a spike input)."""
    return bool(((x == 0) | (x == 1)).all())


def conv_fanout(conv: nn.Module, weight: Tensor, output_shape: Any = None) -> float:
    r"""Sum over the input elements of ``weight`` times the element's exact fan-out in ``conv``.

    ``weight`` has the shape of the conv's input. With the non-zero mask of a spike input this is the SOP count;
    with the input values of multi-level spikes it counts a value ``v`` as ``v`` SOPs; with all ones it is the
    number of (input, output) connections actually used. Computed exactly (float64) by running the layer's
    geometry (stride, padding and padding mode, dilation, groups) with an all-ones kernel, one output channel per
    group, times ``C_out / groups``. For a transposed conv called with ``output_size=``, pass the call's
    ``output_shape`` (its spatial size fixes the output padding).
    """
    if not isinstance(conv, _CONV + _CONV_T):
        raise TypeError(
            f"conv_fanout: expected an nn.Conv*/nn.ConvTranspose* module, got {type(conv).__name__}"
        )
    nd = len(conv.kernel_size)
    w = weight.detach().to(torch.float64)
    g = conv.groups
    if isinstance(conv, _CONV_T):
        ones = torch.ones(conv.in_channels, 1, *conv.kernel_size, dtype=torch.float64, device=w.device)
        out_pad = tuple(conv.output_padding)
        if output_shape is not None:  # output padding from the actual output size
            out_pad = tuple(
                int(o) - ((i - 1) * s - 2 * p + d * (k - 1) + 1)
                for o, i, s, p, d, k in zip(
                    tuple(output_shape)[-nd:],
                    w.shape[-nd:],
                    conv.stride,
                    conv.padding,
                    conv.dilation,
                    conv.kernel_size,
                )
            )
        fn = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
        out = fn(w, ones, None, conv.stride, conv.padding, out_pad, g, conv.dilation)
    else:
        ones = torch.ones(g, conv.in_channels // g, *conv.kernel_size, dtype=torch.float64, device=w.device)
        fn = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
        padding: Any = conv.padding
        if conv.padding_mode != "zeros":
            w = F.pad(w, conv._reversed_padding_repeated_twice, mode=conv.padding_mode)
            padding = 0
        out = fn(w, ones, None, conv.stride, padding, conv.dilation, g)
    return float(out.sum()) * (conv.out_channels // g)


def linear_fanout(linear: nn.Linear, weight: Tensor) -> float:
    """Sum of ``weight`` (shaped like the input) times ``out_features``: every input reaches every output."""
    return float(weight.detach().sum(dtype=torch.float64)) * linear.out_features


def dense_macs(module: nn.Module, x: Tensor, output: Tensor) -> int:
    """Dense multiply-accumulates of one conv/transposed-conv/linear call with input ``x`` and ``output``."""
    if isinstance(module, _CONV):
        return output.numel() * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, _CONV_T):
        return x.numel() * (module.out_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return output.numel() * module.in_features
    raise TypeError(f"dense_macs: no built-in count for {type(module).__name__}; register a counting rule")


def count_synaptic(
    module: nn.Module, x: Tensor, output: Tensor, events: bool = False, mode: str | None = None
) -> dict[str, Any]:
    r"""The built-in count of one conv/linear call: MACs for a non-spike input, exact SOPs for a spike input.

    ``events=True``: the input is graded spikes (a neuron's output): SOPs for its non-zero values.
    ``mode`` forces how the call counts (an energy convention's choice): ``"macs"`` (dense multiply-accumulates),
    ``"sops"`` (the exact fan-out of each non-zero input) or ``"values"`` (:math:`\sum_i |x_i|\,\mathrm{fanout}_i`,
    value-weighted SOPs; for 0/1 inputs the same as ``"sops"``)."""
    if mode is None:
        mode = "sops" if events or is_spike_tensor(x) else "macs"
    if mode == "macs":
        return {"macs": dense_macs(module, x, output), "sops": 0, "spike_input": False}
    if mode not in ("sops", "values"):
        raise ConfigError(f"count_synaptic: mode must be 'macs', 'sops' or 'values', got {mode!r}")
    w = (x != 0).to(torch.float64) if mode == "sops" else x.detach().abs().to(torch.float64)
    if isinstance(module, nn.Linear):
        sops = linear_fanout(module, w)
    else:
        sops = conv_fanout(module, w, output.shape if isinstance(module, _CONV_T) else None)
    return {"macs": 0, "sops": round(sops) if mode == "sops" else sops, "spike_input": True}


# ------------------------------------------------------------------------------------------------ rules
def register_counting_rule(
    module_type: Any,
    rule: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    owner: str | None = None,
    **meta: Any,
) -> Any:
    """Register a counting rule for ``module_type`` in-process (a notebook, a test, a script).

    ``rule(module, inputs, output)`` returns ``{"macs": ..., "sops": ..., "spike_input": ...}`` (missing counts
    are 0; ``spike_input`` optional) for one forward call, or ``None`` to use the built-in logic for that call.
    ``module_type`` is an ``nn.Module`` class or its qualified name. ``name`` defaults to the qualified name in
    lower snake case; ``owner`` to the calling module. Without ``rule`` this returns a decorator. Remove with
    ``zoo.unregister("counting_rule", name)``.
    """
    key = module_type_key(module_type)
    who = owner or registration_owner(sys._getframe(1).f_globals.get("__name__", "__main__"))
    reg_name = name or re.sub(r"[^0-9a-zA-Z]+", "_", key).strip("_").lower()

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        make_register(runtime().registries, "counting_rule", who)(reg_name, fn, module_type=key, **meta)
        return fn

    return deco if rule is None else deco(rule)


def _rules() -> dict[str, tuple[str, Callable[..., Any]]]:
    reg = runtime().registries["counting_rule"]
    return {e.info.module_type: (n, e.factory) for n, e in reg.snapshot().items()}  # type: ignore[attr-defined]


def _rule_for(module: nn.Module, rules: Mapping[str, tuple[str, Callable[..., Any]]]) -> Any:
    for cls in type(module).__mro__:
        hit = rules.get(f"{cls.__module__}.{cls.__qualname__}")
        if hit is not None:
            return hit
    return None


def _check_count(value: Any, key: str, who: str) -> int | float:
    if isinstance(value, Tensor):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{who}: {key!r} must be a finite number >= 0, got {value!r}")
    return value


# ------------------------------------------------------------------------------------------------ profiling
@dataclass
class _Counting:
    """How one profiled pass counts: per energy convention of the pass, per input kind the count mode, and (when
    neuron outputs must be told apart) the neuron outputs of the pass with their spike kind, kept alive so storage
    pointers identify them."""

    #: one ``{input kind: count mode}`` per convention counted in the pass
    counts: list[dict[str, str]]
    sources: list[tuple[Tensor, str]] | None = None
    #: the kind of every neuron output when the mode says so (``spikes="events"``: all graded)
    force_kind: str | None = None

    def kind_of(self, x: Tensor) -> str:
        """The input kind of a synaptic call's input ``x``."""
        if self.sources is not None:
            ptr = x.untyped_storage().data_ptr()
            for t, kind in self.sources:
                if t.untyped_storage().data_ptr() == ptr:
                    return kind
        return "binary" if is_spike_tensor(x) else "analog"


class _Tally:
    """The MACs and the SOPs per input kind of one module's calls, as one energy convention counts them."""

    def __init__(self) -> None:
        self.macs: int | float = 0
        self.sops_k: dict[str, int | float] = {}

    def add_sops(self, kind: str, n: int | float) -> None:
        if n:
            self.sops_k[kind] = self.sops_k.get(kind, 0) + n

    @property
    def sops(self) -> int | float:
        return sum(self.sops_k.values())

    def energy(self, e_mac: float, e_sop: Mapping[str, float]) -> float:
        """Energy of the whole pass through this module, in pJ."""
        return e_mac * self.macs + sum(e_sop[k] * n for k, n in self.sops_k.items())


class _Acc:
    """Accumulates the calls of one module: one :class:`_Tally` per energy convention of the pass (the count of a
    built-in conv/linear call is made once per count mode the conventions use; a counting rule's, once)."""

    def __init__(
        self, name: str, module: nn.Module, role: str, rule: Any, counting: _Counting, kind: str = "binary"
    ) -> None:
        self.name, self.module, self.role, self.rule = name, module, role, rule
        self.counting = counting
        #: neurons: the spike kind of its outputs
        self.kind = counting.force_kind or kind
        self.calls = 0
        self.tallies = [_Tally() for _ in counting.counts]
        self.spike_calls = 0
        self.typed_calls = 0
        self.spike_sum = 0.0
        self.elements = 0
        self.rates_t: list[float] = []
        self.neurons: int | None = None
        self.order = -1
        self.kinds: set[str] = set()

    def __call__(self, module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
        self.calls += 1
        x = _first_tensor(args) if args else _first_tensor(tuple(kwargs.values()))
        out = output if isinstance(output, Tensor) else _first_tensor(output)
        spike: bool | None = None
        counted = None
        if self.rule is not None:
            rname, fn = self.rule
            counted = fn(module, args, output)
            if counted is not None:
                if not isinstance(counted, Mapping):
                    raise TypeError(
                        f"counting rule {rname!r} for {type(module).__name__} returned {type(counted).__name__}; "
                        "expected a dict like {'macs': ..., 'sops': ...} or None"
                    )
                macs = _check_count(counted.get("macs", 0), "macs", f"counting rule {rname!r}")
                kind = counted.get("kind", "binary")
                if kind not in INPUT_KINDS:
                    raise ConfigError(
                        f"counting rule {rname!r}: 'kind' must be one of {INPUT_KINDS}, got {kind!r}"
                    )
                sops = _check_count(counted.get("sops", 0), "sops", f"counting rule {rname!r}")
                for t in self.tallies:
                    t.macs += macs
                    t.add_sops(kind, sops)
                spike = counted.get("spike_input")
                spike = None if spike is None else bool(spike)
        if counted is None and isinstance(module, _CONV + _CONV_T + (nn.Linear,)) and x is not None:
            kind = self.counting.kind_of(x)
            by_mode: dict[str, dict[str, Any]] = {}
            for count, t in zip(self.counting.counts, self.tallies):
                mode = count[kind]
                if mode not in by_mode:
                    by_mode[mode] = count_synaptic(module, x, out, mode=mode)
                t.macs += by_mode[mode]["macs"]
                t.add_sops(kind, by_mode[mode]["sops"])
            self.kinds.add(kind)
            spike = kind != "analog"
        elif spike is None and x is not None and x.is_floating_point():
            spike = is_spike_tensor(x)
        if spike is not None:
            self.typed_calls += 1
            self.spike_calls += int(spike)
        if self.role == "neuron" and out is not None:
            if self.counting.sources is not None:
                self.counting.sources.append((out, self.kind))
                out = (out != 0).to(out.dtype)  # events: a firing rate counts non-zero outputs
            o = out.detach().to(torch.float64)
            self.spike_sum += float(o.sum())
            self.elements += o.numel()
            if o.dim() >= 2:
                self.rates_t += o.reshape(o.shape[0], -1).mean(1).tolist()
                self.neurons = o[0, 0].numel()
            else:
                self.rates_t.append(float(o.mean()) if o.numel() else 0.0)

    def result(
        self, tally: _Tally, batch: int, e_mac: float, e_sop: Mapping[str, float], excluded: bool
    ) -> LayerProfile:
        if self.typed_calls == 0 or 0 < self.spike_calls < self.typed_calls or self.typed_calls < self.calls:
            spike: bool | None = None
        else:
            spike = self.spike_calls == self.typed_calls
        note = ""
        if (
            self.role == "zero"
            and not isinstance(self.module, _ZERO)
            and any(True for _ in self.module.parameters(recurse=False))
        ):
            note = "has parameters but no counting rule: counted as zero"
        neuron = self.role == "neuron"
        return LayerProfile(
            name=self.name,
            type=type(self.module).__name__,
            role=self.role,
            calls=self.calls,
            spike_input=spike,
            total_macs=tally.macs,
            total_sops=tally.sops,
            macs=tally.macs / batch,
            sops=tally.sops / batch,
            energy_pj=tally.energy(e_mac, e_sop) / batch,
            firing_rate=(self.spike_sum / self.elements if self.elements else 0.0) if neuron else None,
            firing_rates_t=list(self.rates_t) if neuron else None,
            neurons=self.neurons if neuron else None,
            rule=self.rule[0] if self.rule is not None else None,
            note=note,
            input_kind=None
            if not self.kinds
            else next(iter(self.kinds))
            if len(self.kinds) == 1
            else "mixed",
            excluded=excluded,
        )


def _first_tensor(xs: Any) -> Tensor | None:
    if isinstance(xs, Tensor):
        return xs
    if isinstance(xs, Mapping):
        xs = tuple(xs.values())
    if isinstance(xs, list | tuple):
        for v in xs:
            if isinstance(v, Tensor):
                return v
    return None


def _targets(model: nn.Module, rules: Mapping[str, Any]) -> list[tuple[str, nn.Module, str, Any]]:
    """(name, module, role, rule) for every module to hook, in module order, each module once."""
    out: list[tuple[str, nn.Module, str, Any]] = []
    seen: set[int] = set()

    def walk(m: nn.Module, name: str, inside_rule: bool) -> None:
        if id(m) in seen:
            return
        seen.add(id(m))
        rule = _rule_for(m, rules)
        label = name or "(root)"
        if isinstance(m, BaseNeuron):  # atomic: its surrogate etc. are not layers
            out.append((label, m, "neuron", None if inside_rule else rule))
            return
        if inside_rule:  # the enclosing rule counts everything; only neurons are recorded for firing rates
            pass
        elif rule is not None:
            out.append((label, m, "rule", rule))
            inside_rule = True
        else:
            children = list(m.named_children())
            if not children or any(True for _ in m.parameters(recurse=False)):
                role = "synaptic" if isinstance(m, _CONV + _CONV_T + (nn.Linear,)) else "zero"
                out.append((label, m, role, None))
        for child_name, child in m.named_children():
            walk(child, f"{name}.{child_name}" if name else child_name, inside_rule)

    walk(model, "", False)
    return out


def _declared_batch_dim(model: nn.Module, rank: int) -> int | None:
    """Where a zoo-built model's declared input of ``rank`` dimensions keeps its batch (``"B"`` in its I/O spec,
    which registration fills with its task's when the model declares none); ``None`` for other models, or when no
    declared input has that rank."""
    name = getattr(model, "zoo_name", None)
    reg = runtime().registries["model"]
    if not isinstance(name, str) or name not in reg:
        return None
    io = reg.get(name).info.io  # type: ignore[attr-defined]
    for spec in io.inputs if io is not None else ():
        if len(spec.shape) == rank and "B" in spec.shape:
            return spec.shape.index("B")
    return None


def _infer_batch(inputs: Any, batch_size: int | None, model: nn.Module | None = None) -> int:
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"zoo.profile: batch_size must be a positive integer, got {batch_size!r}")
        return batch_size
    x = _first_tensor(inputs)
    if x is None or x.dim() == 0:
        raise InputError(
            "zoo.profile: cannot infer the batch size from the inputs (no tensor with a batch dimension); "
            "pass batch_size="
        )
    dim = _declared_batch_dim(model, x.dim()) if model is not None else None
    if dim is None:  # not a zoo model: the zoo's classifier layouts, [T, B, C, H, W] or [B, ...]
        dim = 1 if x.dim() == 5 else 0
    b = int(x.shape[dim])
    if b < 1:
        raise InputError(f"zoo.profile: the input has an empty batch (shape {tuple(x.shape)})")
    return b


def energy_convention(name: str = DEFAULT_ENERGY) -> EnergyConventionInfo:
    """The registered energy convention ``name`` (``zoo.list_energy_conventions()`` names them)."""
    if not isinstance(name, str):
        raise ConfigError(f"energy convention: expected a registered name (str), got {type(name).__name__}")
    return runtime().registries["energy_convention"].get(name).info  # type: ignore[return-value]


def conventions_for(model_name: str | None) -> list[str]:
    """The registered energy conventions made for ``model_name`` (their ``models`` patterns match its base name),
    besides the default; the cards of such a model report them beside ``zoo``."""
    if not model_name:
        return []
    base = model_name.split(".", 1)[0]
    reg = runtime().registries["energy_convention"]
    return [
        n
        for n, e in sorted(reg.snapshot().items())
        if n != DEFAULT_ENERGY and any(fnmatch.fnmatchcase(base, p) for p in e.info.models)  # type: ignore[attr-defined]
    ]


def _neuron_kind(m: nn.Module) -> str:
    kind = getattr(m, "spike_kind", "binary")
    if kind not in SPIKE_KINDS:
        raise ConfigError(
            f"{type(m).__name__}.spike_kind is {kind!r}; a neuron declares one of {SPIKE_KINDS} "
            "(zoo_core.neurons.BaseNeuron.spike_kind)"
        )
    return kind


def _excluded(accs: list[_Acc], patterns: tuple[str, ...]) -> set[int]:
    """ids of the counted layers an energy convention leaves out (paths, fnmatch patterns, <first>/<last>)."""
    counted = [a for a in accs if a.role in ("synaptic", "rule")]
    out: set[int] = set()
    for pat in patterns:
        if pat in ("<first>", "<last>"):
            if counted:
                out.add(id(counted[0] if pat == "<first>" else counted[-1]))
            continue
        for a in counted:
            if fnmatch.fnmatchcase(a.name, pat):  # the whole path: "conv1" is not "layer1.0.conv1"
                out.add(id(a))
    return out


def _convention_text(info: EnergyConventionInfo, mode: str, e_mac: float, e_sop: Mapping[str, float]) -> str:
    if info.name == DEFAULT_ENERGY and set(e_sop.values()) == {e_sop["binary"]}:
        text = {"binary": CONVENTION, "events": CONVENTION_EVENTS, "kinds": CONVENTION_KINDS}[mode]
        return text.format(e_mac=e_mac, e_sop=e_sop["binary"])
    count = {**ZOO_COUNT, **info.count}
    how = ", ".join(f"{k} inputs {m}" for k, m in count.items())
    priced = {k: v for k, v in e_sop.items() if count[k] != "macs"}
    costs = (
        f"{next(iter(priced.values()))} pJ per SOP"
        if len(set(priced.values())) == 1
        else "per SOP " + ", ".join(f"{v} pJ ({k})" for k, v in priced.items())
    )
    out = f"{info.description.rstrip('.')}. Counts: {how}; {e_mac} pJ per MAC, {costs}"
    if info.exclude:
        out += f"; layers left out: {', '.join(info.exclude)}"
    return out + (f". Source: {info.source.rstrip('.')}." if info.source else ".")


def profile(
    model: nn.Module,
    inputs: Any,
    *,
    batch_size: int | None = None,
    e_mac_pj: float | None = None,
    e_sop_pj: float | None = None,
    spikes: str = "auto",
    energy: str = DEFAULT_ENERGY,
) -> Profile:
    r"""Profile one forward pass of ``model``: per-layer MACs/SOPs, firing rates and an energy estimate.

    Convention (``energy="zoo"``, the default; see :mod:`zoo_core.profiling`): only synaptic layers (conv,
    transposed conv, linear, layers with a counting rule) are counted, pooling/normalisation/additions/neuron
    updates count as zero. Each neuron declares its ``spike_kind`` (``binary``, ``graded``, ``real``). A call fed
    by binary or graded spikes (a neuron's output, or any input holding only 0/1) counts SOPs: each non-zero
    input's exact fan-out (output elements it reaches, borders and stride included), summed over time steps and
    batch (linear: nonzeros x out_features); a graded spike is one event whatever its amplitude. A call fed by
    real values (a real-valued neuron's output, or anything else outside {0, 1}) counts MACs (dense
    multiply-accumulates: conv: output elements x C_in/groups x kernel size; linear: output elements x
    in_features). Energy per sample ``E = 4.6 pJ x MACs + 0.9 pJ x SOPs`` (45 nm, Horowitz 2014). Firing rate:
    mean neuron output (for graded or real spikes: the fraction of non-zero outputs) over all elements and steps.

    ``energy=NAME`` counts by a registered convention instead (a paper's own: e.g. value-weighted SOPs, no MAC
    term, the stem and classifier left out; ``zoo list --energy``): see
    :class:`zoo_core.info.EnergyConventionInfo`. :func:`profile_conventions` counts several conventions on one
    forward pass.

    The pass runs under ``torch.no_grad()`` in the model's current mode (train/eval unchanged). Nothing in the
    model changes: buffers (e.g. BatchNorm running statistics in train mode) and stored neuron states are
    restored afterwards, and every hook is removed, also when the forward raises.

    Args:
        model: any ``nn.Module``.
        inputs: a tensor (``model(inputs)``), a tuple/list (``model(*inputs)``) or a dict (``model(**inputs)``).
        batch_size: samples in ``inputs``; inferred from the first tensor: for a model built by the zoo, the
            ``"B"`` dimension of its declared input of that rank (``[B, T, C, H, W]`` for a predictor); otherwise
            dim 1 of a 5-D ``[T, B, C, H, W]`` input, else dim 0 (pass it for ``[T, B, N]`` sequences).
        e_mac_pj, e_sop_pj: override the convention's energy per MAC and per SOP (every spike kind) in pJ.
        spikes: ``"auto"`` (default): count by the neurons' declared spike kinds. ``"binary"``: an input is spikes
            only when it holds only 0/1 (declared kinds ignored). ``"events"``: every neuron output is graded
            spikes (one event per non-zero value).
        energy: the name of a registered energy convention (default ``"zoo"``).

    Returns:
        A :class:`Profile`; ``macs``, ``sops``, ``energy_pj`` are per sample, ``total_*`` over the whole pass
        (layers the convention excludes are listed but not in the totals).
    """
    return profile_conventions(
        model, inputs, (energy,), batch_size=batch_size, e_mac_pj=e_mac_pj, e_sop_pj=e_sop_pj, spikes=spikes
    )[energy]


def profile_conventions(
    model: nn.Module,
    inputs: Any,
    energies: str | Iterable[str] = (DEFAULT_ENERGY,),
    *,
    batch_size: int | None = None,
    e_mac_pj: float | None = None,
    e_sop_pj: float | None = None,
    spikes: str = "auto",
) -> dict[str, Profile]:
    r""":func:`profile` in every energy convention of ``energies``, from one forward pass.

    The conventions differ only in how a layer call counts per input kind (``sops``: :math:`\sum_i
    [x_i \ne 0]\,\mathrm{fanout}_i`; ``values``: :math:`\sum_i |x_i|\,\mathrm{fanout}_i`; ``macs``: the dense
    multiply-accumulates), what an operation costs and which layers they leave out. The pass records each
    conv/linear call once per count mode the conventions use (a counting rule's count once) and each convention
    sums its own: ``profile_conventions(m, x, ["zoo", "lmht"])["lmht"]`` equals ``profile(m, x, energy="lmht")``
    (same figures, same layer records), for the cost of one forward.

    Args:
        model, inputs, batch_size, e_mac_pj, e_sop_pj, spikes: as :func:`profile` (the energy overrides apply to
            every convention).
        energies: registered energy convention names (a single name is one convention); repeats count once.

    Returns:
        ``{name: Profile}`` in the order of ``energies``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"zoo.profile: expected an nn.Module, got {type(model).__name__}")
    if spikes not in SPIKE_MODES:
        raise ConfigError(f"zoo.profile: spikes must be one of {SPIKE_MODES}, got {spikes!r}")
    if isinstance(energies, str):
        energies = (energies,)
    if not isinstance(energies, Iterable):
        raise ConfigError(f"zoo.profile: energies must be convention names, got {type(energies).__name__}")
    infos: dict[str, EnergyConventionInfo] = {}
    for name in energies:
        infos[name] = energy_convention(name)  # a non-str name fails here, before it is hashed
    if not infos:
        raise ConfigError("zoo.profile: energies names no energy convention (zoo list --energy)")
    for what, v in (("e_mac_pj", e_mac_pj), ("e_sop_pj", e_sop_pj)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < math.inf):
            raise ConfigError(f"zoo.profile: {what} must be a finite number of pJ >= 0, got {v!r}")
    batch = _infer_batch(inputs, batch_size, model)
    kinds = {id(m): _neuron_kind(m) for m in model.modules() if isinstance(m, BaseNeuron)}
    if spikes == "auto":
        mode = "kinds" if any(k != "binary" for k in kinds.values()) else "binary"
    else:
        mode = spikes
    counting = _Counting(
        counts=[{**ZOO_COUNT, **info.count} for info in infos.values()],
        sources=None if mode == "binary" else [],
        force_kind="graded" if mode == "events" else None,
    )
    accs = [
        _Acc(n, m, role, rule, counting, kinds.get(id(m), "binary"))
        for n, m, role, rule in _targets(model, _rules())
    ]
    order = [0]

    def wrap(acc: _Acc) -> Callable[..., None]:
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            if acc.order < 0:
                acc.order = order[0]
                order[0] += 1
            acc(module, args, kwargs, output)

        return hook

    buffers = [
        (mod, key, buf, buf.detach().clone())
        for mod in model.modules()
        for key, buf in mod._buffers.items()
        if buf is not None
    ]
    states = [(m, m.state) for m in model.modules() if isinstance(m, BaseNeuron)]
    handles = []
    try:
        for acc in accs:
            handles.append(acc.module.register_forward_hook(wrap(acc), with_kwargs=True))
        with torch.no_grad():
            if isinstance(inputs, Mapping):
                model(**inputs)
            elif isinstance(inputs, list | tuple):
                model(*inputs)
            else:
                model(inputs)
    finally:
        for h in handles:
            h.remove()
        with torch.no_grad():
            for mod, key, buf, saved in buffers:
                buf.copy_(saved)
                mod._buffers[key] = buf
        for m, st in states:
            m.state = st
        counting.sources = None  # let the kept neuron outputs go

    called = sorted((a for a in accs if a.calls), key=lambda a: a.order)
    elements = sum(a.elements for a in called if a.role == "neuron")
    spike_total = sum(a.spike_sum for a in called if a.role == "neuron")
    rate = spike_total / elements if elements else None
    return {
        name: _totals(called, i, info, mode, batch, rate, e_mac_pj, e_sop_pj)
        for i, (name, info) in enumerate(infos.items())
    }


def _totals(
    called: list[_Acc],
    i: int,
    info: EnergyConventionInfo,
    mode: str,
    batch: int,
    rate: float | None,
    e_mac_pj: float | None,
    e_sop_pj: float | None,
) -> Profile:
    """The :class:`Profile` of the ``i``-th convention of a pass (``info``) from the pass's module records."""
    e_mac = float(info.e_mac_pj if e_mac_pj is None else e_mac_pj)
    default_sop = info.e_sop_pj.get("binary", E_SOP_PJ)
    e_sop = {
        k: float(info.e_sop_pj.get(k, default_sop) if e_sop_pj is None else e_sop_pj) for k in INPUT_KINDS
    }
    out = _excluded(called, info.exclude)
    layers = [a.result(a.tallies[i], batch, e_mac, e_sop, id(a) in out) for a in called]
    kept = [a.tallies[i] for a in called if id(a) not in out]
    total_macs = sum(t.macs for t in kept)
    by_kind: dict[str, float] = {}
    for t in kept:
        for k, n in t.sops_k.items():
            by_kind[k] = by_kind.get(k, 0) + n
    total_sops = sum(by_kind.values())
    return Profile(
        layers=layers,
        batch_size=batch,
        total_macs=total_macs,
        total_sops=total_sops,
        macs=total_macs / batch,
        sops=total_sops / batch,
        energy_pj=sum(t.energy(e_mac, e_sop) for t in kept) / batch,
        mean_firing_rate=rate,
        e_mac_pj=e_mac,
        e_sop_pj=e_sop["binary"],
        convention=_convention_text(info, mode, e_mac, e_sop),
        energy_convention=info.name,
        sops_by_kind={k: v / batch for k, v in by_kind.items()},
        e_sop_pj_by_kind={k: e_sop[k] for k in by_kind},
    )


__all__ = [
    "CONVENTION",
    "CONVENTION_EVENTS",
    "CONVENTION_KINDS",
    "DEFAULT_ENERGY",
    "E_MAC_PJ",
    "E_SOP_PJ",
    "SPIKE_MODES",
    "LayerProfile",
    "Profile",
    "conv_fanout",
    "conventions_for",
    "count_synaptic",
    "dense_macs",
    "energy_convention",
    "is_spike_tensor",
    "linear_fanout",
    "profile",
    "profile_conventions",
    "register_counting_rule",
]
