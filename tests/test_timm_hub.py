"""``timm.create_model("hf-hub:owner/repo")`` on a zoo weight repo, through timm's own Hub path (its
``hf_hub_download`` of ``config.json``) and the zoo's (the weights, checksum verified), against the local olah
Hub mirror of ``hub_support.py`` on 127.0.0.1."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
import torch

import zoo_core as zoo

timm = pytest.importorskip("timm")
pytest.importorskip("olah", reason="olah (the test Hub server) is in the dev extra: pip install -e '.[dev]'")

REPO = "zoo-test/timm-spiking-cnn"


def _hub_support():
    # tests/ is not a package (pytest --import-mode=importlib): load the shared helper by path, once
    name = "zoo_tests_hub_support"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("hub_support.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def olah(tmp_path_factory):
    if shutil.which("git") is None:
        pytest.fail("the olah test server serves git repositories: install git", pytrace=False)
    server = _hub_support().OlahServer(tmp_path_factory.mktemp("olah"))
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"cannot start the olah test server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def hub(olah, tmp_path, monkeypatch):
    """huggingface_hub (timm's and the zoo's downloads alike) pointed at olah, with an empty cache."""
    from huggingface_hub import constants, hf_hub_url

    cache = tmp_path / "hf-cache"
    for var, value in (("HF_ENDPOINT", olah.url), ("HF_HUB_CACHE", str(cache)), ("HF_HUB_OFFLINE", "0")):
        monkeypatch.setenv(var, value)
    monkeypatch.setattr(constants, "ENDPOINT", olah.url)
    monkeypatch.setattr(
        constants, "HUGGINGFACE_CO_URL_TEMPLATE", olah.url + "/{repo_id}/resolve/{revision}/{filename}"
    )
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    if hasattr(constants, "AGENT_HARNESSES_PATH"):
        monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(cache.parent / "agent_harnesses.json"))
    assert hf_hub_url(REPO, "config.json").startswith(olah.url + "/")  # no request can leave 127.0.0.1
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
