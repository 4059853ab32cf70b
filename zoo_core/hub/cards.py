"""Model cards: ``README.md`` with Hub-conformant YAML front matter, generated from a weight folder's ``config.json``.

The front matter is built with ``huggingface_hub``'s :class:`~huggingface_hub.ModelCardData` (library_name,
license, tags including ``spiking-neural-network`` and ``arxiv:<id>`` of the paper, datasets, metrics, and a
``model-index``), so the Hub and ``huggingface_hub.ModelCard`` parse it. The body says what the model is, how to
load it, its T, its results and profile, the baselines measured beside it, how the weights were trained and the
paper's BibTeX. Every number comes from ``config.json``: nothing is typed in by hand, and
``tools/render_cards.py`` re-renders every shipped card from its ``config.json``.

What goes where (the rule a plugin controls through the metric names it records and its task):

* **model-index** holds only this model's own results in its task's terms: the numbers of
  ``config.json["metrics"]`` named like one of the metrics its task declares (``zoo.task_info(task).metrics``,
  e.g. ``accuracy``; ``mse``/``mae``/``ssim``/``psnr``), see :meth:`zoo_core.tasks.Task.card_own_metrics`, and
  only when the data set has a Hugging Face Hub id (:func:`hub_dataset_id`); the model-index ``dataset.type``
  must be a Hub dataset id, so results on data with none (scikit-learn digits, Moving digits) are stated in the
  body in plain text instead.
* **Baselines and comparisons** (a table in the body, never in model-index) holds every other number of
  ``config.json["metrics"]``: other models or settings (``copy_last_mse``, ``ann_accuracy``, ``lif_accuracy``)
  and these weights measured under another protocol than the task's metric (accuracy under adversarial attack,
  the paper's energy convention, a re-parameterised equivalent). Each row says what it is where the task knows
  (:meth:`zoo_core.tasks.Task.describe_comparison`); the training notes say the rest.

The body rounds to 4 significant digits (:func:`format_number`); ``config.json`` and model-index keep full
precision. The usage snippet loads the weights the card describes: ``zoo.create_model("hf://owner/repo")`` for a
card rendered for a Hub repo (``repo_id``; :func:`zoo_core.push_to_hub` re-renders a zoo-generated card for the
repo it publishes to), ``zoo.create_model("NAME.TAG", pretrained=True)`` for a registered weight set whose
checksum the folder matches, and ``zoo.load_pretrained(None, <folder>)`` otherwise. A folder re-saved from
loaded weights says where they came from (``config.json["provenance"]``, written by
:func:`zoo_core.hub.save_pretrained`).
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import WeightsError
from ..info import ModelInfo, Paper
from ..plugins import entry, runtime

LIBRARY_NAME = "zoo-core"
BASE_TAGS = ["spiking-neural-network", "snn", "neuromorphic", "zoo-core"]

#: Hugging Face Hub ids of well-known data sets, by the names weight sets record (``training.dataset``,
#: ``WeightInfo.dataset``); a registered data set can declare its own (``DatasetInfo.hub_id``). Data sets with
#: no Hub id (scikit-learn digits, Moving digits, CIFAR10-DVS) are named in the card's body only.
HUB_DATASETS: dict[str, str] = {
    "cifar10": "uoft-cs/cifar10",
    "cifar-10": "uoft-cs/cifar10",
    "cifar100": "uoft-cs/cifar100",
    "cifar-100": "uoft-cs/cifar100",
    "imagenet": "ILSVRC/imagenet-1k",
    "imagenet1k": "ILSVRC/imagenet-1k",
    "imagenet-1k": "ILSVRC/imagenet-1k",
    "mnist": "ylecun/mnist",
    "fashion_mnist": "zalando-datasets/fashion_mnist",
    "fashion-mnist": "zalando-datasets/fashion_mnist",
}

_ARXIV_URL = re.compile(
    r"arxiv\.org/(?:abs|pdf|html)/((?:\d{4}\.\d{4,5})|(?:[a-z\-]+(?:\.[A-Z]{2})?/\d{7}))(?:v\d+)?", re.I
)
_ARXIV_TAG = re.compile(r"arxiv:(?:\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})")
#: placeholder for a folder whose location the card cannot know (not registered, not published)
THIS_FOLDER = "path/to/this/folder"


def format_number(value: Any) -> str:
    """A number as a card's body shows it: 4 significant digits, whole numbers with thousands separators from
    1,000 on (``0.9916666666666667`` -> ``0.9917``, ``53539.41`` -> ``53,539``). Non-numbers print as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def arxiv_ids(paper: Paper) -> list[str]:
    """arXiv ids of the paper, from its URL (``https://arxiv.org/abs/2403.14302`` -> ``["2403.14302"]``;
    a version suffix is dropped)."""
    return [m.group(1) for m in _ARXIV_URL.finditer(paper.url or "")]


