"""Weight folders: ``config.json`` + ``model.safetensors`` + ``README.md``, laid out like a Hugging Face repo.

:func:`save_pretrained` writes a folder atomically (each file through a temporary file and a rename);
:func:`read_folder` reads one back, verifying the sha256 of the weights; :func:`load_state_dict_checked` copies a
state dict into a model only after its keys, shapes, dtypes and values (no NaN/Inf) have been checked, so a bad
file never leaves a model half-loaded. :func:`resolve_source` turns a source (a local folder, or
``hf://owner/repo[@revision]`` through :mod:`zoo_core.hub.download`) into a folder. Building a model by name
from a folder is the public API's job (:func:`zoo_core.load_pretrained`): this layer reads and writes, it
never builds.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import Tensor, nn

from ..errors import WeightsError
from ..plugins import create, entry
from ..version import __version__
from .cards import render_card

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


def _atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; published files are world-readable
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    }
    if extra:
        cfg.update(_jsonable(extra, "extra config"))
    return cfg


def parameter_counts(model: nn.Module) -> dict[str, int]:
    """Total parameters, and the count without BatchNorm affine weight/bias (what BN-folded papers report)."""
    total = sum(p.numel() for p in model.parameters())
    bn = sum(
        p.numel()
        for m in model.modules()
        if isinstance(m, nn.modules.batchnorm._NormBase)
        for p in m.parameters(recurse=False)
    )
    return {"total": total, "without_bn_affine": total - bn}


def save_pretrained(
    model: nn.Module,
    folder: str | os.PathLike[str],
    *,
    tag: str | None = None,
    card: str | bool = True,
    extra_config: dict[str, Any] | None = None,
) -> Path:
    """Write ``config.json``, ``model.safetensors`` and a ``README.md`` card into ``folder``.

    Args:
        model: a model from :func:`zoo_core.create_model`.
        folder: destination (created if needed; existing files of the same names are replaced atomically).
        tag: the weight tag this folder publishes (``"digits_t4"``).
        card: ``True`` writes a card generated from the registry (:mod:`zoo_core.hub.cards`), a string is written
            as the card, ``False`` writes none.
        extra_config: more JSON-serialisable fields for ``config.json`` (metrics, training recipe, ...).

    Returns the folder path. ``config.json`` records the sha256 of the weights file.
    """
    folder = Path(folder)
    cfg = model_config_dict(model, tag, extra_config)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    # one metadata key only: safetensors writes several in hash-map order, which would make identical weights
    # give different bytes (and checksums) from run to run
    blob = save(state, metadata={"format": "pt"})
    _atomic_write(folder / WEIGHTS_NAME, blob)
    cfg["files"] = {WEIGHTS_NAME: hashlib.sha256(blob).hexdigest()}
    _atomic_write(folder / CONFIG_NAME, (json.dumps(cfg, indent=2, sort_keys=False) + "\n").encode())
    if card:
        if card is True:
            info = entry("model", cfg["model"]).info
            text = render_card(cfg["model"], tag, cfg, info, create("task", info.task))
        else:
            text = str(card)
        _atomic_write(folder / CARD_NAME, text.encode())
    return folder


def read_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate ``config.json`` of a weight folder."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise WeightsError(
            f"{path}: missing; a weight folder holds {CONFIG_NAME}, {WEIGHTS_NAME} and {CARD_NAME}"
        )
    try:
        cfg = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(cfg, dict):
        raise WeightsError(f"{path}: expected a JSON object, got {type(cfg).__name__}")
    for key, typ in (("model", str), ("args", dict)):
        if not isinstance(cfg.get(key), typ):
            raise WeightsError(f"{path}: field {key!r} must be a {typ.__name__}, got {cfg.get(key)!r}")
    if cfg.get("format", FORMAT_VERSION) > FORMAT_VERSION:
        raise WeightsError(
            f"{path}: format {cfg['format']} is newer than this zoo-core reads ({FORMAT_VERSION}); "
            "upgrade zoo-core"
        )
    return cfg


def read_safetensors(path: str | os.PathLike[str], expected_sha256: str | None = None) -> dict[str, Tensor]:
    """Load a safetensors file, checking its sha256 first when one is expected."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: missing")
    data = path.read_bytes()
    if expected_sha256 is not None:
        got = hashlib.sha256(data).hexdigest()
        if got != expected_sha256.lower():
            raise WeightsError(
                f"{path}: sha256 mismatch (expected {expected_sha256}, file has {got}); the file is "
                "corrupt, truncated or not the published one; delete it and download again"
            )
    try:
        return load(data)
    except (SafetensorError, ValueError, RuntimeError, OSError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc}); truncated or corrupt?") from exc


def check_state_dict(model: nn.Module, state: dict[str, Tensor], source: str) -> None:
    """Raise :class:`WeightsError` unless ``state`` fits ``model`` exactly (keys, shapes, dtypes, finite values)."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    problems = []
    if missing:
        problems.append(f"missing keys: {', '.join(missing[:10])}" + (" ..." if len(missing) > 10 else ""))
    if unexpected:
        problems.append(
            f"unexpected keys: {', '.join(unexpected[:10])}" + (" ..." if len(unexpected) > 10 else "")
        )
    for k in sorted(set(own) & set(state)):
        a, b = own[k], state[k]
        if tuple(a.shape) != tuple(b.shape):
            problems.append(f"shape mismatch for {k!r}: file {tuple(b.shape)}, model {tuple(a.shape)}")
        elif a.dtype != b.dtype and (
            a.is_floating_point() != b.is_floating_point() or not b.is_floating_point()
        ):
            problems.append(f"dtype mismatch for {k!r}: file {b.dtype}, model {a.dtype}")
        elif b.is_floating_point() and not bool(torch.isfinite(b).all()):
            problems.append(f"non-finite values (NaN/Inf) in {k!r}")
    if problems:
        raise WeightsError(f"{source}: does not fit {type(model).__name__}: " + "; ".join(problems))


def load_state_dict_checked(model: nn.Module, state: dict[str, Tensor], source: str) -> nn.Module:
    """Check everything first, then copy in: a bad state dict never leaves the model half-loaded."""
    check_state_dict(model, state, source)
    model.load_state_dict(state, strict=True)
    return model


class WeightFolder(NamedTuple):
    """A weight folder read from disk: its path, ``config.json``, the state dict and the verified sha256."""

    path: Path
    config: dict[str, Any]
    state: dict[str, Tensor]
    sha256: str | None


def read_folder(
    folder: str | os.PathLike[str], expected_sha256: dict[str, str] | None = None
) -> WeightFolder:
    """Read a local weight folder; the weights' sha256 is checked against ``expected_sha256`` (the registry's
    record) or else against the one ``config.json`` records."""
    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"{folder}: weight folder not found")
    cfg = read_config(folder)
    sha = (expected_sha256 or {}).get(WEIGHTS_NAME) or cfg.get("files", {}).get(WEIGHTS_NAME)
    return WeightFolder(folder, cfg, read_safetensors(folder / WEIGHTS_NAME, sha), sha)
