"""Weight sources as a user names them: ``create_model(name, pretrained=<tag | source>)``,
``create_model("hf://owner/repo")``, ``zoo download``, and ``zoo eval/card/info`` on ``hf://`` sources (against
the olah Hub mirror on 127.0.0.1 of ``hub_support.py``)."""

from __future__ import annotations

import json

import hub_support as hs
import pytest
import torch

import zoo_core as zoo
from zoo_core.cli import main
from zoo_core.errors import ConfigError, WeightsError

pytest.importorskip("olah", reason="olah (the test Hub server) is in the dev extra: pip install -e '.[dev]'")

REPO = "zoo-test/sources-cnn"


@pytest.fixture(scope="module")
def served(olah, tmp_path_factory):
    """A spiking_cnn with its own weights, published through ``save_pretrained`` and served by olah."""
    server = olah
    folder = tmp_path_factory.mktemp("published") / "w"
    torch.manual_seed(3)
    model = zoo.create_model("spiking_cnn", T=2)
    with torch.no_grad():
        model.train()(torch.rand(8, 1, 8, 8))
    zoo.save_pretrained(model.eval(), folder, tag="sources_t2", extra_config={"metrics": {"accuracy": 0.25}})
    server.commit_folder(REPO, folder, "spiking_cnn.sources_t2")
    return server, model


@pytest.fixture
def hub(served, tmp_path, monkeypatch):
    server, model = served
    hs.point_hub_at(monkeypatch, server.url, tmp_path / "hf-cache")
    return model


def _same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_pretrained_takes_a_tag_or_exactly_the_named_source(tmp_path) -> None:
    by_tag = zoo.create_model("spiking_cnn", pretrained="digits_t4")
    assert by_tag.zoo_weights["tag"] == "digits_t4"
    # another folder: exactly that one is loaded, not the demo weights
    torch.manual_seed(1)
    mine = zoo.create_model("spiking_cnn")
    zoo.save_pretrained(mine.eval(), tmp_path / "mine", tag="mine_t4")
    loaded = zoo.create_model("spiking_cnn", pretrained=str(tmp_path / "mine"))
    _same(loaded, mine)
    assert loaded.zoo_weights["source"] == str(tmp_path / "mine")
    with pytest.raises(ConfigError, match=r"neither a weight tag of 'spiking_cnn' .* nor a source"):
        zoo.create_model("spiking_cnn", pretrained="digits_t8")
    with pytest.raises(ConfigError, match="names the weight tag 'digits_t4' and pretrained names"):
        zoo.create_model("spiking_cnn.digits_t4", pretrained=str(tmp_path / "mine"))
    with pytest.raises(WeightsError, match="holds weights of 'spiking_cnn', not 'spikingresformer_ti'"):
        zoo.create_model("spikingresformer_ti", pretrained=str(tmp_path / "mine"))


def test_create_model_from_a_hub_repo(hub) -> None:
    got = zoo.create_model(f"hf://{REPO}")
    _same(got, hub)
    assert got.zoo_name == "spiking_cnn" and got.T == 2  # built from the repo's config, not the defaults
    _same(zoo.create_model("spiking_cnn", pretrained=f"hf://{REPO}"), hub)


def test_zoo_download_eval_card_and_info_take_hub_sources(hub, capsys, monkeypatch) -> None:
    assert main(["download", f"hf://{REPO}"]) == 0
    out = capsys.readouterr().out
    assert "downloaded to" in out and "model spiking_cnn, tag sources_t2" in out
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # from now on only the cache
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    assert main(["eval", f"hf://{REPO}", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = zoo.tasks.evaluate(hub, zoo.create_dataset("digits", split="test"), progress=False)
    assert report["accuracy"] == expected["accuracy"] and report["samples"] == 360
    assert main(["card", f"hf://{REPO}"]) == 0
    assert "# spiking_cnn.sources_t2" in capsys.readouterr().out
    assert main(["info", f"hf://{REPO}"]) == 0
    out = capsys.readouterr().out
    assert f"hf://{REPO}: weights of spiking_cnn (tag sources_t2)" in out and "accuracy=0.25" in out


def test_zoo_download_of_a_packaged_weight_set_says_it_is_local(capsys) -> None:
    assert main(["download", "spiking_cnn.digits_t4"]) == 0
    out = capsys.readouterr().out
    assert "already local (shipped with its package)" in out and "4f63c671" in out
    assert main(["download", "spiking_cnn.nope"]) == 2
    assert "give a published weight set of spiking_cnn: spiking_cnn.digits_t4" in capsys.readouterr().err


def test_create_model_takes_a_hub_timeout_not_as_a_model_argument(hub) -> None:
    got = zoo.create_model(f"hf://{REPO}", timeout=5)
    _same(got, hub)
    assert "timeout" not in got.zoo_args
    assert "timeout" not in zoo.create_model("spiking_cnn.digits_t4", pretrained=True, timeout=5).zoo_args
