"""Make zoo models available through ``timm.create_model`` so timm's tooling runs on them.

>>> import timm, zoo_core as zoo
>>> zoo.register_with_timm()                       # once per process; returns the timm names
>>> model = timm.create_model("zoo_spiking_cnn.digits_t4", pretrained=True)
>>> cfg = timm.data.resolve_data_config(model=model)   # (1, 8, 8), no normalisation, as the weights were trained
>>> transform = timm.data.create_transform(**cfg)

Every zoo model ``name`` is registered in timm's registry as ``zoo_<name>``: the prefix keeps zoo names from
ever clashing with timm's own architectures (or with an official repository that registers the same paper's
names into timm in the same process). Only timm's public API is used (``timm.models.register_model``,
``generate_default_cfgs``, ``resolve_pretrained_cfg``, ``is_model``, ``model_entrypoint``, ``FeatureInfo``).

* **Weights.** Weight tags become timm pretrained tags (the first registered tag is the default); loading goes
  through the zoo (checksums verified, no pickle). Other sources, the timm way: ``pretrained_cfg_overlay=
  dict(file=...)`` (a weight folder or a ``.safetensors`` file), ``dict(hf_hub_id="owner/repo@rev")``,
  ``dict(state_dict=...)``; ``timm.create_model("hf-hub:owner/repo")`` and ``"local-dir:/path"`` read a
  weight folder's ``config.json`` (it carries timm's ``architecture``, ``num_classes`` and ``pretrained_cfg``).
  A URL is refused: the zoo downloads only from the Hub.
* **Data config.** Every model carries ``pretrained_cfg`` (and timm's older alias ``default_cfg``) built from its
  registered preprocessing (:mod:`zoo_core.data.preprocessing`): input size, mean/std (mean 0 and std 1 for a
  model fed ``[0, 1]`` images), interpolation, crop fraction and mode. ``timm.data.create_transform(
  **timm.data.resolve_data_config(model=m))`` is then the pipeline ``zoo eval`` applies to image folders.
* **A new head.** ``pretrained=True, num_classes=N`` with ``N`` different from the weights' classes loads every
  tensor but the classifier's (a fresh ``nn.Linear``) and warns naming the skipped keys; ``num_classes=0``
  removes the classifier (timm's feature extractor: the model returns the features its head received).
  The head API of :class:`zoo_core.sdk.SpikingClassifier` (``num_features``, ``forward_features``,
  ``forward_head``, ``get_classifier``, ``reset_classifier``) is the model's own.
* **Stages.** ``features_only=True`` (with timm's ``out_indices``) returns a :class:`SpikingFeatures` wrapper for
  models that declare their stages (see its protocol), and raises a :class:`~zoo_core.errors.ConfigError`
  naming the models that do otherwise.

timm-only keyword arguments that a zoo model does not take (``drop_rate``, ``drop_path_rate``, ...) are dropped
when they hold their neutral value and rejected otherwise.
"""

from __future__ import annotations

import fnmatch
import inspect
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .api import create_model, list_models, model_info
from .data.preprocessing import TIMM_PREFIX, takes_images, timm_pretrained_cfg
from .errors import ConfigError, WeightsError
from .hub import PACKAGE_SCHEME, WEIGHTS_NAME, load_state_dict_checked, read_safetensors, resolve_source
from .plugins import entry

PREFIX = TIMM_PREFIX
#: read by timm's ``register_model``: architecture -> DefaultCfg with one entry per weight tag
default_cfgs: dict[str, Any] = {}
__all__: list[str] = ["SpikingFeatures", "feature_models", "register_with_timm"]

