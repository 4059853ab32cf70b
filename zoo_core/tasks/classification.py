r"""Image classification (task ``image-classification``): evaluation, training, cards and checks of classifiers.

A classifier takes ``[B, C, H, W]`` images in [0, 1] (repeated over time inside) or ``[T, B, C, H, W]`` frames
and returns logits ``[B, num_classes]`` (:data:`CLASSIFICATION_IO`).

:func:`evaluate` makes two passes over the data: a timed plain forward pass (accuracy and throughput, no hooks),
then a profiled pass (:func:`zoo_core.profiling.profile`) whose per-sample counts (SOPs, MACs, energy, firing
rate) are averaged over all samples. Training (:meth:`ImageClassification.train`) runs the registered learning
rule's ``training_step`` in the shared loop (:func:`zoo_core.tasks.training.fit`).
"""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from ..data import load_dataset
from ..data.augment import mixing
from ..errors import ConfigError
from ..hub import save_pretrained
from ..hub.cards import format_number
from ..info import IOSpec, Metric, TensorSpec
from ..plugins import create, entry, model_config, runtime, split_tag
from ..profiling import DEFAULT_ENERGY, conventions_for, energy_convention, profile_conventions
from .attacks import gradient_settings, robust_accuracy
from .base import (
    CARD_DTYPE,
    Task,
    TrainConfig,
    card_evaluation,
    cast_input,
    cast_model,
    model_dtype,
    published_recipes,
)
from .training import (
    augmentation,
    build_model,
    describe_augmentation,
    describe_optimizer,
    distributed,
    fit,
    holdout,
    rule_step,
)

__all__ = ["CLASSIFICATION_IO", "ImageClassification", "accuracy", "cast_input", "cast_model", "evaluate"]

CLASSIFICATION_IO = IOSpec(
    inputs=(
        TensorSpec(name="image", shape=("B", "in_chans", "img_size", "img_size"), kind="unit"),
        TensorSpec(name="frames", shape=("T", "B", "in_chans", "img_size", "img_size"), kind="unit"),
    ),
    output=TensorSpec(name="logits", shape=("B", "num_classes")),
    description="static images are repeated T times inside; logits are the mean over T",
)

#: how robust accuracies are recorded in config.json metrics (``fgsm_eps0.05``, ``pgd10_eps0.1_ensemble``)
_ROBUST_KEY = re.compile(
    r"(?P<attack>fgsm|pgd)(?P<steps>\d*)_eps(?P<eps>[0-9.]+(?:e-?\d+)?)(?P<ensemble>_ensemble)?"
)

#: the energy model printed with every profile
ENERGY_NOTE = "E = 4.6 pJ x MACs + 0.9 pJ x SOPs (45 nm, Horowitz 2014)"


