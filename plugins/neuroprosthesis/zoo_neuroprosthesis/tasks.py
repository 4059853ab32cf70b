r"""The tasks ``retina-encoding`` and ``spike-image-decoding``: evaluation, cards and the official training recipes.

``retina-encoding``
    a model maps a stimulus window (the last ``T`` frames) to the firing rates of ``num_cells`` ganglion cells in
    the next bin. Trained with Keras' Poisson loss plus the model's regularisers; evaluated by CC per cell (mean
    over cells), population CC, FEV, RMSE and the Poisson loss against the recorded responses, and, when the data
    know the true rates (simulated cells), CC against those (``cc_true_rate``). Training also fits a linear
    receptive-field baseline (ridge regression on the windows; stimuli of at most 4,096 values) and records it.
``spike-image-decoding``
    a model maps the scaled spike counts of ``num_cells`` cells to an image. Trained with MSE on the output image;
    evaluated by MSE, PSNR and SSIM per image (:mod:`zoo_neuroprosthesis.metrics`), next to the mean-image baseline
    (predict the training set's mean image) and, from training, a linear decoder (ridge regression).

Training (:func:`keras_fit`) follows the official Keras recipes: Adam (Keras' epsilon 1e-7; ``--optimizer adamw``
with ``--weight-decay 0`` is exactly that), constant learning rate, optional validation split taken from the end of
the training data as Keras' ``validation_split`` does, ``EarlyStopping`` and ``ReduceLROnPlateau`` with Keras'
rules. The callbacks come from a named recipe (:data:`RECIPES`; the model's own by default) and can be changed
with ``--rule-kwargs``. Epochs, batch size and learning rate are ``zoo train``'s options; the recipes list the
official values.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
import zoo_core as zoo
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset
from zoo_core.sdk import (
    CARD_DTYPE,
    TRAIN_BASICS,
    ConfigError,
    IOSpec,
    Metric,
    Task,
    TensorSpec,
    TrainConfig,
    WeightInfo,
    card_evaluation,
    cast_model,
)

from .metrics import cc_per_cell, image_metrics, pearson, poisson_loss, retina_metrics

__all__ = [
    "RECIPES",
    "RetinaEncoding",
    "SpikeImageDecoding",
    "keras_fit",
    "ridge_fit",
]

#: the official training recipes (the epochs, batch size and learning rate are zoo train's options; these are the
#: official values, recorded for reference)
RECIPES: dict[str, dict[str, Any]] = {
    "zheng2021": {
        "early_stopping": {"monitor": "loss", "min_delta": 1e-4, "patience": 100},
        "reduce_lr": None,
        "val_split": 0.0,
        "official": "Adam lr 1e-3, batch 64, up to 1000 epochs (Zheng et al. 2021, movie data)",
    },
    "zheng2021_off": {
        "early_stopping": {"monitor": "loss", "min_delta": 1e-4, "patience": 50},
        "reduce_lr": None,
        "val_split": 0.0,
        "official": "Adam lr 1e-3, batch 4096, up to 1000 epochs (Zheng et al. 2021, simulated OFF cells)",
    },
    "deepretina": {
        "early_stopping": {"monitor": "val_loss", "min_delta": 0.0, "patience": 20},
        "reduce_lr": {"monitor": "val_loss", "factor": 0.2, "patience": 10, "min_delta": 1e-4, "min_lr": 0.0},
        "val_split": 0.05,
        "official": "Adam lr 1e-2, batch 5000, 250 epochs (deep-retina bn_cnn)",
    },
    "sid": {
        "early_stopping": None,
        "reduce_lr": None,
        "val_split": 0.0,
        "official": "Adam lr 1e-3, batch 10, 10 x 30 epochs (Spike-Image Decoder)",
    },
}
RULE_KWARGS = ("recipe", "early_stopping", "reduce_lr", "val_split", "dataset_kwargs")


def default_recipe(model: str) -> str:
    """The official recipe of a registered model name."""
    if model.startswith("sid_decoder"):
        return "sid"
    if model.startswith("deepretina"):
        return "deepretina"
    return "zheng2021_off" if "_off_" in model else "zheng2021"


def resolve_recipe(model: str, rule_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The recipe ``rule_kwargs["recipe"]`` (default: the model's) with the other ``rule_kwargs`` over it."""
    unknown = sorted(set(rule_kwargs) - set(RULE_KWARGS))
    if unknown:
        raise ConfigError(f"unknown rule kwargs {unknown}; known: {', '.join(RULE_KWARGS)}")
    name = rule_kwargs.get("recipe", default_recipe(model))
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; recipes: {', '.join(RECIPES)}")
    recipe = {**copy.deepcopy(RECIPES[name]), "name": name}
    recipe.update({k: v for k, v in rule_kwargs.items() if k in ("early_stopping", "reduce_lr", "val_split")})
    if not 0.0 <= float(recipe["val_split"]) < 1.0:
        raise ConfigError(f"val_split must be in [0, 1), got {recipe['val_split']!r}")
    for cb in ("early_stopping", "reduce_lr"):
        spec = recipe[cb]
        if spec is not None:
            if spec.get("monitor", "loss") not in ("loss", "val_loss"):
                raise ConfigError(f"{cb}: monitor must be 'loss' or 'val_loss', got {spec.get('monitor')!r}")
            if spec.get("monitor") == "val_loss" and not recipe["val_split"]:
                raise ConfigError(f"{cb} monitors val_loss: give a val_split > 0 (rule kwargs)")
    return recipe