#: timm keyword arguments that zoo models may not take, with the value that means "off"
_TIMM_NEUTRAL: dict[str, Any] = {
    "drop_rate": 0.0,
    "drop_path_rate": None,
    "drop_block_rate": None,
    "global_pool": None,
    "bn_momentum": None,
    "bn_eps": None,
    "output_stride": None,
    "feature_cfg": None,
}
_TIMM_RUNTIME = ("cache_dir", "scriptable", "exportable", "no_jit", "pretrained_model_args")
#: the keys of a pretrained cfg that say where weights come from
_SOURCE_KEYS = ("file", "hf_hub_id", "url", "state_dict")
#: the keys of a pretrained cfg that describe the input pipeline
_DATA_KEYS = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")


def _timm() -> Any:
    try:
        # timm is optional: imported only when the bridge is used
        import timm.models
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("timm is not installed: pip install timm") from exc
    return timm.models


# ------------------------------------------------------------------------------------------- pretrained cfgs
def _registered_cfgs(name: str) -> dict[str, dict[str, Any]]:
    """timm name (``zoo_<name>[.tag]``) -> pretrained cfg, one per weight tag (the first is timm's default), or
    one untagged cfg for a model without weights."""
    info = model_info(name)
    out: dict[str, dict[str, Any]] = {}
    for tag, w in info.weights.items():
        cfg = timm_pretrained_cfg(name, w.config, tag)
        cfg.pop("architecture"), cfg.pop("tag")  # timm sets both from the registered name
        cfg.update(_weight_location(w.source, w.revision))
        out[f"{PREFIX}{name}.{tag}"] = _as_timm(cfg)
    if not out:
        cfg = timm_pretrained_cfg(name)
        cfg.pop("architecture"), cfg.pop("tag")
        out[PREFIX + name] = _as_timm(cfg)
    return out


def _weight_location(source: str, revision: str | None) -> dict[str, Any]:
    """Where timm's own tools would find a registered weight set (the zoo loads it through its registry):
    ``hf_hub_id`` for a Hub source (revision pinned), else ``file``, the safetensors file of the folder."""
    if source.startswith("hf://"):
        repo = source[len("hf://") :]
        if revision and "@" not in repo:
            repo = f"{repo}@{revision}"
        return {"hf_hub_id": repo}
    path = source
    if source.startswith(PACKAGE_SCHEME):
        try:
            path = str(resolve_source(source) / WEIGHTS_NAME)
        except (OSError, LookupError, ValueError):  # an uninstalled package: keep the source as written
            path = source
    elif Path(source).is_dir():
        path = str(Path(source) / WEIGHTS_NAME)
    return {"file": path}


def _as_timm(cfg: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()}


def _tag_of(pretrained_cfg: Any) -> str | None:
    if pretrained_cfg is None:
        return None
    if isinstance(pretrained_cfg, str):
        return pretrained_cfg or None
    if isinstance(pretrained_cfg, Mapping):
        return pretrained_cfg.get("tag") or None
    return getattr(pretrained_cfg, "tag", None) or None


def _resolve_cfg(name: str, pretrained_cfg: Any, overlay: Mapping[str, Any] | None) -> dict[str, Any]:
    """timm's resolution (registered cfg of the tag or the default, a cfg dict from ``hf-hub:``/``local-dir:``,
    then the overlay) as a plain dict; an unknown tag is an error here, not timm's silent ImageNet default."""
    tag = _tag_of(pretrained_cfg)
    info = model_info(name)
    if isinstance(pretrained_cfg, str) and tag is not None and tag not in info.weights:
        raise ConfigError(
            f"{PREFIX}{name} has no weight tag {tag!r}; its tags: {', '.join(info.weight_tags) or 'none published'}"
        )
    resolved = _timm().resolve_pretrained_cfg(
        PREFIX + name, pretrained_cfg=pretrained_cfg, pretrained_cfg_overlay=dict(overlay or {})
    )
    return dict(vars(resolved))