@torch.no_grad()
def evaluate(
    model: nn.Module,
    data: Dataset,
    batch_size: int = 256,
    progress: bool = True,
    device: str | torch.device = "cpu",
    spikes: str = "auto",
    dtype: str | None = None,
    per_step: bool = False,
    energy: str = DEFAULT_ENERGY,
    also_energy: Sequence[str] = (),
) -> dict[str, Any]:
    r"""Accuracy, mean firing rate, SOPs/MACs/energy per sample and samples per second on ``data``.

    ``per_step=True`` also reports ``per_step_accuracy``: the accuracy of the readout after the first
    :math:`t = 1..T` steps, :math:`\arg\max \frac{1}{t}\sum_{s \le t} y_s` (the cumulative mean of the per-step
    logits of the model's ``forward_steps``), the curve of conversion papers (accuracy against time steps).

    ``spikes`` and ``energy`` are :func:`zoo_core.profiling.profile`'s: ``"auto"`` counts by the neurons' declared
    spike kinds, ``energy`` names the SOP / energy convention (default ``"zoo"``). ``also_energy`` names more
    conventions to report beside it (``energy_conventions``: their SOPs, MACs and energy per sample; cards record
    a paper's own this way); one profiled pass per batch counts them all
    (:func:`~zoo_core.profiling.profile_conventions`). ``dtype`` (``"float64"``) evaluates a copy of the model in
    that precision (see :func:`cast_model`)."""
    for name in (energy, *also_energy):
        energy_convention(name)  # an unknown name fails before any work
    steps_fn = getattr(model, "forward_steps", None)
    if per_step and not callable(steps_fn):
        raise ConfigError(
            f"{type(model).__name__} has no forward_steps (per-step logits [T, B, classes]), so its accuracy per "
            "time step cannot be measured"
        )
    from tqdm import tqdm  # progress bars load with the first evaluation

    model = cast_model(model, dtype).to(device).eval()
    # event data sets batch time first (`collate_fn`, e.g. zoo_core.dvs.collate_time_first)
    loader = DataLoader(data, batch_size=batch_size, collate_fn=getattr(data, "collate_fn", None))
    correct = total = 0
    seconds = 0.0
    correct_t: Tensor | None = None
    for x, y in tqdm(loader, desc="accuracy", disable=None if progress else True, leave=False):
        x, y = cast_input(x, dtype).to(device), y.to(device)
        t0 = time.perf_counter()
        logits = model(x)
        seconds += time.perf_counter() - t0
        correct += int((logits.argmax(-1) == y).sum())
        total += len(y)
        if per_step:
            steps = model.forward_steps(x)  # [T, B, classes]
            n = torch.arange(1, steps.shape[0] + 1, dtype=steps.dtype, device=steps.device).view(-1, 1, 1)
            hits = ((steps.cumsum(0) / n).argmax(-1) == y).sum(1).cpu()
            correct_t = hits if correct_t is None else correct_t + hits
    sums = {"sops": 0.0, "macs": 0.0, "energy_pj": 0.0}
    others = {name: {**sums} for name in also_energy if name != energy}
    texts = {}
    fired = neurons = 0.0
    convention = ""
    for x, _ in tqdm(loader, desc="profile", disable=None if progress else True, leave=False):
        xb = cast_input(x, dtype).to(device)
        ps = profile_conventions(model, xb, (energy, *others), spikes=spikes)  # one pass counts them all
        p = ps[energy]
        n = p.batch_size  # inferred from the input layout ([T, B, ...] event input: dim 1)
        for k in sums:
            sums[k] += getattr(p, k) * n
        for name, acc in others.items():
            q = ps[name]
            for k in acc:
                acc[k] += getattr(q, k) * n
            texts[name] = q.convention
        # the batch's mean rate weighs its neuron-steps, which scale with the number of samples
        elems = n * sum((lp.neurons or 0) for lp in p.layers if lp.firing_rate is not None)
        fired += (p.mean_firing_rate or 0.0) * elems
        neurons += elems
        convention = p.convention
    return {
        "spikes": spikes,
        "dtype": dtype,
        "accuracy": correct / max(total, 1),
        "samples": total,
        "mean_firing_rate": fired / neurons if neurons else 0.0,
        **{k: v / max(total, 1) for k, v in sums.items()},
        "convention": convention,
        "energy_convention": energy,
        **(
            {
                "energy_conventions": {
                    name: {
                        **{k: v / max(total, 1) for k, v in acc.items()},
                        "convention": texts.get(name, ""),
                    }
                    for name, acc in others.items()
                }
            }
            if others
            else {}
        ),
        "samples_per_second": total / seconds if seconds > 0 else float("inf"),
        **(
            {"per_step_accuracy": (correct_t.double() / max(total, 1)).tolist()}
            if correct_t is not None
            else {}
        ),
    }


#: the profile fields a card records
CARD_PROFILE = ("mean_firing_rate", "sops", "macs", "energy_pj", "convention", "energy_convention")


def card_profile(report: dict[str, Any]) -> dict[str, Any]:
    """The ``profile`` record of a card from an :func:`evaluate` report (with the paper conventions, if any)."""
    out = {k: report[k] for k in CARD_PROFILE if k in report}
    if report.get("energy_conventions"):
        out["energy_conventions"] = report["energy_conventions"]
    return out


