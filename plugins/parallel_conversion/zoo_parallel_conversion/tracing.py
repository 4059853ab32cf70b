r"""Converting any network: ``torch.fx`` tracing with one activation module per call site, and time coding.

A network other than the zoo's QCFS models is traced (:func:`trace`): every activation *call site* gets its own
module (torchvision's ``BasicBlock`` calls one ``relu`` module twice), ``F.relu``/``torch.relu`` calls become
``nn.ReLU`` modules, and a ReLU whose output goes straight into a max-pool can be kept analog (the ResNet stem).
After conversion :func:`add_time_coding` makes the GraphModule repeat its input ``T`` times, run on the
time-folded batch and average the output over time. A network fx cannot trace is converted by module
replacement inside a :class:`Wrapper` (every activation a module called once per forward).
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from zoo_core.sdk import BaseNeuron, ConfigError, ConversionNeuron, InputError, check_finite, is_qcfs

from .calibration import RecReLU

__all__ = [
    "Site",
    "Wrapper",
    "add_time_coding",
    "decode_time",
    "encode_time",
    "module_sites",
    "set_submodule",
    "trace",
]

_RELU_FUNCS = {F.relu, torch.relu, torch.relu_, getattr(F, "relu_", F.relu)}
_MAXPOOL_MODULES = (nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd)
_MAXPOOL_FUNCS = {
    F.max_pool1d,
    F.max_pool2d,
    F.max_pool3d,
    F.adaptive_max_pool1d,
    F.adaptive_max_pool2d,
    F.adaptive_max_pool3d,
    torch.max_pool1d,
    torch.max_pool2d,
    torch.max_pool3d,
}
_PASS_THROUGH = (nn.Identity, nn.Dropout)


# ------------------------------------------------------------------------------------------------ time coding
def encode_time(x: Tensor, T: int, rank: int) -> Tensor:
    """SNN input: ``[B, ...]`` (rank ``rank``) repeated ``T`` times, or a ``[T, B, ...]`` sequence; returned
    time-folded ``[T*B, ...]`` (as the official code feeds its SNNs)."""
    if not isinstance(x, Tensor):
        raise InputError(f"converted SNN: expected a tensor input, got {type(x).__name__}")
    if not x.is_floating_point():
        raise InputError(f"converted SNN: expected a floating-point input, got {x.dtype}")
    if x.numel() == 0:
        raise InputError(f"converted SNN: the input is empty (shape {tuple(x.shape)})")
    check_finite(x, "converted SNN")
    if x.dim() == rank:
        seq = x.unsqueeze(0).repeat(T, *([1] * x.dim()))
    elif x.dim() == rank + 1:
        if x.shape[0] != T:
            raise InputError(f"converted SNN: runs T={T} time steps, got a sequence of {x.shape[0]}")
        seq = x
    else:
        raise InputError(
            f"converted SNN: expected the ANN's input (rank {rank}) or a [T, ...] sequence of it "
            f"(rank {rank + 1}), got shape {tuple(x.shape)}"
        )
    return seq.flatten(0, 1)


def decode_time(out: Tensor, T: int) -> Tensor:
    """``[T*B, ...] -> [B, ...]``: the mean over the ``T`` time steps."""
    return out.view(T, out.shape[0] // T, *out.shape[1:]).mean(0)


# ------------------------------------------------------------------------------------------------ sites
@dataclass
class Site:
    """One activation site of a network being converted (its replacement is recorded in ``info``)."""

    name: str  # module path (in the working model)
    kind: str  # "qcfs" or "relu"
    node: Any = None  # fx node, if traced
    analog: bool = False
    shape: tuple[int, ...] | None = None  # per-sample input shape seen in a forward pass
    info: dict[str, Any] = field(default_factory=dict)


def set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    """Put ``module`` at the dotted path ``name`` of ``root``."""
    parent, _, attr = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, attr, module)


def _unique(root: nn.Module, name: str) -> str:
    names = {n for n, _ in root.named_modules()}
    cand, k = name, 1
    while cand in names:
        cand, k = f"{name}_{k}", k + 1
    return cand


class _Tracer:
    """``torch.fx`` tracer that keeps activations and neurons as leaves."""

    def __new__(cls) -> Any:
        import torch.fx as fx

        class Tracer(fx.Tracer):
            def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
                if is_qcfs(m) or isinstance(m, RecReLU | BaseNeuron | ConversionNeuron):
                    return True
                return super().is_leaf_module(m, qualname)

        return Tracer()


def trace(ann: nn.Module, analog_before_maxpool: bool = True) -> tuple[Any, list[Site]]:
    """Trace ``ann`` with ``torch.fx`` and give every activation call site its own module (module docstring);
    returns the GraphModule and its sites (a ReLU feeding a max-pool marked analog if ``analog_before_maxpool``)."""
    import torch.fx as fx

    tracer = _Tracer()
    graph = tracer.trace(ann)
    gm = fx.GraphModule(tracer.root, graph, class_name=f"Parallel{type(ann).__name__}")
    sites: list[Site] = []
    seen: dict[str, int] = {}
    for node in list(gm.graph.nodes):
        if node.op == "call_module":
            mod = gm.get_submodule(node.target)
            kind = "relu" if isinstance(mod, nn.ReLU) else "qcfs" if is_qcfs(mod) else None
            if kind is None:
                continue
            k = seen.get(node.target, 0)
            seen[node.target] = k + 1
            if k:  # a module called at several sites: one copy per call site
                new_name = _unique(gm, f"{node.target}_{k}")
                gm.add_submodule(new_name, copy.deepcopy(mod))
                node.target = new_name
            sites.append(Site(node.target, kind, node))
        elif (node.op == "call_function" and node.target in _RELU_FUNCS) or (
            node.op == "call_method" and node.target in ("relu", "relu_")
        ):
            name = _unique(gm, "relu_fn")
            gm.add_submodule(name, nn.ReLU())
            with gm.graph.inserting_before(node):
                new_node = gm.graph.call_module(name, (node.args[0],))
            node.replace_all_uses_with(new_node)
            gm.graph.erase_node(node)
            sites.append(Site(name, "relu", new_node))
    gm.recompile()
    for s in sites:
        if s.kind == "relu" and analog_before_maxpool and _feeds_maxpool(gm, s.node):
            s.analog = True
    return gm, sites


# ------------------------------------------------------------------------------------------------ helpers
def _feeds_maxpool(gm: nn.Module, node: Any) -> bool:
    """Whether an activation node's output reaches a max-pool directly (through identity/dropout at most)."""
    frontier, seen = list(node.users), set()
    while frontier:
        u = frontier.pop()
        if u in seen:
            continue
        seen.add(u)
        if u.op == "call_module":
            mod = gm.get_submodule(u.target)
            if isinstance(mod, _MAXPOOL_MODULES):
                return True
            if isinstance(mod, _PASS_THROUGH):
                frontier.extend(u.users)
        elif u.op == "call_function" and u.target in _MAXPOOL_FUNCS:
            return True
        elif u.op == "call_function" and u.target is operator.getitem:
            continue
    return False


