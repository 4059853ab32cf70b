"""Model cards: ``README.md`` with Hub-conformant YAML front matter, generated from registry metadata.

The front matter is built with ``huggingface_hub``'s :class:`~huggingface_hub.ModelCardData` (library_name,
license, tags including ``spiking-neural-network``, datasets, metrics, and a ``model-index`` with the measured
results), so the Hub and ``huggingface_hub.ModelCard`` parse it. The body says what the model is, how to use it,
its T, measured firing rate and energy, how the weights were trained (command, data split, seed) and the paper's
BibTeX. Every number comes from ``config.json`` of the weight folder: nothing is typed in by hand.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import WeightsError
from ..info import ModelInfo, Paper

LIBRARY_NAME = "zoo-core"
BASE_TAGS = ["spiking-neural-network", "snn", "neuromorphic", "zoo-core"]


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


def render_card(name: str, tag: str | None, config: dict[str, Any], info: ModelInfo, task: Any) -> str:
    """Render the card of ``name.tag`` from its ``config.json`` content (``config``), its registry entry
    (``info``) and its task (a :class:`zoo_core.tasks.Task`: the usage example and the results section)."""
    from huggingface_hub import EvalResult, ModelCardData  # huggingface_hub loads only when a card is made

    full = f"{name}.{tag}" if tag else name
    metrics: dict[str, float] = dict(config.get("metrics") or {})
    training: dict[str, Any] = dict(config.get("training") or {})
    dataset = training.get("dataset") or (tag.split("_")[0] if tag else "")
    eval_results = [
        EvalResult(
            task_type=info.task,
            dataset_type=dataset or "unknown",
            dataset_name=training.get("dataset_name") or dataset or "unknown",
            dataset_split=training.get("eval_split", "test"),
            metric_type=k,
            metric_value=float(v),
        )
        for k, v in sorted(metrics.items())
    ]
    data = ModelCardData(
        library_name=LIBRARY_NAME,
        license=config.get("license", "mit"),
        tags=[*BASE_TAGS, info.task, info.family or name.split("_")[0]],
        datasets=[dataset] if dataset else None,
        metrics=sorted(metrics) or None,
        model_name=full,
        eval_results=eval_results or None,
        pipeline_tag=task.hub_pipeline_tag,
    )
    args = config.get("args", {})
    T = args.get("T", config.get("T"))
    params = config.get("parameters") or {}
    lines = [
        "---",
        data.to_yaml(),
        "---",
        "",
        f"# {full}",
        "",
        f"{info.description or 'A spiking neural network'} (`{name}`, plugin `{info.plugin}`), from "
        f"*{info.paper.title}*" + (f" ({info.paper.venue} {info.paper.year})." if info.paper.year else "."),
        "",
        f"Task: {info.task}. Time steps: T = {T}. "
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
        f'model = zoo.create_model("{full}", pretrained=True).eval()',
    ]
    lines += task.card_usage(full, args)
    lines += ["```", "", f"From the command line: `zoo eval {full} --pretrained`.", ""]
    lines += ["## Results", "", *task.card_results(config), ""]
    evaluation = config.get("evaluation") or {}
    if evaluation.get("dtype"):
        lines += [
            f"Measured in {evaluation['dtype']}, so the numbers hold on any CPU (float32 kernels differ between "
            f"AVX2 and AVX-512 machines and flip a few spikes); `{evaluation.get('command', 'zoo eval')}` "
            "reproduces them.",
            "",
        ]
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
    """Parse a card with ``huggingface_hub.ModelCard`` and check the fields the zoo relies on."""
    from huggingface_hub import ModelCard  # huggingface_hub loads only when a card is read

    card = ModelCard(text)
    d = card.data.to_dict()
    problems = []
    if d.get("library_name") != LIBRARY_NAME:
        problems.append(f"library_name must be {LIBRARY_NAME!r}, got {d.get('library_name')!r}")
    if "spiking-neural-network" not in (d.get("tags") or []):
        problems.append("tags must include 'spiking-neural-network'")
    if not d.get("license"):
        problems.append("license is missing")
    if problems:
        raise WeightsError("invalid model card: " + "; ".join(problems))
    return card
