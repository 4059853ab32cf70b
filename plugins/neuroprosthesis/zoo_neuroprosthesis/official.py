r"""Official Keras-2 checkpoints: read ``.h5`` weight files and map them to the zoo models' state dicts.

Keras 2 (``model.save_weights`` or ``model.save``, whose weights sit under ``model_weights``) stores one HDF5 group
per layer, in model order (root attribute ``layer_names``); each group lists its tensors in the attribute
``weight_names``, stored at ``<layer>/<weight name>``, e.g. ``conv1/conv1/kernel:0``. A nested model (the SID's
``dense`` and ``ae`` Sequentials) is one group whose weight names carry the inner layer:
``dense/dense_1/kernel:0``. Keras layouts and the conversion to PyTorch's:

=================  ===========================================  ===========================================
layer              Keras tensors (layout)                       zoo tensors
=================  ===========================================  ===========================================
Conv2D             ``kernel [kh, kw, in, out]``, ``bias``       ``weight`` = kernel.permute(3, 2, 0, 1)
Dense              ``kernel [in, out]``, ``bias``               ``weight`` = kernel.T
BatchNormalization ``gamma, beta, moving_mean, moving_var``     ``weight, bias, running_mean, running_var``
LSTM / GRU / RNN   ``kernel [in, G u]``, ``recurrent_kernel``,  ``weight_ih_l0`` = kernel.T, ``weight_hh_l0`` =
                   ``bias [G u]`` (gates i,f,c,o / z,r,h)       recurrent_kernel.T, ``bias``
ParametricSoftplus ``alpha(s)``, ``beta(s)`` (or unnamed         ``alpha``, ``beta``
                   ``Variable`` tensors, created alpha first)
=================  ===========================================  ===========================================

The dense layer after a channels-last ``Flatten`` keeps its Keras column order: the zoo models flatten in
``(h, w, c)`` order as Keras does, so no column permutation is needed.

Layers are matched to the zoo model's Keras-named modules by name (the names of the published
``architecture.json`` and of any model built in a fresh Keras session); a file whose layers carry other
auto-numbered names (a model built after others in one session) is matched by order, which the HDF5 reader
keeps. h5py is an optional dependency (``pip install zoo-neuroprosthesis[h5]``).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import zoo_core as zoo
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, WeightsError

from .layers import KerasBatchNorm, _KerasRecurrent
from .neurons import ParametricSoftplus

__all__ = [
    "keras_layers",
    "make_from_official",
    "make_official_config",
    "read_keras_h5",
    "state_from_keras",
]

#: the roles of each kind of Keras layer, in the order Keras creates them
ROLES = {
    "conv": ("kernel", "bias"),
    "dense": ("kernel", "bias"),
    "bn": ("gamma", "beta", "moving_mean", "moving_variance"),
    "rnn": ("kernel", "recurrent_kernel", "bias"),
    "psp": ("alpha", "beta"),
}


def _kind(module: nn.Module) -> str | None:
    if isinstance(module, nn.Conv2d):
        return "conv"
    if isinstance(module, nn.Linear):
        return "dense"
    if isinstance(module, KerasBatchNorm):
        return "bn"
    if isinstance(module, _KerasRecurrent):
        return "rnn"
    if isinstance(module, ParametricSoftplus):
        return "psp"
    return None


def keras_layers(model: nn.Module) -> list[tuple[str, str, str]]:
    """The model's layers that hold weights, in Keras build order: ``(keras name, kind, module path)``."""
    return [(path.rsplit(".", 1)[-1], k, path) for path, m in model.named_modules() if (k := _kind(m))]