def hub_dataset_id(name: str | None) -> str | None:
    """The Hugging Face Hub id of the data set a weight set names, or ``None`` if it has none: a registered data
    set's own ``hub_id``, else :data:`HUB_DATASETS`."""
    if not name:
        return None
    reg = runtime().registries["dataset"]
    if name in reg:
        own = getattr(entry("dataset", name).info, "hub_id", "")
        if own:
            return str(own)
    return HUB_DATASETS.get(name.lower())


def paper_bibtex(paper: Paper) -> str:
    """The paper's BibTeX (its own when registered, else built from title, authors, venue and year)."""
    if paper.bibtex:
        return paper.bibtex.strip()
    first = re.sub(r"[^a-z]", "", (paper.authors[0].split(",")[0] if paper.authors else "anon").lower())
    word = re.sub(r"[^a-z]", "", paper.title.split()[0].lower()) if paper.title else "untitled"
    key = f"{first}{paper.year or ''}{word}"
    venue = paper.venue or ""
    is_journal = any(
        w in venue.lower() for w in ("journal", "transactions", "magazine", "advances", "frontiers")
    )
    fields = {
        "title": "{" + paper.title + "}",
        "author": " and ".join(paper.authors) or "Anonymous",
        ("journal" if is_journal else "booktitle"): venue or "arXiv",
        "year": str(paper.year or ""),
    }
    if paper.url:
        fields["url"] = paper.url
    body = ",\n".join(f"  {k} = {{{v}}}" for k, v in fields.items() if v)
    return f"@{'article' if is_journal else 'inproceedings'}{{{key},\n{body}\n}}"


def _data(config: dict[str, Any], info: ModelInfo, tag: str | None) -> dict[str, Any]:
    """The data set the results were measured on: registry name, pretty name, Hub id (or None), split."""
    training: dict[str, Any] = dict(config.get("training") or {})
    weights = info.weights.get(tag) if tag else None
    name = training.get("dataset") or (weights.dataset if weights else "") or ""
    registered = runtime().registries["dataset"]
    title = getattr(entry("dataset", name).info, "title", "") if name in registered else ""
    return {
        "name": name,
        "title": training.get("dataset_name") or title or name,
        "hub_id": hub_dataset_id(name),
        "split": training.get("eval_split", "test"),
    }


def _is_registered(name: str, tag: str | None, config: dict[str, Any], info: ModelInfo) -> bool:
    """Whether ``NAME.TAG`` with ``pretrained=True`` loads exactly these weights: the tag is registered and every
    checksum the registry records equals the folder's."""
    if not tag or tag not in info.weights:
        return False
    files = config.get("files") or {}
    return all(files.get(f) == sha for f, sha in info.weights[tag].sha256.items())


def _location(
    name: str, tag: str | None, config: dict[str, Any], info: ModelInfo, repo_id: str | None
) -> tuple[str, str]:
    """(Python line that loads these weights, ``zoo eval`` command that evaluates them)."""
    evaluation = config.get("evaluation") or {}
    # "binary" was the default before the neurons declared spike kinds (API 1.4); for 0/1 neurons it is "auto"
    spikes = (
        f" --spikes {evaluation['spikes']}"
        if evaluation.get("spikes", "auto") not in ("auto", "binary")
        else ""
    )
    if repo_id:
        return (
            f'model = zoo.create_model("hf://{repo_id}").eval()  # the model its config.json names, these weights',
            f"zoo eval hf://{repo_id}{spikes}",
        )
    full = f"{name}.{tag}" if tag else name
    if _is_registered(name, tag, config, info):
        return (
            f'model = zoo.create_model("{full}", pretrained=True).eval()',
            evaluation.get("command") or f"zoo eval {full} --pretrained{spikes}",
        )
    return (
        f'model = zoo.load_pretrained(None, "{THIS_FOLDER}").eval()  # this weight folder',
        f"zoo eval {name} --weights {THIS_FOLDER}{spikes}",
    )


