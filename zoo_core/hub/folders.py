"""Weight folders: ``config.json`` + ``model.safetensors`` + ``README.md``, laid out like a Hugging Face repo.

:func:`save_pretrained` writes a folder all or nothing (the new files in a sibling folder, switched in with one
atomic rename, :mod:`.atomic`) and refuses non-finite weights unless forced; :func:`read_folder` reads one back as
one version, its ``config.json`` checked against a schema (:mod:`.schema`), the weights' sha256 verified and the
safetensors header checked (:mod:`.tensors`) before any tensor is made; :func:`check_layout` compares a model's
layout with that header (the public API does so on a model built on the ``meta`` device, before allocating it);
:func:`load_state_dict_checked` copies a state dict into a model only after its keys, shapes, dtypes and values (no
NaN/Inf, also after conversion to the model's dtype) have been checked, so a bad file never leaves a model
half-loaded. :func:`resolve_source` turns a source (a local folder, or
``hf://owner/repo[@revision]`` through :mod:`zoo_core.hub.download`) into a folder. Building a model by name
from a folder is the public API's job (:func:`zoo_core.load_pretrained`): this layer reads and writes, it
never builds.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save
from torch import Tensor, nn

from ..data.preprocessing import TIMM_PREFIX, timm_pretrained_cfg
from ..errors import WeightsError
from ..plugins import create, entry
from ..version import __version__
from .atomic import read_files, replace_folder
from .cards import render_card
from .schema import MAX_CONFIG_BYTES, parse_config
from .tensors import DTYPES, TensorSpec, check_representable, decode, non_finite, read_header

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
FORMAT_VERSION = 1


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _jsonable(value: Any, where: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise WeightsError(
            f"{where} is not JSON-serialisable ({exc}); constructor arguments saved in "
            "config.json must be plain values (neurons and surrogates by registered name)"
        ) from exc


def model_config_dict(
    model: nn.Module, tag: str | None = None, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The ``config.json`` content for a model built by :func:`zoo_core.create_model`."""
    name = getattr(model, "zoo_name", None)
    args = getattr(model, "zoo_args", None)
    if name is None or args is None:
        raise WeightsError(
            "save_pretrained needs a model built with zoo.create_model (it records the model "
            "name and constructor arguments in model.zoo_name / model.zoo_args)"
        )
    info = entry("model", name).info
    cfg: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "zoo_core_version": __version__,
        "model": name,
        "tag": tag,
        "plugin": info.plugin,
        "task": info.task,
        "args": _jsonable(dict(args), f"the arguments of {name!r}"),
        "T": args.get("T"),
        "num_classes": args.get("num_classes"),
        "preprocessing": _jsonable(info.preprocessing, "preprocessing"),
        "parameters": parameter_counts(model),
        # timm's keys: with zoo.register_with_timm(), timm.create_model("hf-hub:owner/repo") builds the model
        # named by "architecture" with "model_args" and takes its data config (input size, mean/std, crop)
        # from "pretrained_cfg"
        "architecture": TIMM_PREFIX + name,
        "model_args": _jsonable(dict(args), f"the arguments of {name!r}"),
        "pretrained_cfg": timm_pretrained_cfg(name, args, tag, strict=False),
    }
    if extra:
        cfg.update(_jsonable(extra, "extra config"))
    return cfg


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Total parameters, and the count without BatchNorm affine weight/bias (what BN-folded papers report).

    A batch normalisation is torch's (``BatchNorm*d``, ``InstanceNorm*d``) or any module whose class sets
    ``zoo_batch_norm = True`` (a plugin's own: Keras' BatchNormalization, a time-dependent BN); its own
    parameters are the affine ones."""
    total = sum(p.numel() for p in model.parameters())
    bn = sum(
        p.numel()
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._NormBase) or getattr(type(m), "zoo_batch_norm", False) is True
        for p in m.parameters(recurse=False)
    )
    return {"total": total, "without_bn_affine": total - bn}


def _same_tensors(path: Path, state: dict[str, Tensor]) -> bool:
    """Whether the safetensors file ``path`` holds exactly ``state`` (keys, dtypes, values)."""
    try:
        other = read_safetensors(path)
    except WeightsError:
        return False
    return other.keys() == state.keys() and all(
        other[k].dtype == v.dtype and torch.equal(other[k], v) for k, v in state.items()
    )


def with_provenance(
    model: nn.Module,
    cfg: dict[str, Any],
    folder: Path,
    state: dict[str, Tensor],
    extra_config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``cfg`` (the new ``config.json``, its ``files`` checksum set) plus where loaded weights came from.

    A model filled by :func:`zoo_core.load_pretrained` records ``model.zoo_weights`` (source folder, tag,
    sha256). Saving it elsewhere keeps the truth about its numbers: if its weights are still the loaded ones
    (same sha256, or the same tensors in a differently written file), the loaded folder's measured records
    (metrics, profile, training recipe, evaluation, ...: every field the model itself does not determine) are
    carried over unless ``extra_config`` gives them, with its tag, and ``provenance`` says where they were
    measured; if the weights changed since loading (e.g. fine-tuned), nothing is carried over and ``provenance``
    says so, so the card never presents numbers for weights they were not measured on. Re-writing the folder
    the weights came from (re-measuring a card) records no provenance.
    """
    loaded = getattr(model, "zoo_weights", None)
    if not isinstance(loaded, dict) or not loaded.get("source"):
        return cfg
    # "folder": the local folder when "source" names it another way (hf://..., package://...)
    origin = Path(str(loaded.get("folder") or loaded["source"]))
    if origin.is_dir() and origin.resolve() == folder.resolve():
        return cfg
    try:
        original: dict[str, Any] | None = read_config(origin)
    except (WeightsError, OSError):  # gone or unreadable since loading: nothing to carry over
        original = None
    sha = loaded.get("sha256") or (
        sha256_file(origin / WEIGHTS_NAME) if (origin / WEIGHTS_NAME).is_file() else None
    )
    record: dict[str, Any] = {"source": str(loaded["source"]), "tag": loaded.get("tag"), "sha256": sha}
    same_file = sha is not None and cfg["files"][WEIGHTS_NAME] == sha
    if not same_file and not _same_tensors(origin / WEIGHTS_NAME, state):
        cfg["provenance"] = {**record, "weights": "changed"}
        return cfg
    record.update(weights="unchanged", same_file=same_file)
    if original is None:
        record["note"] = "its config.json could not be read when saving, so its results are not carried over"
        cfg["provenance"] = record
        return cfg
    given = set(extra_config or {})
    carried = {
        k: v
        for k, v in original.items()
        if k not in given and k not in ("files", "provenance") and cfg.get(k) is None
    }
    cfg.update(carried)
    if cfg.get("tag") is None:
        cfg["tag"] = loaded.get("tag")
    cfg["provenance"] = {**record, "carried": sorted(k for k in carried if k != "tag")}
    return cfg