# ------------------------------------------------------------------------------------------------ training loop
def _optimizer(cfg: TrainConfig, params: Any) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov, weight_decay=cfg.weight_decay
        )
    # Keras' Adam: beta 0.9 / 0.999, epsilon 1e-7 (AdamW with weight decay 0 is Adam)
    return torch.optim.AdamW(params, lr=cfg.lr, betas=(0.9, 0.999), eps=1e-7, weight_decay=cfg.weight_decay)


def _improved(current: float, best: float, min_delta: float) -> bool:
    """Keras' test for a monitored loss: an improvement is a drop by more than ``min_delta``."""
    return current < best - min_delta


def keras_fit(
    model: nn.Module,
    train_set: Dataset,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    cfg: TrainConfig,
    recipe: dict[str, Any],
) -> dict[str, Any]:
    """Train ``model`` on ``train_set`` the Keras way (module docstring); returns the per-epoch history.

    Each step minimises ``loss_fn(prediction, target)`` plus the model's regularisation penalty
    (``model.training_outputs(x) -> (prediction, penalty)``). ``loss`` is the epoch's mean total loss over its
    samples and ``val_loss`` the same on the validation split in evaluation mode (no noise, no dropout), as Keras
    reports them. ``EarlyStopping``: stop when the monitored loss has not dropped by more than ``min_delta``
    for ``patience`` epochs. ``ReduceLROnPlateau``: multiply the learning rate by ``factor`` (not below
    ``min_lr``) after ``patience`` epochs without a drop by more than ``min_delta``."""
    g = torch.Generator().manual_seed(cfg.seed)
    n = len(train_set)  # type: ignore[arg-type]
    split_at = int(n * (1.0 - float(recipe["val_split"])))  # Keras: the last fraction, before shuffling
    train_part = Subset(train_set, range(split_at)) if split_at < n else train_set
    val_part = Subset(train_set, range(split_at, n)) if split_at < n else None
    opt = _optimizer(cfg, model.parameters())
    es, rl = recipe["early_stopping"], recipe["reduce_lr"]
    es_best = rl_best = math.inf
    es_wait = rl_wait = 0
    history: list[dict[str, float]] = []
    steps, stopped, t0 = 0, "", time.perf_counter()

    def run(batch: list[Tensor]) -> tuple[Tensor, int]:
        x, y = batch[0], batch[1]
        pred, penalty = model.training_outputs(x)
        return loss_fn(pred, y) + penalty, x.shape[0]

    for epoch in range(cfg.epochs):
        model.train()
        total, count = 0.0, 0
        for batch in DataLoader(train_part, batch_size=cfg.batch_size, shuffle=True, generator=g):
            loss, b = run(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total, count, steps = total + float(loss.detach()) * b, count + b, steps + 1
            if cfg.max_steps is not None and steps >= cfg.max_steps:
                break
        logs = {"epoch": epoch + 1, "loss": total / max(count, 1), "lr": opt.param_groups[0]["lr"]}
        if val_part is not None:
            model.eval()
            vt, vc = 0.0, 0
            with torch.no_grad():
                for batch in DataLoader(val_part, batch_size=max(cfg.batch_size, 256)):
                    loss, b = run(batch)
                    vt, vc = vt + float(loss) * b, vc + b
            logs["val_loss"] = vt / max(vc, 1)
        logs["seconds"] = time.perf_counter() - t0
        history.append(logs)
        if cfg.verbose:
            print(
                "  ".join(f"{k} {v:.5g}" if isinstance(v, float) else f"{k} {v}" for k, v in logs.items()),
                flush=True,
            )
        if rl is not None:
            current = logs[rl.get("monitor", "val_loss")]
            if _improved(current, rl_best, float(rl.get("min_delta", 1e-4))):
                rl_best, rl_wait = current, 0
            else:
                rl_wait += 1
                if rl_wait >= int(rl.get("patience", 10)):
                    for group in opt.param_groups:
                        group["lr"] = max(
                            group["lr"] * float(rl.get("factor", 0.1)), float(rl.get("min_lr", 0.0))
                        )
                    rl_wait = 0
        if es is not None:
            current = logs[es.get("monitor", "loss")]
            if _improved(current, es_best, float(es.get("min_delta", 0.0))):
                es_best, es_wait = current, 0
            else:
                es_wait += 1
                if es_wait >= int(es.get("patience", 0)):
                    stopped = f"early stopping after epoch {epoch + 1} ({es.get('monitor', 'loss')} did not improve)"
                    break
        if cfg.max_steps is not None and steps >= cfg.max_steps:
            stopped = f"max_steps {cfg.max_steps} reached in epoch {epoch + 1}"
            break
    model.eval()
    return {
        "history": history,
        "epochs_run": len(history),
        "steps": steps,
        "stopped": stopped,
        "seconds": time.perf_counter() - t0,
        "train_samples": len(train_part),  # type: ignore[arg-type]
        "val_samples": 0 if val_part is None else len(val_part),
    }


def ridge_fit(x: Tensor, y: Tensor, lam: float = 1e-2) -> Tensor:
    r"""Ridge regression with a bias: ``W [D + 1, K]`` minimising :math:`\|[X, 1] W - Y\|^2 + \lambda'
    \|W_{1..D}\|^2`, :math:`\lambda' = \lambda \cdot \mathrm{mean\,diag}(X^\top X)` (float64)."""
    x, y = x.double().flatten(1), y.double().flatten(1)
    xb = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], 1)
    gram = xb.T @ xb
    reg = lam * float(gram.diagonal()[:-1].mean()) * torch.eye(gram.shape[0], dtype=x.dtype)
    reg[-1, -1] = 0.0
    return torch.linalg.solve(gram + reg, xb.T @ y)


