"""The task ``text-attribution``: which of K sub-datasets a text draws on, and whether it draws on none of them.

A model of this task is a probe on a frozen language model (:class:`zoo_copylens.probe.CopyLensProbe`): its input
is the LM's per-block token features ``[B, num_layers, L, d_model]``, its output ``[B, 2, K]`` (contribution logits;
cosines of the contrastive embedding with the K sub-dataset prototypes). Data sets hold texts labelled with their
sub-dataset and OOD texts (:mod:`zoo_copylens.data`).

``zoo train`` trains in two stages on features read once per run (the LM frozen): (1) fusion, LSTM and head with
cross-entropy on the labels; (2) with those frozen, the projector with NT-Xent on two random crops of each
training text's token window (no labels); then the prototypes and the OOD threshold are fitted on the training
texts. ``zoo eval`` reports top-1 accuracy, macro F1 and per-class precision / recall / F1, and for each OOD score
(the contrastive one and the baselines) the AUROC (in distribution = positive) and the FPR at 95 % TPR.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import torch
import torch.nn.functional as F
import zoo_core as zoo
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset
from zoo_core.sdk import (
    ConfigError,
    IOSpec,
    Metric,
    Task,
    TensorSpec,
    TrainConfig,
    WeightInfo,
    cast_model,
    fit,
)

from .data import TextAttributionData, load_json
from .probe import SCORES, auroc, class_metrics, fpr_at_tpr, nt_xent

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}

TEXT_IO = IOSpec(
    inputs=(
        TensorSpec(
            name="features",
            shape=("B", "num_layers", "max_length", "d_model"),
            kind="real",
            description="per-block token features of the frozen LM (model.extract(texts) gives them and the mask)",
        ),
    ),
    output=TensorSpec(
        name="scores",
        shape=("B", 2, "num_classes"),
        description="row 0: contribution logits over the K sub-datasets (p = softmax); row 1: cosine of the "
        "contrastive embedding with each sub-dataset prototype (OOD score = max, higher = in distribution)",
    ),
    description="[B, 2, K]: contribution logits over K sub-datasets and prototype cosines of the OOD detector",
)

#: the second training stage (projector) and the fitted threshold; ``--rule-kwargs`` overrides them
STAGE2_DEFAULTS: dict[str, Any] = {"proj_epochs": 30, "proj_lr": 1e-3, "tau": 0.1, "crop": 0.5, "tpr": 0.95}

SCORE_TEXT = {
    "contrastive": "max cosine of the contrastive projector's embedding to the sub-dataset prototypes (the model's "
    "OOD score)",
    "msp": "maximum softmax probability of the contribution head",
    "energy": "energy score logsumexp of the contribution logits",
    "head_prototype": "max cosine of the LSTM feature z to the sub-dataset prototypes of z",
}


def _suffix(score: str) -> str:
    return "" if score == "contrastive" else f"_{score}"


def random_crops(mask: Tensor, fraction: float, generator: torch.Generator) -> Tensor:
    """A view mask per row: a random contiguous run of its valid tokens, of length uniform in
    [ceil(fraction * n), n] (n valid tokens), at a uniform start."""
    n = mask.sum(1)
    low = torch.ceil(fraction * n.double()).long().clamp(min=1)
    length = low + (torch.rand(n.shape, generator=generator, dtype=torch.float64) * (n - low + 1)).long()
    start = (torch.rand(n.shape, generator=generator, dtype=torch.float64) * (n - length + 1)).long()
    rank = torch.cumsum(mask.long(), 1) - 1  # index of each valid token among its row's valid tokens
    return mask & (rank >= start[:, None]) & (rank < (start + length)[:, None])


class TextAttribution(Task):
    """Attribute a text to one of K sub-datasets and flag texts from none of them (CopyLens / Inner-Probe)."""

    name = "text-attribution"
    io = TEXT_IO
    metrics = (
        Metric(
            name="accuracy",
            direction="higher",
            definition="top-1 accuracy of the contribution head over the K sub-datasets on the labelled test texts",
        ),
        Metric(
            name="macro_f1", direction="higher", definition="mean over the K sub-datasets of the F1 score"
        ),
        Metric(
            name="auroc",
            direction="higher",
            definition="AUROC of the contrastive OOD score: labelled test texts positive, OOD texts negative",
        ),
        Metric(
            name="fpr95",
            direction="lower",
            definition="fraction of OOD texts the contrastive score keeps at the threshold that keeps 95 % of "
            "the labelled test texts",
        ),
    )
    default_dataset = "stdlib_docstrings"
    hub_pipeline_tag = "text-classification"

    # -- data --------------------------------------------------------------------------------------------------
    def load(self, name: str, split: str) -> TextAttributionData:
        """A registered data set of this task, or a JSON corpus file (:mod:`zoo_copylens.data`)."""
        if name in zoo.list_datasets():
            data = zoo.create_dataset(self.accept_dataset(name), split=split)
        elif name.endswith(".json"):
            data = load_json(name, split)
        else:
            raise ConfigError(
                f"data set {name!r}: not registered and not a .json corpus; data sets for {self.name}: "
                f"{', '.join(self.dataset_names()) or 'none'}, or a JSON file"
            )
        if not isinstance(data, TextAttributionData):
            raise ConfigError(f"data set {name!r} does not hold texts for {self.name}")
        return data

    def eval_data(
        self,
        model: nn.Module,
        *,
        dataset: str | None,
        split: str,
        weights: WeightInfo | None = None,
        weights_config: dict[str, Any] | None = None,
    ) -> tuple[str, Dataset]:
        name = self.eval_dataset_name(dataset, weights, weights_config)
        return name, self.load(name, split)  # type: ignore[arg-type]

    # -- evaluation --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, model: nn.Module, data: Dataset, **options: Any) -> dict[str, Any]:
        """Accuracy, macro F1 and per-class metrics of the contribution head; AUROC and FPR at 95 % TPR of every
        OOD score on ``data``'s OOD texts; TPR / FPR at the model's own threshold. The LM runs in ``dtype`` too."""
        if not isinstance(data, TextAttributionData):
            raise ConfigError(f"task {self.name!r} evaluates text data sets (TextAttributionData)")
        dtype = options.get("dtype")
        batch = max(1, min(int(options.get("batch_size") or 64), 64))
        m = cast_model(model, dtype).eval()
        if list(m.classes) != list(data.classes):
            raise ConfigError(
                f"the probe's sub-datasets {list(m.classes)} are not the data set's {list(data.classes)}"
            )
        torch_dtype = TORCH_DTYPES[dtype] if dtype else None
        feats, mask = m.extract(data.texts, batch, torch_dtype)
        out = m.scores(feats, mask)
        labels = torch.tensor(data.labels)
        cm = class_metrics(out["probs"].argmax(1), labels, m.num_classes)
        metrics: dict[str, float] = {"accuracy": cm["accuracy"], "macro_f1": cm["macro_f1"]}
        report: dict[str, Any] = {
            "samples": len(data),
            "ood_samples": len(data.ood_texts),
            "dtype": dtype,
            "classes": list(data.classes),
            "backbone": {"id": m.backbone_spec, "revision": m.backbone().revision},
        }
        report["per_class"] = {
            c: {k: cm[k][i] for k in ("precision", "recall", "f1", "support")}
            for i, c in enumerate(data.classes)
        }
        report["confusion"] = cm["confusion"]
        if data.ood_texts:
            ood_feats, ood_mask = m.extract(data.ood_texts, batch, torch_dtype)
            ood = m.scores(ood_feats, ood_mask)
            report["ood"] = {}
            for s in SCORES:
                a, f = auroc(out[s], ood[s]), fpr_at_tpr(out[s], ood[s], 0.95)
                metrics[f"auroc{_suffix(s)}"] = a
                metrics[f"fpr95{_suffix(s)}"] = f
                report["ood"][s] = {"auroc": a, "fpr95": f, "what": SCORE_TEXT[s]}
            thr = float(m.ood_threshold)
            metrics["threshold_tpr"] = float((out["contrastive"] >= thr).double().mean())
            metrics["threshold_fpr"] = float((ood["contrastive"] >= thr).double().mean())
        report["metrics"] = metrics
        return report

    def format_report(self, title: str, report: dict[str, Any]) -> list[str]:
        met = report["metrics"]
        lines = [
            title,
            f"  backbone: {report['backbone']['id']} (revision {report['backbone']['revision']})",
            f"  accuracy          {met['accuracy']:.4f}  (chance {1 / len(report['classes']):.4f})",
            f"  macro F1          {met['macro_f1']:.4f}",
            f"  {'sub-dataset':<18}{'precision':>10}{'recall':>10}{'F1':>10}{'support':>9}",
        ]
        for c, r in report["per_class"].items():
            lines.append(
                f"  {c:<18}{r['precision']:>10.4f}{r['recall']:>10.4f}{r['f1']:>10.4f}{r['support']:>9}"
            )
        if "ood" in report:
            lines.append(
                f"  OOD detection ({report['ood_samples']} OOD texts; in distribution = positive, higher score = "
                "in distribution)"
            )
            lines.append(f"  {'score':<18}{'AUROC':>10}{'FPR@95':>10}")
            for s, r in report["ood"].items():
                lines.append(f"  {s:<18}{r['auroc']:>10.4f}{r['fpr95']:>10.4f}")
            lines.append(
                f"  at the model's threshold: TPR {met['threshold_tpr']:.4f}, FPR {met['threshold_fpr']:.4f}"
            )
        return lines

    # -- training ----------------------------------------------------------------------------------------------
    def train(
        self, cfg: TrainConfig, command: str | None = None, return_model: bool = False
    ) -> dict[str, Any]:
        """Two stages on features read once (LM frozen): cross-entropy for fusion + LSTM + head, then NT-Xent for
        the projector with the rest frozen; prototypes and threshold fitted on the training texts; the test
        metrics measured in float64 (LM included) and, with ``cfg.out``, a weight folder holding the probe only."""
        if cfg.learning_rule not in ("bptt", "copylens"):
            raise ConfigError(
                f"task {self.name!r} trains with its own two-stage recipe (cross-entropy, then NT-Xent); "
                f"--learning-rule {cfg.learning_rule!r} does not apply (leave it out)"
            )
        unknown = sorted(set(cfg.rule_kwargs) - set(STAGE2_DEFAULTS))
        if unknown:
            raise ConfigError(
                f"--rule-kwargs: unknown {unknown}; this task takes {', '.join(STAGE2_DEFAULTS)}"
            )
        opts = {**STAGE2_DEFAULTS, **cfg.rule_kwargs}
        t0 = time.perf_counter()
        torch.manual_seed(cfg.seed)
        name = cfg.dataset or self.default_dataset
        train_data, test_data = self.load(name, "train"), self.load(name, "test")  # type: ignore[arg-type]
        kwargs = {
            "num_classes": len(train_data.classes),
            "classes": list(train_data.classes),
            **cfg.model_kwargs,
        }
        model = zoo.create_model(cfg.model, **kwargs)
        if list(model.classes) != list(train_data.classes):
            raise ConfigError(
                f"{cfg.model}: sub-datasets {model.classes} are not the data's {train_data.classes}"
            )
        backbone = model.backbone()
        if model.backbone_revision is None:  # pin the LM the probe is trained on
            model.backbone_revision = backbone.revision
            model.zoo_args["backbone_revision"] = backbone.revision
        feats, mask = model.extract(train_data.texts, 64, torch.float32)  # read once per run
        labels = torch.tensor(train_data.labels)
        read_seconds = time.perf_counter() - t0

        # stage 1: contribution head (projector frozen)
        model.proj.requires_grad_(False)

        def step_ce(net: nn.Module, batch: Any, opt: torch.optim.Optimizer) -> dict[str, float]:
            f, m, y = batch
            net.train()
            loss = F.cross_entropy(net(f, m)[:, 0], y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return {"loss": float(loss.detach())}

        stage1 = fit(cfg, model, TensorDataset(feats, mask, labels), step_ce)

        # stage 2: projector, NT-Xent on two crops of each text (fusion, LSTM and head frozen)
        model.requires_grad_(False)
        model.proj.requires_grad_(True)
        g = torch.Generator().manual_seed(cfg.seed + 1)

        def step_ntxent(net: nn.Module, batch: Any, opt: torch.optim.Optimizer) -> dict[str, float]:
            f, m = batch
            net.train()
            with torch.no_grad():
                fused, valid = model.fused(f, m)
                views = [random_crops(valid, float(opts["crop"]), g) for _ in range(2)]
                zs = [model.lstm_state(fused, v) for v in views]
            e1, e2 = (model.embed(z, fused, v) for z, v in zip(zs, views))
            loss = nt_xent(e1, e2, float(opts["tau"]))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return {"loss": float(loss.detach())}

        update = {"epochs": int(opts["proj_epochs"]), "lr": float(opts["proj_lr"]), "log_json": None}
        cfg2 = (
            cfg.model_copy(update=update)
            if hasattr(cfg, "model_copy")
            else dataclasses.replace(cfg, **update)
        )
        stage2 = fit(cfg2, model, TensorDataset(feats, mask), step_ntxent)
        model.requires_grad_(True)
        model.eval()
        model.fit_prototypes(feats, mask, labels, float(opts["tpr"]))
        seconds = time.perf_counter() - t0
        report = self.evaluate(model, test_data, dtype="float64")
        result: dict[str, Any] = {
            "steps": stage1["steps"] + stage2["steps"],
            "seconds": seconds,
            "history": stage1["history"] + [{**h, "stage": 2} for h in stage2["history"]],
            **report,
        }
        if cfg.out:
            tag = cfg.tag
            evaluation = {
                "dtype": "float64",
                "command": f"zoo eval {cfg.model}.{tag} --pretrained"
                if tag
                else f"zoo eval {cfg.model} --weights {cfg.out}",
            }
            info = zoo.dataset_info(name) if name in zoo.list_datasets() else None
            extra = {
                "metrics": report["metrics"],
                "per_class": report["per_class"],
                "ood": report.get("ood", {}),
                "backbone": {
                    "id": model.backbone_spec,
                    "revision": model.backbone_revision,
                    "features": model.features,
                    "layers": list(model.layers),
                    "fusion": model.fuse.mode,
                    "max_length": model.max_length,
                },
                "evaluation": evaluation,
                "training": {
                    "command": command or "",
                    "dataset": name,
                    "split": f"{len(train_data)} training texts; test: {len(test_data)} labelled + "
                    f"{len(test_data.ood_texts)} OOD texts",
                    "seed": cfg.seed,
                    "learning_rule": "two stages: cross-entropy (fusion, LSTM, head), then NT-Xent on two crops "
                    f"(projector; tau {opts['tau']}, crop >= {opts['crop']}, {opts['proj_epochs']} epochs, lr "
                    f"{opts['proj_lr']}); prototypes and threshold ({opts['tpr']} TPR) on the training texts",
                    "epochs": cfg.epochs,
                    "optimizer": f"{'AdamW' if cfg.optimizer == 'adamw' else 'SGD'} lr={cfg.lr} weight_decay="
                    f"{cfg.weight_decay}, cosine schedule, batch {cfg.batch_size}",
                    "eval_split": "test",
                    "dataset_name": (info.title if info else "") or name,
                    "seconds": round(seconds, 1),
                    "notes": f"LM frozen; its features read once per run ({read_seconds:.1f} s); the probe "
                    "holds no LM weights. The contribution is the probe's posterior over the sub-datasets, "
                    "not a causal data attribution.",
                },
            }
            zoo.save_pretrained(model, cfg.out, tag=tag, extra_config=extra)
        if return_model:
            result["model"] = model
        return result

    # -- cards -------------------------------------------------------------------------------------------------
    def card_usage(self, full_name: str, args: dict[str, Any]) -> list[str]:
        return [
            'out = model.attribute(["Return the event loop.", "Parse the command line."])  # reads the texts with the LM',
            'out["probs"]            # [2, K]: contribution of each sub-dataset (the probe\'s posterior)',
            'out["in_distribution"]  # False where the OOD score is below the stored threshold',
            "features, mask = model.extract(texts)  # [B, num_layers, L, d_model] per-block features of the LM",
            "scores = model(features, mask)          # [B, 2, K]: logits; cosines to the prototypes",
        ]

    def card_results(self, config: dict[str, Any]) -> list[str]:
        lines = super().card_results(config)
        split = (config.get("training") or {}).get("eval_split", "test")
        per_class = config.get("per_class") or {}
        if per_class:
            lines += [
                "",
                f"Per sub-dataset ({split}):",
                "",
                "| sub-dataset | precision | recall | F1 | support |",
                "|---|---|---|---|---|",
            ]
            lines += [
                f"| {c} | {r['precision']:.4g} | {r['recall']:.4g} | {r['f1']:.4g} | {r['support']} |"
                for c, r in per_class.items()
            ]
        bb = config.get("backbone") or {}
        if bb:
            lines += [
                "",
                f"Backbone (frozen, not part of these weights): `{bb.get('id')}`, revision `{bb.get('revision')}`; "
                f"features `{bb.get('features')}` of blocks {bb.get('layers')}, fusion `{bb.get('fusion')}`, "
                f"windows of {bb.get('max_length')} tokens. Loading the probe checks that the backbone is this "
                "revision. The contribution vector is the probe's posterior over the sub-datasets, not a causal "
                "data attribution.",
            ]
        return lines

    def describe_comparison(self, key: str) -> str:
        for s in SCORES:
            if key == f"auroc{_suffix(s)}":
                return f"baseline OOD score: AUROC of the {SCORE_TEXT[s]}"
            if key == f"fpr95{_suffix(s)}":
                return f"baseline OOD score: FPR at 95 % TPR of the {SCORE_TEXT[s]}"
        if key == "threshold_tpr":
            return "fraction of labelled test texts at or above the model's stored OOD threshold"
        if key == "threshold_fpr":
            return "fraction of OOD texts at or above the model's stored OOD threshold"
        return ""

    # -- conformance -------------------------------------------------------------------------------------------
    def check_model(self, who: str, model: nn.Module, inputs: Any, config: dict) -> None:
        """p sums to 1; padding (masked tokens, any values) changes nothing; the batch order permutes the output."""
        _, x = inputs[0]
        m = model.eval()
        with torch.no_grad():
            y = m(x)
            p = torch.softmax(y[:, 0], 1)
            if not torch.allclose(p.sum(1), torch.ones(len(p), dtype=p.dtype), atol=1e-6):
                raise AssertionError(f"{who}: check 'contribution sums to 1' failed")
            pad = torch.randn(
                x.shape[0], x.shape[1], 3, x.shape[3], generator=torch.Generator().manual_seed(7)
            )
            padded = torch.cat([x, pad.to(x.dtype)], 2)
            mask = torch.ones(padded.shape[0], padded.shape[2], dtype=torch.bool)
            mask[:, x.shape[2] :] = False
            if not torch.allclose(m(padded, mask), y, atol=1e-6):
                raise AssertionError(
                    f"{who}: check 'padding invariance' failed: masked padding changed the output"
                )
            order = torch.arange(x.shape[0] - 1, -1, -1)
            if not torch.allclose(m(x[order]), y[order], atol=1e-6):
                raise AssertionError(f"{who}: check 'batch-order equivariance' failed")

    def bad_inputs(self, x: Tensor) -> list[tuple[str, Tensor]]:
        out = [("features with one channel fewer than d_model", x[..., :-1])]
        if x.shape[1] > 1:
            out.append(("features of one layer fewer than num_layers", x[:, :-1]))
        return out