def save_pretrained(
    model: nn.Module,
    folder: str | os.PathLike[str],
    *,
    tag: str | None = None,
    card: str | bool = True,
    extra_config: dict[str, Any] | None = None,
    allow_non_finite: bool = False,
) -> Path:
    """Write ``config.json``, ``model.safetensors`` and a ``README.md`` card into ``folder``, all or nothing.

    The files are written into a temporary folder beside ``folder`` and switched in with one atomic rename
    (:func:`zoo_core.hub.atomic.replace_folder`): killed at any point, ``folder`` holds the complete old folder or
    the complete new one, and two concurrent saves never mix their files (the last one wins). Other files in an
    existing ``folder`` are kept.

    Args:
        model: a model from :func:`zoo_core.create_model`.
        folder: destination (created if needed; an existing folder is replaced as a whole).
        tag: the weight tag this folder publishes (``"digits_t4"``).
        card: ``True`` writes a card generated from the registry (:mod:`zoo_core.hub.cards`), a string is written
            as the card, ``False`` writes none.
        extra_config: more JSON-serialisable fields for ``config.json`` (metrics, training recipe, ...).
        allow_non_finite: save weights holding NaN/Inf anyway (refused by default: such a folder cannot be
            loaded, and saving it over a good one would lose the good one).

    Returns the folder path. ``config.json`` records the sha256 of the weights file. A model loaded with
    :func:`zoo_core.load_pretrained` keeps its provenance (:func:`with_provenance`): unchanged weights carry
    their folder's metrics and recipe, marked as measured on the original weights; changed ones carry none.
    """
    folder = Path(folder)
    cfg = model_config_dict(model, tag, extra_config)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    broken = [k for k, v in state.items() if non_finite(v)]
    if broken and not allow_non_finite:
        raise WeightsError(
            f"{folder}: not saved: non-finite values (NaN/Inf) in {', '.join(broken[:10])}"
            + (f" and {len(broken) - 10} more tensors" if len(broken) > 10 else "")
            + "; such weights cannot be loaded back (diverged training?); pass allow_non_finite=True to save anyway"
        )
    # one metadata key only: safetensors writes several in hash-map order, which would make identical weights
    # give different bytes (and checksums) from run to run
    blob = save(state, metadata={"format": "pt"})
    cfg["files"] = {WEIGHTS_NAME: hashlib.sha256(blob).hexdigest()}
    cfg = with_provenance(model, cfg, folder, state, extra_config)
    files = {WEIGHTS_NAME: blob, CONFIG_NAME: (json.dumps(cfg, indent=2, sort_keys=False) + "\n").encode()}
    # never write a config that could not be read back
    config_from_bytes(files[CONFIG_NAME], str(folder / CONFIG_NAME))
    if card:
        if card is True:
            info = entry("model", cfg["model"]).info
            text = render_card(cfg["model"], cfg.get("tag"), cfg, info, create("task", info.task))
        else:
            text = str(card)
        files[CARD_NAME] = text.encode()
    replace_folder(folder, files)
    return folder