# ------------------------------------------------------------------------------------------------ reading
def read_keras_h5(path: str | Path) -> dict[str, Tensor]:
    """The tensors of a Keras-2 ``.h5`` weight file, keyed ``<layer group>/<weight name>`` (e.g.
    ``conv1/conv1/kernel:0``) in the file's layer order (``layer_names``, then each layer's ``weight_names``).

    Reads files of ``model.save_weights`` and of ``model.save`` (weights under ``model_weights``), and Keras 3
    ``.weights.h5`` files (``layers/<name>/vars/<i>``; keyed ``<name>/<role>``, the roles from the variables'
    number and ranks). Raises :class:`WeightsError` for a file that is not a Keras weight file, and
    :class:`ConfigError` without h5py."""
    try:
        import h5py  # optional dependency: only .h5 checkpoints need it
    except ImportError as exc:
        raise ConfigError(
            "reading Keras .h5 checkpoints needs h5py: pip install 'zoo-neuroprosthesis[h5]' (or h5py)"
        ) from exc
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: checkpoint not found")

    def text(v: Any) -> str:
        return v.decode("utf8") if isinstance(v, bytes) else str(v)

    out: dict[str, Tensor] = {}
    try:
        with h5py.File(path, "r") as f:
            root = f.get("model_weights", f)
            if "layer_names" not in root.attrs:
                if isinstance(f.get("layers"), h5py.Group):
                    return _read_keras3(f["layers"], path)
                raise WeightsError(
                    f"{path}: not a Keras weight file (no 'layer_names' attribute at its root"
                    + (" or under model_weights" if "model_weights" in f else "")
                    + ", no Keras 3 'layers' group)"
                )
            for layer in (text(n) for n in root.attrs["layer_names"]):
                group = root[layer]
                for w in (text(n) for n in group.attrs.get("weight_names", [])):
                    out[f"{layer}/{w}"] = torch.from_numpy(group[w][()].copy())
    except OSError as exc:
        raise WeightsError(f"{path}: cannot be read as HDF5 ({exc})") from exc
    if not out:
        raise WeightsError(f"{path}: the Keras weight file holds no weights")
    return out


def _keras3_roles(tensors: list[Tensor], where: str) -> list[str]:
    """The roles of a Keras 3 layer's unnamed variables (``vars/0``, ``vars/1``, ...) from their number and ranks."""
    dims = [t.dim() for t in tensors]
    for kind, pattern in (
        ("conv", [4, 1]),
        ("dense", [2, 1]),
        ("dense", [2]),
        ("rnn", [2, 2, 1]),
        ("bn", [1, 1, 1, 1]),
        ("psp", [1, 1]),
    ):
        if dims == pattern:
            return list(ROLES[kind][: len(pattern)])
    raise WeightsError(f"Keras 3 layer {where}: variables of ranks {dims} match no layer of these models")


def _read_keras3(layers: Any, path: Path) -> dict[str, Tensor]:
    """A Keras 3 ``.weights.h5`` file: ``layers/<name>[/<sublayer or cell>]/vars/<i>`` (groups in name order;
    the mapping matches layers by kind in build order)."""
    out: dict[str, Tensor] = {}

    def walk(group: Any, prefix: str) -> None:
        for name in group:
            item = group[name]
            if name == "vars":
                tensors = [torch.from_numpy(item[k][()].copy()) for k in sorted(item, key=int)]
                if tensors:
                    for role, t in zip(_keras3_roles(tensors, repr(prefix)), tensors):
                        out[f"{prefix}/{role}"] = t
            elif hasattr(item, "keys"):
                walk(item, f"{prefix}/{name}" if prefix else name)

    walk(layers, "")
    if not out:
        raise WeightsError(f"{path}: the Keras 3 weight file holds no weights")
    return out


# ------------------------------------------------------------------------------------------------ mapping
_LAYER_COUNTER = re.compile(r"^(.*?)(?:_(\d+))?$")