@torch.no_grad()
def accuracy(model: nn.Module, data: Dataset, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``model`` on ``data`` (eval mode)."""
    model.eval()
    correct = total = 0
    for x, y in DataLoader(data, batch_size=batch_size, collate_fn=getattr(data, "collate_fn", None)):
        correct += int((model(x).argmax(-1) == y).sum())
        total += len(y)
    return correct / max(total, 1)


def _num(v: float) -> str:
    if v >= 1e6:
        return f"{v:,.0f} ({v:.3e})"
    return f"{v:,.1f}" if v >= 100 else f"{v:.4g}"


def _in_convention(label: str, name: str) -> str:
    """``"energy per sample (pJ)"`` -> ``"energy per sample (pJ, zoo)"``; the firing rate is no convention's."""
    if label.split(" ")[0] not in ("SOPs", "MACs", "energy"):
        return label
    return f"{label[:-1]}, {name})" if label.endswith(")") else f"{label} ({name})"


class ImageClassification(Task):
    """Classify images or event frames: accuracy, firing rate, SOPs, MACs and energy per sample."""

    name = "image-classification"
    io = CLASSIFICATION_IO
    metrics = (
        Metric(name="accuracy", direction="higher", definition="top-1 accuracy: argmax of the logits (the mean "
               "over T of the per-step logits) equals the label"),
    )  # fmt: skip
    default_dataset = "digits"
    hub_pipeline_tag = "image-classification"
    reports_energy = True

    # -- evaluation --------------------------------------------------------------------------------------------
    def evaluate(self, model: nn.Module, data: Dataset, **options: Any) -> dict[str, Any]:
        """:func:`evaluate`; the report's ``metrics`` holds the accuracy, the rest its profile and throughput."""
        report = evaluate(model, data, **options)
        return {"metrics": {"accuracy": report["accuracy"]}, **report}

    def format_report(self, title: str, report: dict[str, Any]) -> list[str]:
        rows = [
            ("accuracy", f"{report['accuracy']:.4f}"),
            ("mean firing rate", f"{report['mean_firing_rate']:.4f}"),
            ("SOPs / sample", _num(report["sops"])),
            ("MACs / sample", _num(report["macs"])),
            ("energy / sample", f"{_num(report['energy_pj'])} pJ ({report['energy_pj'] / 1e6:.4g} uJ)"),
            ("throughput", f"{report['samples_per_second']:,.0f} samples/s"),
        ]
        lines = [title, *(f"  {k:<18}{v}" for k, v in rows)]
        name = report.get("energy_convention", DEFAULT_ENERGY)
        lines.append(f"  energy convention: {name}" + (f" ({ENERGY_NOTE})" if name == DEFAULT_ENERGY else ""))
        for other, r in (report.get("energy_conventions") or {}).items():
            lines.append(
                f"  {other} convention: {_num(r['sops'])} SOPs, {_num(r['macs'])} MACs, "
                f"{_num(r['energy_pj'])} pJ per sample"
            )
        if report.get("per_step_accuracy"):
            curve = ", ".join(f"t={t} {a:.4f}" for t, a in enumerate(report["per_step_accuracy"], 1))
            lines.append(f"  accuracy per step (cumulative mean of the logits): {curve}")
        if report.get("spikes") in ("events", "binary"):
            lines.append(
                "  spikes: "
                + (
                    "events (every non-zero neuron output counts as one event, whatever its value)"
                    if report["spikes"] == "events"
                    else "binary (only 0/1 inputs count as spikes; declared spike kinds ignored)"
                )
            )
        if report.get("dtype"):
            lines.append(f"  evaluated in {report['dtype']}")
        return lines

    def robust_eval(
        self, model: nn.Module, data: Dataset, ensemble: bool = False, **options: Any
    ) -> dict[str, Any]:
        """Clean and adversarial accuracy (:func:`zoo_core.tasks.attacks.robust_accuracy`); ``ensemble=True``
        attacks under every gradient setting the model offers and counts a sample only if it survives all."""
        settings = gradient_settings(model) if ensemble else None
        return robust_accuracy(model, data, settings=settings, **options)

    # -- pictures ----------------------------------------------------------------------------------------------
    def example_rows(
        self, model: nn.Module, data: Dataset, n: int | None = None
    ) -> list[tuple[str, Tensor] | tuple[str, Tensor, list[str]]]:
        """One row: the first ``n`` (default 8) inputs, each captioned with the predicted and the true class (the
        data set's class names where it has ``classes``). Event frames ``[T, C, H, W]`` are shown as their mean
        over time; inputs outside [0, 1] (normalised by a preprocessing) are rescaled to it per image."""
        n = min(8 if n is None else n, len(data))  # type: ignore[arg-type]
        if n < 1:
            raise ConfigError(f"task {self.name!r}: no samples to show (an empty data set, or n < 1)")
        subset = Subset(data, range(n))
        x, y = next(iter(DataLoader(subset, batch_size=n, collate_fn=getattr(data, "collate_fn", None))))
        was = model.training
        try:
            with torch.no_grad():
                pred = model.eval()(x.to(model_dtype(model))).argmax(-1)
        finally:
            model.train(was)
        images = []
        for i in range(n):
            img = subset[i][0].detach().to(torch.float32)
            img = img.mean(0) if img.dim() == 4 else img  # event frames: the mean over time
            lo, hi = float(img.min()), float(img.max())
            images.append((img - lo) / (hi - lo) if (lo < 0 or hi > 1) and hi > lo else img.clamp(0, 1))
        classes = getattr(data, "classes", None)

        def label(k: int) -> str:
            return str(classes[k]) if classes is not None and 0 <= k < len(classes) else str(k)

        right = int((pred == y).sum())
        captions = [f"pred {label(int(p))}\ntrue {label(int(t))}" for p, t in zip(pred, y)]
        return [(f"inputs ({right} of {n} right)", torch.stack(images), captions)]

    def memory_probe(self, model: nn.Module, batch: Any) -> Tensor:
        """Cross-entropy of ``model``'s logits on ``batch`` (the resource guard's dry run)."""
        x, y = batch
        return F.cross_entropy(model(x.to(model_dtype(model))), y)

    # -- training ----------------------------------------------------------------------------------------------
    def train(
        self, cfg: TrainConfig, command: str | None = None, return_model: bool = False
    ) -> dict[str, Any]:
        """Train with the learning rule ``cfg.learning_rule`` (its ``training_step`` per batch, cross-entropy of
        the mean logits for ``bptt``), then report test accuracy and (``cfg.out``) write the weight folder."""
        dataset = self.accept_dataset(cfg.dataset or self.default_dataset)
        with distributed() as dist:
            torch.manual_seed(cfg.seed)  # same seed on every rank: identical initial replicas
            margs = model_config(cfg.model, **cfg.model_kwargs)
            in_chans, img_size = int(margs.get("in_chans", 1)), int(margs.get("img_size", 8))
            # an image folder goes through the model's declared preprocessing, as zoo eval applies it
            pre = entry("model", split_tag(cfg.model)[0]).info.preprocessing  # type: ignore[attr-defined]
            clean = load_dataset(dataset, "train", in_chans, img_size, cfg.seed, preprocessing=pre)
            augmented = (
                load_dataset(dataset, "train", in_chans, img_size, cfg.seed, pre, cfg.auto_augment)
                if cfg.auto_augment
                else clean
            )
            train_set, val_set = holdout(augmented, cfg.val_fraction, cfg.seed, clean=clean)
            train_set = augmentation(cfg, train_set)
            test_set = load_dataset(dataset, "test", in_chans, img_size, cfg.seed, preprocessing=pre)
            model = build_model(cfg.model, **cfg.model_kwargs).to(dist.device)
            rule = create("learning_rule", cfg.learning_rule, **cfg.rule_kwargs)
            model = rule.prepare(model)
            step = self._mixed_step(cfg, rule, train_set, int(margs.get("num_classes", 0)))
            self.check_memory(
                f"zoo train {cfg.model}",
                model,
                train_set,
                cfg.batch_size,
                training=True,
                force=cfg.force,
                smaller=published_recipes(cfg.model),
                step=rule_step(rule),
            )
            result = fit(
                cfg,
                model,
                train_set,
                step,
                dist,
                validate=None if val_set is None else partial(_validate, data=val_set),
                monitor=("accuracy", "max"),
                stateful={"rule": rule} if callable(getattr(rule, "state_dict", None)) else None,
            )
            if dist.rank == 0:
                result["test_accuracy"] = accuracy(model, test_set)
                if cfg.verbose:
                    print(
                        f"test accuracy: {result['test_accuracy']:.4f} ({len(test_set)} samples)", flush=True
                    )
            if dist.rank == 0 and cfg.out:
                self.write_folder(model.cpu(), cfg, dataset, test_set, result, command or "")
                print(f"wrote {cfg.out}", flush=True)
        if return_model:
            result["model"] = model
        return result

    @staticmethod
    def _mixed_step(cfg: TrainConfig, rule: Any, train_set: Dataset, num_classes: int) -> Any:
        """The rule's training step, on mixup/cutmix batches where ``cfg`` asks for them (soft targets: only for
        rules that declare ``soft_targets``)."""
        if not (cfg.mixup or cfg.cutmix):
            return rule.training_step
        if not getattr(rule, "soft_targets", False):
            raise ConfigError(
                f"mixup/cutmix turn labels into soft targets, which the learning rule {cfg.learning_rule!r} does "
                "not take (rules that do declare soft_targets = True, e.g. bptt)"
            )
        if getattr(train_set, "collate_fn", None) is not None:
            raise ConfigError(
                "mixup/cutmix mix image batches [B, C, H, W]; this data set batches time first (event frames): "
                "use --dvs-augment"
            )
        if num_classes < 2:
            raise ConfigError(f"mixup/cutmix need the model's num_classes, got {num_classes}")
        mix = mixing(cfg.mixup, cfg.cutmix, num_classes, cfg.mix_prob, cfg.mix_switch_prob)

        def step(net: nn.Module, batch: Any, optimizer: torch.optim.Optimizer) -> dict[str, float]:
            x, y = batch
            return rule.training_step(net, mix(x.clone(), y), optimizer)  # type: ignore[no-any-return]

        return step

    def write_folder(
        self,
        model: nn.Module,
        cfg: TrainConfig,
        dataset: str,
        test_set: Dataset,
        result: dict[str, Any],
        command: str,
    ) -> Path:
        """Measure (accuracy, firing rate, SOPs, energy; in float64, so the card holds on any CPU) and write the
        weight folder with its card."""
        report = evaluate(
            model,
            test_set,
            progress=False,
            dtype=CARD_DTYPE,
            also_energy=conventions_for(getattr(model, "zoo_name", None)),
        )
        registered = dataset in runtime().registries["dataset"]
        info = entry("dataset", dataset).info if registered else None
        training = {
            "command": command,
            "dataset": dataset,
            "split": f"{info.description}, seed {cfg.seed}" if info else "folder split",
            "seed": cfg.seed,
            "learning_rule": f"{cfg.learning_rule} {cfg.rule_kwargs or ''}".strip(),
            "epochs": cfg.epochs,
            "optimizer": describe_optimizer(cfg),
            **_selection(cfg, result),
            **({"augmentation": describe_augmentation(cfg)} if describe_augmentation(cfg) else {}),
            **({"recipe": cfg.recipe} if cfg.recipe else {}),
            "eval_split": "test",
            "dataset_name": (info.title or dataset) if info else dataset,  # type: ignore[attr-defined]
            "seconds": round(result["seconds"], 1),
        }
        extra = {
            "metrics": {"accuracy": report["accuracy"]},
            "profile": card_profile(report),
            "evaluation": card_evaluation(model, cfg.tag),
            "training": training,
        }
        return save_pretrained(model, cfg.out, tag=cfg.tag, extra_config=extra)  # type: ignore[arg-type]

    # -- cards -------------------------------------------------------------------------------------------------
    def card_usage(self, full_name: str, args: dict[str, Any]) -> list[str]:
        if "in_chans" not in args or "img_size" not in args:
            return []
        return [
            f"x = torch.rand(1, {args['in_chans']}, {args['img_size']}, {args['img_size']})  # [B, C, H, W] in [0, 1]",
            "logits = model(x)  # [B, num_classes]",
        ]

    def card_results(self, config: dict[str, Any]) -> list[str]:
        """The accuracy (the model's own result) and the profile of these weights (firing rate, SOPs, MACs,
        energy per sample) in one table, rounded for reading, and the energy convention."""
        lines = super().card_results(config) if self.card_own_metrics(config) else []
        profile_ = dict(config.get("profile") or {})
        rows = [
            (label, profile_[key])
            for key, label in (
                ("mean_firing_rate", "mean firing rate"),
                ("sops", "SOPs per sample"),
                ("macs", "MACs per sample"),
                ("energy_pj", "energy per sample (pJ)"),
            )
            if key in profile_
        ]
        name = profile_.get("energy_convention", DEFAULT_ENERGY)
        others = dict(profile_.get("energy_conventions") or {})
        if others:  # say which convention each energy row is in
            rows = [(_in_convention(label, name), v) for label, v in rows]
        for other, r in others.items():
            rows += [
                (f"SOPs per sample ({other})", r["sops"]),
                (f"energy per sample (pJ, {other})", r["energy_pj"]),
            ]
        if rows and not lines:
            lines = ["| measure | value |", "|---|---|"]
        lines += [f"| {label} | {format_number(v)} |" for label, v in rows]
        if profile_:
            convention = profile_.get("convention", ENERGY_NOTE).rstrip(".")
            lines += ["", f"Energy convention `{name}`: {convention}."]
            for other, r in others.items():
                lines += ["", f"Energy convention `{other}`: {r.get('convention', '').rstrip('.')}."]
        curve = config.get("per_step_accuracy")
        if curve and lines:
            steps = ", ".join(f"{format_number(a)} (t={t})" for t, a in enumerate(curve, 1))
            lines += [
                "",
                f"Accuracy after the first t time steps (readout: mean of the logits so far): {steps}.",
            ]
        return lines or super().card_results(config)

    def describe_comparison(self, key: str) -> str:
        """Robust accuracies recorded as ``<fgsm|pgdN>_eps<eps>[_ensemble]`` (as ``zoo robust-eval`` measures
        them) are these weights under attack; other keys are described by the card's training notes."""
        m = _ROBUST_KEY.fullmatch(key)
        if not m:
            return ""
        attack = "FGSM" if m["attack"] == "fgsm" else f"PGD-{m['steps']}" if m["steps"] else "PGD"
        text = f"these weights under {attack} attack, L-infinity eps = {m['eps']} (pixel units)"
        if m["ensemble"]:
            text += "; a sample counts only if it survives every gradient setting"
        return text

    # -- conformance -------------------------------------------------------------------------------------------
    def check_model(
        self, who: str, model: nn.Module, inputs: Sequence[tuple[Any, Tensor]], config: dict
    ) -> None:
        """A static ``[B, C, H, W]`` image gives the logits of that image repeated ``T`` times as frames."""
        static = [x for s, x in inputs if len(s.shape) == 4]
        if not static or not any(len(s.shape) == 5 for s, _ in inputs) or "T" not in config:
            return
        x = static[0]
        m = copy.deepcopy(model).double().eval()
        with torch.no_grad():
            a = m(x.double())
            b = m(x.double().unsqueeze(0).repeat(int(config["T"]), 1, 1, 1, 1))
        if not torch.allclose(a, b, rtol=1e-9, atol=1e-12):
            raise AssertionError(
                f"{who}: check 'static image equals repeated frames' failed: a static [B,C,H,W] image must be "
                "the same as that image repeated T times as [T,B,C,H,W] frames"
            )

    def bad_inputs(self, x: Tensor) -> list[tuple[str, Tensor]]:
        if x.dim() < 3:
            return []
        c = x.shape[-3]
        wrong = torch.cat([x, x[..., :1, :, :]], dim=-3)
        empty = x.unsqueeze(0)[:0].expand(0, *x.shape) if x.dim() == 4 else x[:0]
        return [
            (f"an input with {c + 1} channels instead of {c}", wrong),
            ("a [T,B,C,H,W] input with T = 0", empty),
        ]


def _validate(model: nn.Module, data: Dataset) -> dict[str, float]:
    """Per-epoch validation of a classifier: accuracy and mean firing rate on the held-out samples."""
    report = evaluate(model, data, progress=False)
    return {"accuracy": report["accuracy"], "firing_rate": report["mean_firing_rate"]}


def _selection(cfg: TrainConfig, result: dict[str, Any]) -> dict[str, Any]:
    """What the card says about which epoch's weights were kept."""
    if "best_epoch" not in result:
        return {}
    return {
        "selection": f"the epoch of best validation accuracy ({result['best_epoch']} of {cfg.epochs}: "
        f"{result['best']:.4f} on {cfg.val_fraction:.0%} of the training split held out, seed {cfg.seed})"
    }
