"""The CopyLens / Inner-Probe probe: layer fusion, the LSTM contribution head, the contrastive projector, OOD scores.

What the paper states (its abstracts; the body was not available): internal token representations of a frozen LM
(v1: fused token representations; v2/v3: the results of multi-head attention) feed a lightweight LSTM-based
network trained supervised to give a distribution over K copyrighted sub-datasets; a concatenated global projector
trained with unsupervised contrastive learning then scores whether a text comes from none of them. Everything
else below (fusion, sizes, the projector's input and layers, the loss, the OOD score, the baselines) is our
design, named as such in the plugin README.

For per-block features ``X`` in R^{N x L x d} (:mod:`zoo_copylens.backbone`) and a layer set ``S``:

* fusion (``fuse``): ``"mean"``: F = (1/|S|) sum_{l in S} X_l; ``"weighted"``: F = sum_l softmax(w)_l X_l with
  learnable logits ``w`` (zeros: the mean); ``"concat"``: F = Linear([X_l]_{l in S}) from |S| d to d.
* contribution head: an LSTM (1 layer, hidden h) over the valid tokens of F; z = its hidden state after the last
  valid token; logits = W z + b in R^K; the contribution vector is p = softmax(logits).
* projector: g = [z ; mean of F over valid tokens] in R^{h + d};
  e = P(g) / ||P(g)||, P = Linear(h + d, 256) -> ReLU -> Linear(256, 128).
* OOD score (higher = in distribution): s(x) = max_k cos(e(x), mu_k), mu_k the normalised mean embedding of
  sub-dataset k on its training texts (buffer ``prototypes``). Baselines: the maximum softmax probability
  max_k p_k, the energy score logsumexp_k logits_k, and max_k cos(z, nu_k) with nu_k the normalised mean LSTM
  feature of sub-dataset k (buffer ``head_prototypes``).

The model's forward takes the features ``[B, N, L, d]`` (and an optional token mask ``[B, L]``) and returns
``[B, 2, K]``: row 0 the contribution logits, row 1 the cosines cos(e, mu_k), whose maximum is the OOD score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence
from zoo_core.sdk import ConfigError, InputError, check_choice, check_positive_int

from .backbone import FEATURES, block_features, load_backbone, mha_modules

FUSIONS = ("mean", "weighted", "concat")
SCORES = ("contrastive", "msp", "energy", "head_prototype")


# ------------------------------------------------------------------------------------------------ pieces
class LayerFusion(nn.Module):
    """Fuse per-layer token features ``[B, S, L, d]`` into ``[B, L, d]`` (``mean``, ``weighted``, ``concat``)."""

    def __init__(self, mode: str, num_layers: int, d_model: int) -> None:
        super().__init__()
        self.mode = check_choice(mode, "fusion", "CopyLensProbe", FUSIONS)
        self.num_layers = num_layers
        if mode == "weighted":
            self.layer_logits = nn.Parameter(torch.zeros(num_layers))
        elif mode == "concat":
            self.linear = nn.Linear(num_layers * d_model, d_model)

    def weights(self) -> Tensor:
        """The layer weights (``weighted``: softmax of the logits; ``mean``: 1/|S| each)."""
        if self.mode == "weighted":
            return torch.softmax(self.layer_logits, 0)
        if self.mode == "mean":
            return torch.full((self.num_layers,), 1.0 / self.num_layers)
        raise ConfigError("fusion 'concat' has no per-layer weights")

    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "mean":
            return x.mean(1)
        if self.mode == "weighted":
            return torch.einsum("s,bsld->bld", torch.softmax(self.layer_logits, 0).to(x.dtype), x)
        b, s, length, d = x.shape
        return self.linear(x.permute(0, 2, 1, 3).reshape(b, length, s * d))


def compact(x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Move each row's valid tokens (``mask`` True) to the front, in order: ``(x', lengths)``. Left, right or
    scattered padding then all read the same."""
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
    moved = x.gather(1, order[..., None].expand(-1, -1, x.shape[-1]))
    return moved, mask.sum(1)


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x [B, L, d]`` over the valid tokens of each row."""
    m = mask.to(x.dtype)[..., None]
    return (x * m).sum(1) / m.sum(1)


def nt_xent(a: Tensor, b: Tensor, tau: float = 0.1) -> Tensor:
    """SimCLR's normalised-temperature cross entropy of two views ``a``, ``b`` ``[N, D]`` (row i of each is a
    positive pair): with u = normalize([a; b]) (2N rows) and j(i) the positive of i,

        loss = (1 / 2N) sum_i -log( exp(u_i . u_j(i) / tau) / sum_{k != i} exp(u_i . u_k / tau) ).

    All rows equal: log(2N - 1). Positive pairs equal and orthogonal to the rest: log(1 + (2N - 2) e^{-1/tau})."""
    if a.shape != b.shape or a.dim() != 2 or a.shape[0] < 1:
        raise InputError(
            f"nt_xent takes two views [N, D] of the same shape, got {tuple(a.shape)}, {tuple(b.shape)}"
        )
    if tau <= 0:
        raise ConfigError(f"tau must be > 0, got {tau}")
    n = a.shape[0]
    u = F.normalize(torch.cat([a, b]), dim=1)
    sim = (u @ u.T) / tau
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=u.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(u.device)
    return F.cross_entropy(sim, target)


def _check_scores(x: Any, what: str) -> Tensor:
    t = torch.as_tensor(x, dtype=torch.float64).flatten()
    if t.numel() == 0:
        raise InputError(f"{what}: no scores")
    if not bool(torch.isfinite(t).all()):
        raise InputError(f"{what}: scores must be finite")
    return t


def average_ranks(x: Tensor) -> Tensor:
    """Ranks 1..n of ``x`` with ties given their average rank."""
    values, order = torch.sort(x, stable=True)
    _, counts = torch.unique_consecutive(values, return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    per_group = ends - (counts.to(torch.float64) - 1) / 2  # mean of the ranks end - c + 1 .. end
    ranks = torch.empty_like(x, dtype=torch.float64)
    ranks[order] = torch.repeat_interleave(per_group, counts)
    return ranks


def auroc(id_scores: Any, ood_scores: Any) -> float:
    """Area under the ROC curve with in-distribution as the positive class and higher score = more in
    distribution: P(s_id > s_ood) + P(s_id = s_ood) / 2 (Mann-Whitney U / (n_id n_ood), ties averaged), float64."""
    pos, neg = _check_scores(id_scores, "id_scores"), _check_scores(ood_scores, "ood_scores")
    ranks = average_ranks(torch.cat([pos, neg]))
    n, m = pos.numel(), neg.numel()
    u = float(ranks[:n].sum()) - n * (n + 1) / 2
    return u / (n * m)


def threshold_at_tpr(id_scores: Any, tpr: float = 0.95) -> float:
    """The largest threshold t with mean(s_id >= t) >= ``tpr``: the k-th smallest in-distribution score,
    k = floor((1 - tpr) n) (0-based)."""
    s = torch.sort(_check_scores(id_scores, "id_scores")).values
    if not 0 < tpr <= 1:
        raise ConfigError(f"tpr must be in (0, 1], got {tpr}")
    k = int((1 - tpr) * s.numel() + 1e-9)
    return float(s[min(k, s.numel() - 1)])


def fpr_at_tpr(id_scores: Any, ood_scores: Any, tpr: float = 0.95) -> float:
    """False-positive rate on ``ood_scores`` at the threshold that keeps ``tpr`` of ``id_scores``."""
    t = threshold_at_tpr(id_scores, tpr)
    return float((_check_scores(ood_scores, "ood_scores") >= t).double().mean())


def class_metrics(pred: Tensor, target: Tensor, num_classes: int) -> dict[str, Any]:
    """Accuracy, macro F1, and per class precision, recall, F1 and support (0 where undefined)."""
    conf = torch.zeros(num_classes, num_classes, dtype=torch.float64)
    conf.index_put_((target.long(), pred.long()), torch.ones(len(pred), dtype=torch.float64), accumulate=True)
    tp = conf.diag()
    support, predicted = conf.sum(1), conf.sum(0)
    precision = torch.where(predicted > 0, tp / predicted.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(support > 0, tp / support.clamp(min=1), torch.zeros_like(tp))
    denom = precision + recall
    f1 = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-300), torch.zeros_like(tp))
    return {
        "accuracy": float(tp.sum() / conf.sum()),
        "macro_f1": float(f1.mean()),
        "precision": precision.tolist(),
        "recall": recall.tolist(),
        "f1": f1.tolist(),
        "support": [int(v) for v in support.tolist()],
        "confusion": [[int(v) for v in row] for row in conf.tolist()],
    }


# ------------------------------------------------------------------------------------------------ the model
class CopyLensProbe(nn.Module):
    """A probe on a frozen language model: layer fusion, LSTM contribution head, contrastive projector.

    Args (keyword only):
        backbone: the frozen LM: a Hub id, a folder, ``package://<package>/<folder>`` or a config dict of a random
            LM (:mod:`zoo_copylens.backbone`). Loaded only when texts are read (:meth:`extract`).
        backbone_revision: the LM revision the probe was trained on (Hub commit or ``sha256:<hex>`` of its
            weights); checked when the LM is loaded. ``None``: not pinned (``zoo train`` pins it).
        d_model, num_layers: the LM's hidden size and number of blocks (the probe's input is
            ``[B, num_layers, L, d_model]``); checked against the LM when it is loaded.
        features: ``"mha"`` (multi-head-attention results, the v2/v3 reading) or ``"hidden"`` (block outputs, v1).
        hook_path: module path of the MHA result with ``{i}`` for the block (default: by model type).
        layers: the blocks fused (indices, negative from the end); ``None``: all.
        fusion: ``"mean"``, ``"weighted"`` or ``"concat"``.
        hidden_size: LSTM hidden size h.
        num_classes: K sub-datasets; ``classes``: their names (default ``"0"``..``"K-1"``).
        proj_hidden, proj_dim: projector sizes (Linear(h + d, proj_hidden) -> ReLU -> Linear(proj_hidden,
            proj_dim)).
        max_length: the token window read from each text.
    """

    def __init__(
        self,
        *,
        backbone: str | Mapping[str, Any] = "openai-community/gpt2",
        backbone_revision: str | None = None,
        d_model: int = 768,
        num_layers: int = 12,
        features: str = "mha",
        hook_path: str | None = None,
        layers: Sequence[int] | None = None,
        fusion: str = "mean",
        hidden_size: int = 128,
        num_classes: int = 4,
        classes: Sequence[str] | None = None,
        proj_hidden: int = 256,
        proj_dim: int = 128,
        max_length: int = 48,
    ) -> None:
        super().__init__()
        who = "CopyLensProbe"
        if isinstance(backbone, Mapping):
            if not isinstance(backbone.get("model_type"), str):
                raise ConfigError(f"{who}: a backbone config needs a 'model_type', got {dict(backbone)!r}")
            backbone = dict(backbone)
        elif not isinstance(backbone, str) or not backbone.strip():
            raise ConfigError(
                f"{who}: backbone must be a Hub id, a folder, 'package://<package>/<folder>' or a config dict, "
                f"got {backbone!r}"
            )
        if backbone_revision is not None and not isinstance(backbone_revision, str):
            raise ConfigError(f"{who}: backbone_revision must be a string or None, got {backbone_revision!r}")
        self.backbone_spec = backbone
        self.backbone_revision = backbone_revision
        self.d_model = check_positive_int(d_model, "d_model", who)
        self.num_layers = check_positive_int(num_layers, "num_layers", who)
        self.features = check_choice(features, "features", who, FEATURES)
        self.hook_path = hook_path
        self.hidden_size = check_positive_int(hidden_size, "hidden_size", who)
        self.num_classes = check_positive_int(num_classes, "num_classes", who)
        self.max_length = check_positive_int(max_length, "max_length", who)
        if layers is None:
            chosen = list(range(self.num_layers))
        else:
            if isinstance(layers, str | bytes) or not all(isinstance(i, int) for i in layers) or not layers:
                raise ConfigError(f"{who}: layers must be a non-empty list of block indices, got {layers!r}")
            bad = [i for i in layers if not -self.num_layers <= i < self.num_layers]
            if bad:
                raise ConfigError(f"{who}: layers {bad} outside the {self.num_layers} blocks")
            chosen = [i % self.num_layers for i in layers]
            if len(set(chosen)) != len(chosen):
                raise ConfigError(f"{who}: layers {list(layers)} name a block twice")
        self.layers = chosen
        if classes is None:
            names = [str(k) for k in range(self.num_classes)]
        else:
            names = [str(c) for c in classes]
            if len(names) != self.num_classes or len(set(names)) != len(names):
                raise ConfigError(
                    f"{who}: classes must be {self.num_classes} distinct names (num_classes), got {list(classes)!r}"
                )
        self.classes = names
        check_positive_int(proj_hidden, "proj_hidden", who)
        check_positive_int(proj_dim, "proj_dim", who)

        self.fuse = LayerFusion(fusion, len(chosen), self.d_model)
        self.lstm = nn.LSTM(self.d_model, self.hidden_size, num_layers=1, batch_first=True)
        self.head = nn.Linear(self.hidden_size, self.num_classes)
        self.proj = nn.Sequential(
            nn.Linear(self.hidden_size + self.d_model, proj_hidden),
            nn.ReLU(),
            nn.Linear(proj_hidden, proj_dim),
        )
        self.register_buffer("prototypes", torch.zeros(self.num_classes, proj_dim))
        self.register_buffer("head_prototypes", torch.zeros(self.num_classes, self.hidden_size))
        self.register_buffer("ood_threshold", torch.zeros(1))

    # -- input checks ------------------------------------------------------------------------------------------
    def _inputs(self, features: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        if not isinstance(features, Tensor) or not features.is_floating_point():
            raise InputError("CopyLensProbe: features must be a float tensor [B, num_layers, L, d_model]")
        if features.dim() != 4:
            raise InputError(
                f"CopyLensProbe: features must be [B, num_layers, L, d_model] = [B, {self.num_layers}, L, "
                f"{self.d_model}] (model.extract(texts) gives them), got shape {tuple(features.shape)}"
            )
        b, n, length, d = features.shape
        if n != self.num_layers or d != self.d_model:
            raise InputError(
                f"CopyLensProbe: features must have {self.num_layers} layers of size {self.d_model} (the "
                f"backbone's blocks and hidden size), got {n} layers of size {d}"
            )
        if length < 1 or b < 1:
            raise InputError(f"CopyLensProbe: empty features {tuple(features.shape)}")
        if mask is None:
            mask = torch.ones(b, length, dtype=torch.bool, device=features.device)
        else:
            if tuple(mask.shape) != (b, length):
                raise InputError(
                    f"CopyLensProbe: mask must be [B, L] = [{b}, {length}], got {tuple(mask.shape)}"
                )
            mask = mask.bool()
            if not bool(mask.any(1).all()):
                raise InputError(
                    "CopyLensProbe: every text needs at least one valid token (mask row of zeros)"
                )
        valid = features.masked_select(mask[:, None, :, None])
        if not bool(torch.isfinite(valid).all()):
            raise InputError("CopyLensProbe: features contain NaN or Inf")
        # padding positions are never read; zero them so that NaN padding cannot leak through 0 * NaN
        x = features.masked_fill(~mask[:, None, :, None], 0.0).to(self.lstm.weight_ih_l0.dtype)
        return x, mask

    # -- the stages --------------------------------------------------------------------------------------------
    def fused(self, features: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(F [B, L, d], mask [B, L])``: the fused token features of the chosen layers."""
        x, mask = self._inputs(features, mask)
        if self.layers != list(range(self.num_layers)):
            x = x[:, self.layers]
        return self.fuse(x), mask

    def lstm_state(self, fused: Tensor, mask: Tensor) -> Tensor:
        """z [B, h]: the LSTM's hidden state after the last valid token (a packed sequence of the valid tokens)."""
        moved, lengths = compact(fused, mask)
        packed = pack_padded_sequence(moved, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        return h_n[-1]

    def embed(self, z: Tensor, fused: Tensor, mask: Tensor) -> Tensor:
        """e [B, proj_dim]: the unit-norm projection of g = [z ; mean over valid tokens of F]."""
        return F.normalize(self.proj(torch.cat([z, masked_mean(fused, mask)], 1)), dim=1)

    def forward(self, features: Tensor, mask: Tensor | None = None) -> Tensor:
        """``[B, 2, K]``: row 0 the contribution logits (p = softmax), row 1 cos(e, mu_k) (OOD score = max)."""
        fused, mask = self.fused(features, mask)
        z = self.lstm_state(fused, mask)
        e = self.embed(z, fused, mask)
        return torch.stack([self.head(z), e @ F.normalize(self.prototypes, dim=1).T], 1)

    def scores(self, features: Tensor, mask: Tensor | None = None) -> dict[str, Tensor]:
        """Everything the probe says about each text: ``logits``, ``probs`` (the contribution vector p), ``z``,
        ``e`` and the OOD scores (higher = in distribution) ``contrastive`` (the model's), ``msp``, ``energy``
        and ``head_prototype`` (the baselines)."""
        fused, mask = self.fused(features, mask)
        z = self.lstm_state(fused, mask)
        e = self.embed(z, fused, mask)
        logits = self.head(z)
        probs = torch.softmax(logits, 1)
        return {
            "logits": logits,
            "probs": probs,
            "z": z,
            "e": e,
            "contrastive": (e @ F.normalize(self.prototypes, dim=1).T).max(1).values,
            "msp": probs.max(1).values,
            "energy": torch.logsumexp(logits, 1),
            "head_prototype": (F.normalize(z, dim=1) @ F.normalize(self.head_prototypes, dim=1).T)
            .max(1)
            .values,
        }

    @torch.no_grad()
    def fit_prototypes(
        self, features: Tensor, mask: Tensor | None, labels: Tensor, tpr: float = 0.95
    ) -> None:
        """Set ``prototypes`` (normalised class means of e), ``head_prototypes`` (of z) and ``ood_threshold``
        (the contrastive score that keeps ``tpr`` of these texts in distribution) from training texts."""
        out = self.scores(features, mask)
        labels = labels.long()
        missing = [self.classes[k] for k in range(self.num_classes) if not bool((labels == k).any())]
        if missing:
            raise InputError(f"fit_prototypes: no training text of the classes {missing}")
        for name, key in (("prototypes", "e"), ("head_prototypes", "z")):
            means = torch.stack([out[key][labels == k].mean(0) for k in range(self.num_classes)])
            getattr(self, name).copy_(F.normalize(means, dim=1))
        self.ood_threshold.fill_(threshold_at_tpr(self.scores(features, mask)["contrastive"], tpr))

    # -- texts -------------------------------------------------------------------------------------------------
    def backbone(self) -> Any:
        """The frozen LM (:class:`zoo_copylens.backbone.Backbone`), loaded once and checked: its revision (when
        pinned), hidden size and number of blocks."""
        bb = load_backbone(self.backbone_spec, self.backbone_revision)
        if (bb.d_model, bb.num_layers) != (self.d_model, self.num_layers):
            raise ConfigError(
                f"the backbone {bb.source.describe()} has hidden size {bb.d_model} and {bb.num_layers} blocks; "
                f"this probe was built for d_model={self.d_model}, num_layers={self.num_layers}"
            )
        positions = getattr(bb.model.config, "max_position_embeddings", None)
        if isinstance(positions, int) and self.max_length > positions:
            raise ConfigError(
                f"max_length={self.max_length} is longer than the {positions} positions the backbone "
                f"{bb.source.describe()} knows; use max_length <= {positions}"
            )
        if self.features == "mha":
            mha_modules(bb.model, self.hook_path)
        return bb

    @torch.no_grad()
    def extract(
        self, texts: Sequence[str], batch_size: int = 32, dtype: torch.dtype | None = None
    ) -> tuple[Tensor, Tensor]:
        """``(features [B, num_layers, max_length, d_model], mask [B, max_length])`` of ``texts`` read by the
        frozen backbone (in ``dtype``, default the probe's), right-padded, padding features 0."""
        bb = self.backbone()
        dtype = dtype or self.lstm.weight_ih_l0.dtype
        lm = bb.in_dtype(dtype)
        ids, mask = bb.tokenize(list(texts), self.max_length)
        check_positive_int(batch_size, "batch_size", "extract")
        parts = [
            block_features(
                lm, ids[i : i + batch_size], mask[i : i + batch_size], self.features, self.hook_path
            )
            for i in range(0, len(ids), batch_size)
        ]
        return torch.cat(parts), mask.bool()

    @torch.no_grad()
    def attribute(self, texts: Sequence[str], batch_size: int = 32) -> dict[str, Any]:
        """Read ``texts`` with the backbone and return the contribution of each sub-dataset and the OOD flag:
        ``{"classes", "probs" [B, K], "ood_score" [B], "in_distribution" [B] (score >= threshold), "threshold"}``.
        The contribution is the probe's posterior over the K sub-datasets, not a causal data attribution."""
        if not bool(self.prototypes.abs().sum() > 0):
            raise ConfigError(
                "this probe has no prototypes yet: train it (zoo train) or load trained weights"
            )
        was = self.training
        self.eval()
        try:
            feats, mask = self.extract(texts, batch_size)
            out = self.scores(feats, mask)
        finally:
            self.train(was)
        thr = float(self.ood_threshold)
        return {
            "classes": list(self.classes),
            "probs": out["probs"],
            "ood_score": out["contrastive"],
            "in_distribution": out["contrastive"] >= thr,
            "threshold": thr,
        }

    def resolved_args(self) -> dict[str, Any]:
        """The arguments a trained probe records: the backbone revision it read (pinned)."""
        return {"backbone_revision": self.backbone_revision}
