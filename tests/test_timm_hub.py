"""``timm.create_model("hf-hub:owner/repo")`` on a zoo weight repo, through timm's own Hub path (its
``hf_hub_download`` of ``config.json``) and the zoo's (the weights, checksum verified), against the local olah
Hub mirror of ``hub_support.py`` on 127.0.0.1."""

from __future__ import annotations

import hub_support as hs
import pytest
import torch

import zoo_core as zoo

timm = pytest.importorskip("timm")
pytest.importorskip("olah", reason="olah (the test Hub server) is in the dev extra: pip install -e '.[dev]'")

REPO = "zoo-test/timm-spiking-cnn"


@pytest.fixture
def hub(olah, tmp_path, monkeypatch):
    """huggingface_hub (timm's and the zoo's downloads alike) pointed at olah, with an empty cache."""
    hs.point_hub_at(monkeypatch, olah.url, tmp_path / "hf-cache")
    return olah


def test_timm_hf_hub_loads_a_published_zoo_repo(hub, tmp_path):
    torch.manual_seed(11)
    mine = zoo.create_model("spiking_cnn", T=2, num_classes=7)
    with torch.no_grad():
        mine.train()(torch.rand(8, 1, 8, 8))
    mine.eval()
    folder = zoo.save_pretrained(mine, tmp_path / "w", tag="hub_t2")
    sha = hub.commit_folder(REPO, folder, "spiking_cnn.hub_t2")

    zoo.register_with_timm()
    for name in (f"hf-hub:{REPO}", f"hf-hub:{REPO}@{sha}"):
        m = timm.create_model(name, pretrained=True)
        assert m.zoo_name == "spiking_cnn" and m.T == 2 and m.num_classes == 7
        sm, sr = m.state_dict(), mine.state_dict()
        assert sm.keys() == sr.keys() and all(torch.equal(sm[k], sr[k]) for k in sr)
        x = torch.rand(3, 1, 8, 8)
        assert torch.equal(m(x), mine(x))
        assert (
            m.pretrained_cfg["hf_hub_id"] == name[len("hf-hub:") :] and m.pretrained_cfg["num_classes"] == 7
        )
        cfg = timm.data.resolve_data_config(model=m)
        assert cfg["input_size"] == (1, 8, 8) and tuple(cfg["mean"]) == (0.0,) and tuple(cfg["std"]) == (1.0,)
    # without weights: the repo's architecture (config.json's model_args), freshly initialised
    fresh = timm.create_model(f"hf-hub:{REPO}")
    assert (fresh.T, fresh.num_classes) == (2, 7) and not torch.equal(
        fresh.state_dict()["head.module.weight"], mine.state_dict()["head.module.weight"]
    )
    # a new head on the published weights
    with pytest.warns(UserWarning, match="except the classifier"):
        m3 = timm.create_model(f"hf-hub:{REPO}", pretrained=True, num_classes=3)
    assert m3(torch.rand(2, 1, 8, 8)).shape == (2, 3) and torch.equal(
        m3.state_dict()["features.0.module.0.weight"], mine.state_dict()["features.0.module.0.weight"]
    )