def _provenance(config: dict[str, Any]) -> list[str]:
    """The paragraph on where re-saved weights came from (``config.json["provenance"]``)."""
    prov = config.get("provenance")
    if not isinstance(prov, dict):
        return []
    source = f"`{prov.get('source')}`" + (f" (tag `{prov['tag']}`)" if prov.get("tag") else "")
    sha = f"sha256 `{prov.get('sha256')}`" if prov.get("sha256") else "no recorded sha256"
    status = prov.get("weights")
    if status == "unchanged" and prov.get("carried"):
        how = "byte for byte" if prov.get("same_file") else "tensor for tensor (the file's bytes differ)"
        carried = ", ".join(f"`{k}`" for k in prov["carried"])
        return [
            f"Provenance: these weights are those loaded from {source}, {sha}, identical {how}. The records "
            f"{carried} of that folder were measured on those weights and carried over when they were re-saved.",
            "",
        ]
    if status == "changed":
        return [
            f"Provenance: derived from the weights loaded from {source}, {sha}, and changed since (e.g. "
            "fine-tuned). The results published with those weights were measured on other weights and are not "
            "carried over.",
            "",
        ]
    note = prov.get("note") or "nothing was carried over from it"
    return [f"Provenance: these weights are those loaded from {source}, {sha}; {note}.", ""]


def render_card(
    name: str,
    tag: str | None,
    config: dict[str, Any],
    info: ModelInfo,
    task: Any,
    *,
    repo_id: str | None = None,
) -> str:
    """Render the card of ``name.tag`` from its ``config.json`` content (``config``), its registry entry
    (``info``) and its task (a :class:`zoo_core.tasks.Task`: the usage example, the results, what goes into
    model-index and the comparisons). ``repo_id`` (``"owner/name"``): the Hub repo the card is published in;
    its usage snippet then loads ``hf://owner/name``."""
    from huggingface_hub import EvalResult, ModelCardData  # huggingface_hub loads only when a card is made

    full = f"{name}.{tag}" if tag else name
    data = _data(config, info, tag)
    own: dict[str, float] = task.card_own_metrics(config)
    eval_results = [
        EvalResult(
            task_type=info.task,
            dataset_type=data["hub_id"],
            dataset_name=data["title"] or data["hub_id"],
            dataset_split=data["split"],
            metric_type=k,
            metric_value=float(v),
        )
        for k, v in own.items()
        if data["hub_id"]
    ]
    card_data = ModelCardData(
        library_name=LIBRARY_NAME,
        license=config.get("license", "mit"),
        tags=[
            *BASE_TAGS,
            info.task,
            info.family or name.split("_")[0],
            *(f"arxiv:{a}" for a in arxiv_ids(info.paper)),
        ],
        datasets=[data["hub_id"]] if data["hub_id"] else None,
        metrics=list(own) or None,
        model_name=full,
        eval_results=eval_results or None,
        pipeline_tag=task.hub_pipeline_tag,
    )
    args = config.get("args", {})
    T = args.get("T", config.get("T"))
    params = config.get("parameters") or {}
    about = [f"{info.paper.venue} {info.paper.year}".strip()] if info.paper.year else []
    about += [f"[arXiv:{a}](https://arxiv.org/abs/{a})" for a in arxiv_ids(info.paper)]
    paper = f"*{info.paper.title}*" + (f" ({', '.join(about)})" if about else "")
    python_line, command = _location(name, tag, config, info, repo_id)
    lines = [
        "---",
        card_data.to_yaml(),
        "---",
        "",
        f"# {full}",
        "",
        f"{info.description or 'A spiking neural network'} (`{name}`, plugin `{info.plugin}`), from {paper}.",
        "",
        f"Task: {info.task}. "
        + (f"Time steps: T = {T}. " if T is not None else "")
        + (f"Classes: {args['num_classes']}. " if "num_classes" in args else "")
        + (
            f"Parameters: {params['total']:,} ({params['without_bn_affine']:,} without BatchNorm affine "
            "parameters, the convention of BN-folded counts). "
            if params
            else ""
        )
        + "Output: "
        + ((info.io.description if info.io else "") or "see the I/O spec")
        + ".",
        "",
        "## Usage",
        "",
        "```python",
        "import torch",
        "import zoo_core as zoo",
        "",
        python_line,
    ]
    lines += task.card_usage(full, args)
    lines += ["```", "", f"From the command line: `{command}`.", ""]
    lines += ["## Results", ""]
    if data["name"] and config.get("metrics"):
        where = f"{data['title']} (`{data['name']}`), {data['split']} split"
        if data["hub_id"]:
            lines += [
                f"Data: {where}; on the Hub: [{data['hub_id']}](https://huggingface.co/datasets/{data['hub_id']}).",
                "",
            ]
        else:
            lines += [
                f"Data: {where}. It has no Hugging Face Hub id, so these results are stated here and not in the "
                "card's model-index.",
                "",
            ]
    lines += [*task.card_results(config), ""]
    evaluation = config.get("evaluation") or {}
    if evaluation.get("dtype") and config.get("metrics"):
        lines += [
            f"Measured in {evaluation['dtype']}, so the numbers hold on any CPU (float32 kernels differ between "
            f"AVX2 and AVX-512 machines and flip a few spikes); `{command}` reproduces them.",
            "",
        ]
    lines += _provenance(config)
    comparisons = task.card_comparisons(config)
    if comparisons:
        lines += ["## Baselines and comparisons", "", *comparisons, ""]
    training: dict[str, Any] = dict(config.get("training") or {})
    lines += ["## Training", ""]
    if training:
        for key, label in (
            ("command", "Command"),
            ("dataset", "Data"),
            ("split", "Split"),
            ("seed", "Seed"),
            ("learning_rule", "Learning rule"),
            ("epochs", "Epochs"),
            ("optimizer", "Optimiser"),
            ("recipe", "Recipe"),
            ("augmentation", "Augmentation"),
            ("selection", "Weights kept"),
            ("seconds", "Training time (s)"),
            ("notes", "Notes"),
        ):
            if key in training:
                val = training[key]
                lines.append(f"- {label}: `{val}`" if key == "command" else f"- {label}: {val}")
        lines.append("")
    else:
        lines += ["Not recorded.", ""]
    lines += ["## Citation", "", "```bibtex", paper_bibtex(info.paper), "```", ""]
    return "\n".join(lines)


