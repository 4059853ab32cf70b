"""Hub download and publishing, tested against a real Hub-compatible server (olah) on 127.0.0.1.

olah serves git repositories made from ``save_pretrained`` output; the zoo downloads them through
``huggingface_hub`` (cache, pinned commit, tag, ``HF_HUB_OFFLINE``). The one stand-in is ``GitCommitHfApi`` (see
``hub_support.py``): olah is read-only, so uploads are committed straight into the git repository it serves, and
what was pushed is then pulled back through olah. Nothing here depends on olah answering 401 rather than 404,
nor on ``model_info`` without a revision.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import hub_support as hs
import pytest
import torch
from safetensors.torch import load_file

import zoo_core as zoo
from zoo_core.errors import WeightsError
from zoo_core.hub import CARD_NAME, CONFIG_NAME, WEIGHT_FILES, WEIGHTS_NAME, folder_card, sha256_file
from zoo_core.info import WeightInfo

pytest.importorskip("olah", reason="olah (the test Hub server) is in the dev extra: pip install -e '.[dev]'")


GitCommitHfApi = hs.GitCommitHfApi

REPO = "zoo-test/spiking-cnn"
SUBPROCESS_TIMEOUT_S = 180


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def hub(olah, tmp_path, monkeypatch):
    """huggingface_hub pointed at olah with an empty cache of this test's own."""
    cache = tmp_path / "hf-cache"
    hs.point_hub_at(monkeypatch, olah.url, cache)
    return SimpleNamespace(server=olah, cache=cache, monkeypatch=monkeypatch)


def make_weights(folder: Path, seed: int, tag: str = "olah_t2", num_classes: int = 10):
    """A spiking_cnn with non-trivial parameters and BN statistics, saved with ``save_pretrained``."""
    torch.manual_seed(seed)
    model = zoo.create_model("spiking_cnn", T=2, num_classes=num_classes)
    with torch.no_grad():
        model.train()(torch.rand(8, 1, 8, 8))
    model.eval()
    zoo.save_pretrained(model, folder, tag=tag)
    return model


@pytest.fixture(scope="module")
def published(olah, tmp_path_factory):
    """``save_pretrained`` output committed to the served repo ``REPO`` and tagged ``v1``."""
    folder = tmp_path_factory.mktemp("published") / "w"
    model = make_weights(folder, seed=0)
    sha = olah.commit_folder(REPO, folder, "spiking_cnn.olah_t2")
    hs.git(olah.repo_path(REPO), "tag", "v1")
    assert sorted(p.name for p in folder.iterdir()) == sorted(WEIGHT_FILES)
    return SimpleNamespace(
        model=model, folder=folder, sha=sha, weights_sha256=sha256_file(folder / WEIGHTS_NAME)
    )


def assert_same_model(expected: torch.nn.Module, got: torch.nn.Module) -> None:
    """Identical tensors (every parameter and buffer) and identical outputs on a fixed input."""
    se, sg = expected.state_dict(), got.state_dict()
    assert se.keys() == sg.keys()
    different = [k for k in se if not torch.equal(se[k], sg[k])]
    assert not different, f"tensors differ: {different[:5]}"
    x = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        assert torch.equal(expected.eval()(x), got.eval()(x))


def assert_different_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert any(not torch.equal(sa[k], sb[k]) for k in sa)


def requests_logged(server, repo_id: str) -> int:
    """How many HTTP requests olah has logged for ``repo_id`` so far."""
    return server.log.read_text(errors="replace").count(f"/{repo_id}/")


# --------------------------------------------------------------------------------------------- downloads


def test_download_pinned_commit_and_tag(published, hub):
    by_sha = zoo.load_pretrained(None, f"hf://{REPO}@{published.sha}")
    assert_same_model(published.model, by_sha)
    assert not by_sha.training
    # the files came through the Hub cache, byte for byte, in the snapshot of the pinned commit
    snapshot = Path(by_sha.zoo_weights["source"])
    assert snapshot.name == published.sha and snapshot.is_relative_to(hub.cache)
    assert sorted(p.name for p in snapshot.iterdir()) == sorted(WEIGHT_FILES)
    for name in WEIGHT_FILES:
        assert (snapshot / name).read_bytes() == (published.folder / name).read_bytes()
    assert by_sha.zoo_weights["sha256"] == published.weights_sha256
    assert by_sha.zoo_weights["tag"] == "olah_t2"

    by_tag = zoo.load_pretrained(None, f"hf://{REPO}@v1")
    assert_same_model(published.model, by_tag)
    assert Path(by_tag.zoo_weights["source"]) == snapshot  # the tag resolved to the same commit
    # the revision may also come as an argument, and a model may be filled in place
    target = zoo.create_model("spiking_cnn", T=2, num_classes=10)
    assert_different_weights(published.model, target)
    zoo.load_pretrained(target, f"hf://{REPO}", revision="v1")
    assert_same_model(published.model, target)