def _weights(name: str, cfg: dict[str, Any], overlay: Mapping[str, Any] | None) -> tuple[str, Any]:
    """Where to load weights from: ``("tag", tag)`` for a registered weight set (checksum-verified through the
    registry), ``("source", folder or hf://...)``, ``("file", path)`` for a safetensors file, ``("state_dict",
    dict)``. A source the overlay names wins; then an ``hf-hub:``/``local-dir:`` model's own; then the tag;
    then the cfg's source keys in timm's order (state dict, file, url, Hub id)."""
    where = {k: v for k, v in (overlay or {}).items() if k in _SOURCE_KEYS and v is not None}
    if not where:
        if cfg.get("source") == "hf-hub" and cfg.get("hf_hub_id"):
            return "source", "hf://" + cfg["hf_hub_id"]
        if cfg.get("source") == "local-dir" and cfg.get("file"):
            return "source", str(cfg["file"])
        tag = cfg.get("tag")
        registered = _default_cfgs_flat().get(f"{PREFIX}{name}.{tag}" if tag else PREFIX + name, {})
        if tag in model_info(name).weights and all(cfg.get(k) == registered.get(k) for k in _SOURCE_KEYS):
            return "tag", tag
        where = {k: cfg[k] for k in _SOURCE_KEYS if cfg.get(k) is not None}
    where = {k: where.get(k) for k in _SOURCE_KEYS}
    if where["state_dict"] is not None:
        return "state_dict", where["state_dict"]
    if where["file"]:
        path = Path(where["file"])
        if path.is_dir():
            return "source", str(path)
        if path.is_file() and path.suffix == ".safetensors":
            return "file", path
        if not path.exists():
            raise WeightsError(f"pretrained_cfg file {str(path)!r} does not exist")
        raise WeightsError(
            f"pretrained_cfg file {str(path)!r}: not a weight folder or a .safetensors file (the zoo loads no "
            "pickled checkpoints here; convert official ones with `zoo convert`)"
        )
    if where["url"]:
        raise WeightsError(
            f"pretrained_cfg url {where['url']!r}: the zoo downloads only from the Hugging Face Hub; give "
            "hf_hub_id='owner/repo[@revision]' or a local file"
        )
    if where["hf_hub_id"]:
        return "source", "hf://" + where["hf_hub_id"]
    tags = ", ".join(f"{PREFIX}{name}.{t}" for t in model_info(name).weight_tags) or "none published"
    raise WeightsError(
        f"no pretrained weights for {PREFIX}{name} (weight sets: {tags}); use pretrained=False"
    )


def _default_cfgs_flat() -> dict[str, dict[str, Any]]:
    """The registered pretrained cfgs by timm name (``zoo_<name>[.tag]``), as plain dicts."""
    out: dict[str, dict[str, Any]] = {}
    for arch, dc in default_cfgs.items():
        for tag, cfg in dc.cfgs.items():
            out[f"{arch}.{tag}" if tag else arch] = dict(vars(cfg))
    return out


# ------------------------------------------------------------------------------------------------- building
def _load_pretrained(
    name: str, cfg: dict[str, Any], overlay: Mapping[str, Any] | None, kwargs: dict[str, Any]
) -> nn.Module:
    kind, where = _weights(name, cfg, overlay)
    if kind == "tag":
        return create_model(f"{name}.{where}", pretrained=True, **kwargs)
    if kind == "source":
        return create_model(name, pretrained=where, **kwargs)
    model = create_model(name, **kwargs)
    if kind == "file":
        load_state_dict_checked(model, read_safetensors(where), str(where))
    else:
        load_state_dict_checked(model, dict(where), "pretrained_cfg state_dict")
    return model.eval()


def _qualname(model: nn.Module, module: nn.Module) -> str:
    return next(n for n, m in model.named_modules() if m is module)


def _classifier_keys(model: nn.Module) -> list[str]:
    get = getattr(model, "get_classifier", None)
    if get is None:
        return []
    head = get()
    prefix = _qualname(model, head)
    return [f"{prefix}.{k}" if prefix else k for k in head.state_dict()]


