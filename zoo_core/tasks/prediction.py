r"""Video prediction (task ``video-prediction``): OpenSTL's metrics, evaluation, a copy-last-frame baseline and
a training loop.

A prediction model takes the observed frames ``x`` ``[B, T_in, C, H, W]`` (in [0, 1]) and returns the next
``T_out`` frames ``[B, T_out, C, H, W]`` (:data:`PREDICTION_IO`). Metrics follow OpenSTL's
``metric`` (the protocol of the STC paper), on predictions ``P`` and targets ``Y`` of one frame ``[C, H, W]``:

* MSE per frame :math:`= \sum_{c,h,w} (P - Y)^2` and MAE per frame :math:`= \sum_{c,h,w} |P - Y|` -- sums over
  the pixels of a frame (not means), on the *unclipped* prediction; reported as the mean over samples and
  frames;
* then :math:`P` is clipped to [0, 1]; PSNR :math:`= -10 \log_{10} \frac{1}{CHW}\sum (P - Y)^2` (``inf`` for
  a perfect frame); SSIM as scikit-image 0.19's ``structural_similarity`` with its defaults on float images
  (7x7 uniform window, sample covariance, ``data_range = 2``, :math:`K_1 = 0.01, K_2 = 0.03`, mean over
  the valid window positions), averaged over channels; both averaged over samples and frames.

Only the ``T_out`` predicted frames count (the official test keeps the last ``aft_seq_length`` outputs), and the
prediction is fully autoregressive (no teacher forcing at test time). Per-frame curves (the mean over samples
at each future frame index) are reported too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from ..errors import ConfigError, InputError
from ..hub import save_pretrained
from ..info import IOSpec, Metric, TensorSpec, WeightInfo
from ..plugins import create, entry
from .base import (
    CARD_DTYPE,
    TRAIN_BASICS,
    Task,
    TrainConfig,
    card_evaluation,
    cast_input,
    cast_model,
    model_dtype,
    published_recipes,
)
from .training import build_model

__all__ = [
    "METRICS",
    "PREDICTION_IO",
    "SCHEDULED_SAMPLING",
    "VideoPrediction",
    "copy_last_frame",
    "evaluate_prediction",
    "frame_mae",
    "frame_mse",
    "frame_psnr",
    "frame_ssim",
    "prediction_dataset",
    "prediction_metrics",
    "prediction_notes",
    "train_prediction",
]

#: the metrics of the Moving MNIST / TaxiBJ protocol, in OpenSTL's order
METRICS = ("mse", "mae", "ssim", "psnr")

_FRAME = ("in_chans", "img_size", "img_size")
PREDICTION_IO = IOSpec(
    inputs=(TensorSpec(name="frames", shape=("B", "pre_seq_length", *_FRAME), kind="unit"),),
    output=TensorSpec(name="predicted_frames", shape=("B", "aft_seq_length", *_FRAME)),
    description="observed frames [B, T_in, C, H, W] in, the next T_out frames out (batch first, "
    "OpenSTL layout); no teacher forcing",
)


def _pair(pred: Tensor, true: Tensor) -> tuple[Tensor, Tensor]:
    pred, true = torch.as_tensor(pred), torch.as_tensor(true)  # numpy arrays (OpenSTL's layout) work too
    if pred.shape != true.shape or pred.dim() != 5:
        raise InputError(
            f"prediction metrics need pred and true of the same shape [N, T, C, H, W], got "
            f"{tuple(pred.shape)} and {tuple(true.shape)}"
        )
    return pred.double(), true.double()


def frame_mse(pred: Tensor, true: Tensor) -> Tensor:
    r"""``[N, T]``: :math:`\sum_{c,h,w} (P - Y)^2` per frame (unclipped ``pred``)."""
    p, y = _pair(pred, true)
    return (p - y).square().sum((2, 3, 4))


def frame_mae(pred: Tensor, true: Tensor) -> Tensor:
    r"""``[N, T]``: :math:`\sum_{c,h,w} |P - Y|` per frame (unclipped ``pred``)."""
    p, y = _pair(pred, true)
    return (p - y).abs().sum((2, 3, 4))


def frame_psnr(pred: Tensor, true: Tensor) -> Tensor:
    r"""``[N, T]``: :math:`-10 \log_{10}(\mathrm{mean}_{c,h,w} (\mathrm{clip}(P) - Y)^2)`; ``inf`` if equal."""
    p, y = _pair(pred, true)
    mse = (p.clamp(0, 1) - y).square().mean((2, 3, 4))
    return torch.where(mse > 0, -10 * torch.log10(mse), torch.full_like(mse, math.inf))


def frame_ssim(pred: Tensor, true: Tensor, win_size: int = 7, data_range: float = 2.0) -> Tensor:
    r"""``[N, T]``: SSIM of ``clip(pred, 0, 1)`` and ``true`` per frame, mean over channels.

    Per channel, with :math:`\mu, \sigma` the mean and sample (co)variance over a ``win_size`` square window
    (factor :math:`n/(n-1)`, :math:`n` = window pixels), :math:`C_1 = (0.01 R)^2`, :math:`C_2 = (0.03 R)^2`:

    .. math:: \mathrm{SSIM} = \frac{(2\mu_x\mu_y + C_1)(2\sigma_{xy} + C_2)}
              {(\mu_x^2 + \mu_y^2 + C_1)(\sigma_x^2 + \sigma_y^2 + C_2)}

    averaged over the window positions that lie fully inside the frame (scikit-image crops ``(win - 1)/2``
    pixels per side after a reflect-padded filter, which leaves exactly these positions). ``R = 2`` is
    scikit-image 0.19's default ``data_range`` for float images, which OpenSTL relies on.
    """
    p, y = _pair(pred, true)
    n, t, c, h, w = p.shape
    if h < win_size or w < win_size:
        raise InputError(f"frame_ssim: frames of {h}x{w} are smaller than the {win_size}x{win_size} window")
    x1 = p.clamp(0, 1).reshape(n * t * c, 1, h, w)
    x2 = y.reshape(n * t * c, 1, h, w)

    def filt(z: Tensor) -> Tensor:
        return F.avg_pool2d(z, win_size, stride=1)

    cov = win_size**2 / (win_size**2 - 1)
    ux, uy = filt(x1), filt(x2)
    vx = cov * (filt(x1 * x1) - ux * ux)
    vy = cov * (filt(x2 * x2) - uy * uy)
    vxy = cov * (filt(x1 * x2) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean((1, 2, 3)).reshape(n, t, c).mean(-1)


_FRAME_METRICS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mse": frame_mse,
    "mae": frame_mae,
    "ssim": frame_ssim,
    "psnr": frame_psnr,
}


def prediction_metrics(pred: Tensor, true: Tensor, metrics: tuple[str, ...] = METRICS) -> dict[str, float]:
    """The OpenSTL metrics of ``pred`` vs ``true`` ``[N, T, C, H, W]``: means over samples and frames."""
    unknown = [m for m in metrics if m not in _FRAME_METRICS]
    if unknown:
        raise ConfigError(f"unknown prediction metric(s) {unknown}; known: {', '.join(_FRAME_METRICS)}")
    return {m: float(_FRAME_METRICS[m](pred, true).mean()) for m in metrics}


def copy_last_frame(x: Tensor, aft_seq_length: int) -> Tensor:
    """The copy-last-frame baseline: the last observed frame repeated ``aft_seq_length`` times."""
    return x[:, -1:].expand(-1, aft_seq_length, *x.shape[2:])


@torch.no_grad()
def evaluate_prediction(
    model: nn.Module,
    data: Dataset,
    batch_size: int = 32,
    metrics: tuple[str, ...] = METRICS,
    baseline: bool = True,
    progress: bool = True,
    device: str | torch.device = "cpu",
    dtype: str | None = None,
) -> dict[str, Any]:
    """Metrics of ``model`` on ``data`` (``(x [T_in,C,H,W], y [T_out,C,H,W])`` samples), no teacher forcing;
    ``dtype="float64"`` evaluates a float64 copy of the model (see :func:`~zoo_core.tasks.classification.cast_model`).

    Returns ``{"samples", "metrics": {m: mean}, "per_frame": {m: [mean at frame k]}, "seconds"}`` and, with
    ``baseline``, the same for the copy-last-frame predictor under ``"copy_last_frame"`` /
    ``"copy_last_frame_per_frame"``.
    """
    from tqdm import tqdm  # progress bars load with the first evaluation

    model = cast_model(model, dtype).to(device).eval()
    sums: dict[str, dict[str, Tensor]] = {"model": {}, "copy": {}}
    total, seconds = 0, 0.0
    for x, y in tqdm(
        DataLoader(data, batch_size=batch_size),
        desc="predict",
        disable=None if progress else True,
        leave=False,
    ):
        x, y = cast_input(x, dtype).to(device), cast_input(y, dtype).to(device)
        t0 = time.perf_counter()
        pred = model(x)
        seconds += time.perf_counter() - t0
        if pred.shape != y.shape:
            raise InputError(
                f"evaluate_prediction: the model returned {tuple(pred.shape)} for targets {tuple(y.shape)}"
            )
        runs = [("model", pred)] + ([("copy", copy_last_frame(x, y.shape[1]))] if baseline else [])
        for who, p in runs:
            for m in metrics:
                v = _FRAME_METRICS[m](p, y).sum(0).cpu()
                sums[who][m] = sums[who][m] + v if m in sums[who] else v
        total += x.shape[0]
    if total == 0:
        raise ConfigError("evaluate_prediction: the data set is empty")

    def summary(s: dict[str, Tensor]) -> tuple[dict[str, float], dict[str, list[float]]]:
        per = {m: (v / total).tolist() for m, v in s.items()}
        return {m: float((v / total).mean()) for m, v in s.items()}, per

    out: dict[str, Any] = {"samples": total, "dtype": dtype}
    out["metrics"], out["per_frame"] = summary(sums["model"])
    if baseline:
        out["copy_last_frame"], out["copy_last_frame_per_frame"] = summary(sums["copy"])
    out["seconds"] = seconds
    return out


#: scheduled sampling of the official recipe (OpenSTL PredRNN-style; the STC configs): eta starts at 1 and drops
#: by 2e-5 per iteration until iteration 50,000
SCHEDULED_SAMPLING = {
    "sampling_start_value": 1.0,
    "sampling_changing_rate": 2e-5,
    "sampling_stop_iter": 50_000,
}


def prediction_dataset(name: str, split: str, model_args: dict[str, Any], **kwargs: Any) -> Dataset:
    """The registered prediction data set ``name`` sized for a model: ``canvas = img_size``, the model's
    ``pre_seq_length`` / ``aft_seq_length`` and ``digit_scale = clip(canvas // 16, 1, 3)`` unless ``kwargs`` say
    otherwise."""
    if name == "moving_digits":
        canvas = int(kwargs.get("canvas", model_args.get("img_size", 32)))
        kwargs = {
            "canvas": canvas,
            # digits of about 3/8 of the canvas, like Moving MNIST's 28 px on 64: 16 px on 32, 24 px on 64
            "digit_scale": max(1, min(3, canvas // 16)),
            "pre_seq_length": int(model_args.get("pre_seq_length", 5)),
            "aft_seq_length": int(model_args.get("aft_seq_length", 5)),
            **kwargs,
        }
    return create("dataset", name, split=split, **kwargs)


def train_prediction(
    cfg: TrainConfig, command: str | None = None, return_model: bool = False
) -> dict[str, Any]:
    r"""Train a registered video predictor with BPTT and write a weight folder (``cfg.out``).

    ``cfg`` is a :class:`zoo_core.tasks.TrainConfig`. Each iteration draws ``batch_size`` training sequences
    ``[x, y]`` and minimises the official loss, the MSE of ``model.rollout`` (all ``T_in + T_out - 1``
    next-frame predictions) against ``frames[:, 1:]``, with Adam (``lr``, ``weight_decay``) and a cosine
    schedule over all steps. Scheduled sampling: the ground-truth frame replaces the model's previous
    prediction with probability :math:`\eta` per sample and step, :math:`\eta` = ``sampling_start_value``
    minus ``sampling_changing_rate`` per iteration (0 after ``sampling_stop_iter``); these come from
    ``cfg.rule_kwargs`` (defaults: the official 1.0, 2e-5, 50,000); ``cfg.dataset`` defaults to
    ``moving_digits``. The card records the test metrics next to the copy-last-frame baseline's.
    """
    from tqdm import tqdm  # progress bars load with the first training

    if cfg.learning_rule != "bptt":
        raise ConfigError(f"prediction models train with BPTT only, got learning rule {cfg.learning_rule!r}")
    unknown = sorted(set(cfg.rule_kwargs) - set(SCHEDULED_SAMPLING))
    if unknown:
        raise ConfigError(
            f"unknown rule kwargs {unknown} for prediction training; known: {', '.join(SCHEDULED_SAMPLING)}"
        )
    ss = {**SCHEDULED_SAMPLING, **cfg.rule_kwargs}
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, **cfg.model_kwargs)
    args = dict(model.zoo_args)
    task = VideoPrediction()
    dataset = task.accept_dataset(cfg.dataset or VideoPrediction.default_dataset)
    ds_kwargs = {"seed": cfg.seed}
    train_set = prediction_dataset(dataset, "train", args, **ds_kwargs)
    test_set = prediction_dataset(dataset, "test", args, **ds_kwargs)
    task.check_memory(
        f"zoo train {cfg.model}",
        model,
        train_set,
        cfg.batch_size,
        training=True,
        force=cfg.force,
        smaller=published_recipes(cfg.model),
    )
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = -(-len(train_set) // cfg.batch_size)
    total = cfg.epochs * per_epoch if cfg.max_steps is None else min(cfg.max_steps, cfg.epochs * per_epoch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total))
    g = torch.Generator().manual_seed(cfg.seed)
    aft = int(args["aft_seq_length"])
    history: list[dict[str, float]] = []
    step, t0 = 0, time.perf_counter()
    bar = tqdm(total=total, desc="train", disable=None if cfg.verbose else True, leave=False)
    model.train()
    while step < total:
        for x, y in DataLoader(train_set, batch_size=cfg.batch_size, shuffle=True, generator=g):
            frames = torch.cat([x, y], 1)
            eta = max(0.0, ss["sampling_start_value"] - ss["sampling_changing_rate"] * step)
            eta = eta if step < ss["sampling_stop_iter"] else 0.0
            mask = (torch.rand(x.shape[0], aft - 1, generator=g) < eta).to(frames.dtype)
            loss = F.mse_loss(model.rollout(frames, mask), frames[:, 1:])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            history.append({"step": step, "loss": loss.item()})
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            step += 1
            if step >= total:
                break
    bar.close()
    seconds = time.perf_counter() - t0
    model.eval()
    report = evaluate_prediction(model, test_set, progress=cfg.verbose, dtype=CARD_DTYPE)
    result: dict[str, Any] = {"steps": step, "seconds": seconds, "history": history, **report}
    if cfg.verbose:
        print(_format_report(report), flush=True)
    if cfg.out:
        ds_cfg = {k: v for k, v in getattr(test_set, "config", {}).items() if k != "split"}
        training = {
            "command": command or "",
            "dataset": dataset,
            "dataset_kwargs": ds_cfg,
            "dataset_name": entry("dataset", dataset).info.title or dataset,
            "split": f"train split generated on the fly ({len(train_set)} sequences), test split "
            f"{len(test_set)} fixed sequences of held-out digit images",
            "seed": cfg.seed,
            "learning_rule": f"bptt, loss MSE over all next-frame predictions, scheduled sampling {ss}",
            "steps": step,
            "optimizer": f"Adam lr={cfg.lr} weight_decay={cfg.weight_decay}, cosine schedule, batch {cfg.batch_size}",
            "eval_split": "test",
            "seconds": round(seconds, 1),
            "notes": prediction_notes(args),
        }
        metrics = {**report["metrics"], **{f"copy_last_{k}": v for k, v in report["copy_last_frame"].items()}}
        extra = {
            "T": int(args["pre_seq_length"]) + aft - 1,
            "metrics": metrics,
            "per_frame": {
                "model": report["per_frame"],
                "copy_last_frame": report["copy_last_frame_per_frame"],
            },
            "evaluation": card_evaluation(model, cfg.tag),
            "training": training,
        }
        save_pretrained(model, cfg.out, tag=cfg.tag, extra_config=extra)
        if cfg.verbose:
            print(f"wrote {cfg.out}", flush=True)
    if return_model:
        result["model"] = model
    return result


def prediction_notes(args: dict[str, Any]) -> str:
    """The card note of a trained predictor: its size and how to read the metrics."""
    size = ", ".join(
        f"{k}={args[k]}" for k in ("num_hidden", "img_size", "pre_seq_length", "aft_seq_length") if k in args
    )
    return (
        f"trained at {size}; mse/mae are per-frame sums over C x H x W (unclipped), ssim/psnr use predictions "
        "clipped to [0, 1], means over test sequences and predicted frames (no teacher forcing); copy_last_* "
        "are the same metrics of the copy-last-observed-frame baseline on the same sequences"
    )


def _format_report(report: dict[str, Any]) -> str:
    """A small table: each metric for the model and the copy-last-frame baseline."""
    lines = [f"  {'metric':<8}{'model':>12}{'copy last':>12}"]
    base = report.get("copy_last_frame", {})
    for m, v in report["metrics"].items():
        b = base.get(m)
        lines.append(f"  {m:<8}{v:>12.4f}" + (f"{b:>12.4f}" if b is not None else ""))
    return "\n".join(lines)


class VideoPrediction(Task):
    """Predict the next frames of a video: OpenSTL's MSE, MAE, SSIM and PSNR next to the copy-last-frame baseline."""

    name = "video-prediction"
    io = PREDICTION_IO
    metrics = (
        Metric(name="mse", direction="lower", definition="per-frame sum over C x H x W of the squared error "
               "(unclipped prediction), mean over sequences and predicted frames"),
        Metric(name="mae", direction="lower", definition="per-frame sum over C x H x W of the absolute error "
               "(unclipped prediction), mean over sequences and predicted frames"),
        Metric(name="ssim", direction="higher", definition="scikit-image 0.19 SSIM (7x7 uniform window, "
               "data_range 2) of the prediction clipped to [0, 1], mean over channels, frames and sequences"),
        Metric(name="psnr", direction="higher", definition="-10 log10 of the per-frame mean squared error of the "
               "prediction clipped to [0, 1], mean over frames and sequences"),
    )  # fmt: skip
    default_dataset = "moving_digits"

    def eval_data(
        self,
        model: nn.Module,
        *,
        dataset: str | None,
        split: str,
        weights: WeightInfo | None = None,
        weights_config: dict[str, Any] | None = None,
    ) -> tuple[str, Dataset]:
        """The data set and generator settings the weights were trained with (``training.dataset`` and
        ``training.dataset_kwargs`` of their ``config.json``), else ``dataset`` (default ``moving_digits``) sized
        for the model (:func:`prediction_dataset`)."""
        training = (weights_config or {}).get("training") or {}
        name = dataset or training.get("dataset") or self.default_dataset
        kwargs = dict(training.get("dataset_kwargs") or {}) if name == training.get("dataset") else {}
        return name, prediction_dataset(
            self.accept_dataset(name), split, getattr(model, "zoo_args", {}), **kwargs
        )

    def evaluate(self, model: nn.Module, data: Dataset, **options: Any) -> dict[str, Any]:
        """:func:`evaluate_prediction` (``spikes`` is not used: predictors are not profiled here)."""
        if options.pop("per_step", False):
            raise ConfigError(f"task {self.name!r}: --per-step is the accuracy curve of classifiers")
        spikes = options.pop("spikes", "binary")
        if spikes != "binary":
            raise ConfigError(f"task {self.name!r}: --spikes {spikes} applies to classifiers' profiles only")
        return evaluate_prediction(model, data, **options)

    def format_report(self, title: str, report: dict[str, Any]) -> list[str]:
        lines = [
            title.replace("samples)", "sequences)"),
            f"  {'metric':<8}{'model':>12}{'copy last frame':>17}",
        ]
        for m, v in report["metrics"].items():
            lines.append(f"  {m:<8}{v:>12.4f}{report['copy_last_frame'][m]:>17.4f}")
        lines.append(
            "  MSE / MAE: per-frame sums over C x H x W (unclipped); SSIM / PSNR on clipped predictions"
        )
        lines.append("  per future frame (MSE): " + ", ".join(f"{v:.2f}" for v in report["per_frame"]["mse"]))
        if report.get("dtype"):
            lines.append(f"  evaluated in {report['dtype']}")
        return lines

    # -- pictures ----------------------------------------------------------------------------------------------
    def example_rows(
        self, model: nn.Module, data: Dataset, n: int | None = None
    ) -> list[tuple[str, Tensor] | tuple[str, Tensor, list[str]]]:
        """Four rows per sequence, for the first ``n`` (default 2): the observed frames, the true future, the
        predicted future (clipped to [0, 1], no teacher forcing) and the copy-last-frame baseline; the two
        predictions are captioned with each frame's MSE (the task's per-frame sum over C x H x W)."""
        n = min(2 if n is None else n, len(data))  # type: ignore[arg-type]
        if n < 1:
            raise ConfigError(f"task {self.name!r}: no sequences to show (an empty data set, or n < 1)")
        x, y = next(iter(DataLoader(Subset(data, range(n)), batch_size=n)))
        was = model.training
        try:
            with torch.no_grad():
                pred = model.eval()(x.to(model_dtype(model))).to(y.dtype)
        finally:
            model.train(was)
        if pred.shape != y.shape:
            raise InputError(
                f"example_rows: the model returned {tuple(pred.shape)} for targets {tuple(y.shape)}"
            )
        copy = copy_last_frame(x, y.shape[1])
        pre = x.shape[1]
        rows: list[tuple[str, Tensor] | tuple[str, Tensor, list[str]]] = []
        for i in range(n):
            seq = f" (sequence {i})" if n > 1 else ""
            rows += [
                (f"observed{seq}", x[i], [f"t={t + 1}" for t in range(pre)]),
                ("true future", y[i], [f"t={pre + t + 1}" for t in range(y.shape[1])]),
                ("predicted", pred[i].clamp(0, 1), [f"MSE {v:.1f}" for v in frame_mse(pred, y)[i].tolist()]),
                ("copy last frame", copy[i], [f"MSE {v:.1f}" for v in frame_mse(copy, y)[i].tolist()]),
            ]
        return rows

    # -- cards -------------------------------------------------------------------------------------------------
    def card_usage(self, full_name: str, args: dict[str, Any]) -> list[str]:
        if not all(k in args for k in ("pre_seq_length", "aft_seq_length", "in_chans", "img_size")):
            return []
        size = f"{args['in_chans']}, {args['img_size']}, {args['img_size']}"
        return [
            f"x = torch.rand(1, {args['pre_seq_length']}, {size})  # [B, T_in, C, H, W] observed frames in [0, 1]",
            f"y = model(x)  # [B, T_out, C, H, W]: the next {args['aft_seq_length']} frames",
        ]

    def describe_comparison(self, key: str) -> str:
        """``copy_last_<metric>``: the copy-last-observed-frame baseline on the same test sequences;
        ``<other>_<metric>``: another predictor measured on the same sequences (the card's notes name it)."""
        base, _, metric = key.partition("copy_last_")
        if not base and metric in METRICS:
            return f"{metric} of the copy-last-observed-frame baseline on the same sequences (not a model)"
        other, _, metric = key.rpartition("_")
        if other and metric in METRICS:
            return f"{metric} of another predictor ({other}; see the training notes) on the same sequences"
        return ""

    def memory_probe(self, model: nn.Module, batch: Any) -> Tensor:
        """The training loss (MSE of all next-frame predictions, no teacher forcing) on ``batch``."""
        x, y = batch
        frames = torch.cat([x, y], 1).to(model_dtype(model))
        mask = frames.new_zeros(frames.shape[0], y.shape[1] - 1)
        return F.mse_loss(model.rollout(frames, mask), frames[:, 1:])

    #: what :func:`train_prediction` takes (Adam and a cosine schedule, no warm-up, EMA, mixed precision,
    #: validation split, augmentation, checkpoints or DDP): ``zoo train`` refuses the other settings
    train_settings = TRAIN_BASICS | {"batch_size", "weight_decay"}

    def train(
        self, cfg: TrainConfig, command: str | None = None, return_model: bool = False
    ) -> dict[str, Any]:
        """:func:`train_prediction` (BPTT with scheduled sampling, single process)."""
        return train_prediction(cfg, command, return_model=return_model)