def _group_keras(state: dict[str, Any]) -> list[tuple[str, dict[str, Tensor]]]:
    """Keras-named tensors grouped by layer (the path without the weight's basename), in dict order; the
    roles are the basenames without ``:0`` (unnamed ``Variable`` tensors keep their creation order)."""
    groups: dict[str, list[tuple[str, Tensor]]] = {}
    for key, value in state.items():
        prefix, _, base = key.rpartition("/")
        if not prefix:
            raise WeightsError(f"Keras tensor name {key!r} has no layer path (expected '<layer>/<weight>:0')")
        groups.setdefault(prefix, []).append((base.split(":")[0], torch.as_tensor(value)))
    out = []
    for prefix, items in groups.items():
        named = {r: t for r, t in items if not r.startswith("Variable")}
        unnamed = sorted(
            ((r, t) for r, t in items if r.startswith("Variable")),
            key=lambda rt: int(_LAYER_COUNTER.match(rt[0]).group(2) or 0),  # type: ignore[union-attr]
        )
        if unnamed:  # ParametricSoftplus made with K.variable: alphas first, then betas
            named.update(zip(("alpha", "beta"), (t for _, t in unnamed)))
        out.append(
            (prefix, {r.removesuffix("s") if r in ("alphas", "betas") else r: t for r, t in named.items()})
        )
    return out


def _classify(roles: dict[str, Tensor]) -> str:
    if "moving_mean" in roles or "gamma" in roles:
        return "bn"
    if "recurrent_kernel" in roles:
        return "rnn"
    if "kernel" in roles:
        return "conv" if roles["kernel"].dim() == 4 else "dense"
    return "psp"


def _convert(kind: str, roles: dict[str, Tensor], where: str) -> dict[str, Tensor]:
    missing = [r for r in ROLES[kind] if r not in roles and not (kind == "dense" and r == "bias")]
    unknown = sorted(set(roles) - set(ROLES[kind]))
    if missing or unknown:
        raise WeightsError(
            f"Keras layer {where} ({kind}): "
            + (f"missing {', '.join(missing)}" if missing else "")
            + ("; " if missing and unknown else "")
            + (f"unexpected {', '.join(unknown)}" if unknown else "")
            + f" (expected {', '.join(ROLES[kind])})"
        )
    if kind == "conv":
        return {"weight": roles["kernel"].permute(3, 2, 0, 1).contiguous(), "bias": roles["bias"]}
    if kind == "dense":
        out = {"weight": roles["kernel"].T.contiguous()}
        if "bias" in roles:
            out["bias"] = roles["bias"]
        return out
    if kind == "bn":
        return {
            "weight": roles["gamma"],
            "bias": roles["beta"],
            "running_mean": roles["moving_mean"],
            "running_var": roles["moving_variance"],
        }
    if kind == "rnn":
        if roles["bias"].dim() != 1:
            raise WeightsError(
                f"Keras layer {where}: bias of shape {tuple(roles['bias'].shape)}; a GRU saved with "
                "reset_after=True (Keras 2.3+/tf.keras default) is not the Keras-2.2 GRU of the official code"
            )
        return {
            "weight_ih_l0": roles["kernel"].T.contiguous(),
            "weight_hh_l0": roles["recurrent_kernel"].T.contiguous(),
            "bias": roles["bias"],
        }
    return {"alpha": roles["alpha"], "beta": roles["beta"]}


def _natural_order(prefixes: list[str]) -> list[tuple[float, int]]:
    """Keras' build order of auto-named layers of one kind: the session counter (``batch_normalization_7``;
    Keras 3 leaves the first unnumbered: ``batch_normalization``, ``batch_normalization_1``), explicit names
    without numbered siblings (``ae_out``) last, then the position in the checkpoint."""
    names = [p.rsplit("/", 1)[-1] for p in prefixes]
    split = [re.match(r"^(.*?)(?:_(\d+))?$", n).groups() for n in names]  # type: ignore[union-attr]
    numbered = {base for base, num in split if num is not None}
    return [
        (int(num) if num is not None else (0 if base in numbered else math.inf), i)
        for i, (base, num) in enumerate(split)
    ]