def _new_head(name: str, pretrained: nn.Module, num_classes: int) -> nn.Module:
    """``pretrained`` rebuilt with ``num_classes`` outputs: every tensor but the classifier's copied over."""
    args = {**pretrained.zoo_args, "num_classes": num_classes}
    model = create_model(name, **args)
    src, dst = pretrained.state_dict(), model.state_dict()
    skipped = sorted(k for k in dst if k not in src or src[k].shape != dst[k].shape)
    stale = sorted(k for k in src if k not in dst)
    head = set(_classifier_keys(model))
    if not head or not set(skipped) <= head or stale:
        raise ConfigError(
            f"{PREFIX}{name}: num_classes={num_classes} changes more than the classifier "
            f"({', '.join(sorted(set(skipped) - head) + stale) or 'no classifier found'}); load the weights "
            "with their own num_classes and replace the head with model.reset_classifier(N)"
        )
    model.load_state_dict({k: v for k, v in src.items() if k not in skipped}, strict=False)
    if hasattr(pretrained, "zoo_weights"):
        model.zoo_weights = {**pretrained.zoo_weights, "classifier": "new"}
    warnings.warn(
        f"{PREFIX}{name}: loaded the pretrained weights ({pretrained.num_classes} classes) except the classifier, "
        f"freshly initialised for num_classes={num_classes}: skipped {', '.join(skipped)}",
        UserWarning,
        stacklevel=5,  # the caller of timm.create_model
    )
    return model.train(pretrained.training)


def _create(
    name: str,
    pretrained: bool,
    pretrained_cfg: Any,
    overlay: Mapping[str, Any] | None,
    features_only: bool,
    out_indices: Any,
    kwargs: dict[str, Any],
) -> nn.Module:
    factory = entry("model", name).factory
    accepted = set(inspect.signature(factory).parameters)
    for key in _TIMM_RUNTIME:
        kwargs.pop(key, None)
    for key, neutral in _TIMM_NEUTRAL.items():
        if key in kwargs and key not in accepted:
            value = kwargs.pop(key)
            if value != neutral and not (neutral is None and not value):
                raise TypeError(f"zoo model {name!r} has no {key!r} (timm passed {key}={value!r})")
    if features_only and not _declares_stages(factory):
        raise ConfigError(
            f"{PREFIX}{name} declares no stages, so features_only=True cannot return per-stage features; "
            f"models that do: {', '.join(PREFIX + n for n in feature_models()) or 'none registered'}"
        )
    cfg = _resolve_cfg(name, pretrained_cfg, overlay)
    num_classes = kwargs.pop("num_classes", None)
    if num_classes is not None and "num_classes" not in accepted:
        raise ConfigError(
            f"{PREFIX}{name} has no classifier (task {model_info(name).task!r}): it takes no num_classes"
        )
    if pretrained:
        model = _load_pretrained(name, cfg, overlay, kwargs)
        if num_classes is not None and num_classes not in (0, getattr(model, "num_classes", num_classes)):
            model = _new_head(name, model, num_classes)
    else:
        model = create_model(name, **kwargs, **({"num_classes": num_classes} if num_classes else {}))
    if num_classes == 0:
        if not hasattr(model, "reset_classifier"):
            raise ConfigError(f"{PREFIX}{name} has no classifier to remove (num_classes=0)")
        removed = _classifier_keys(model)
        model.reset_classifier(0)
        if pretrained:
            warnings.warn(
                f"{PREFIX}{name}: num_classes=0 removed the pretrained classifier ({', '.join(removed)}); the "
                "model returns the features its head received",
                UserWarning,
                stacklevel=4,  # the caller of timm.create_model
            )
    model.pretrained_cfg = model.default_cfg = _model_cfg(model, cfg, overlay)
    if features_only:
        return SpikingFeatures(model, out_indices)
    return model