def test_offline_env_serves_from_cache_only(olah, hub, tmp_path):
    """``HF_HUB_OFFLINE=1`` and ``HF_ENDPOINT`` as a user sets them: a fresh process loads from the cache alone."""
    repo = "zoo-test/offline-cnn"
    model_a = make_weights(tmp_path / "a", seed=1)
    model_b = make_weights(tmp_path / "b", seed=2)
    sha_a = olah.commit_folder(repo, tmp_path / "a", "weights A")
    hs.git(olah.repo_path(repo), "tag", "v1")
    # online: fill the cache by commit and by tag
    assert_same_model(model_a, zoo.load_pretrained(None, f"hf://{repo}@{sha_a}"))
    assert_same_model(model_a, zoo.load_pretrained(None, f"hf://{repo}@v1"))
    # the server moves on: new weights, and the tag now points at them
    sha_b = olah.commit_folder(repo, tmp_path / "b", "weights B")
    hs.git(olah.repo_path(repo), "tag", "-f", "v1")
    before = requests_logged(olah, repo)

    out = tmp_path / "child"
    out.mkdir()
    child = r"""
import json, sys
from huggingface_hub import constants
from safetensors.torch import save_file
import zoo_core as zoo
from zoo_core.errors import WeightsError
result = {"offline": constants.is_offline_mode(), "endpoint": constants.ENDPOINT, "loads": {}}
for i, src in enumerate(sys.argv[2:]):
    try:
        m = zoo.load_pretrained(None, src)
    except WeightsError as exc:
        result["loads"][src] = {"error": str(exc)}
    else:
        path = f"{sys.argv[1]}/{i}.safetensors"
        save_file({k: v.detach().clone().contiguous() for k, v in m.state_dict().items()}, path)
        result["loads"][src] = {"state": path, "source": m.zoo_weights["source"]}
print("RESULT " + json.dumps(result))
"""
    sources = [f"hf://{repo}@{sha_a}", f"hf://{repo}@v1", f"hf://{repo}@{sha_b}"]
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_ENDPOINT": olah.url,  # reachable: the point is that it is not asked
        "HF_HUB_CACHE": str(hub.cache),
        "HF_HOME": str(tmp_path / "hf-home"),
        "OMP_NUM_THREADS": "1",
    }
    proc = subprocess.run(
        [sys.executable, "-c", child, str(out), *sources],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    result = json.loads(line[len("RESULT ") :])
    assert result["offline"] is True and result["endpoint"] == olah.url
    loads = result["loads"]
    for src in sources[:2]:  # by commit and by tag: the cached weights A, though the server's v1 is now B
        assert "state" in loads[src], loads[src]
        assert Path(loads[src]["source"]).name == sha_a
        state = load_file(loads[src]["state"])
        expected = model_a.state_dict()
        assert state.keys() == expected.keys()
        assert all(torch.equal(state[k], expected[k]) for k in expected)
    # a revision that was never downloaded cannot be served offline, and the error says so
    assert "not in the local cache" in loads[sources[2]]["error"]
    assert f"hf://{repo}@{sha_b}" in loads[sources[2]]["error"]
    assert requests_logged(olah, repo) == before, "HF_HUB_OFFLINE=1 still sent requests to the server"

    # online again, the tag gives the server's current weights: the offline answer came from the cache
    now = zoo.load_pretrained(None, f"hf://{repo}@v1")
    assert_same_model(model_b, now)
    assert Path(now.zoo_weights["source"]).name == sha_b


def test_offline_with_server_unreachable(published, hub, tmp_path):
    assert_same_model(published.model, zoo.load_pretrained(None, f"hf://{REPO}@v1"))
    dead = f"http://127.0.0.1:{hs.free_port()}"  # nothing listens there
    hs.point_hub_at(hub.monkeypatch, dead, hub.cache, offline=True)
    assert_same_model(published.model, zoo.load_pretrained(None, f"hf://{REPO}@v1"))
    assert_same_model(published.model, zoo.load_pretrained(None, f"hf://{REPO}@{published.sha}"))
    with pytest.raises(WeightsError, match=r"hf://zoo-test/spiking-cnn@main: not in the local cache"):
        zoo.load_pretrained(None, f"hf://{REPO}@main")
    # not offline, but no server: an uncached revision fails with a WeightsError too
    hs.point_hub_at(hub.monkeypatch, dead, tmp_path / "empty-cache", offline=False)
    with pytest.raises(WeightsError, match=r"hf://zoo-test/spiking-cnn@v1"):
        zoo.load_pretrained(None, f"hf://{REPO}@v1")


def test_registry_tag_pins_revision_and_verifies_checksum(olah, hub, tmp_path):
    repo = "zoo-test/registry-cnn"
    model_a = make_weights(tmp_path / "a", seed=3)
    model_b = make_weights(tmp_path / "b", seed=4)
    sha_a = olah.commit_folder(repo, tmp_path / "a", "weights A")
    olah.commit_folder(repo, tmp_path / "b", "weights B")  # main has moved on past the pinned commit
    good_sum = sha256_file(tmp_path / "a" / WEIGHTS_NAME)
    common = {"source": f"hf://{repo}", "revision": sha_a, "config": {"T": 2, "num_classes": 10}}

    def hub_olah_net(**kw):
        """A throwaway registry entry whose weights live on the test Hub."""
        return zoo.create_model("spiking_cnn", **kw)

    zoo.register_model(
        "hub_olah_net",
        owner="tests.test_hub",
        defaults={"T": 2, "num_classes": 10},
        weights={
            "olah_t2": WeightInfo(tag="olah_t2", sha256={WEIGHTS_NAME: good_sum}, **common),
            "bad_sum": WeightInfo(tag="bad_sum", sha256={WEIGHTS_NAME: "0" * 64}, **common),
            "main_t2": WeightInfo(tag="main_t2", source=f"hf://{repo}", config=common["config"]),
        },
    )(hub_olah_net)
    try:
        model = zoo.create_model("hub_olah_net.olah_t2", pretrained=True)
        assert_same_model(model_a, model)
        assert model.zoo_weights["sha256"] == good_sum
        assert Path(model.zoo_weights["source"]).name == sha_a
        # no revision recorded: the default branch, i.e. the newer weights
        assert_same_model(model_b, zoo.create_model("hub_olah_net.main_t2", pretrained=True))
        with pytest.raises(WeightsError, match=r"sha256 mismatch \(expected 0{64}, file has " + good_sum):
            zoo.create_model("hub_olah_net.bad_sum", pretrained=True)
    finally:
        zoo.unregister("model", "hub_olah_net")


@pytest.mark.parametrize(
    "source",
    [
        "hf://zoo-test/no-such-repo",
        f"hf://{REPO}@no-such-tag",
        f"hf://{REPO}@{'0' * 40}",
        "hf://zoo-test/not-weights",
        "hf://no-owner",
        "hf://zoo-test/",
    ],
)
def test_missing_repo_or_revision_raise_weights_error(published, hub, source):
    if source.endswith("/not-weights") and not hub.server.repo_path("zoo-test/not-weights").exists():
        hub.server.create_repo("zoo-test/not-weights")  # a repo with only .gitattributes
    with pytest.raises(WeightsError) as info:
        zoo.load_pretrained(None, source)
    assert source.split("@")[0] in str(info.value)
    if source.endswith("/not-weights"):
        assert "not a zoo-core weight folder" in str(info.value)


# --------------------------------------------------------------------------------------------- publishing


def test_push_then_pull_gives_identical_weights(olah, hub, tmp_path):
    repo = "zoo-test/pushed-cnn"
    api = GitCommitHfApi(olah)
    model_1 = make_weights(tmp_path / "one", seed=5, tag="push_t2")
    (tmp_path / "one" / "notes.txt").write_text("not part of a weight folder")
    info = zoo.push_to_hub(tmp_path / "one", repo, api=api)
    served = olah.repo_path(repo)
    assert len(info.oid) == 40 and info.oid == hs.git(served, "rev-parse", "HEAD")
    assert info.commit_url.endswith(f"/{repo}/commit/{info.oid}")
    assert [c[0] for c in api.calls] == ["create_repo", "upload_folder"]
    assert api.calls[0][1]["exist_ok"] is True and api.calls[0][1]["private"] is False
    upload = api.calls[1][1]
    assert upload["repo_id"] == repo and upload["commit_message"] == "zoo-core: spiking_cnn.push_t2"
    assert sorted(hs.git(served, "ls-files").split()) == sorted([".gitattributes", *WEIGHT_FILES])

    pulled = zoo.load_pretrained(None, f"hf://{repo}@{info.oid}")
    assert_same_model(model_1, pulled)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        assert (Path(pulled.zoo_weights["source"]) / name).read_bytes() == (
            tmp_path / "one" / name
        ).read_bytes()
    # the zoo-generated card was re-rendered for the repo: its usage snippet loads hf://repo
    card = (Path(pulled.zoo_weights["source"]) / CARD_NAME).read_text()
    assert card == folder_card(tmp_path / "one", repo_id=repo) and f'create_model("hf://{repo}")' in card

    # a second push to the existing repo is a new commit; the first stays pinnable
    model_2 = make_weights(tmp_path / "two", seed=6, tag="push_t2")
    info_2 = zoo.push_to_hub(tmp_path / "two", repo, api=api, commit_message="retrained")
    assert info_2.oid != info.oid and hs.git(served, "log", "-1", "--format=%s") == "retrained"
    assert_same_model(model_2, zoo.load_pretrained(None, f"hf://{repo}@{info_2.oid}"))
    assert_same_model(model_2, zoo.load_pretrained(None, f"hf://{repo}@main"))
    assert_same_model(model_1, zoo.load_pretrained(None, f"hf://{repo}@{info.oid}"))


def _drop_snn_tag(folder: Path) -> None:
    card = folder / CARD_NAME
    text = card.read_text()
    assert "- spiking-neural-network\n" in text
    card.write_text(text.replace("- spiking-neural-network\n", "", 1))


def _flip_weight_byte(folder: Path) -> None:
    data = bytearray((folder / WEIGHTS_NAME).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / WEIGHTS_NAME).write_bytes(bytes(data))


def _truncate_unrecorded(folder: Path) -> None:
    cfg = json.loads((folder / CONFIG_NAME).read_text())
    del cfg["files"]
    (folder / CONFIG_NAME).write_text(json.dumps(cfg))
    data = (folder / WEIGHTS_NAME).read_bytes()
    (folder / WEIGHTS_NAME).write_bytes(data[: len(data) // 2])


def _wrong_num_classes(folder: Path) -> None:
    cfg = json.loads((folder / CONFIG_NAME).read_text())
    cfg["args"]["num_classes"] = 5  # the weights hold a 10-class head
    (folder / CONFIG_NAME).write_text(json.dumps(cfg))


BROKEN = {
    "card_without_snn_tag": (_drop_snn_tag, "tags must include 'spiking-neural-network'"),
    "no_config": (lambda f: (f / CONFIG_NAME).unlink(), "config.json: missing"),
    "no_card": (lambda f: (f / CARD_NAME).unlink(), "README.md: missing"),
    "corrupt_weights": (_flip_weight_byte, "sha256 mismatch"),
    "no_checksum_recorded": (_truncate_unrecorded, "no sha256 recorded"),
    "weights_do_not_fit_config": (_wrong_num_classes, "shape mismatch"),
}


@pytest.mark.parametrize("breakage", sorted(BROKEN))
def test_push_refuses_invalid_folder_before_committing(olah, hub, tmp_path, breakage):
    repo = f"zoo-test/refused-{breakage.replace('_', '-')}"
    api = GitCommitHfApi(olah)
    make_weights(tmp_path / "good", seed=7)
    good = zoo.push_to_hub(tmp_path / "good", repo, api=api)
    served = olah.repo_path(repo)
    calls = list(api.calls)

    bad = tmp_path / "bad"
    make_weights(bad, seed=8)
    damage, message = BROKEN[breakage]
    damage(bad)
    with pytest.raises(WeightsError, match=message):
        zoo.push_to_hub(bad, repo, api=api)
    assert api.calls == calls, "the Hub was called for an invalid folder"
    assert hs.git(served, "rev-parse", "HEAD") == good.oid
    assert hs.git(served, "status", "--porcelain") == ""
    assert_same_model(zoo.load_pretrained(None, tmp_path / "good"), zoo.load_pretrained(None, f"hf://{repo}"))


def test_push_rejects_malformed_repo_id_before_calling_the_hub(olah, tmp_path):
    api = GitCommitHfApi(olah)
    make_weights(tmp_path / "w", seed=9)
    with pytest.raises(WeightsError, match="owner/name"):
        zoo.push_to_hub(tmp_path / "w", "no-owner", api=api)
    assert api.calls == []


def test_zoo_push_to_an_endpoint_that_refuses_writes_is_one_line(olah, hub, tmp_path, capsys, monkeypatch):
    """olah is a read-only mirror (HTTP 405 to uploads): ``zoo push`` says so in one line, with what to do."""
    from zoo_core.cli import main

    repo = "zoo-test/refusing"
    make_weights(tmp_path / "w", seed=10)
    monkeypatch.setenv("HF_TOKEN", "hf_" + "x" * 30)
    assert main(["push", str(tmp_path / "w"), repo]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"zoo: error: push to hf://{repo}: the Hub at {olah.url} ")
    assert "answered HTTP 405: the endpoint does not accept uploads; check HF_ENDPOINT" in err
    assert not olah.repo_path(repo).exists()
    # the console command as a user runs it: exit status 2, one line, no traceback
    env = {
        **os.environ,
        "HF_ENDPOINT": olah.url,
        "HF_TOKEN": "hf_" + "x" * 30,
        "HF_HOME": str(tmp_path / "hf-home"),
        "HF_HUB_OFFLINE": "0",
        "OMP_NUM_THREADS": "1",
        "ZOO_HUB_TIMEOUT": "5",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "zoo_core.cli", "push", str(tmp_path / "w"), repo],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr and "HTTP 405" in lines[0], proc.stderr