def state_from_keras(model: nn.Module, state: dict[str, Any]) -> dict[str, Tensor]:
    """Map Keras-named tensors (:func:`read_keras_h5`'s keys) to ``model``'s state dict.

    Layers are matched by their Keras name (the last path component before the weight, e.g. ``dense_1`` in
    ``dense/dense_1/kernel:0``) when the checkpoint has exactly the model's names; otherwise (layers auto-named
    with other counters, as in a Keras session that built other models first) each kind of layer is matched in
    Keras' build order (:func:`_natural_order`). Kinds, roles and counts are checked (:class:`WeightsError`)."""
    groups = _group_keras(state)
    zoo_layers = keras_layers(model)
    names = [prefix.rsplit("/", 1)[-1] for prefix, _ in groups]
    if sorted(names) == sorted(n for n, _, _ in zoo_layers):
        by_name = dict(zip(names, groups))
        pairs = [(by_name[name], layer) for name, layer in zip([n for n, _, _ in zoo_layers], zoo_layers)]
    else:
        queues: dict[str, list[tuple[str, dict[str, Tensor]]]] = {}
        keys = _natural_order([p for p, _ in groups])
        order = sorted(range(len(groups)), key=lambda i: keys[i])
        for i in order:
            queues.setdefault(_classify(groups[i][1]), []).append(groups[i])
        pairs = []
        for layer in zoo_layers:
            queue = queues.get(layer[1]) or []
            if not queue:
                raise WeightsError(
                    f"the Keras checkpoint has too few {layer[1]} layers for {type(model).__name__} "
                    f"(layers with weights: {', '.join(p for p, _ in groups)})"
                )
            pairs.append((queue.pop(0), layer))
        extra = [p for q in queues.values() for p, _ in q]
        if extra:
            raise WeightsError(
                f"the Keras checkpoint has layers {type(model).__name__} does not: {', '.join(extra)}"
            )
    out: dict[str, Tensor] = {}
    for (prefix, roles), (name, kind, path) in pairs:
        got = _classify(roles)
        if got != kind:
            raise WeightsError(
                f"Keras layer {prefix!r} holds a {got} layer's tensors; the zoo's {name!r} is a {kind}"
            )
        for k, v in _convert(kind, roles, repr(prefix)).items():
            out[f"{path}.{k}"] = v
    return out


def _meta_model(name: str, **overrides: Any) -> nn.Module:
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        return zoo.create_model(name, **overrides)


def _is_keras(state: dict[str, Any]) -> bool:
    return all("/" in k for k in state)


def make_from_official(name: str) -> Callable[[dict[str, Any]], dict[str, Tensor]]:
    """The ``from_official`` hook of the registered model ``name``: a state dict with Keras names (from
    :func:`read_keras_h5`, or saved from it) is converted; one already in the zoo layout is returned as it is."""

    def from_official(state: dict[str, Any]) -> dict[str, Tensor]:
        if not _is_keras(state):
            if any("/" in k for k in state):
                raise WeightsError("the checkpoint mixes Keras tensor names ('layer/weight:0') and zoo names")
            return dict(state)
        return state_from_keras(_meta_model(name, **official_config_of(name, state)), state)

    from_official.__doc__ = f"Map an official Keras-2 checkpoint of {name} to the zoo layout."
    return from_official


def official_config_of(name: str, state: dict[str, Any]) -> dict[str, Any]:
    """Constructor overrides implied by a checkpoint: ``num_cells`` (and the SID's ``img_size``) from the
    shapes of its dense layers; works on Keras-named and zoo-named state dicts."""
    if _is_keras(state):  # dense kernels [in, out]
        dense = [r["kernel"] for _, r in _group_keras(state) if _classify(r) == "dense"]
    else:  # nn.Linear weights [out, in]
        dense = [v.T for k, v in state.items() if k.endswith(".weight") and v.dim() == 2 and "dense" in k]
    if not dense:
        return {}
    if name.startswith("sid_decoder"):
        if len(dense) != 2:
            return {}
        first, second = dense if dense[0].shape[1] == dense[1].shape[0] else dense[::-1]
        side = round(int(second.shape[1]) ** 0.5)
        cfg = {"num_cells": int(first.shape[0])}
        return {**cfg, "img_size": side} if side * side == second.shape[1] else cfg
    return {"num_cells": int(dense[-1].shape[1])}  # encoders have one dense layer: [in, cells]


def make_official_config(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The ``official_config`` hook of ``name`` (:func:`official_config_of`)."""
    return lambda state: official_config_of(name, state)
