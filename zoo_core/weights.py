"""Weight folders: ``config.json`` + ``model.safetensors`` + ``README.md``, laid out like a Hugging Face repo.

``save_pretrained(model, folder)`` writes a folder; ``load_pretrained(model_or_name, source)`` reads one back
exactly. A *source* is a local folder, or ``hf://owner/repo`` (optionally ``@revision``) downloaded through
``huggingface_hub`` (cache, pinned revision, ``HF_HUB_OFFLINE``, progress bars; see :mod:`zoo_core.hub`).

Loading is all-or-nothing: the file's checksum, keys, shapes, dtypes and values (no NaN/Inf) are checked against
the model *before* any tensor is copied in, so a bad file never leaves a model half-loaded. Pickled checkpoints
(official ``.pth`` files) are refused unless the caller opts in (``allow_pickle=True``), and then they are read
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .errors import ZooError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
FORMAT_VERSION = 1


class WeightsError(ZooError, ValueError):
    """A weight folder or file is missing, corrupt or does not fit the model."""


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
    from . import __version__
    from .api import model_info

    name = getattr(model, "zoo_name", None)
    args = getattr(model, "zoo_args", None)
    if name is None or args is None:
        raise WeightsError(
            "save_pretrained needs a model built with zoo.create_model (it records the model "
            "name and constructor arguments in model.zoo_name / model.zoo_args)"
        )
    info = model_info(name)
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
        card: ``True`` writes a card generated from the registry (:mod:`zoo_core.cards`), a string is written
            as the card, ``False`` writes none.
        extra_config: more JSON-serialisable fields for ``config.json`` (metrics, training recipe, ...).

    Returns the folder path. ``config.json`` records the sha256 of the weights file.
    """
    from safetensors.torch import save

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
            from .cards import render_card

            text = render_card(cfg["model"], tag, config=cfg)
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
    from safetensors import SafetensorError
    from safetensors.torch import load

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


def load_folder(
    model_or_name: nn.Module | str | None,
    folder: str | os.PathLike[str],
    expected_sha256: dict[str, str] | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build (or fill) a model from a local weight folder."""
    from .api import create_model, model_info

    folder = Path(folder)
    if not folder.is_dir():
        raise WeightsError(f"{folder}: weight folder not found")
    cfg = read_config(folder)
    sha = (expected_sha256 or {}).get(WEIGHTS_NAME) or cfg.get("files", {}).get(WEIGHTS_NAME)
    state = read_safetensors(folder / WEIGHTS_NAME, sha)
    if isinstance(model_or_name, nn.Module):
        model = model_or_name
    else:
        name = model_or_name or cfg["model"]
        base = name.partition(".")[0]
        if base != cfg["model"]:
            raise WeightsError(f"{folder}: holds weights of {cfg['model']!r}, not {base!r}")
        try:
            model_info(base)
        except LookupError as exc:
            raise WeightsError(f"{folder / CONFIG_NAME}: {exc}") from exc
        args = {**cfg["args"], **overrides}
        try:
            model = create_model(base, **args)
        except (LookupError, TypeError, ValueError) as exc:
            raise WeightsError(
                f"{folder / CONFIG_NAME}: cannot build {base!r} from its arguments: {exc}"
            ) from exc
    load_state_dict_checked(model, state, str(folder / WEIGHTS_NAME))
    model.zoo_weights = {"source": str(folder), "tag": cfg.get("tag"), "sha256": sha}
    model.eval()
    return model


def load_pretrained(
    model_or_name: nn.Module | str | None,
    source: str | os.PathLike[str],
    *,
    revision: str | None = None,
    expected_sha256: dict[str, str] | None = None,
    **overrides: Any,
) -> nn.Module:
    """Load weights from a local folder or ``hf://owner/repo[@revision]`` into a model (or build it by name).

    Args:
        model_or_name: a model to fill, a registered name, or ``None`` to build the model the folder names.
        source: a folder path or ``hf://owner/repo[@revision]``.
        revision: Hub revision (commit, tag or branch) if not given in ``source``.
        expected_sha256: file name -> sha256 to verify (the registry's record); defaults to config.json's own.
    Returns the model, in eval mode.
    """
    folder = resolve_source(source, revision)
    return load_folder(model_or_name, folder, expected_sha256, **overrides)


def resolve_source(source: str | os.PathLike[str], revision: str | None = None) -> Path:
    """A local folder for ``source`` (downloading ``hf://`` sources into the Hub cache)."""
    s = str(source)
    if s.startswith("hf://"):
        from .hub import download

        repo, _, rev = s[5:].partition("@")
        return download(repo, revision=rev or revision)
    path = Path(s)
    if path.is_absolute() or path.exists():
        return path
    # registry sources are relative to the repository root (model_cards/<id>); an install that is not a
    # checkout finds them through $ZOO_MODEL_CARDS (a copy of the model_cards/ folder)
    candidates = [Path(__file__).resolve().parent.parent / path]
    cards = os.environ.get("ZOO_MODEL_CARDS")
    if cards and path.parts[0] == "model_cards":
        candidates.append(Path(cards).joinpath(*path.parts[1:]))
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise WeightsError(
        f"{s}: weight folder not found (looked in {', '.join(str(c) for c in candidates)}). Demo weights ship in "
        "the model_cards/ folder of a zoo-core checkout; with another install, point ZOO_MODEL_CARDS at "
        "such a folder, or load a Hub copy with zoo.load_pretrained(model, 'hf://owner/repo')"
    )


def load_tag(model: nn.Module, name: str, tag: str) -> nn.Module:
    """Load the weight set ``name.tag`` recorded in the registry, verifying its recorded checksum."""
    from .api import model_info

    w = model_info(name).weights[tag]
    return load_pretrained(model, w.source, revision=w.revision, expected_sha256=w.sha256 or None)


def load_official(path: str | os.PathLike[str], allow_pickle: bool = False) -> dict[str, Tensor]:
    """Read an official checkpoint: safetensors always; pickled ``.pth``/``.pt``/``.tar`` only with opt-in.

    A pickle can run code when loaded; even with ``allow_pickle=True`` the file is read with
    ``torch.load(weights_only=True)``, which only rebuilds tensors and plain containers. A top-level
    ``{"model": ...}`` / ``{"state_dict": ...}`` wrapper is unwrapped.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: checkpoint not found")
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    if not allow_pickle:
        raise WeightsError(
            f"{path}: a pickled checkpoint; loading pickles is off by default because they can "
            "execute code. Pass allow_pickle=True (CLI: --allow-pickle) if you trust the file; it is "
            "then read with torch.load(weights_only=True)"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsError(
            f"{path}: cannot be read as a weights-only checkpoint ({type(exc).__name__}: {exc})"
        ) from exc
    try:
        return unwrap_state_dict(obj)
    except WeightsError as exc:
        raise WeightsError(f"{path}: {exc}") from None


def unwrap_state_dict(obj: Any) -> dict[str, Tensor]:
    """The state dict inside a training checkpoint: unwrap ``{"model"|"state_dict"|...: sd}`` and a DDP
    ``module.`` prefix; everything left must be tensors."""
    for key in ("model", "state_dict", "model_state_dict", "net", "model_ema"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        kind = type(obj).__name__
        raise WeightsError(
            f"expected a (possibly wrapped) state dict of tensors, got {kind}"
            + (f" with keys {sorted(obj)[:6]}" if isinstance(obj, dict) else "")
        )
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}
    return dict(obj)
