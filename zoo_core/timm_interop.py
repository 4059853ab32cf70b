"""Make zoo models available through ``timm.create_model`` so timm's tooling runs on them.

>>> import timm, zoo_core as zoo
>>> zoo.register_with_timm()                       # once per process; returns the timm names
>>> model = timm.create_model("zoo_spiking_cnn.digits_t4", pretrained=True)

Every zoo model ``name`` is registered in timm's registry as ``zoo_<name>``: the prefix keeps zoo names from
ever clashing with timm's own architectures (or with an official repository that registers the same paper's
names into timm in the same process). Weight tags become timm pretrained tags; loading goes through the zoo
(checksums verified, no pickle). timm-only keyword arguments that a zoo model does not take (``drop_rate``,
``drop_path_rate``, ...) are dropped when they hold their neutral value and rejected otherwise.
"""

from __future__ import annotations

import fnmatch
import inspect
import warnings
from collections.abc import Callable
from typing import Any

from .api import create_model, list_models, model_info
from .plugins import entry

PREFIX = "zoo_"
#: read by timm's ``register_model``: architecture -> DefaultCfg with one entry per weight tag
default_cfgs: dict[str, Any] = {}
__all__: list[str] = []

#: timm keyword arguments that zoo models may not take, with the value that means "off"
_TIMM_NEUTRAL: dict[str, Any] = {
    "drop_rate": 0.0,
    "drop_path_rate": None,
    "drop_block_rate": None,
    "global_pool": None,
    "bn_momentum": None,
    "bn_eps": None,
}
_TIMM_RUNTIME = ("cache_dir", "scriptable", "exportable", "no_jit", "pretrained_model_args")


def _tag_of(pretrained_cfg: Any) -> str | None:
    if pretrained_cfg is None:
        return None
    if isinstance(pretrained_cfg, str):
        return pretrained_cfg or None
    if isinstance(pretrained_cfg, dict):
        return pretrained_cfg.get("tag") or None
    return getattr(pretrained_cfg, "tag", None) or None


def _make_entrypoint(name: str) -> Callable[..., Any]:
    def entrypoint(
        pretrained: bool = False,
        pretrained_cfg: Any = None,
        pretrained_cfg_overlay: Any = None,
        **kwargs: Any,
    ) -> Any:
        factory = entry("model", name).factory
        accepted = set(inspect.signature(factory).parameters)
        for key in _TIMM_RUNTIME:
            kwargs.pop(key, None)
        for key, neutral in _TIMM_NEUTRAL.items():
            if key in kwargs and key not in accepted:
                value = kwargs.pop(key)
                if value != neutral and not (neutral is None and not value):
                    raise TypeError(f"zoo model {name!r} has no {key!r} (timm passed {key}={value!r})")
        tag = _tag_of(pretrained_cfg)
        return create_model(f"{name}.{tag}" if tag else name, pretrained=pretrained, **kwargs)

    entrypoint.__name__ = entrypoint.__qualname__ = PREFIX + name
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = f"zoo-core model {name!r} (see zoo_core.model_info({name!r}))."
    return entrypoint


def _pretrained_cfgs(name: str) -> dict[str, dict[str, Any]]:
    info = model_info(name)
    cfg = info.defaults
    common = {"num_classes": cfg.get("num_classes", 0), "license": "mit"}
    if "in_chans" in cfg and "img_size" in cfg:
        common["input_size"] = (cfg["in_chans"], cfg["img_size"], cfg["img_size"])
    out = {PREFIX + name: dict(common)}  # the untagged architecture (no weights)
    for tag, w in info.weights.items():
        src = w.source
        extra = {"hf_hub_id": src[5:].partition("@")[0]} if src.startswith("hf://") else {"file": src}
        out[f"{PREFIX}{name}.{tag}"] = {**common, **extra}
    return out


def register_with_timm(pattern: str = "*") -> list[str]:
    """Register zoo models matching ``pattern`` into timm's registry as ``zoo_<name>``; return the timm names.

    Safe to call again (e.g. after installing a plugin): names already registered by this module are refreshed,
    and a name timm already has from elsewhere is never overwritten.
    """
    try:
        # timm is optional: imported only when the bridge is used
        from timm.models import generate_default_cfgs, register_model
        from timm.models._registry import _model_entrypoints
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("timm is not installed: pip install timm") from exc
    names = []
    for name in list_models():
        if not fnmatch.fnmatchcase(name, pattern):
            continue
        tname = PREFIX + name
        existing = _model_entrypoints.get(tname)
        if existing is not None and getattr(existing, "__module__", None) != __name__:
            warnings.warn(
                f"timm already has a model {tname!r} from {existing.__module__}; not overwriting it",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        fn = _make_entrypoint(name)
        globals()[tname] = fn
        default_cfgs.update(generate_default_cfgs(_pretrained_cfgs(name)))
        with warnings.catch_warnings():  # re-registering our own entry is a refresh, not a clash
            warnings.filterwarnings("ignore", message=f"Overwriting {tname} in registry")
            register_model(fn)
        names.append(tname)
    return names