def parse_card(text: str) -> Any:
    """Parse a card with ``huggingface_hub.ModelCard`` and check the fields the zoo relies on: library name,
    the ``spiking-neural-network`` tag, a licence, well-formed ``arxiv:`` tags, Hub dataset ids (``datasets``
    and every model-index ``dataset.type``) and finite model-index values."""
    from huggingface_hub import ModelCard  # huggingface_hub loads only when a card is read
    from huggingface_hub.errors import HFValidationError  # as above
    from huggingface_hub.utils import validate_repo_id  # as above

    card = ModelCard(text)
    d = card.data.to_dict()
    problems = []
    if d.get("library_name") != LIBRARY_NAME:
        problems.append(f"library_name must be {LIBRARY_NAME!r}, got {d.get('library_name')!r}")
    tags = d.get("tags") or []
    if "spiking-neural-network" not in tags:
        problems.append("tags must include 'spiking-neural-network'")
    bad_arxiv = [t for t in tags if str(t).lower().startswith("arxiv:") and not _ARXIV_TAG.fullmatch(str(t))]
    if bad_arxiv:
        problems.append(f"malformed arXiv tags {bad_arxiv} (expected e.g. 'arxiv:2403.14302')")
    if not d.get("license"):
        problems.append("license is missing")
    datasets = d.get("datasets") or []
    ids = [datasets] if isinstance(datasets, str) else list(datasets)
    ids += [r.dataset_type for r in card.data.eval_results or []]
    for ds in ids:
        try:
            validate_repo_id(str(ds))
        except HFValidationError as exc:
            problems.append(f"dataset {ds!r} is not a Hugging Face Hub dataset id ({exc})")
    for r in card.data.eval_results or []:
        if isinstance(r.metric_value, bool) or not isinstance(r.metric_value, int | float):
            problems.append(f"model-index value of {r.metric_type!r} is not a number: {r.metric_value!r}")
        elif not math.isfinite(r.metric_value):
            problems.append(f"model-index value of {r.metric_type!r} is not finite: {r.metric_value!r}")
    if problems:
        raise WeightsError("invalid model card: " + "; ".join(problems))
    return card
