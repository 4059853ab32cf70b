"""Model cards that tell the truth: only the model's own results in model-index, baselines in the body, Hub
dataset ids or none, arXiv tags, rounded numbers, provenance kept on re-save, and a usage snippet that loads the
weights the card describes. Every shipped card is exactly what the renderer makes from its config.json."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file, save_file

import zoo_core as zoo
from zoo_core.errors import WeightsError
from zoo_core.hub import (
    CARD_NAME,
    CONFIG_NAME,
    WEIGHTS_NAME,
    arxiv_ids,
    folder_card,
    format_number,
    hub_dataset_id,
    parse_card,
    read_config,
    render_card,
    resolve_source,
)
from zoo_core.info import Paper

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("render_cards", ROOT / "tools" / "render_cards.py")
render_cards = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(render_cards)  # type: ignore[union-attr]

SHIPPED = render_cards.shipped_folders()


def _body(text: str) -> str:
    return text.split("\n---\n", 1)[1]


def _render(name: str, config: dict[str, Any], repo_id: str | None = None) -> str:
    info = zoo.model_info(name)
    return render_card(name, config.get("tag"), config, info, zoo.get_task(info.task), repo_id=repo_id)


# ------------------------------------------------------------------------------------------ shipped cards
def test_every_registered_package_weight_set_is_a_shipped_folder() -> None:
    """The renderer test below covers every demo weight set: each registered package:// source is listed."""
    assert len(SHIPPED) >= 10
    shipped = {p.resolve() for p in SHIPPED}
    for name in zoo.list_models(pretrained=True):
        base, tag = zoo.split_tag(name)
        w = zoo.model_info(base).weights[tag]
        if w.source.startswith("package://"):
            assert resolve_source(w.source).resolve() in shipped, name


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_card_is_the_rendering_of_its_config_and_validates(folder: Path) -> None:
    text = (folder / CARD_NAME).read_text()
    assert text == folder_card(folder), "stale card: run python tools/render_cards.py"
    card = parse_card(text)
    assert ModelCard(text).data.to_dict() == card.data.to_dict()
    cfg = read_config(folder)
    info = zoo.model_info(cfg["model"])
    own = [m.name for m in zoo.task_info(info.task).metrics]
    front = card.data.to_dict()
    # only the task's metrics are this model's results; the demo data sets have no Hub id, so no model-index
    assert set(front.get("metrics") or []) <= set(own)
    assert "model-index" not in front and not front.get("datasets")
    body = _body(text)
    assert "has no Hugging Face Hub id" in body
    for key, value in cfg["metrics"].items():
        row = f"| {key} (test) | {format_number(value)} |"
        assert row in body, row
        section = "## Baselines and comparisons" if key not in own else "## Results"
        assert body.index(section) < body.index(row)
        if key not in own:  # a comparison is never listed as a result
            assert body.index(row) > body.index("## Baselines and comparisons")
    # sensible rounding: no float with more than 6 decimals in the body outside the training record
    results = body[: body.index("## Training")]
    assert not re.search(r"\d\.\d{7,}", results), results
    for a in arxiv_ids(info.paper):
        assert f"arxiv:{a}" in front["tags"]
    if info.paper.url and "arxiv.org" in info.paper.url:
        assert any(t.startswith("arxiv:") for t in front["tags"])
    # the usage snippet loads the registered weight set, which is exactly this folder's
    assert f'zoo.create_model("{cfg["model"]}.{cfg["tag"]}", pretrained=True)' in body


def test_render_cards_tool_check_mode_finds_a_stale_card(tmp_path: Path, monkeypatch) -> None:
    src = SHIPPED[0]
    root = tmp_path / "repo"
    dst = root / "zoo_core" / "weights" / src.name
    shutil.copytree(src, dst)
    monkeypatch.setattr(render_cards, "ROOT", root)
    monkeypatch.setattr(render_cards, "shipped_folders", lambda: [dst])
    assert render_cards.main(["--check"]) == 0
    card = (dst / CARD_NAME).read_text()
    stale = card.replace("## ", "## (an edit by hand) ", 1)  # any drift from the rendered card
    assert stale != card
    (dst / CARD_NAME).write_text(stale)
    weights = (dst / WEIGHTS_NAME).read_bytes()
    assert render_cards.main(["--check"]) == 1
    assert render_cards.main([]) == 0 and (dst / CARD_NAME).read_text() == folder_card(dst)
    assert render_cards.main(["--check"]) == 0
    assert (dst / WEIGHTS_NAME).read_bytes() == weights