def ridge_predict(w: Tensor, x: Tensor) -> Tensor:
    x = x.double().flatten(1)
    return torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], 1) @ w


def stack_dataset(data: Dataset, batch_size: int = 4096) -> list[Tensor]:
    """All items of ``data`` stacked: ``[inputs, targets, ...]``."""
    parts: list[list[Tensor]] = []
    for batch in DataLoader(data, batch_size=batch_size):
        parts.append(list(batch))
    return [torch.cat([p[i] for p in parts]) for i in range(len(parts[0]))]


# ------------------------------------------------------------------------------------------------ base
class _PluginTask(Task):
    """What both tasks share: the data set from the weights' training record, sized for the model."""

    #: what :func:`keras_fit` and the runs around it take: ``zoo train`` refuses the other settings
    train_settings = TRAIN_BASICS | {"batch_size", "weight_decay", "optimizer", "momentum", "nesterov"}

    def finish(
        self,
        cfg: Any,
        model: nn.Module,
        dataset: str,
        test_set: Dataset,
        fit: dict[str, Any],
        report: dict[str, Any],
        metrics: dict[str, float],
        recipe: dict[str, Any],
        command: str | None,
        notes: str,
        return_model: bool,
    ) -> dict[str, Any]:
        """The end of both training runs: print the metrics, write the weight folder (``cfg.out``, with
        ``notes`` in its card) and return the result (with the model when asked)."""
        result: dict[str, Any] = {**fit, **report, "metrics": metrics}
        if cfg.verbose:
            print("\n".join(f"  {k:<22}{v:.4f}" for k, v in metrics.items()), flush=True)
        if cfg.out:
            self.write_folder(model, cfg, dataset, test_set, fit, metrics, recipe, command or "", notes)
            if cfg.verbose:
                print(f"wrote {cfg.out}", flush=True)
        if return_model:
            result["model"] = model
        return result

    def fit_and_test(self, cfg: Any, loss: Any, who: str) -> tuple[Any, ...]:
        """The start of both training runs: the recipe, the model, the train/test data sets the config names
        (checked against the model), the Keras-style fit on ``loss`` and the test report in float64. Returns
        ``(model, recipe, dataset, train_set, test_set, fit, report)``."""
        if cfg.learning_rule != "bptt":
            raise ConfigError(f"{who} by plain backpropagation (bptt), got {cfg.learning_rule!r}")
        recipe = resolve_recipe(cfg.model.split(".")[0], dict(cfg.rule_kwargs))
        torch.manual_seed(cfg.seed)
        model = _build(cfg)
        dataset = self.accept_dataset(cfg.dataset or self.default_dataset)
        ds_kwargs = {"seed": cfg.seed, **dict(cfg.rule_kwargs.get("dataset_kwargs") or {})}
        train_set = self.make_dataset(dataset, "train", model, **ds_kwargs)
        test_set = self.make_dataset(dataset, "test", model, **ds_kwargs)
        self.check_data(model, train_set, dataset)
        fit = keras_fit(model, train_set, loss, cfg, recipe)
        report = self.evaluate(model, test_set, dtype=CARD_DTYPE)
        return model, recipe, dataset, train_set, test_set, fit, report

    def dataset_kwargs(self, model: nn.Module, name: str) -> dict[str, Any]:
        """Arguments of the data set ``name`` that follow from the model (window length, layout, sizes)."""
        return {}

    def make_dataset(self, name: str, split: str, model: nn.Module, **kwargs: Any) -> Dataset:
        accepted = self.accept_dataset(name)
        defaults = zoo.dataset_info(accepted).defaults
        sized = {k: v for k, v in self.dataset_kwargs(model, accepted).items() if k in defaults}
        return zoo.create_dataset(accepted, split=split, **{**sized, **kwargs})

    def eval_data(
        self,
        model: nn.Module,
        *,
        dataset: str | None,
        split: str,
        weights: WeightInfo | None = None,
        weights_config: dict[str, Any] | None = None,
    ) -> tuple[str, Dataset]:
        """The data set the weights were trained on with their generator settings (``training.dataset`` and
        ``training.dataset_kwargs`` of ``config.json``), else ``dataset`` or the task's default, sized for the
        model."""
        training = (weights_config or {}).get("training") or {}
        name = self.eval_dataset_name(dataset, weights, weights_config)
        kwargs = dict(training.get("dataset_kwargs") or {}) if name == training.get("dataset") else {}
        kwargs.pop("split", None)
        data = self.make_dataset(name, split, model, **kwargs)
        self.check_data(model, data, name)
        return name, data

    def check_data(self, model: nn.Module, data: Dataset, name: str = "the data set") -> None:
        """A :class:`ConfigError` unless the data's inputs and targets have the shapes the model takes and gives
        (its I/O spec at its arguments), naming what to change."""
        args = getattr(model, "zoo_args", None)
        zoo_name = getattr(model, "zoo_name", None)
        if args is None or zoo_name is None or len(data) == 0:  # type: ignore[arg-type]
            return
        io = zoo.model_info(zoo_name).io or self.io
        item = data[0]
        for what, spec, got in (("inputs", io.inputs[0], item[0]), ("targets", io.output, item[1])):
            want = spec.resolve(args, batch=1)[1:]
            if tuple(got.shape) != tuple(want):
                sizes = ", ".join(
                    f"{d}={args[d]}" for d in dict.fromkeys(spec.shape) if isinstance(d, str) and d in args
                )
                raise ConfigError(
                    f"{name} gives {what} of shape {tuple(got.shape)}; {zoo_name} ({sizes}) needs {tuple(want)}: "
                    "pick a model of that size or set its sizes with --model-kwargs (e.g. num_cells, img_size, T)"
                )

    def check_spikes(self, options: dict[str, Any]) -> None:
        spikes = options.pop("spikes", "binary")
        if spikes != "binary":
            raise ConfigError(f"task {self.name!r}: --spikes {spikes} applies to classifiers' profiles only")

    def write_folder(
        self, model: nn.Module, cfg: TrainConfig, dataset: str, test_set: Dataset, fit: dict, metrics: dict,
        recipe: dict, command: str, notes: str,
    ) -> None:  # fmt: skip
        ds_cfg = {k: v for k, v in getattr(test_set, "config", {}).items() if k != "split"}
        training = {
            "command": command,
            "dataset": dataset,
            "dataset_kwargs": ds_cfg,
            "dataset_name": zoo.dataset_info(dataset).title or dataset,
            "split": f"{fit['train_samples']} training samples"
            + (f" (+ {fit['val_samples']} for validation, the last {recipe['val_split']})" if fit["val_samples"] else "")
            + f", {len(test_set)} test samples (seed {cfg.seed})",  # type: ignore[arg-type]
            "seed": cfg.seed,
            "learning_rule": f"backpropagation, recipe {recipe['name']}: early stopping {recipe['early_stopping']}, "
            f"reduce-on-plateau {recipe['reduce_lr']}",
            "epochs": fit["epochs_run"],
            "steps": fit["steps"],
            "optimizer": (
                f"SGD lr={cfg.lr} momentum={cfg.momentum}" if cfg.optimizer == "sgd"
                else f"Adam (Keras: eps 1e-7) lr={cfg.lr} weight_decay={cfg.weight_decay}"
            ) + f", constant learning rate, batch {cfg.batch_size}",
            "eval_split": "test",
            "seconds": round(fit["seconds"], 1),
            "notes": notes + (f" Training stopped: {fit['stopped']}." if fit["stopped"] else ""),
        }  # fmt: skip
        extra = {
            "metrics": metrics,
            "evaluation": card_evaluation(model, cfg.tag),
            "training": training,
            # per-epoch curves, one list per quantity (epoch 1 first)
            "history": {
                k: [round(h[k], 6) if isinstance(h[k], float) else h[k] for h in fit["history"]]
                for k in fit["history"][0]
                if k not in ("epoch", "seconds")
            },
        }
        zoo.save_pretrained(model, cfg.out, tag=cfg.tag, extra_config=extra)