def _model_cfg(model: nn.Module, cfg: dict[str, Any], overlay: Mapping[str, Any] | None) -> dict[str, Any]:
    """The model's ``pretrained_cfg``: the resolved cfg (where its weights came from, their classes), the data
    config of the model as built (its in_chans and img_size), then what the overlay sets explicitly."""
    out = {k: v for k, v in cfg.items() if v is not None and k != "state_dict"}
    try:
        data = timm_pretrained_cfg(model.zoo_name, model.zoo_args)
    except ConfigError as exc:  # e.g. in_chans changed: the declared mean/std no longer fit
        warnings.warn(
            f"{PREFIX}{model.zoo_name}: no data config for this model: {exc}", UserWarning, stacklevel=4
        )
        data = {}
    out.update({k: tuple(data[k]) if isinstance(data[k], list) else data[k] for k in _DATA_KEYS if k in data})
    out.update({k: v for k, v in (overlay or {}).items() if k in _DATA_KEYS})
    return out


def _make_entrypoint(name: str) -> Callable[..., Any]:
    def entrypoint(
        pretrained: bool = False,
        pretrained_cfg: Any = None,
        pretrained_cfg_overlay: Any = None,
        features_only: bool = False,
        out_indices: Any = None,
        **kwargs: Any,
    ) -> Any:
        return _create(
            name, pretrained, pretrained_cfg, pretrained_cfg_overlay, features_only, out_indices, kwargs
        )

    entrypoint.__name__ = entrypoint.__qualname__ = PREFIX + name
    entrypoint.__module__ = __name__
    entrypoint.__doc__ = f"zoo-core model {name!r} (see zoo_core.model_info({name!r}))."
    return entrypoint


# ---------------------------------------------------------------------------------------------- features
def _declares_stages(factory: Any) -> bool:
    return isinstance(factory, type) and hasattr(factory, "feature_info")


def feature_models(pattern: str = "*") -> list[str]:
    """Registered models that declare their stages (``features_only=True`` works for them)."""
    return [n for n in list_models(pattern) if _declares_stages(entry("model", n).factory)]