# ------------------------------------------------------------------------------------------ what goes where
def _cnn_config(**training: Any) -> dict[str, Any]:
    return {
        "model": "spiking_cnn",
        "tag": "cifar10_t4",
        "args": {"T": 4, "num_classes": 10, "in_chans": 3, "img_size": 32},
        "files": {WEIGHTS_NAME: "0" * 64},
        "metrics": {
            "accuracy": 0.9123456789,
            "ann_accuracy": 0.93,
            "fgsm_eps0.03_ensemble": 0.41,
            "max_abs_logit_diff_snn_ann": 3.552713678800501e-15,
        },
        "evaluation": {"dtype": "float64", "spikes": "auto", "command": "zoo eval spiking_cnn.cifar10_t4"},
        "training": {"dataset": "cifar10", "dataset_name": "CIFAR-10", "eval_split": "test", **training},
    }


def test_model_index_holds_only_the_tasks_metrics_on_a_hub_dataset() -> None:
    text = _render("spiking_cnn", _cnn_config())
    card = parse_card(text)
    results = card.data.eval_results
    assert [(r.metric_type, r.metric_value) for r in results] == [
        ("accuracy", 0.9123456789)
    ]  # full precision
    assert results[0].dataset_type == "uoft-cs/cifar10" and results[0].dataset_name == "CIFAR-10"
    assert results[0].task_type == "image-classification" and results[0].dataset_split == "test"
    front = card.data.to_dict()
    assert front["datasets"] == ["uoft-cs/cifar10"] and front["metrics"] == ["accuracy"]
    yaml = text.split("\n---\n", 1)[0]
    for baseline in ("ann_accuracy", "fgsm_eps0.03", "max_abs_logit_diff"):
        assert baseline not in yaml
    body = _body(text)
    assert "| accuracy (test) | 0.9123 |" in body
    comparisons = body[body.index("## Baselines and comparisons") : body.index("## Training")]
    assert "| ann_accuracy (test) | 0.93 |" in comparisons
    assert "| max_abs_logit_diff_snn_ann (test) | 3.553e-15 |" in comparisons
    # robust accuracy: these weights, under attack (the task says what the key means)
    assert (
        "| fgsm_eps0.03_ensemble (test) | 0.41 | these weights under FGSM attack, L-infinity eps = 0.03"
        in (comparisons)
    )
    assert "[uoft-cs/cifar10](https://huggingface.co/datasets/uoft-cs/cifar10)" in body


def test_prediction_baseline_is_a_comparison_and_has_no_model_index_without_hub_id() -> None:
    folder = resolve_source(
        zoo.model_info("spiking_predictor_stc_lif_mdigits").weights["moving_digits_5to5"].source
    )
    cfg = read_config(folder)
    text = _render("spiking_predictor_stc_lif_mdigits", cfg)
    assert parse_card(text).data.eval_results is None
    body = _body(text)
    results = body[body.index("## Results") : body.index("## Baselines and comparisons")]
    assert "| mse (test) | 48.11 |" in results and "copy_last" not in results
    assert "| copy_last_mse (test) | 102.5 | mse of the copy-last-observed-frame baseline" in body
    # the same results on a data set with a Hub id would be in model-index, the baselines still not
    cfg["training"]["dataset"] = "mnist"
    names = [
        r.metric_type for r in parse_card(_render("spiking_predictor_stc_lif_mdigits", cfg)).data.eval_results
    ]
    assert names == ["mse", "mae", "ssim", "psnr"]


def test_hub_dataset_ids_come_from_the_table_or_the_registered_dataset() -> None:
    assert hub_dataset_id("cifar100") == "uoft-cs/cifar100"
    assert hub_dataset_id("imagenet") == "ILSVRC/imagenet-1k"
    assert hub_dataset_id("digits") is None and hub_dataset_id("moving_digits") is None
    assert hub_dataset_id(None) is None and hub_dataset_id("/data/my_images") is None

    @zoo.register_dataset("fx_cards_mnist_like", hub_id="someone/fx-mnist-like")
    def fx(split: str = "train"):  # pragma: no cover - never built
        raise AssertionError

    try:
        assert hub_dataset_id("fx_cards_mnist_like") == "someone/fx-mnist-like"
        text = _render("spiking_cnn", _cnn_config(dataset="fx_cards_mnist_like"))
        assert parse_card(text).data.eval_results[0].dataset_type == "someone/fx-mnist-like"
    finally:
        zoo.unregister("dataset", "fx_cards_mnist_like")


def test_arxiv_ids_from_paper_urls() -> None:
    def ids(url: str | None) -> list[str]:
        return arxiv_ids(Paper(title="x", url=url))

    assert ids("https://arxiv.org/abs/2403.14302") == ["2403.14302"]
    assert ids("https://arxiv.org/pdf/2403.14302v2.pdf") == ["2403.14302"]
    assert ids("http://arxiv.org/abs/hep-th/9901001v1") == ["hep-th/9901001"]
    assert ids("https://openreview.net/forum?id=abc") == [] and ids(None) == []


