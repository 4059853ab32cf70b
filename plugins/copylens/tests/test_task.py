"""The task ``text-attribution`` end to end on a random tiny GPT-2 (no download): ``zoo train`` writes a folder
holding only the probe, pinned to its backbone; ``zoo eval`` reproduces the card; loading checks the backbone."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.sdk import ConfigError, TrainConfig, WeightsError, read_config

from zoo_copylens.data import load_json

# initializer_range 0.3: a random GPT-2 at the default 0.02 gives attention results of size ~1e-3, too flat to learn
TINY = {"model_type": "gpt2", "n_layer": 2, "n_head": 2, "n_embd": 16, "vocab_size": 128, "n_positions": 32,
        "initializer_range": 0.3, "bos_token_id": 0, "eos_token_id": 1, "seed": 0}  # fmt: skip
KWARGS = {"backbone": TINY, "d_model": 16, "num_layers": 2, "hidden_size": 16, "proj_hidden": 16, "proj_dim": 8,
          "max_length": 24}  # fmt: skip
ALPHABETS = {"vowels": "aeiou ", "digits": "0123456789 ", "marks": "!?.,;: "}


def corpus(path: Path) -> Path:
    """Three sub-datasets written in their own alphabets, and OOD texts in capitals."""
    rng = random.Random(0)

    def text(chars: str) -> str:
        return "".join(rng.choice(chars) for _ in range(rng.randint(10, 24)))

    chunks = [
        {"text": text(chars), "source": name, "split": "train" if i < 12 else "test"}
        for name, chars in ALPHABETS.items()
        for i in range(18)
    ]
    chunks += [
        {"text": text("ABCDEFGHIJKLMNOPQRSTUVWXYZ "), "source": "caps", "split": "ood"} for _ in range(15)
    ]
    path.write_text(json.dumps({"classes": list(ALPHABETS), "chunks": chunks}))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("copylens")
    data, out = corpus(root / "toy.json"), root / "probe"
    argv = ["train", "copylens_probe", "--dataset", str(data), "--model-kwargs", json.dumps(KWARGS), "--epochs", "8",
            "--batch-size", "8", "--lr", "1e-2", "--rule-kwargs", '{"proj_epochs": 3}', "--out", str(out),
            "--tag", "toy"]  # fmt: skip
    assert main(argv) == 0
    return data, out


def test_train_writes_the_probe_only_pinned_to_its_backbone(trained) -> None:
    _, out = trained
    cfg = read_config(out)
    args = cfg["args"]
    assert cfg["model"] == "copylens_probe" and cfg["task"] == "text-attribution"
    assert args["backbone"] == TINY and args["classes"] == list(ALPHABETS) and args["num_classes"] == 3
    lm = zoo.create_model("copylens_probe", **KWARGS).backbone().model
    assert args["backbone_revision"] == cfg["backbone"]["revision"]
    assert args["backbone_revision"].startswith("sha256:")
    from safetensors.torch import load_file

    state = load_file(out / "model.safetensors")
    assert not any(k.startswith(("transformer", "h.", "wte", "wpe")) for k in state)  # no LM weights
    probe_values = sum(v.numel() for v in state.values())
    assert probe_values < sum(p.numel() for p in lm.parameters()) + 10_000
    assert cfg["parameters"]["total"] == sum(
        v.numel() for k, v in state.items() if "prototypes" not in k and "threshold" not in k
    )
    # the toy sub-datasets are easy: the head separates them and the OOD scores see the capitals
    assert cfg["metrics"]["accuracy"] > 0.9
    assert set(cfg["ood"]) == {"contrastive", "msp", "energy", "head_prototype"}
    assert set(cfg["per_class"]) == set(ALPHABETS)
    card = (out / "README.md").read_text()
    assert (
        "| accuracy (test) |" in card
        and "| auroc_msp (test) |" in card
        and "not part of these weights" in card
    )


def test_eval_reproduces_the_recorded_metrics(trained, capsys) -> None:
    data, out = trained
    assert main(["eval", "copylens_probe", "--weights", str(out), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    cfg = read_config(out)
    assert rep["dtype"] == "float64" and rep["samples"] == 18 and rep["ood_samples"] == 15
    assert rep["dataset"] == str(data)
    for k, v in cfg["metrics"].items():
        assert rep["metrics"][k] == pytest.approx(v, rel=1e-9, abs=1e-12), k
    assert main(["eval", "copylens_probe", "--weights", str(out)]) == 0
    text = capsys.readouterr().out
    assert "AUROC" in text and "contrastive" in text and "vowels" in text


def test_loading_checks_the_backbone(trained, tmp_path) -> None:
    _, out = trained
    model = zoo.load_pretrained(None, out)
    texts = ["aeiou aei", "0123 456"]
    res = model.attribute(texts)
    assert res["classes"] == list(ALPHABETS) and res["probs"].shape == (2, 3)
    assert torch.equal(res["in_distribution"], res["ood_score"] >= res["threshold"])
    assert res["probs"].argmax(1).tolist() == [0, 1]
    # the same probe on another LM (other weights) refuses to read texts
    moved = tmp_path / "other"
    moved.mkdir()
    for f in ("model.safetensors", "README.md"):
        (moved / f).write_bytes((out / f).read_bytes())
    cfg = json.loads((out / "config.json").read_text())
    cfg["args"]["backbone"] = {**TINY, "seed": 5}
    (moved / "config.json").write_text(json.dumps(cfg))
    other = zoo.load_pretrained(None, moved)
    with pytest.raises(WeightsError, match="trained on revision"):
        other.attribute(texts)


def test_training_is_deterministic_and_the_stages_train_their_parts(trained) -> None:
    data, _ = trained
    task = zoo.get_task("text-attribution")

    def run() -> dict[str, torch.Tensor]:
        cfg = TrainConfig(model="copylens_probe", dataset=str(data), model_kwargs=KWARGS, epochs=2, batch_size=8,
                          lr=1e-2, rule_kwargs={"proj_epochs": 1}, verbose=False)  # fmt: skip
        return task.train(cfg, return_model=True)["model"].state_dict()

    a, b = run(), run()
    assert all(torch.equal(a[k], b[k]) for k in a)
    torch.manual_seed(0)
    fresh = zoo.create_model("copylens_probe", num_classes=3, **KWARGS).state_dict()
    assert not torch.equal(a["proj.0.weight"], fresh["proj.0.weight"])  # stage 2 trained the projector
    assert float(a["prototypes"].norm(dim=1).min()) == pytest.approx(1.0)


def test_task_errors_are_clear(trained, tmp_path) -> None:
    data, out = trained
    task = zoo.get_task("text-attribution")
    with pytest.raises(ConfigError, match=r"not registered and not a \.json corpus"):
        task.load("no_such_data", "test")
    with pytest.raises(ConfigError, match="made for the task"):
        task.load("digits", "test")
    with pytest.raises(ConfigError, match="neither a registered data set nor a JSON file"):
        task.load(str(tmp_path / "missing.json"), "test")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"classes": ["a"], "chunks": [{"text": "x", "source": "b", "split": "train"}]}))
    with pytest.raises(ConfigError, match="not one of the classes"):
        load_json(bad, "train")
    model = zoo.load_pretrained(None, out)
    with pytest.raises(ConfigError, match="sub-datasets"):
        task.evaluate(model, zoo.create_dataset("stdlib_docstrings", split="test"))
    for kw in ({"learning_rule": "sparse_grad"}, {"rule_kwargs": {"temperature": 1.0}}):
        with pytest.raises(ConfigError):
            task.train(TrainConfig(model="copylens_probe", dataset=str(data), model_kwargs=KWARGS, **kw))
    with pytest.raises(ConfigError, match="no prototypes"):
        zoo.create_model("copylens_probe", **KWARGS).attribute(["text"])