def read_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``config.json`` of a weight folder, validated by :func:`config_from_bytes`."""
    path = Path(folder) / CONFIG_NAME
    data = None
    if path.is_file():
        data = read_files(Path(folder), [CONFIG_NAME], limits={CONFIG_NAME: MAX_CONFIG_BYTES})[CONFIG_NAME]
    if data is None:
        raise WeightsError(
            f"{path}: missing; a weight folder holds {CONFIG_NAME}, {WEIGHTS_NAME} and {CARD_NAME}"
        )
    return config_from_bytes(data, str(path))


def config_from_bytes(data: bytes | bytearray, where: str) -> dict[str, Any]:
    """A ``config.json`` from its bytes: size, depth and field types checked (:func:`zoo_core.hub.schema.
    parse_config`), and a format this zoo-core reads."""
    cfg = parse_config(data, where)
    if cfg.get("format", FORMAT_VERSION) > FORMAT_VERSION:
        raise WeightsError(
            f"{where}: format {cfg['format']} is newer than this zoo-core reads ({FORMAT_VERSION}); "
            "upgrade zoo-core"
        )
    return cfg


def _check_sha256(data: bytes | bytearray, expected: str | None, where: str) -> None:
    if expected is None:
        return
    got = hashlib.sha256(data).hexdigest()
    if got != expected.lower():
        raise WeightsError(
            f"{where}: sha256 mismatch (expected {expected}, file has {got}); the file is "
            "corrupt, truncated or not the published one; delete it and download again"
        )


def read_safetensors(path: str | os.PathLike[str], expected_sha256: str | None = None) -> dict[str, Tensor]:
    """Load a safetensors file (any dtype of the format), checking its sha256 first when one is expected."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: missing")
    data = path.read_bytes()
    _check_sha256(data, expected_sha256, str(path))
    return decode(data, str(path))


@functools.cache
def _convertible(src: torch.dtype, dst: torch.dtype) -> bool:
    try:
        torch.zeros(src.itemsize, dtype=torch.uint8).view(src).to(dst)
    except (RuntimeError, NotImplementedError, TypeError):
        return False
    return True


def check_layout(
    own: Mapping[str, Tensor], got: Mapping[str, Tensor | TensorSpec], source: str, what: str
) -> None:
    """Raise :class:`WeightsError` unless ``got`` (tensors, or the specs of a safetensors header) has exactly the
    keys and shapes of ``own`` (a model's state dict, possibly on the ``meta`` device) and dtypes that load into
    it (the same, or floating point to floating point where torch can convert). ``what`` names the model."""
    missing = sorted(set(own) - set(got))
    unexpected = sorted(set(got) - set(own))
    problems = []
    if missing:
        problems.append(f"missing keys: {', '.join(missing[:10])}" + (" ..." if len(missing) > 10 else ""))
    if unexpected:
        problems.append(
            f"unexpected keys: {', '.join(unexpected[:10])}" + (" ..." if len(unexpected) > 10 else "")
        )
    for k in sorted(set(own) & set(got)):
        a, b = own[k], got[k]
        if isinstance(b, TensorSpec):
            shape, dtype, label = b.torch_shape, DTYPES.get(b.dtype), b.dtype
        else:
            shape, dtype, label = tuple(b.shape), b.dtype, str(b.dtype)
        if tuple(a.shape) != shape:
            problems.append(f"shape mismatch for {k!r}: file {shape}, model {tuple(a.shape)}")
        elif dtype is None:
            problems.append(f"dtype {label} of {k!r} cannot be represented by this torch")
        elif a.dtype != dtype and (
            a.is_floating_point() != dtype.is_floating_point
            or not dtype.is_floating_point
            or not _convertible(dtype, a.dtype)
        ):
            problems.append(f"dtype mismatch for {k!r}: file {label}, model {a.dtype}")
    if problems:
        more = len(problems) - 12
        shown = problems[:12] + ([f"and {more} more mismatches"] if more > 0 else [])
        raise WeightsError(f"{source}: does not fit {what}: " + "; ".join(shown))