def test_format_number_rounds_for_reading() -> None:
    assert format_number(0.9916666666666667) == "0.9917"
    assert format_number(53539.40555555555) == "53,539"
    assert format_number(36864.0) == "36,864" and format_number(6138) == "6,138"
    assert format_number(0.0) == "0" and format_number(3.552713678800501e-15) == "3.553e-15"
    assert format_number(float("inf")) == "inf" and format_number("n/a") == "n/a"


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda d: d["tags"].append("arxiv:not-an-id"), "malformed arXiv tags"),
        (lambda d: d.update(datasets=["not a hub id!"]), "not a Hugging Face Hub dataset id"),
        (
            lambda d: d["model-index"][0]["results"][0]["metrics"][0].update(value=float("nan")),
            "not finite",
        ),
    ],
)
def test_parse_card_refuses_untruthful_front_matter(mutate, problem: str) -> None:
    import yaml  # PyYAML comes with huggingface_hub

    text = _render("spiking_cnn", _cnn_config())
    head, body = text[4:].split("\n---\n", 1)
    data = yaml.safe_load(head)
    mutate(data)
    with pytest.raises(WeightsError, match=problem):
        parse_card(f"---\n{yaml.safe_dump(data)}---\n{body}")


# ------------------------------------------------------------------------------------------ usage snippet
def test_usage_snippet_loads_the_weights_the_card_describes() -> None:
    cfg = _cnn_config()
    body = _body(_render("spiking_cnn", cfg, repo_id="someone/cifar-snn"))
    assert 'model = zoo.create_model("hf://someone/cifar-snn").eval()' in body
    assert "`zoo eval hf://someone/cifar-snn`" in body
    assert "pretrained=True" not in body
    # a folder that is neither published nor the registered weight set names itself, not the zoo's demo
    demo = _cnn_config()
    demo["tag"] = "digits_t4"  # the registered tag, but other weights (checksum differs from the registry's)
    body = _body(_render("spiking_cnn", demo))
    assert "pretrained=True" not in body and 'zoo.load_pretrained(None, "path/to/this/folder")' in body
    assert "`zoo eval spiking_cnn --weights path/to/this/folder`" in body


class _RecordingApi:
    """Stand-in for ``huggingface_hub.HfApi``: records the files each upload would send."""

    def __init__(self) -> None:
        self.uploads: list[dict[str, bytes]] = []

    def create_repo(self, repo_id: str, **kw: Any) -> None:
        pass

    def upload_folder(self, *, folder_path: str, allow_patterns: list[str], **kw: Any) -> str:
        root = Path(folder_path)
        self.uploads.append({p: (root / p).read_bytes() for p in allow_patterns if (root / p).is_file()})
        return "ok"


def test_push_publishes_the_card_rendered_for_the_repo_and_leaves_the_folder(tmp_path: Path) -> None:
    src = resolve_source(zoo.model_info("spiking_cnn").weights["digits_t4"].source)
    folder = tmp_path / "w"
    shutil.copytree(src, folder)
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    api = _RecordingApi()
    assert zoo.push_to_hub(folder, "someone/digits-snn", api=api) == "ok"
    sent = api.uploads[0]
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # the folder is left as it was
    assert sent[CONFIG_NAME] == before[CONFIG_NAME] and sent[WEIGHTS_NAME] == before[WEIGHTS_NAME]
    card = sent[CARD_NAME].decode()
    assert card == folder_card(folder, repo_id="someone/digits-snn")
    assert 'zoo.create_model("hf://someone/digits-snn")' in card and "pretrained=True" not in card
    parse_card(card)
    # a hand-written card is published as it is
    own = before[CARD_NAME].decode().replace("# spiking_cnn.digits_t4", "# my own words")
    (folder / CARD_NAME).write_text(own)
    zoo.push_to_hub(folder, "someone/digits-snn", api=api)
    assert api.uploads[1][CARD_NAME].decode() == own