def add_time_coding(gm: Any, T: int, rank: int) -> nn.Module:
    """Insert ``encode_time`` after the input and ``decode_time`` before the output of a GraphModule."""
    graph = gm.graph
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if not placeholders:
        raise ConfigError("parallel_conversion: the traced network has no input")
    x = placeholders[0]
    users = list(x.users)
    with graph.inserting_after(x):
        enc = graph.call_function(encode_time, (x, T, rank))
    for u in users:
        u.replace_input_with(x, enc)
    out = next(n for n in graph.nodes if n.op == "output")
    result = out.args[0]
    if not hasattr(result, "op"):
        raise ConfigError("parallel_conversion: only networks with a single tensor output can be converted")
    with graph.inserting_before(out):
        dec = graph.call_function(decode_time, (result, T))
    out.args = (dec,)
    gm.recompile()
    gm.rank = rank
    return gm


class Wrapper(nn.Module):
    """Fallback for untraceable networks: time coding around the module-replaced network ``net``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.T: int | None = None
        self.rank = 4

    def forward(self, x: Tensor) -> Tensor:
        if self.T is None:  # before conversion (statistics and calibration passes): the plain network
            return self.net(x)
        return decode_time(self.net(encode_time(x, self.T, self.rank)), self.T)


def module_sites(model: nn.Module) -> list[Site]:
    """The activation modules of an untraceable ``model`` wrapped in a :class:`Wrapper` (paths under ``net.``)."""
    return [
        Site("net." + n, "relu" if isinstance(m, nn.ReLU) else "qcfs")
        for n, m in model.named_modules()
        if n and (isinstance(m, nn.ReLU) or is_qcfs(m))
    ]