def _like_model(t: Tensor, model: nn.Module) -> Tensor:
    """``t`` in the precision of ``model``'s parameters."""
    return t.to(next(model.parameters()).dtype)


def _build(cfg: TrainConfig) -> nn.Module:
    name, _, _tag = cfg.model.partition(".")
    return zoo.create_model(name, **cfg.model_kwargs)


# ------------------------------------------------------------------------------------------------ retina encoding
RETINA_IO = IOSpec(
    inputs=(
        TensorSpec(
            name="stimulus",
            shape=("B", "img_size", "img_size", "T"),
            description="the last T frames, channels-last (frame 0 the oldest)",
        ),
    ),
    output=TensorSpec(name="rates", shape=("B", "num_cells"), description="firing rates (counts per bin)"),
    description="a stimulus window [B, H, W, T] in, the firing rates of the cells in the next bin out",
)


class RetinaEncoding(_PluginTask):
    """Retina encoding: a stimulus window to the firing rates of ganglion cells (Poisson loss; CC, FEV, RMSE)."""

    name = "retina-encoding"
    io = RETINA_IO
    metrics = (
        Metric(name="cc", direction="higher", definition="Pearson correlation of predicted and recorded responses "
               "over time bins, per cell, mean over cells"),
        Metric(name="cc_population", direction="higher", definition="Pearson correlation of the population-mean "
               "predicted and recorded responses"),
        Metric(name="fev", direction="higher", definition="fraction of explained variance 1 - MSE / Var(response) "
               "per cell, mean over cells"),
        Metric(name="rmse", direction="lower", definition="root mean squared error per cell, mean over cells"),
        Metric(name="poisson_loss", direction="lower", definition="Keras' Poisson loss mean(r_hat - r ln(r_hat + "
               "1e-7)) over bins and cells"),
        Metric(name="cc_true_rate", direction="higher", definition="(simulated cells) Pearson correlation of "
               "predicted and true firing rates per cell, mean over cells"),
    )  # fmt: skip
    default_dataset = "retina_white_noise"

    def dataset_kwargs(self, model: nn.Module, name: str) -> dict[str, Any]:
        args = getattr(model, "zoo_args", {}) or {}
        info = zoo.model_info(model.zoo_name) if getattr(model, "zoo_name", None) else None
        io = (info.io if info else None) or self.io
        layout = "thw" if io.inputs[0].shape[1] == "T" else "hwt"
        return {"T": int(args.get("T", 20)), "layout": layout}

    def evaluate(self, model: nn.Module, data: Dataset, **options: Any) -> dict[str, Any]:
        """Metrics of ``model`` on ``data`` (items ``(x, y)`` or ``(x, y, true rate)``), in ``dtype``."""
        self.check_spikes(options)
        self.check_data(model, data)
        dtype = options.get("dtype")
        model = cast_model(model, dtype).eval()
        preds, ys, rates = [], [], []
        seconds = 0.0
        with torch.no_grad():
            for batch in DataLoader(data, batch_size=options.get("batch_size", 256)):
                x = batch[0].double() if dtype == "float64" else batch[0]
                t0 = time.perf_counter()
                preds.append(model(x).double())
                seconds += time.perf_counter() - t0
                ys.append(batch[1].double())
                if len(batch) > 2:
                    rates.append(batch[2].double())
        if not preds:
            raise ConfigError(f"task {self.name!r}: the data set is empty")
        pred, y = torch.cat(preds), torch.cat(ys)
        metrics = retina_metrics(pred, y)
        report: dict[str, Any] = {"samples": int(y.shape[0]), "dtype": dtype, "metrics": metrics}
        report["cc_per_cell"] = cc_per_cell(pred, y).tolist()
        if rates:
            rate = torch.cat(rates)
            per = pearson(pred, rate)
            metrics["cc_true_rate"] = float(per[~torch.isnan(per)].mean())
            report["cc_true_rate_per_cell"] = per.tolist()
            # how well the true rate itself predicts the noisy responses: the ceiling of "cc"
            report["ceiling"] = {"cc": retina_metrics(rate, y)["cc"]}
        report["seconds"] = seconds
        return report

    def format_report(self, title: str, report: dict[str, Any]) -> list[str]:
        lines = super().format_report(title, report)
        if "ceiling" in report:
            lines.append(f"  {'ceiling cc':<18}{report['ceiling']['cc']:.4g}  (true rate vs responses)")
        return lines

    def describe_comparison(self, key: str) -> str:
        if key == "ceiling_cc":
            return (
                "CC of the true rates with the recorded responses (the best any model can reach), not a model"
            )
        if key.startswith("linear_"):
            return f"{key.removeprefix('linear_')} of the linear receptive-field baseline (ridge regression on the windows)"
        return ""

    def card_usage(self, full_name: str, args: dict[str, Any]) -> list[str]:
        if not all(k in args for k in ("img_size", "T", "num_cells")):
            return []
        n, t = args["img_size"], args["T"]
        shape = f"1, {t}, {n}, {n}" if "conv1_size" in args else f"1, {n}, {n}, {t}"
        return [
            f"x = torch.rand({shape}) - 0.5  # a stimulus window ({'frames first' if 'conv1_size' in args else 'frames last'})",
            f"rates = model(x)  # [B, {args['num_cells']}] firing rates",
        ]

    def check_model(self, who: str, model: nn.Module, inputs: Any, config: dict) -> None:
        """Firing rates are never negative (softplus outputs)."""
        with torch.no_grad():
            for _, x in inputs:
                if bool((model.eval()(x) < 0).any()):
                    raise AssertionError(
                        f"{who}: check 'rates >= 0' failed: a predicted firing rate is negative"
                    )

    def bad_inputs(self, x: Tensor) -> list[tuple[str, Tensor]]:
        return [("a window with one frame too many", torch.cat([x, x[..., :1]], -1))]

    def memory_probe(self, model: nn.Module, batch: Any) -> Tensor:
        """The training loss on ``batch`` (the core's resource guard dry-runs it)."""
        x, y = (_like_model(t, model) for t in batch[:2])
        pred, penalty = model.training_outputs(x)
        return poisson_loss(pred, y) + penalty

    def train(
        self, cfg: TrainConfig, command: str | None = None, return_model: bool = False
    ) -> dict[str, Any]:
        """Poisson loss with the model's regularisers, the recipe's callbacks; then test metrics in float64 and
        the linear baseline, and (``cfg.out``) the weight folder."""
        model, recipe, dataset, train_set, test_set, fit, report = self.fit_and_test(
            cfg, poisson_loss, "retina encoders train"
        )
        metrics = dict(report["metrics"])
        if "ceiling" in report:
            metrics["ceiling_cc"] = report["ceiling"]["cc"]
        metrics.update(self.linear_baseline(train_set, test_set))
        notes = (
            "Rates predicted for the bin after each window; metrics on the test split in float64. cc_true_rate: "
            "CC with the simulator's true rates; ceiling_cc: CC of the true rates with the Poisson responses; "
            "linear_*: a linear receptive-field model (ridge regression, lambda 1e-2 x mean diagonal of X'X) "
            "fitted on the same training windows."
        )
        return self.finish(
            cfg, model, dataset, test_set, fit, report, metrics, recipe, command, notes, return_model
        )

    @staticmethod
    def linear_baseline(train_set: Dataset, test_set: Dataset, max_features: int = 4096) -> dict[str, float]:
        """CC (and, with true rates, CC vs the rates) of a ridge-regression linear model fitted on the training
        windows; ``{}`` when the windows hold more than ``max_features`` values."""
        x0 = train_set[0][0]
        if x0.numel() > max_features:
            return {}
        tr, te = stack_dataset(train_set), stack_dataset(test_set)
        w = ridge_fit(tr[0], tr[1])
        pred = ridge_predict(w, te[0])
        m = retina_metrics(pred, te[1])
        out = {f"linear_{k}": m[k] for k in ("cc", "cc_population", "fev", "rmse")}
        if len(te) > 2:
            out["linear_cc_true_rate"] = retina_metrics(pred, te[2])["cc"]
        return out


