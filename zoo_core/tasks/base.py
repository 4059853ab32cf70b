"""The task contract: what differs between image classification, video prediction, reconstruction, ...

A task is a registered component (``register_tasks`` hook, ``zoo.list_tasks()``). Everything in the core that
depends on what a model *does* asks its task: ``zoo eval`` (:meth:`Task.eval_data`, :meth:`Task.evaluate`,
:meth:`Task.format_report`), ``zoo train`` (:meth:`Task.train`), ``zoo robust-eval``
(:meth:`Task.robust_eval`), ``zoo plot frames`` / ``zoo.viz.examples`` (:meth:`Task.example_rows`), model
cards (:meth:`Task.card_usage`, :meth:`Task.card_own_metrics`,
:meth:`Task.card_results`, :meth:`Task.card_comparisons`) and the
conformance kit (:meth:`Task.check_model`, :meth:`Task.bad_inputs`). Nothing outside :mod:`zoo_core.tasks`
branches on a task's name, so a plugin that registers a task makes its models work with all of these without
touching the core.

A subclass sets the class attributes ``name`` (its registry name), ``io`` (the I/O spec its models default to),
``metrics`` (name, direction, definition), and overrides what its models need; the defaults below serve any
supervised ``(input, target)`` task whose metrics are reported as a table.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, Subset

from ..data import load_dataset
from ..errors import ConfigError
from ..hub import read_config, resolve_source
from ..hub.cards import format_number
from ..info import IOSpec, Metric, WeightInfo
from ..plugins import create, entry, runtime
from .resources import MemoryEstimate, check_fits

__all__ = [
    "CARD_DTYPE",
    "DTYPES",
    "OPTIMIZERS",
    "TRAIN_BASICS",
    "Task",
    "TrainConfig",
    "card_evaluation",
    "cast_input",
    "cast_model",
    "check_train_settings",
    "get_task",
    "model_dtype",
    "validation_problems",
]


DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: the precision cards' metrics are measured in (and ``zoo eval`` reproduces them in): float32 convolutions take
#: other kernels on other CPUs (AVX2, AVX-512), a few spikes flip and the metrics move in their last digits
CARD_DTYPE = "float64"


def card_evaluation(model: nn.Module, tag: str | None, spikes: str = "auto") -> dict[str, Any]:
    """The ``evaluation`` record of a card: how its metrics were measured and the command that reproduces them."""
    name = f"{getattr(model, 'zoo_name', 'MODEL')}.{tag or 'TAG'}"
    extra = f" --spikes {spikes}" if spikes != "auto" else ""
    return {"dtype": CARD_DTYPE, "spikes": spikes, "command": f"zoo eval {name} --pretrained{extra}"}


def cast_model(model: nn.Module, dtype: str | None) -> nn.Module:
    """``model`` itself (``dtype=None``), or a copy in ``dtype`` (``"float32"``/``"float64"``).

    Card metrics are measured in float64 where the card says so: float32 convolutions take different kernels on
    different CPUs (AVX2, AVX-512), a few spikes flip and the metrics move in their last digits; in float64 the
    same weights give the same metrics everywhere."""
    if dtype is None:
        return model
    if dtype not in DTYPES:
        raise ConfigError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    return copy.deepcopy(model).to(DTYPES[dtype])


def model_dtype(model: nn.Module) -> torch.dtype:
    """The floating dtype of ``model``'s first parameter (float32 for a model without parameters)."""
    return next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)


def cast_input(x: Tensor, dtype: str | None) -> Tensor:
    """``x`` in ``dtype`` when it holds floats (labels and integer inputs are left alone)."""
    return x.to(DTYPES[dtype]) if dtype is not None and x.is_floating_point() else x


OPTIMIZERS = ("adamw", "sgd")


