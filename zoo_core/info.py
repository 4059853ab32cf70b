"""Metadata carried by every registry entry (pydantic models).

A registered model, neuron, surrogate, learning rule, kernel, dataset or task answers three questions: who owns it
(``plugin``), where it comes from (``paper``) and how it is used by default (``defaults``). Models also declare
their ``task`` (a registered task, :mod:`zoo_core.tasks`) and an :class:`IOSpec` (the task's default unless the
model declares its own), which the conformance kit (:mod:`zoo_core.testing`) reads to build inputs and check
outputs.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import ConfigError


class Paper(BaseModel):
    """The publication a component comes from."""

    model_config = ConfigDict(frozen=True)

    title: str
    authors: list[str] = Field(default_factory=list)
    venue: str = ""
    year: int | None = None
    url: str | None = None
    bibtex: str | None = None

    def short(self) -> str:
        who = (
            self.authors[0].split(",")[0] + (" et al." if len(self.authors) > 1 else "")
            if self.authors
            else ""
        )
        where = ", ".join(str(p) for p in (self.venue, self.year) if p)
        return f"{self.title}" + (f" ({who}, {where})" if who or where else "")


#: Used for components the core ships that do not come from one paper.
ZOO_CORE_PAPER = Paper(
    title="zoo-core built-in", authors=["zoo-core developers"], venue="zoo-core", year=2026
)


class TensorSpec(BaseModel):
    """One tensor of a model's interface.

    ``shape`` lists dimensions: an ``int`` is fixed; a string is symbolic. ``"B"`` is the batch, ``"T"`` the
    number of time steps (read from the model's ``T`` argument); a name in ``free`` is a size the model takes
    whatever it is (an image's ``"H"`` and ``"W"`` for a fully convolutional model), with the size the conformance
    kit uses first (it also runs twice that); any other string names a constructor argument (``"in_chans"``,
    ``"img_size"``, ``"num_classes"``...) whose value is the size. ``kind`` says what values the tensor holds:
    ``real`` (any float), ``unit`` (floats in [0, 1], e.g. images), ``binary`` (0/1 spikes).
    """

    model_config = ConfigDict(frozen=True)

    name: str
    shape: tuple[int | str, ...]
    kind: Literal["real", "unit", "binary"] = "real"
    description: str = ""
    free: dict[str, int] = Field(
        default_factory=dict,
        description="free dimensions (plugin API 1.5): name in shape -> the size the conformance kit uses",
    )

    @model_validator(mode="after")
    def _check_free(self) -> TensorSpec:
        for d, size in self.free.items():
            if d in ("B", "T") or d not in self.shape:
                raise ValueError(
                    f"free dimension {d!r} must be a name in shape {self.shape} other than 'B', 'T'"
                )
            if isinstance(size, bool) or size < 1:
                raise ValueError(
                    f"free dimension {d!r}: the kit's size must be an integer >= 1, got {size!r}"
                )
        return self

    def resolve(
        self, config: dict[str, Any], batch: int = 2, sizes: dict[str, int] | None = None
    ) -> tuple[int, ...]:
        """Concrete shape for a model built with ``config``, a batch of ``batch`` and the free dimensions at
        ``sizes`` (default: their kit sizes)."""
        out = []
        for d in self.shape:
            if isinstance(d, int):
                out.append(d)
            elif d == "B":
                out.append(batch)
            elif d in self.free:
                out.append(int((sizes or {}).get(d, self.free[d])))
            else:
                if d not in config:
                    raise ConfigError(
                        f"tensor spec {self.name!r}: dimension {d!r} is not an argument of the model"
                        + (" (declare it in free= if the model takes any size)" if d != "T" else "")
                    )
                v = config[d]
                out.append(int(v[0] if isinstance(v, list | tuple) else v))
        return tuple(out)


class IOSpec(BaseModel):
    """A model's inputs (alternatives: each is one accepted input tensor) and its output."""

    model_config = ConfigDict(frozen=True)

    inputs: tuple[TensorSpec, ...]
    output: TensorSpec
    description: str = ""


class WeightInfo(BaseModel):
    """A published weight set (a tag after the model name, e.g. ``.digits_t4``)."""

    tag: str
    source: str = Field(
        description="'hf://owner/repo' or a local folder path (relative paths: to the repo root)"
    )
    revision: str | None = None
    sha256: dict[str, str] = Field(default_factory=dict, description="file name -> sha256 hex digest")
    dataset: str = ""
    metrics: dict[str, float] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict, description="constructor arguments of the weights")


class EntryInfo(BaseModel):
    """Metadata common to every registry entry (unknown fields are an error: a typo must not vanish)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str
    plugin: str = Field(
        description="owner: the plugin name, 'zoo_core', or the module of an in-process register"
    )
    paper: Paper = ZOO_CORE_PAPER
    defaults: dict[str, Any] = Field(default_factory=dict, description="defaults of the paper's main setting")
    description: str = ""


class ModelInfo(EntryInfo):
    kind: str = "model"
    family: str = ""
    #: a registered task (``zoo.list_tasks()``); registration checks it exists
    task: str = "image-classification"
    #: the model's interface; ``None`` at registration takes the task's default I/O spec
    io: IOSpec | None = None
    weights: dict[str, WeightInfo] = Field(default_factory=dict)
    #: how raw data becomes the model input (recorded in config.json), e.g. {"range": [0, 1], "mean": ...}
    preprocessing: dict[str, Any] = Field(default_factory=dict)
    #: overrides that make a CPU-sized instance for the conformance kit (e.g. a smaller img_size)
    test_config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("task")
    @classmethod
    def _task_non_empty(cls, v: str) -> str:
        if not v:
            raise ValueError("task must be a non-empty string such as 'image-classification'")
        return v

    @property
    def weight_tags(self) -> list[str]:
        return sorted(self.weights)


class NeuronInfo(EntryInfo):
    kind: str = "neuron"
    #: constructor overrides the conformance kit (:func:`zoo_core.testing.check_neuron`) builds the neuron with,
    #: e.g. ``{"T": 6}`` for a neuron whose buffers fix the number of time steps (the kit feeds ``T = 6``)
    test_config: dict[str, Any] = Field(default_factory=dict)


class SurrogateInfo(EntryInfo):
    kind: str = "surrogate"


class LearningRuleInfo(EntryInfo):
    kind: str = "learning_rule"
    category: Literal["training", "conversion", "regulariser", "other"] = "training"


class KernelInfo(EntryInfo):
    kind: str = "kernel"
    op: str
    devices: tuple[str, ...] = ("cpu", "cuda")
    priority: int = 0
    is_reference: bool = False


class DatasetInfo(EntryInfo):
    kind: str = "dataset"
    #: the task its samples are made for (a registered task)
    task: str = "image-classification"
    #: a human name for cards (e.g. "scikit-learn 8x8 digits"); the registry name when empty
    title: str = ""
    #: its Hugging Face Hub dataset id (e.g. "uoft-cs/cifar10"), named in cards' front matter and model-index;
    #: empty when it has none (then cards state its results in the body only)
    hub_id: str = ""


class Metric(BaseModel):
    """A metric a task reports: its name, whether higher or lower is better, and how it is computed."""

    model_config = ConfigDict(frozen=True)

    name: str
    direction: Literal["higher", "lower"]
    definition: str


class TaskInfo(EntryInfo):
    """A task (:mod:`zoo_core.tasks`): the I/O spec its models default to and the metrics it reports."""

    kind: str = "task"
    io: IOSpec
    metrics: tuple[Metric, ...] = ()
    #: the training settings its loop takes (``Task.train_settings``; ``None``: every one)
    train_settings: tuple[str, ...] | None = None


class CountingRuleInfo(EntryInfo):
    """A profiling rule (:func:`zoo_core.profiling.register_counting_rule`) for one module type.

    ``module_type`` is the qualified name (``"package.module.ClassName"``) of the ``nn.Module`` class the rule
    counts; a class may be passed and is stored by its qualified name. The rule applies to that type and its
    subclasses (the most specific registered type wins) and overrides the built-in conv/linear counting.
    """

    kind: str = "counting_rule"
    module_type: str

    @field_validator("module_type", mode="before")
    @classmethod
    def _qualified_name(cls, v: Any) -> Any:
        if isinstance(v, type):
            return f"{v.__module__}.{v.__qualname__}"
        if not isinstance(v, str) or not v.strip():
            raise ValueError(
                "module_type must be an nn.Module class or its qualified name 'package.module.ClassName', "
                f"got {v!r}"
            )
        return v


class RecipeInfo(EntryInfo):
    """A named training recipe (``zoo train MODEL --recipe NAME``): the settings of a paper's training run as
    ``zoo train`` options (:class:`zoo_core.tasks.TrainConfig` fields), the models it is for, where each number
    comes from and how a zoo run differs from the paper's."""

    kind: str = "recipe"
    #: TrainConfig fields (``epochs``, ``lr``, ``optimizer``, ``mixup``, ``rule_kwargs``, ``model_kwargs``...)
    settings: dict[str, Any]
    #: model names or fnmatch patterns (``spikingresformer_*``) the recipe trains
    models: tuple[str, ...] = ()
    #: where the numbers come from (paper section, official config file)
    source: str = ""
    #: what a zoo run does differently from the paper's (hardware, per-step schedule, ...)
    differences: str = ""
    #: the data it trains on when ``settings`` names no registered data set (``zoo train`` asks for --dataset)
    data: str = ""


#: how a synaptic call counts, per kind of input (:mod:`zoo_core.profiling`): ``"sops"``: the exact fan-out of
#: each non-zero input (one event each); ``"values"``: each input's absolute value times its fan-out
#: (value-weighted SOPs); ``"macs"``: dense multiply-accumulates
COUNT_MODES = ("sops", "values", "macs")
#: the kinds of input a synaptic call can have: a neuron's output of that spike kind, or ``"analog"`` (any other
#: input holding a value outside {0, 1}: images, pooled or scaled values)
INPUT_KINDS = ("binary", "graded", "real", "analog")


class EnergyConventionInfo(EntryInfo):
    """A named way to count synaptic operations and energy (``zoo.profile(..., energy=NAME)``,
    ``zoo eval --energy NAME``): how each kind of layer input counts, the energy per MAC and per SOP, and the
    layers left out of the totals. The core's ``zoo`` convention is the default; plugins register their papers'.
    """

    kind: str = "energy_convention"
    #: input kind (:data:`INPUT_KINDS`) -> count mode (:data:`COUNT_MODES`); kinds not named count as ``zoo``
    count: dict[str, str]
    #: energy per multiply-accumulate in pJ (0: the convention's energy has no MAC term)
    e_mac_pj: float = 4.6
    #: energy per synaptic operation in pJ, per input kind (kinds not named: ``e_sop_pj["binary"]``, or 0.9)
    e_sop_pj: dict[str, float] = Field(default_factory=lambda: {"binary": 0.9})
    #: layers left out of the totals: module paths or fnmatch patterns matched against the whole path
    #: (``"conv1"`` is not ``"layer1.0.conv1"``), ``"<first>"`` / ``"<last>"`` for the first / last counted
    #: layer of the pass (the stem, the classifier)
    exclude: tuple[str, ...] = ()
    #: model names or fnmatch patterns it was made for (cards of those models report it beside ``zoo``)
    models: tuple[str, ...] = ()
    #: where it comes from (paper section, official file), with READ / INFERRED marks
    source: str = ""

    @field_validator("count")
    @classmethod
    def _modes(cls, v: dict[str, str]) -> dict[str, str]:
        for k, m in v.items():
            if k not in INPUT_KINDS or m not in COUNT_MODES:
                raise ValueError(
                    f"count maps an input kind {INPUT_KINDS} to a mode {COUNT_MODES}; got {k!r}: {m!r}"
                )
        return v

    @field_validator("e_sop_pj")
    @classmethod
    def _energies(cls, v: dict[str, float]) -> dict[str, float]:
        for k, e in v.items():
            if k not in INPUT_KINDS or not isinstance(e, int | float) or e < 0 or e != e:
                raise ValueError(f"e_sop_pj maps an input kind {INPUT_KINDS} to pJ >= 0; got {k!r}: {e!r}")
        return v

    @field_validator("e_mac_pj")
    @classmethod
    def _mac(cls, v: float) -> float:
        if not v >= 0 or v == float("inf"):
            raise ValueError(f"e_mac_pj must be a finite number >= 0, got {v!r}")
        return v


class PluginInfo(BaseModel):
    """One discovered plugin and how its loading went."""

    name: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    api_version: str | None = None
    status: str = "ok"
    registered: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


INFO_CLASSES: dict[str, type[EntryInfo]] = {
    "model": ModelInfo,
    "neuron": NeuronInfo,
    "surrogate": SurrogateInfo,
    "learning_rule": LearningRuleInfo,
    "kernel": KernelInfo,
    "dataset": DatasetInfo,
    "counting_rule": CountingRuleInfo,
    "task": TaskInfo,
    "recipe": RecipeInfo,
    "energy_convention": EnergyConventionInfo,
}