# ------------------------------------------------------------------------------------------ provenance
@pytest.fixture
def demo(tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    """A copy of the spiking_cnn demo folder and the model loaded from it."""
    src = resolve_source(zoo.model_info("spiking_cnn").weights["digits_t4"].source)
    folder = tmp_path / "original"
    shutil.copytree(src, folder)
    return folder, zoo.load_pretrained(None, folder)


def test_resaving_unchanged_weights_keeps_metrics_recipe_and_says_where_from(demo, tmp_path: Path) -> None:
    folder, model = demo
    original = read_config(folder)
    out = zoo.save_pretrained(model, tmp_path / "again")
    cfg = read_config(out)
    assert cfg["files"] == original["files"]  # the same bytes
    for key in ("metrics", "profile", "training", "evaluation"):
        assert cfg[key] == original[key], key
    assert cfg["tag"] == "digits_t4"
    prov = cfg["provenance"]
    assert prov["source"] == str(folder) and prov["sha256"] == original["files"][WEIGHTS_NAME]
    assert prov["weights"] == "unchanged" and prov["same_file"] is True
    assert prov["carried"] == ["evaluation", "metrics", "profile", "training"]
    text = (out / CARD_NAME).read_text()
    parse_card(text)
    assert f"sha256 `{original['files'][WEIGHTS_NAME]}`, identical byte for byte" in text
    assert f"| accuracy (test) | {format_number(original['metrics']['accuracy'])} |" in text
    # the registry's checksum matches, so the usage snippet may name the registered weight set
    assert 'zoo.create_model("spiking_cnn.digits_t4", pretrained=True)' in text
    # what the caller measures itself replaces what would be carried over
    out2 = zoo.save_pretrained(model, tmp_path / "mine", extra_config={"metrics": {"accuracy": 0.5}})
    cfg2 = read_config(out2)
    assert cfg2["metrics"] == {"accuracy": 0.5} and "metrics" not in cfg2["provenance"]["carried"]
    assert cfg2["profile"] == original["profile"]


def test_resaving_changed_weights_drops_the_old_metrics(demo, tmp_path: Path) -> None:
    folder, model = demo
    original = read_config(folder)
    with torch.no_grad():  # a fine-tuning step, in effect
        next(model.parameters()).add_(1e-3)
    out = zoo.save_pretrained(model, tmp_path / "tuned")
    cfg = read_config(out)
    for key in ("metrics", "profile", "training", "evaluation"):
        assert key not in cfg, key
    assert cfg["tag"] is None
    assert cfg["provenance"] == {
        "source": str(folder),
        "tag": "digits_t4",
        "sha256": original["files"][WEIGHTS_NAME],
        "weights": "changed",
    }
    text = (out / CARD_NAME).read_text()
    parse_card(text)
    assert "No measured results recorded for these weights." in text
    assert format_number(original["metrics"]["accuracy"]) not in text
    assert "changed since" in text and "are not carried over" in text
    assert "pretrained=True" not in text


def test_same_tensors_in_a_differently_written_file_count_as_unchanged(demo, tmp_path: Path) -> None:
    folder, _ = demo
    state = load_file(folder / WEIGHTS_NAME)
    save_file(state, folder / WEIGHTS_NAME, metadata={"format": "pt", "writer": "another tool"})
    cfg = json.loads((folder / CONFIG_NAME).read_text())
    del cfg["files"]  # as a repo written by another tool: no recorded checksum
    (folder / CONFIG_NAME).write_text(json.dumps(cfg))
    model = zoo.load_pretrained(None, folder)
    out = read_config(zoo.save_pretrained(model, tmp_path / "again"))
    assert out["provenance"]["weights"] == "unchanged" and out["provenance"]["same_file"] is False
    assert out["metrics"] == cfg["metrics"]
    assert "tensor for tensor" in (tmp_path / "again" / CARD_NAME).read_text()


def test_original_folder_gone_carries_nothing_and_says_so(demo, tmp_path: Path) -> None:
    folder, model = demo
    shutil.rmtree(folder)
    out = read_config(zoo.save_pretrained(model, tmp_path / "again"))
    assert "metrics" not in out and out["provenance"]["weights"] == "unchanged"
    assert "could not be read" in out["provenance"]["note"]
    assert "could not be read" in (tmp_path / "again" / CARD_NAME).read_text()


def test_rewriting_the_source_folder_records_no_provenance(demo) -> None:
    folder, model = demo
    before = read_config(folder)
    extra = {k: copy.deepcopy(before[k]) for k in ("metrics", "profile", "training", "evaluation")}
    zoo.save_pretrained(model, folder, tag="digits_t4", extra_config=extra)
    after = read_config(folder)
    assert "provenance" not in after and after["files"] == before["files"]
    assert (folder / CARD_NAME).read_text() == folder_card(folder)


def test_a_fresh_model_has_no_provenance(tmp_path: Path) -> None:
    out = read_config(zoo.save_pretrained(zoo.create_model("spiking_cnn"), tmp_path / "w"))
    assert "provenance" not in out and "metrics" not in out


@pytest.mark.parametrize("folder", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_parameter_counts_are_the_models(folder: Path) -> None:
    """The card's "N without BatchNorm affine parameters" is the loaded model's count, plugin BNs included
    (``zoo_batch_norm``: Keras' BatchNormalization, DPCNN's time-dependent BN)."""
    from zoo_core.hub import parameter_counts

    cfg = read_config(folder)
    model = zoo.load_pretrained(None, folder)
    counts = parameter_counts(model)
    assert cfg["parameters"] == counts
    assert counts["without_bn_affine"] < counts["total"] or not any(
        isinstance(m, torch.nn.modules.batchnorm._NormBase) or getattr(type(m), "zoo_batch_norm", False)
        for m in model.modules()
    )
