"""Training recipes: a paper's training run as named ``zoo train`` settings (``--recipe NAME``, ``--print-recipe``).

A recipe is registered (``register_recipes`` hook, :class:`zoo_core.info.RecipeInfo`) with its settings (fields
of :class:`~zoo_core.tasks.TrainConfig`), the models it is for, where its numbers come from and how a zoo run
differs from the paper's. :func:`recipe_config` builds the run's settings: the recipe's, then what the command
line sets explicitly; the card of the trained weights names the recipe.
"""

from __future__ import annotations

import fnmatch
import json
import shlex
from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError
from ..info import RecipeInfo
from ..plugins import create, entry, runtime, split_tag
from .base import TrainConfig

__all__ = ["describe_recipe", "recipe_config", "train_command"]


def _info(name: str) -> RecipeInfo:
    return entry("recipe", name).info  # type: ignore[return-value]


def recipe_config(name: str, model: str, **overrides: Any) -> TrainConfig:
    """The training settings of recipe ``name`` for ``model``, with ``overrides`` (explicit options) on top."""
    info = _info(name)
    base = split_tag(model)[0]
    entry("model", base)  # an unknown model is named as such (with the closest names)
    if info.models and not any(fnmatch.fnmatchcase(base, p) for p in info.models):
        raise ConfigError(
            f"recipe {name!r} is for {', '.join(info.models)}, not {base!r}; recipes for {base}: "
            f"{', '.join(recipes_for(base)) or 'none'}"
        )
    settings = create("recipe", name)
    if info.data and not settings.get("dataset") and not overrides.get("dataset"):
        raise ConfigError(f"recipe {name!r} trains on {info.data}: give it with --dataset")
    return TrainConfig(**{**settings, **overrides, "model": model, "recipe": name})


def recipes_for(model: str) -> list[str]:
    """Registered recipes made for ``model``."""
    reg = runtime().registries["recipe"]
    return [n for n in reg.names() if any(fnmatch.fnmatchcase(model, p) for p in _info(n).models)]


def train_command(cfg: TrainConfig, prefix: str = "zoo train", always: Iterable[str] = ()) -> str:
    """``cfg`` as a command line: the model and every setting that differs from the defaults or is named in
    ``always`` (a recipe's own settings)."""
    defaults = TrainConfig(model=cfg.model)
    shown = set(always)
    parts = [cfg.model]
    for key, value in cfg.model_dump().items():
        if key in ("model", "recipe", "verbose") or (value == getattr(defaults, key) and key not in shown):
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else ("--no-weight-decay-1d" if key == "weight_decay_1d" else ""))
        elif isinstance(value, dict):
            parts += [flag, json.dumps(value, separators=(",", ":"))]
        else:
            parts += [flag, str(value)]
    return " ".join([prefix, *(shlex.quote(p) for p in parts if p)])


def describe_recipe(name: str, model: str | None = None, **overrides: Any) -> str:
    """What ``zoo train --print-recipe`` prints: the recipe's paper, source, models and differences, and the
    equivalent command line (for ``model``, or the first model the recipe names)."""
    info = _info(name)
    target = model or (next((p for p in info.models if not any(c in p for c in "*?[")), None) or "MODEL")
    cfg = recipe_config(
        name, target, **({"dataset": "DATA"} if info.data and "dataset" not in overrides else {}), **overrides
    )
    lines = [f"recipe {name}: {info.description}".rstrip(": ")]
    lines.append(
        f"  paper: {info.paper.title} ({'; '.join(info.paper.authors[:3])}, {info.paper.venue} {info.paper.year})"
    )
    if info.models:
        lines.append(f"  models: {', '.join(info.models)}")
    if info.data:
        lines.append(f"  data: {info.data}")
    if info.source:
        lines.append(f"  source: {info.source}")
    if info.differences:
        lines.append(f"  differences from the paper's run: {info.differences}")
    lines.append(f"  command: {train_command(cfg, always=info.settings)}")
    return "\n".join(lines)