def check_state_dict(model: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """Raise :class:`WeightsError` unless ``state`` fits ``model`` exactly (keys, shapes, dtypes, finite values,
    also once converted to the model's dtype: a float64 1e300 loaded into float32 would be Inf)."""
    own = model.state_dict()
    check_layout(own, state, source, type(model).__name__)
    problems = []
    for k in sorted(own):
        a, b = own[k], state[k]
        if non_finite(b):
            problems.append(f"non-finite values (NaN/Inf) in {k!r}")
        elif a.dtype != b.dtype and b.is_floating_point() and non_finite(b.to(a.dtype)):
            problems.append(f"values of {k!r} overflow the model's {a.dtype} (NaN/Inf once converted)")
    if problems:
        raise WeightsError(f"{source}: does not fit {type(model).__name__}: " + "; ".join(problems))


def load_state_dict_checked(model: nn.Module, state: dict[str, Tensor], source: str) -> nn.Module:
    """Check everything first, then copy in: a bad state dict never leaves the model half-loaded."""
    check_state_dict(model, state, source)
    model.load_state_dict(state, strict=True)
    return model


class WeightFolder:
    """A weight folder read from disk as one version: its path, ``config.json`` (validated), the weights file's
    bytes (sha256 verified) and checked header (``specs``: name -> :class:`~zoo_core.hub.tensors.TensorSpec`).
    ``state`` (the tensors) is made only when first asked for, so a model's layout can be compared with
    ``specs`` before anything is allocated."""

    def __init__(
        self,
        path: Path,
        config: dict[str, Any],
        data: bytes | bytearray,
        sha256: str | None,
        specs: dict[str, TensorSpec],
    ) -> None:
        self.path, self.config, self.data, self.sha256, self.specs = path, config, data, sha256, specs
        self._state: dict[str, Tensor] | None = None

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS_NAME

    @property
    def parameters(self) -> int:
        """The number of values the file holds (as the header declares them)."""
        return sum(math.prod(s.torch_shape) for s in self.specs.values())

    @property
    def state(self) -> dict[str, Tensor]:
        if self._state is None:
            self._state = decode(self.data, str(self.weights_path))
        return self._state


def read_folder(
    folder: str | os.PathLike[str], expected_sha256: dict[str, str] | None = None
) -> WeightFolder:
    """Read a local weight folder (config and weights of one version, even while a save replaces it); the
    weights' sha256 is checked against ``expected_sha256`` (the registry's record) or else against the one
    ``config.json`` records, then the safetensors header is checked. No tensor is made yet."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"{folder}: weight folder not found")
    files = read_files(folder, [CONFIG_NAME, WEIGHTS_NAME], limits={CONFIG_NAME: MAX_CONFIG_BYTES})
    config, data = files[CONFIG_NAME], files[WEIGHTS_NAME]
    if config is None:
        raise WeightsError(
            f"{folder / CONFIG_NAME}: missing; a weight folder holds {CONFIG_NAME}, {WEIGHTS_NAME} and {CARD_NAME}"
        )
    cfg = config_from_bytes(config, str(folder / CONFIG_NAME))
    if data is None:
        raise WeightsError(f"{folder / WEIGHTS_NAME}: missing")
    sha = (expected_sha256 or {}).get(WEIGHTS_NAME) or (cfg.get("files") or {}).get(WEIGHTS_NAME)
    _check_sha256(data, sha, str(folder / WEIGHTS_NAME))
    specs, _ = read_header(data, str(folder / WEIGHTS_NAME))
    check_representable(specs, str(folder / WEIGHTS_NAME))
    return WeightFolder(folder, cfg, data, sha, specs)