class TrainConfig(BaseModel):
    """What ``zoo train`` / ``tools/train.py`` train and how (recorded in the weight folder's card).

    Validated when built, before any work starts: a bad value is a :class:`ConfigError` naming every wrong field
    and what it must be (``epochs >= 1``, ``lr > 0``, ...)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=(), arbitrary_types_allowed=True)

    model: str
    dataset: str | None = None
    learning_rule: str = "bptt"
    rule_kwargs: dict[str, Any] = Field(default_factory=dict)
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(64, ge=1)
    lr: float = Field(5e-3, gt=0, allow_inf_nan=False)
    weight_decay: float = Field(0.0, ge=0, allow_inf_nan=False)
    #: "adamw" or "sgd" (the papers' recipes: momentum, optionally Nesterov); cosine schedule either way
    optimizer: str = "adamw"
    momentum: float = Field(0.9, ge=0, lt=1)
    nesterov: bool = False
    seed: int = 0
    out: str | None = None
    tag: str | None = None
    num_workers: int = Field(0, ge=0)
    max_steps: int | None = Field(None, ge=1)
    log_json: str | None = None
    verbose: bool = True
    #: skip the resource guard (:mod:`zoo_core.tasks.resources`)
    force: bool = False
    #: linear warm-up over this many epochs (from ``warmup_lr``), then the cosine down to ``min_lr``
    warmup_epochs: float = Field(0.0, ge=0, allow_inf_nan=False)
    warmup_lr: float = Field(1e-5, gt=0, allow_inf_nan=False)
    min_lr: float = Field(0.0, ge=0, allow_inf_nan=False)
    #: weight decay on 1-D parameters (biases, normalisation weights) too; ``False``: timm's default, off for
    #: them. Parameters the model names in ``no_weight_decay()`` never decay.
    weight_decay_1d: bool = True
    #: keep an exponential moving average of the weights (``torch.optim.swa_utils``); it is what is validated
    #: and saved
    ema_decay: float | None = Field(None, gt=0, lt=1, allow_inf_nan=False)
    #: bfloat16 autocast in the training steps
    amp: bool = False
    #: hold out this share of the training split (seeded) to validate after every epoch and keep the best epoch
    val_fraction: float = Field(0.0, ge=0, lt=1, allow_inf_nan=False)
    #: augmentation (:mod:`zoo_core.data.augment`): timm's AutoAugment/RandAugment policy (image folders)
    auto_augment: str | None = None
    #: random-erasing probability per training sample
    reprob: float = Field(0.0, ge=0, le=1, allow_inf_nan=False)
    #: mixup and cutmix Beta alphas (0: off), the probability of mixing a batch, and of cutmix when both are on
    mixup: float = Field(0.0, ge=0, allow_inf_nan=False)
    cutmix: float = Field(0.0, ge=0, allow_inf_nan=False)
    mix_prob: float = Field(1.0, ge=0, le=1, allow_inf_nan=False)
    mix_switch_prob: float = Field(0.5, ge=0, le=1, allow_inf_nan=False)
    #: SpikingResformer's augmentation of event frames (:class:`zoo_core.data.augment.DVSAugment`)
    dvs_augment: bool = False
    #: the registered recipe these settings started from (recorded in the card)
    recipe: str | None = None
    #: the run folder (log and checkpoints, :mod:`zoo_core.tasks.checkpoints`)
    run_dir: str | None = None
    #: continue the run in ``run_dir`` from its last checkpoint
    resume: bool = False

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(f"invalid training settings: {validation_problems(exc)}") from None

    @model_validator(mode="after")
    def _consistent(self) -> TrainConfig:
        if self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"warmup_epochs ({self.warmup_epochs}) must be fewer than epochs ({self.epochs})"
            )
        if self.resume and not self.run_dir:
            raise ValueError("resume needs the run folder to continue (run_dir)")
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        return self

    @field_validator("optimizer")
    @classmethod
    def _known_optimizer(cls, v: str) -> str:
        if v not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {v!r}")
        return v


#: settings every training loop takes, that only label the run, or that skip a guard a loop may not have
ALWAYS_HONOURED = frozenset({"model", "recipe", "verbose", "force"})
#: what a minimal training loop of its own takes (``Task.train_settings = TRAIN_BASICS | {...}``): the data set,
#: the learning rule and its kwargs, the model's kwargs, the length (epochs or steps), the learning rate, the seed
#: and where and under which tag the weights go
TRAIN_BASICS = frozenset(
    {
        "dataset",
        "learning_rule",
        "rule_kwargs",
        "model_kwargs",
        "epochs",
        "max_steps",
        "lr",
        "seed",
        "out",
        "tag",
    }
)


def check_train_settings(task: Task, cfg: TrainConfig) -> None:
    """Refuse settings ``task``'s training loop does not honour (:attr:`Task.train_settings`) when they are set
    away from their defaults: a ``ConfigError`` naming each, and what the loop honours."""
    honoured = task.train_settings
    if honoured is None:
        return
    ignored = [
        f"{name}={getattr(cfg, name)!r}"
        for name, field in TrainConfig.model_fields.items()
        if name not in honoured | ALWAYS_HONOURED
        and getattr(cfg, name) != field.get_default(call_default_factory=True)
    ]
    if ignored:
        raise ConfigError(
            f"task {task.name!r} trains without {', '.join(ignored)}: its training loop takes only "
            f"{', '.join(sorted(honoured))}; leave the others at their defaults"
        )


def validation_problems(exc: ValidationError) -> str:
    """``field: what is wrong (got value)`` for each problem pydantic found, joined by ``;``."""
    out = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        msg = err["msg"].removeprefix("Value error, ")
        out.append(f"{where}: {msg} (got {err.get('input')!r})" if "got" not in msg else f"{where}: {msg}")
    return "; ".join(out)


def _fmt(v: Any, digits: int = 4) -> str:
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


class Task:
    """Base class of tasks. Subclasses set ``name``, ``io`` and ``metrics`` and override what differs (a task
    with pictures of its outputs, e.g. reconstruction or decoding, overrides :meth:`example_rows`)."""

    #: the registry name (``register(Task.name, Task)``)
    name: ClassVar[str] = ""
    #: the I/O spec a model of this task has unless it declares its own
    io: ClassVar[IOSpec]
    #: what :meth:`evaluate` reports, in order
    metrics: ClassVar[tuple[Metric, ...]] = ()
    #: data set used when neither the command line nor the weights name one
    default_dataset: ClassVar[str | None] = None
    #: the Hugging Face Hub ``pipeline_tag`` of its models' cards (``None``: none fits)
    hub_pipeline_tag: ClassVar[str | None] = None
    #: :meth:`evaluate` profiles the model (firing rates, SOPs, energy) and takes ``spikes=`` / ``energy=``
    reports_energy: ClassVar[bool] = False
    #: the :class:`TrainConfig` settings :meth:`train` honours (``None``: every one). ``zoo train`` refuses any
    #: other set away from its default (:func:`check_train_settings`), so that none is silently ignored
    train_settings: ClassVar[frozenset[str] | None] = None

    # -- data --------------------------------------------------------------------------------------------------
    def dataset_names(self) -> list[str]:
        """Registered data sets made for this task."""
        reg = runtime().registries["dataset"]
        return [n for n in reg.names() if reg.get(n).info.task == self.name]  # type: ignore[attr-defined]

    def accept_dataset(self, name: str) -> str:
        """``name`` if the task can use it: a registered data set made for this task, or (for tasks that read
        folders) a path; a registered data set of another task is a :class:`ConfigError` naming the right ones."""
        reg = runtime().registries["dataset"]
        if name in reg and name not in self.dataset_names():
            raise ConfigError(
                f"data set {name!r} is made for the task {reg.get(name).info.task!r}, not {self.name!r}; data sets "  # type: ignore[attr-defined]
                f"for {self.name}: {', '.join(self.dataset_names()) or 'none registered'}"
            )
        return name

    def eval_dataset_name(
        self, dataset: str | None, weights: WeightInfo | None, weights_config: dict[str, Any] | None
    ) -> str:
        """The data set to evaluate on: ``dataset`` if given, else the one the weights name (their registry
        entry, then ``training.dataset`` of their ``config.json``), else :attr:`default_dataset` (``""``: none)."""
        trained_on = ((weights_config or {}).get("training") or {}).get("dataset")
        return dataset or (weights.dataset if weights else "") or trained_on or self.default_dataset or ""

    def eval_data(
        self,
        model: nn.Module,
        *,
        dataset: str | None,
        split: str,
        weights: WeightInfo | None = None,
        weights_config: dict[str, Any] | None = None,
    ) -> tuple[str, Dataset]:
        """``(data set name, data)`` to evaluate ``model`` on: ``dataset`` if given, else the data set of its
        weights, else :attr:`default_dataset`; a registered name or a folder (``zoo_core.data.load_dataset``)."""
        name = self.eval_dataset_name(dataset, weights, weights_config)
        if not name:
            raise ConfigError(
                f"task {self.name!r}: name a data set (--dataset); registered ones for this task: "
                f"{', '.join(self.dataset_names()) or 'none'}"
            )
        args = getattr(model, "zoo_args", {}) or {}
        # an image folder goes through the model's declared preprocessing (resize, crop, mean/std), the
        # pipeline its weights were trained with; registered data sets keep their own transforms
        zoo_name = getattr(model, "zoo_name", None)
        preprocessing = entry("model", zoo_name).info.preprocessing if zoo_name else None  # type: ignore[attr-defined]
        return name, load_dataset(
            self.accept_dataset(name),
            split,
            int(args.get("in_chans", 1)),
            args.get("img_size") or 8,
            preprocessing=preprocessing,
        )

    # -- evaluation --------------------------------------------------------------------------------------------
    def evaluate(self, model: nn.Module, data: Dataset, **options: Any) -> dict[str, Any]:
        """Metrics of ``model`` on ``data`` (a JSON-friendly dict with at least ``samples`` and ``metrics``)."""
        raise NotImplementedError(f"task {self.name!r} does not implement evaluate()")

    def format_report(self, title: str, report: dict[str, Any]) -> list[str]:
        """The lines ``zoo eval`` prints for a report of :meth:`evaluate` (default: one row per metric)."""
        lines = [title]
        for m in self.metrics:
            if m.name in report.get("metrics", {}):
                lines.append(f"  {m.name:<18}{_fmt(report['metrics'][m.name])}  ({m.direction} is better)")
        return lines

    def robust_eval(self, model: nn.Module, data: Dataset, **options: Any) -> dict[str, Any]:
        """Accuracy under adversarial attack (``zoo robust-eval``); tasks without such a protocol refuse."""
        raise ConfigError(f"task {self.name!r} has no adversarial evaluation; zoo robust-eval cannot run it")

    # -- pictures ----------------------------------------------------------------------------------------------
    def example_rows(
        self, model: nn.Module, data: Dataset, n: int | None = None
    ) -> list[tuple[str, Tensor] | tuple[str, Tensor, list[str]]]:
        """Rows of example images for ``zoo plot frames`` (:func:`zoo_core.viz.examples` draws them with
        :func:`zoo_core.viz.frames`): what ``model`` makes of the first ``n`` samples of ``data`` (``None``: a
        number that suits the task).

        Each row is ``(title, images)`` or ``(title, images, captions)``: ``images`` a ``[N, C, H, W]`` tensor
        with values in [0, 1] (``C`` = 1 grey, 3 RGB; other channel counts are shown as their mean), ``captions``
        one short string per image. Rows may hold different numbers of images. The built-in tasks show the
        inputs with the predicted and true labels (classification) and the observed frames, the true future,
        the predicted future and the copy-last-frame baseline (video prediction); a plugin task shows what its
        outputs are (decoded images of a reconstruction task, stimuli and decoded responses of a decoding task)
        by overriding this method. The model runs in eval mode under ``torch.no_grad()``; its mode is restored.
        Tasks without pictures refuse with a :class:`ConfigError`."""
        raise ConfigError(
            f"task {self.name!r} has no pictures; zoo plot frames cannot draw its models' outputs"
        )

    # -- training ----------------------------------------------------------------------------------------------
    def train(
        self, cfg: TrainConfig, command: str | None = None, return_model: bool = False
    ) -> dict[str, Any]:
        """Train ``cfg.model`` and (with ``cfg.out``) write a weight folder with its card."""
        raise ConfigError(f"task {self.name!r} has no training loop; zoo train cannot train its models")

    def memory_probe(self, model: nn.Module, batch: Any) -> Tensor:
        """A training loss of ``model`` on ``batch`` (a few samples, as the task's data loader yields them; cast
        to the model's precision): the resource guard's dry run (:mod:`zoo_core.tasks.resources`). A task that
        does not override it is not checked."""
        raise NotImplementedError

    def check_memory(
        self,
        what: str,
        model: nn.Module,
        data: Dataset,
        batch_size: int,
        training: bool,
        force: bool = False,
        smaller: str = "",
        dtype: str | None = None,
        step: Callable[[nn.Module, Any], object] | None = None,
    ) -> MemoryEstimate | None:
        """Refuse (:class:`ConfigError`) a run of ``model`` on batches of ``data`` that would not fit in memory
        (:func:`zoo_core.tasks.resources.check_fits`), dry-running two samples: :meth:`memory_probe` (and its
        loss's backward when ``training``), or ``step(model, batch)`` where given (e.g. a learning rule's whole
        training step). A no-op for a task without a probe."""
        if step is None and type(self).memory_probe is Task.memory_probe:  # type: ignore[comparison-overlap]
            return None
        n = min(2, len(data))  # two: batch norm in training mode needs more than one value per channel
        if n == 0:
            return None
        batch = next(
            iter(
                DataLoader(Subset(data, range(n)), batch_size=n, collate_fn=getattr(data, "collate_fn", None))
            )
        )

        def run(m: nn.Module) -> None:
            if step is not None:
                step(m, batch)
                return
            loss = self.memory_probe(m, batch)
            if training:
                loss.backward()

        return check_fits(
            what,
            model,
            run,
            batch_size,
            training=training,
            samples=n,
            force=force,
            smaller=smaller,
            dtype=DTYPES[dtype] if dtype else None,
        )

    # -- cards -------------------------------------------------------------------------------------------------
    def card_usage(self, full_name: str, args: dict[str, Any]) -> list[str]:
        """Python lines of the card's usage example after ``model = zoo.create_model(...)``."""
        return []

    def card_own_metrics(self, config: dict[str, Any]) -> dict[str, float]:
        """This model's own results in a weight folder's ``config.json``: the numbers of its ``metrics`` named like
        one of the metrics this task declares (:attr:`metrics`, in that order). Only these go into the card's
        model-index; every other recorded number is a comparison (:meth:`card_comparisons`). A plugin controls
        the split by the names it records (and a plugin task by the metrics it declares, or by overriding this)."""
        recorded: dict[str, Any] = dict(config.get("metrics") or {})
        return {
            m.name: float(recorded[m.name])
            for m in self.metrics
            if isinstance(recorded.get(m.name), int | float) and not isinstance(recorded[m.name], bool)
        }

    def card_results(self, config: dict[str, Any]) -> list[str]:
        """The card's results section (Markdown lines) from a weight folder's ``config.json``: a table of the
        model's own results (:meth:`card_own_metrics`), rounded for reading (full precision stays in
        ``config.json`` and the model-index)."""
        own = self.card_own_metrics(config)
        if not own:
            return ["No measured results recorded for these weights."]
        split = (config.get("training") or {}).get("eval_split", "test")
        return [
            "| measure | value |",
            "|---|---|",
            *(f"| {k} ({split}) | {format_number(v)} |" for k, v in own.items()),
        ]

    def describe_comparison(self, key: str) -> str:
        """What the recorded number ``key`` (not one of this task's metrics) is, for the card's table of
        baselines and comparisons; ``""`` when the task cannot tell (the training notes then say)."""
        return ""

    def card_comparisons(self, config: dict[str, Any]) -> list[str]:
        """The card's "Baselines and comparisons" section: every number of ``config.json["metrics"]`` that is not
        one of the model's own results (:meth:`card_own_metrics`) -- other models or settings measured beside it
        (baselines, ablations) and these weights measured under another protocol than the task's metrics (e.g.
        under adversarial attack). Never in model-index. ``[]`` when there are none."""
        own = self.card_own_metrics(config)
        split = (config.get("training") or {}).get("eval_split", "test")
        rest = {k: v for k, v in dict(config.get("metrics") or {}).items() if k not in own}
        if not rest:
            return []
        what = {k: self.describe_comparison(k) for k in rest}
        lines = [
            "Numbers recorded beside this model's own results. They are not its results in the task's terms, so "
            "the card's model-index does not hold them: baselines and ablations (other models or settings) "
            "and measurements of these weights under another protocol. "
            "The training notes below say how each was made.",
            "",
        ]
        if any(what.values()):
            lines += ["| measure | value | what it is |", "|---|---|---|"]
            lines += [f"| {k} ({split}) | {format_number(v)} | {what[k]} |" for k, v in rest.items()]
        else:
            lines += ["| measure | value |", "|---|---|"]
            lines += [f"| {k} ({split}) | {format_number(v)} |" for k, v in rest.items()]
        return lines

    # -- conformance -------------------------------------------------------------------------------------------
    def check_model(
        self, who: str, model: nn.Module, inputs: Sequence[tuple[Any, Tensor]], config: dict
    ) -> None:
        """Task-specific conformance checks beyond the kit's generic ones (raise ``AssertionError``)."""

    def bad_inputs(self, x: Tensor) -> list[tuple[str, Tensor]]:
        """Inputs a model of this task must refuse with a clear error, besides wrong rank and NaN:
        ``(description, tensor)`` pairs derived from a valid input ``x``."""
        return []


def get_task(name: str) -> Task:
    """The registered task ``name`` (``zoo.list_tasks()``)."""
    return create("task", name)  # type: ignore[no-any-return]


def published_recipes(model: str, limit: int = 1) -> str:
    """The training commands of published weight sets of ``model``'s family that ship locally (package or folder
    sources; nothing is downloaded), the most similar model names first: settings known to fit, for the resource
    guard's message."""
    reg = runtime().registries["model"]
    family = reg.get(model).info.family or model  # type: ignore[attr-defined]
    found: list[tuple[float, str]] = []
    for name in reg.names():
        info = reg.get(name).info
        if (info.family or name) != family:  # type: ignore[attr-defined]
            continue
        for tag, w in info.weights.items():  # type: ignore[attr-defined]
            if w.source.startswith("hf://"):
                continue
            try:
                command = (read_config(resolve_source(w.source)).get("training") or {}).get("command")
            except Exception:  # a broken folder must not hide the guard's own message
                continue
            if command:
                similarity = difflib.SequenceMatcher(None, model, name).ratio()
                found.append((-similarity, f"{name}.{tag} was trained with `{command}`"))
    return "; ".join(text for _, text in sorted(found)[:limit])
