"""The main job and the commands that run models: eval, card, train, bench-neuron, push (validation)."""

import json
import shutil
from pathlib import Path

import pytest
import torch

import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.hub import parse_card, sha256_file

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "zoo_core" / "weights" / "spiking_cnn.digits_t4"


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_folder_matches_the_registry():
    info = zoo.model_info("spiking_cnn")
    w = info.weights["digits_t4"]
    assert w.sha256["model.safetensors"] == sha256_file(DEMO / "model.safetensors")
    cfg = json.loads((DEMO / "config.json").read_text())
    assert cfg["metrics"] == w.metrics and cfg["args"] == w.config and cfg["tag"] == "digits_t4"
    assert w.metrics["accuracy"] >= 0.97
    card = parse_card((DEMO / "README.md").read_text())
    # scikit-learn digits has no Hub dataset id: the accuracy is in the body, not in a model-index
    assert card.data.eval_results is None
    assert f"| accuracy (test) | {w.metrics['accuracy']:.4f} |" in (DEMO / "README.md").read_text()
    assert "python tools/train.py spiking_cnn" in (DEMO / "README.md").read_text()
    core = [n for n in zoo.list_models(pretrained=True) if zoo.model_info(n).plugin == "zoo_core"]
    assert core == ["spiking_cnn.digits_t4"]  # installed plugins may publish more


def test_main_job_prints_exactly_the_cards_accuracy(capsys):
    code, out, _ = _run(capsys, "eval", "spiking_cnn.digits_t4", "--pretrained")
    assert code == 0
    acc = zoo.model_info("spiking_cnn").weights["digits_t4"].metrics["accuracy"]
    assert f"accuracy          {acc:.4f}" in out
    assert f"| accuracy (test) | {acc:.4f} |" in (DEMO / "README.md").read_text()
    for word in ("mean firing rate", "SOPs / sample", "energy / sample", "samples/s", "4.6 pJ x MACs"):
        assert word in out


def test_eval_json_equals_registry_and_profile(capsys):
    code, out, _ = _run(capsys, "eval", "--json")  # the default: the demo weights
    assert code == 0
    report = json.loads(out)
    cfg = json.loads((DEMO / "config.json").read_text())
    assert report["model"] == "spiking_cnn.digits_t4" and report["pretrained"] and report["samples"] == 360
    assert report["accuracy"] == cfg["metrics"]["accuracy"]
    assert report["energy_pj"] == pytest.approx(4.6 * report["macs"] + 0.9 * report["sops"])
    # the card was measured in float64 and says so: zoo eval reproduces it in that precision, on any CPU
    assert cfg["evaluation"]["dtype"] == report["dtype"] == "float64"
    for key in ("sops", "macs", "energy_pj", "mean_firing_rate"):
        assert report[key] == pytest.approx(cfg["profile"][key], rel=1e-9), key
    assert 0 < report["mean_firing_rate"] < 1 and report["samples_per_second"] > 0
    # the batched evaluation (256 + 104 samples) weighs each batch by its samples: one pass over all 360 agrees
    test = zoo.create_dataset("digits", split="test")
    model = zoo.create_model("spiking_cnn.digits_t4", pretrained=True).double()
    whole = zoo.profile(model, test.tensors[0].double())
    assert report["mean_firing_rate"] == pytest.approx(whole.mean_firing_rate, rel=1e-9)
    assert report["mean_firing_rate"] == pytest.approx(cfg["profile"]["mean_firing_rate"], rel=1e-9)
    assert report["sops"] == pytest.approx(whole.sops, rel=1e-9)


def test_eval_reports_a_corrupt_weight_folder(capsys, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(DEMO, bad)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[:1000])
    code, _, err = _run(capsys, "eval", "spiking_cnn", "--weights", str(bad))
    assert code == 2
    assert "sha256 mismatch" in err and "model.safetensors" in err


def test_card_command_prints_a_valid_card(capsys):
    code, out, _ = _run(capsys, "card", "spiking_cnn.digits_t4")
    assert code == 0
    card = parse_card(out)
    assert card.data.model_name == "spiking_cnn.digits_t4"
    assert "```bibtex" in out and "## Training" in out and "T = 4" in out
    code, _, err = _run(capsys, "card", "spiking_cnn.imagenet_t4")
    assert code == 2 and "digits_t4" in err


def test_train_command_writes_a_folder(capsys, tmp_path):
    out = tmp_path / "w"
    code, _, _ = _run(
        capsys,
        "train",
        "spiking_cnn",
        "--model-kwargs",
        '{"T": 1}',
        "--epochs",
        "1",
        "--max-steps",
        "3",
        "--out",
        str(out),
        "--tag",
        "digits_t1",
    )
    assert code == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["tag"] == "digits_t1" and cfg["args"]["T"] == 1
    assert cfg["training"]["command"].startswith("zoo train")
    assert zoo.load_pretrained(None, out).T == 1


def test_bench_neuron_compares_with_lif(capsys):
    code, out, _ = _run(capsys, "bench-neuron", "plif", "--epochs", "2", "--T", "2", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["neuron"] for r in rows] == ["plif", "lif"]
    assert rows[0]["neuron_params"] == 2 and rows[1]["neuron_params"] == 0  # one w per PLIF layer
    for r in rows:
        assert r["accuracy"] > 0.6 and r["ms_per_step"] > 0 and 0 < r["mean_firing_rate"] < 1
    code, _, err = _run(capsys, "bench-neuron", "plf")
    assert code == 2 and "closest: plif" in err


def test_push_refuses_an_invalid_folder_before_any_network(capsys, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(DEMO, bad)
    (bad / "README.md").write_text("---\nlicense: mit\n---\n# no tags\n")
    code, _, err = _run(capsys, "push", str(bad), "someone/repo")
    assert code == 2 and "spiking-neural-network" in err


def test_per_step_accuracy_is_the_cumulative_mean_readout(capsys):
    code, out, _ = _run(capsys, "eval", "spiking_cnn.digits_t4", "--pretrained", "--per-step", "--json")
    assert code == 0
    report = json.loads(out)
    curve = report["per_step_accuracy"]
    assert len(curve) == 4 and curve[-1] == report["accuracy"]  # after all T steps: the model's own readout
    model = zoo.create_model("spiking_cnn.digits_t4", pretrained=True).double()
    test = zoo.create_dataset("digits", split="test")
    with torch.no_grad():
        steps = model.forward_steps(test.tensors[0].double())
    for t in (1, 2):
        expected = (steps[:t].mean(0).argmax(-1) == test.tensors[1]).double().mean().item()
        assert curve[t - 1] == pytest.approx(expected, abs=1e-12)
    code, out, _ = _run(capsys, "eval", "spiking_cnn.digits_t4", "--pretrained", "--per-step")
    assert "accuracy per step (cumulative mean of the logits): t=1" in out