# ------------------------------------------------------------------------------------------------ decoding
DECODING_IO = IOSpec(
    inputs=(
        TensorSpec(
            name="spikes",
            shape=("B", "num_cells"),
            kind="unit",
            description="spike counts min-max scaled to [0, 1] per cell",
        ),
    ),
    output=TensorSpec(
        name="image", shape=("B", "img_size", "img_size", 1), description="channels-last image"
    ),
    description="scaled spike counts [B, num_cells] in, the image [B, S, S, 1] out",
)


class SpikeImageDecoding(_PluginTask):
    """Spike-image decoding: spike counts of a cell population to the image they saw (MSE, PSNR, SSIM)."""

    name = "spike-image-decoding"
    io = DECODING_IO
    metrics = (
        Metric(name="mse", direction="lower", definition="mean squared error over pixels, mean over images"),
        Metric(name="psnr", direction="higher", definition="10 log10(1 / MSE) per image (data range 1), mean "
               "over images"),
        Metric(name="ssim", direction="higher", definition="scikit-image (< 0.19) SSIM on float images: 7x7 "
               "uniform window, data range 2, no clipping; mean over images"),
    )  # fmt: skip
    default_dataset = "digits_spikes"

    def dataset_kwargs(self, model: nn.Module, name: str) -> dict[str, Any]:
        args = getattr(model, "zoo_args", {}) or {}
        return {k: int(args[k]) for k in ("num_cells", "img_size") if k in args}

    def evaluate(self, model: nn.Module, data: Dataset, **options: Any) -> dict[str, Any]:
        """MSE, PSNR and SSIM of ``model`` and of the mean-image baseline (the data's ``mean_image``, else the
        mean of ``data``'s images)."""
        self.check_spikes(options)
        self.check_data(model, data)
        dtype = options.get("dtype")
        model = cast_model(model, dtype).eval()
        preds, ys = [], []
        seconds = 0.0
        with torch.no_grad():
            for x, y in DataLoader(data, batch_size=options.get("batch_size", 256)):
                x = x.double() if dtype == "float64" else x
                t0 = time.perf_counter()
                preds.append(model(x).double())
                seconds += time.perf_counter() - t0
                ys.append(y.double())
        if not preds:
            raise ConfigError(f"task {self.name!r}: the data set is empty")
        pred, y = torch.cat(preds), torch.cat(ys)
        mean_image = getattr(data, "mean_image", None)
        mean_image = y.mean(0) if mean_image is None else mean_image.double()
        model_m = image_metrics(pred, y)
        base_m = image_metrics(mean_image.expand_as(y), y)
        return {
            "samples": int(y.shape[0]),
            "dtype": dtype,
            "metrics": {k: float(v.mean()) for k, v in model_m.items()},
            "mean_image": {k: float(v.mean()) for k, v in base_m.items()},
            "seconds": seconds,
        }

    def format_report(self, title: str, report: dict[str, Any]) -> list[str]:
        lines = [title, f"  {'metric':<8}{'model':>12}{'mean image':>12}"]
        base = report.get("mean_image", {})
        for m, v in report["metrics"].items():
            b = base.get(m)
            lines.append(f"  {m:<8}{v:>12.4f}" + (f"{b:>12.4f}" if b is not None else ""))
        return lines

    def describe_comparison(self, key: str) -> str:
        if key.startswith("mean_image_"):
            return (
                f"{key.removeprefix('mean_image_')} of predicting the training set's mean image (not a model)"
            )
        if key.startswith("linear_"):
            return (
                f"{key.removeprefix('linear_')} of a linear decoder (ridge regression from the scaled counts)"
            )
        if key.startswith("dense_"):
            return (
                f"{key.removeprefix('dense_')} of these weights' dense-decoder image (before the autoencoder)"
            )
        return ""

    def card_usage(self, full_name: str, args: dict[str, Any]) -> list[str]:
        if "num_cells" not in args or "img_size" not in args:
            return []
        s = args["img_size"]
        return [
            f"spikes = torch.rand(1, {args['num_cells']})  # spike counts scaled to [0, 1] per cell",
            f"image = model(spikes)  # [B, {s}, {s}, 1]",
        ]

    def bad_inputs(self, x: Tensor) -> list[tuple[str, Tensor]]:
        return [("one cell too many", torch.cat([x, x[:, :1]], 1))]

    def memory_probe(self, model: nn.Module, batch: Any) -> Tensor:
        """The training loss on ``batch`` (the core's resource guard dry-runs it)."""
        x, y = (_like_model(t, model) for t in batch[:2])
        return F.mse_loss(model(x), y)

    def train(
        self, cfg: TrainConfig, command: str | None = None, return_model: bool = False
    ) -> dict[str, Any]:
        """MSE on the output image (the official recipe supervises only the autoencoder's output); test metrics
        in float64 next to the mean-image baseline and a linear decoder; (``cfg.out``) the weight folder."""
        model, recipe, dataset, train_set, test_set, fit, report = self.fit_and_test(
            cfg, F.mse_loss, "the spike-image decoder trains"
        )
        metrics = dict(report["metrics"])
        metrics.update({f"mean_image_{k}": v for k, v in report["mean_image"].items()})
        tr, te = stack_dataset(train_set), stack_dataset(test_set)
        linear = ridge_predict(ridge_fit(tr[0], tr[1]), te[0]).view_as(te[1])
        metrics.update({f"linear_{k}": float(v.mean()) for k, v in image_metrics(linear, te[1]).items()})
        if hasattr(model, "forward_dense"):
            with torch.no_grad():
                dense = cast_model(model, CARD_DTYPE).eval().forward_dense(te[0].double())
            metrics.update({f"dense_{k}": float(v.mean()) for k, v in image_metrics(dense, te[1]).items()})
        notes = (
            "Metrics per test image, then averaged, in float64 (scikit-image < 0.19 conventions: PSNR with data "
            "range 1, SSIM with data range 2 and a 7x7 window, prediction not clipped). mean_image_*: predicting "
            "the training set's mean image; linear_*: a ridge-regression linear decoder from the same scaled "
            "counts; dense_*: the dense decoder's intermediate image of these weights."
        )
        return self.finish(
            cfg, model, dataset, test_set, fit, report, metrics, recipe, command, notes, return_model
        )