class SpikingFeatures(nn.Module):
    """timm's ``features_only`` for a zoo model: the outputs of its stages, one ``[B, C_i, H_i, W_i]`` tensor each.

    **Protocol.** A model declares its stages the way timm models do, with a ``feature_info`` attribute defined
    on its class (a property, or a class attribute): a list, shallow to deep, of
    ``{"module": dotted path of the stage module, "num_chs": its output channels, "reduction": its stride}``.
    A stage's output is ``[T, B, C, H, W]`` (multi-step layout) or ``[T*B, C, H, W]`` (time folded, ``T``
    outer; ``[B, C, H, W]`` is one step), once per forward pass or once per time step; the feature returned for
    it is its **mean over the time steps** -- the firing rate of a spiking stage, the model's own mean-over-T
    readout convention -- so timm's necks and heads get timm's layout.
    ``out_indices`` (timm's argument; default: every stage) picks stages by position, negative from the end.

    The wrapped model runs its whole forward pass (the head is cheap next to the stages); its tensors keep their
    names under ``model.``. :attr:`feature_info` is a ``timm.models.FeatureInfo`` (``channels()``,
    ``reduction()``, ``module_name()``).
    """

    def __init__(self, model: nn.Module, out_indices: Sequence[int] | int | None = None) -> None:
        super().__init__()
        info = [dict(fi) for fi in model.feature_info]
        if not info:
            raise ConfigError(f"{type(model).__name__}: feature_info lists no stages")
        n = len(info)
        if out_indices is None:
            picked = tuple(range(n))
        elif isinstance(out_indices, int):  # timm: an int means the last `out_indices` stages
            picked = tuple(range(n - out_indices, n)) if 0 < out_indices <= n else ()
        else:
            picked = tuple(i % n if -n <= i < n else -1 for i in out_indices)
        if not picked or any(i < 0 for i in picked):
            raise ConfigError(
                f"{type(model).__name__}: out_indices={out_indices!r} must pick stages among 0..{n - 1} "
                f"(or -{n}..-1)"
            )
        self.model = model
        self.out_indices = picked
        self.feature_info = _timm().FeatureInfo(info, picked)
        self.pretrained_cfg = self.default_cfg = getattr(model, "pretrained_cfg", {})
        self._modules_out = [model.get_submodule(info[i]["module"]) for i in picked]

    def forward(self, x: Tensor) -> list[Tensor]:
        """Per-stage features ``[B, C_i, H_i, W_i]`` (mean over time) for ``x`` (``[B, C, H, W]`` or
        ``[T, B, C, H, W]``)."""
        batch = x.shape[0] if x.dim() == 4 else x.shape[1]
        captured: list[list[Tensor]] = [[] for _ in self._modules_out]
        handles = [
            m.register_forward_hook(lambda _m, _a, out, i=i: captured[i].append(out))
            for i, m in enumerate(self._modules_out)
        ]
        try:
            self.model(x)
        finally:
            for h in handles:
                h.remove()
        return [self._time_mean(outs, batch, i) for i, outs in enumerate(captured)]

    def _time_mean(self, outs: list[Any], batch: int, i: int) -> Tensor:
        """The mean over time steps of everything stage ``i`` returned in one forward pass (once for all steps,
        or once per step)."""
        steps = []
        for out in outs:
            if isinstance(out, Tensor) and out.dim() == 5 and out.shape[1] == batch:
                steps.append(out)
            elif isinstance(out, Tensor) and out.dim() == 4 and out.shape[0] % batch == 0:
                steps.append(out.reshape(out.shape[0] // batch, batch, *out.shape[1:]))
            else:
                stage = self.feature_info.module_name(self.out_indices[i])
                shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
                raise ConfigError(
                    f"{type(self.model).__name__}: stage {stage!r} returned {shape}; the features protocol "
                    f"needs [T, B, C, H, W] or [T*B, C, H, W] with B = {batch}"
                )
        if not steps:
            stage = self.feature_info.module_name(self.out_indices[i])
            raise ConfigError(f"{type(self.model).__name__}: stage {stage!r} did not run in the forward pass")
        return (steps[0] if len(steps) == 1 else torch.cat(steps)).mean(0)


# ---------------------------------------------------------------------------------------------- registering
def register_with_timm(pattern: str = "*") -> list[str]:
    """Register zoo models matching ``pattern`` into timm's registry as ``zoo_<name>``; return the timm names.

    Safe to call again (e.g. after installing a plugin): names already registered by this module are refreshed,
    and a name timm already has from elsewhere is never overwritten. A model whose declared preprocessing
    cannot become a timm data config is skipped with a warning naming the problem; models that do not take
    images (spike clips, text features: no ``in_chans``/``img_size``) are not timm models and are left out.
    """
    tm = _timm()
    names = []
    for name in list_models():
        if not fnmatch.fnmatchcase(name, pattern) or not takes_images(name):
            continue
        tname = PREFIX + name
        if tm.is_model(tname):
            existing = tm.model_entrypoint(tname)
            if getattr(existing, "__module__", None) != __name__:
                warnings.warn(
                    f"timm already has a model {tname!r} from {existing.__module__}; not overwriting it",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
        try:
            cfgs = _registered_cfgs(name)
        except ConfigError as exc:
            warnings.warn(f"{tname} is not registered with timm: {exc}", RuntimeWarning, stacklevel=2)
            continue
        fn = _make_entrypoint(name)
        globals()[tname] = fn
        default_cfgs.update(tm.generate_default_cfgs(cfgs))
        with warnings.catch_warnings():  # re-registering our own entry is a refresh, not a clash
            warnings.filterwarnings("ignore", message=f"Overwriting {tname} in registry")
            tm.register_model(fn)
        names.append(tname)
    return names
