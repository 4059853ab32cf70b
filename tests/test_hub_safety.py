"""The weight path under fault injection: a stalled or hostile Hub, traversal attempts, killed and interleaved
saves, hostile configs, cards and safetensors headers, every safetensors dtype.

Servers are local (``hub_faults.py``: a socket that accepts and never answers, and a small Hub whose answers can
be made hostile one at a time). Each test checks the public API: the error is a ``WeightsError`` that says what is
wrong, it comes in bounded time, nothing is written outside the cache or the target folder, and a weight folder is
always loadable.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import struct
import sys
import threading
import time
from pathlib import Path

import hub_faults as faults
import hub_support as hs
import pytest
import torch
from safetensors.torch import save, save_file

import zoo_core as zoo
from zoo_core.errors import ConfigError, WeightsError
from zoo_core.hub import CARD_NAME, CONFIG_NAME, WEIGHTS_NAME, atomic, check_state_dict, read_safetensors
from zoo_core.hub.tensors import DTYPES, non_finite

REPO = "zoo-test/faulty"
COMMIT = "c0ffee" + "0" * 34
#: the idle limit the timeout tests configure, and the slack allowed on top of it (imports are done already)
LIMIT_S = 1.0
SLACK_S = 1.5


def make_model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = zoo.create_model("spiking_cnn", T=2)
    with torch.no_grad():
        model.train()(torch.rand(8, 1, 8, 8))
    return model.eval()


def same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("weights") / "w"
    model = make_model(0)
    zoo.save_pretrained(model, folder, tag="faulty_t2")
    return model, folder


@pytest.fixture
def stalled(tmp_path, monkeypatch):
    server = faults.StalledServer()
    hs.point_hub_at(monkeypatch, server.url, tmp_path / "hf-cache")
    monkeypatch.setenv("ZOO_HUB_TIMEOUT", str(LIMIT_S))
    yield server
    server.stop()


@pytest.fixture
def fake_hub(weights, tmp_path, monkeypatch):
    model, folder = weights
    hub = faults.FakeHub(REPO, COMMIT, faults.folder_files(folder))
    hs.point_hub_at(monkeypatch, hub.url, tmp_path / "hf-cache")
    monkeypatch.setenv("ZOO_HUB_TIMEOUT", str(LIMIT_S))
    hub.model = model
    yield hub
    hub.stop()


def within(seconds: float, fn, *args, **kwargs):
    """Run ``fn`` in a thread; fail the test if it has not returned after ``seconds`` (the test's own bound: an
    unbounded call fails here instead of hanging the suite). Returns (the exception it raised or None, seconds)."""
    box: dict[str, BaseException] = {}

    def run() -> None:
        try:
            fn(*args, **kwargs)
        except BaseException as exc:  # handed to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        pytest.fail(f"{getattr(fn, '__name__', fn)} still waiting after {seconds} s: the wait is not bounded")
    return box.get("error"), time.monotonic() - start


BOUND_S = LIMIT_S + SLACK_S + 10  # a regression fails within this instead of hanging


def _hf_state():
    from huggingface_hub import constants
    from huggingface_hub.utils import _http

    return _http._GLOBAL_CLIENT_FACTORY, _http._GLOBAL_CLIENT, constants.HF_HUB_DISABLE_XET


# ------------------------------------------------------------------------------------------- bounded waits


@pytest.mark.parametrize("revision", ["", f"@{COMMIT}", "@v1"])
def test_a_stalled_endpoint_fails_within_the_configured_timeout(stalled, revision):
    from huggingface_hub import get_session

    user_client = get_session()  # the user's own shared client: must survive the zoo's call untouched
    before = _hf_state()
    error, elapsed = within(BOUND_S, zoo.load_pretrained, None, f"hf://{REPO}{revision}")
    assert isinstance(error, WeightsError), repr(error)
    assert LIMIT_S - 0.1 <= elapsed <= LIMIT_S + SLACK_S, f"gave up after {elapsed:.2f} s"
    message = str(error)
    assert f"hf://{REPO}@" in message and f"no answer from {stalled.url} for {LIMIT_S:g} s" in message
    assert "ZOO_HUB_TIMEOUT" in message
    assert stalled.accepted >= 1  # it really connected: the wait was the server's silence
    # nothing of the bounded call outlives it
    assert _hf_state() == before and get_session() is user_client and not user_client.is_closed


def test_the_timeout_argument_overrides_the_environment(stalled):
    error, elapsed = within(BOUND_S, zoo.load_pretrained, None, f"hf://{REPO}", timeout=0.5)
    assert isinstance(error, WeightsError) and "for 0.5 s" in str(error), repr(error)
    assert elapsed <= 0.5 + SLACK_S
    for bad in ("0", "-1", "nan", "soon"):
        with pytest.raises(ConfigError, match="positive number of seconds"):
            zoo.load_pretrained(None, f"hf://{REPO}", timeout=bad if bad == "soon" else float(bad))


def test_a_stall_in_the_middle_of_a_file_is_bounded(fake_hub):
    fake_hub.stall = {"body"}
    error, elapsed = within(BOUND_S, zoo.load_pretrained, None, f"hf://{REPO}")
    assert isinstance(error, WeightsError) and f"for {LIMIT_S:g} s" in str(error), repr(error)
    assert elapsed <= LIMIT_S + SLACK_S


def test_a_busy_hub_is_not_retried_for_minutes(fake_hub):
    fake_hub.status = {"revision": 503}
    error, elapsed = within(BOUND_S, zoo.load_pretrained, None, f"hf://{REPO}")
    assert isinstance(error, WeightsError) and "answered HTTP 503; the Hub is busy or down" in str(error)
    assert elapsed < SLACK_S  # huggingface_hub alone would back off 1+2+4+8+8 s
    assert fake_hub.count("revision") == 1


def test_a_stalled_hub_falls_back_on_the_cached_commit_of_a_ref(fake_hub):
    first = zoo.load_pretrained(None, f"hf://{REPO}@main")  # fills the cache, records refs/main
    assert same(first, fake_hub.model)
    fake_hub.stall = {"revision"}
    got: list[torch.nn.Module] = []
    with pytest.warns(UserWarning, match=f"using the cached commit {COMMIT}"):
        error, elapsed = within(BOUND_S, lambda: got.append(zoo.load_pretrained(None, f"hf://{REPO}@main")))
    assert error is None and same(got[0], fake_hub.model) and elapsed <= LIMIT_S + SLACK_S
    # a pinned commit in the cache needs no request at all
    asked = len(fake_hub.requests)
    assert same(zoo.load_pretrained(None, f"hf://{REPO}@{COMMIT}"), fake_hub.model)
    assert len(fake_hub.requests) == asked


# ------------------------------------------------------------------------------------------- names and traversal

BAD_SOURCES = [
    "hf://zoo-test/faulty@../../../x",
    "hf://zoo-test/faulty@refs/../../../x",
    "hf://zoo-test/faulty@/etc/passwd",
    "hf://zoo-test/faulty@-rf",
    "hf://zoo-test/faulty@.hidden",
    "hf://zoo-test/faulty@a b",
    "hf://zoo-test/faulty@v1.lock",
    "hf://zoo-test/faulty@main/",
    "hf://zoo-test/faulty@x@y",
    "hf://zoo-test/faulty@",
    "hf://../faulty",
    "hf://zoo-test/..",
    "hf://zoo-test/faulty/extra",
    "hf://zoo--test/faulty",
    "hf://zoo-test/.faulty",
    "hf:///faulty",
]


@pytest.mark.parametrize("source", BAD_SOURCES)
def test_malformed_repo_ids_and_revisions_are_refused_before_use(fake_hub, source):
    with pytest.raises(WeightsError) as err:
        zoo.load_pretrained(None, source)
    assert "hf://" in str(err.value)
    assert fake_hub.requests == []  # refused before any request


def test_offline_traversal_cannot_read_a_ref_outside_the_cache(weights, tmp_path, monkeypatch):
    """The issue's case: offline, ``hf://o/r@../../../x`` read ``<cache>/../x`` as a ref and loaded what it named."""
    _, folder = weights
    cache = tmp_path / "hf-cache"
    hs.point_hub_at(monkeypatch, "http://127.0.0.1:9", cache, offline=True)
    storage = cache / "models--zoo-test--faulty"
    (storage / "snapshots" / COMMIT).mkdir(parents=True)
    for f in folder.iterdir():
        (storage / "snapshots" / COMMIT / f.name).write_bytes(f.read_bytes())
    (tmp_path / "x").write_text(COMMIT)  # <storage>/refs/../../../x, outside the cache
    assert (storage / "refs" / ".." / ".." / ".." / "x").resolve() == (tmp_path / "x").resolve()
    before = faults.files_under(tmp_path)
    for source in (f"hf://{REPO}@../../../x", f"hf://{REPO}@refs/../../../x"):
        with pytest.raises(WeightsError, match="neither a commit id"):
            zoo.load_pretrained(None, source)
    with pytest.raises(WeightsError, match="neither a commit id"):
        zoo.load_pretrained(None, f"hf://{REPO}", revision="../../../x")
    with pytest.raises(WeightsError, match="neither a commit id"):
        zoo.create_model(f"hf://{REPO}@../../../x")
    assert faults.files_under(tmp_path) == before
    # a legitimate offline ref whose cache file was tampered with is refused too
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text("../../../x")
    with pytest.raises(WeightsError, match="not a commit id"):
        zoo.load_pretrained(None, f"hf://{REPO}@main")
    (storage / "refs" / "main").write_text(COMMIT)
    assert zoo.load_pretrained(None, f"hf://{REPO}@main").zoo_weights["sha256"]


def test_the_fake_hub_is_faithful(fake_hub, tmp_path):
    """Sanity for the hostile cases below: unmodified, the fake Hub serves a loadable repo."""
    got = zoo.load_pretrained(None, f"hf://{REPO}")
    assert same(got, fake_hub.model)
    snapshot = Path(got.zoo_weights["source"])
    assert snapshot == (tmp_path / "hf-cache" / "models--zoo-test--faulty" / "snapshots" / COMMIT).resolve()
    assert (snapshot.parent.parent / "refs" / "main").read_text() == COMMIT


HOSTILE = {
    "commit_id_is_a_path": (
        lambda h: setattr(h, "revision_sha", "../../../../evil"),
        "not a 40-hex commit id",
    ),
    "commit_id_is_short": (lambda h: setattr(h, "revision_sha", "abc123"), "not a 40-hex commit id"),
    "commit_header_is_a_path": (
        lambda h: setattr(h, "commit_header", "../../../../evil"),
        "named the commit '../../../../evil'",
    ),
    "commit_header_switches_commit": (
        lambda h: setattr(h, "commit_header", "f" * 40),
        f"answered for commit {'f' * 40} to a request pinned to {COMMIT}",
    ),
    "etag_is_a_relative_path": (
        lambda h: h.etag.update({WEIGHTS_NAME: '"../../../../evil"'}),
        "etag '\"../../../../evil\"', not a plain file name",
    ),
    "etag_is_an_absolute_path": (
        lambda h: h.etag.update({CONFIG_NAME: '"/tmp/evil"'}),
        "not a plain file name",
    ),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE))
def test_a_hostile_hub_cannot_write_outside_the_cache(fake_hub, tmp_path, attack):
    arm, message = HOSTILE[attack]
    arm(fake_hub)
    outside = tmp_path.parent
    before = {p for p in faults.files_under(outside) if not p.is_relative_to(tmp_path / "hf-cache")}
    with pytest.raises(WeightsError, match="refused an answer of the Hub") as err:
        zoo.load_pretrained(None, f"hf://{REPO}")
    assert message in str(err.value)
    after = {p for p in faults.files_under(outside) if not p.is_relative_to(tmp_path / "hf-cache")}
    assert after == before, f"written outside the cache: {sorted(after - before)[:5]}"
    cache = (tmp_path / "hf-cache").resolve()
    assert all(p.resolve().is_relative_to(cache) for p in faults.files_under(cache) if p.exists())


# ------------------------------------------------------------------------------------------- all-or-nothing saves


@pytest.mark.parametrize(
    "step", [f"write {WEIGHTS_NAME}", f"write {CONFIG_NAME}", f"write {CARD_NAME}", "switch"]
)
def test_a_save_that_fails_midway_leaves_the_old_folder(weights, tmp_path, monkeypatch, step):
    old, _ = weights
    folder = tmp_path / "w"
    zoo.save_pretrained(old, folder, tag="old_t2")
    (folder / "notes.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}

    def fail(at: str) -> None:
        if at == step:
            raise OSError(f"injected failure before {at}")

    monkeypatch.setattr(atomic, "_before_step", fail)
    with pytest.raises(OSError, match="injected failure"):
        zoo.save_pretrained(make_model(1), folder, tag="new_t2")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert same(zoo.load_pretrained(None, folder), old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"], "a temporary folder was left behind"
    # the next save goes through, and keeps the folder's other files
    monkeypatch.setattr(atomic, "_before_step", lambda at: None)
    new = make_model(1)
    zoo.save_pretrained(new, folder, tag="new_t2")
    assert same(zoo.load_pretrained(None, folder), new) and (folder / "notes.txt").read_text() == "mine"


def _save_forever(folder: str, seeds: tuple[int, ...], pause: float) -> None:
    """Child process: save the models of ``seeds`` over ``folder`` in turn until killed."""
    models = [make_model(s) for s in seeds]
    atomic._before_step = lambda at: time.sleep(pause)  # widen every gap between the steps of a save
    i = 0
    while True:
        zoo.save_pretrained(models[i % len(models)], folder, tag="kill_t2")
        i += 1


def _fork():
    if sys.platform == "win32" or "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs fork() to start writer processes quickly")
    return multiprocessing.get_context("fork")


def test_a_killed_save_leaves_a_loadable_folder(tmp_path):
    ctx = _fork()
    a, b = make_model(1), make_model(2)
    folder = tmp_path / "w"
    zoo.save_pretrained(a, folder, tag="kill_t2")
    rng = random.Random(0)
    for _ in range(10):
        writer = ctx.Process(target=_save_forever, args=(str(folder), (1, 2), 0.003), daemon=True)
        writer.start()
        time.sleep(rng.uniform(0.3, 0.8))  # several saves, then die in the middle of one
        os.kill(writer.pid, signal.SIGKILL)
        writer.join(10)
        assert writer.exitcode == -signal.SIGKILL
        loaded = zoo.load_pretrained(None, folder)
        assert same(loaded, a) or same(loaded, b)
        assert sorted(p.name for p in folder.iterdir()) == sorted([CARD_NAME, CONFIG_NAME, WEIGHTS_NAME])


def test_concurrent_saves_never_mix_and_readers_see_one_version(tmp_path):
    ctx = _fork()
    a, b = make_model(1), make_model(2)
    folder = tmp_path / "w"
    zoo.save_pretrained(a, folder, tag="kill_t2")
    writers = [
        ctx.Process(target=_save_forever, args=(str(folder), (seed,), 0.0), daemon=True) for seed in (1, 2)
    ]
    for w in writers:
        w.start()
    reads, deadline = 0, time.monotonic() + 3.0
    try:
        while time.monotonic() < deadline:
            loaded = zoo.load_pretrained(None, folder)  # never a config of one save with weights of another
            assert same(loaded, a) or same(loaded, b)
            reads += 1
    finally:
        for w in writers:
            os.kill(w.pid, signal.SIGKILL)
            w.join(10)
    assert reads > 5
    loaded = zoo.load_pretrained(None, folder)
    assert same(loaded, a) or same(loaded, b)


def test_interleaved_saves_in_threads_leave_one_complete_folder(tmp_path):
    models = [make_model(s) for s in (1, 2, 3, 4)]
    folder = tmp_path / "w"
    errors: list[BaseException] = []

    def writer(m: torch.nn.Module) -> None:
        try:
            for _ in range(5):
                zoo.save_pretrained(m, folder, tag="thread_t2")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(m,)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    loaded = zoo.load_pretrained(None, folder)
    assert any(same(loaded, m) for m in models)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]


def test_saves_without_an_atomic_exchange_still_replace_the_folder(weights, tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "_exchange", lambda a, b: False)  # a system without renameat2/renamex_np
    folder = tmp_path / "w"
    for seed in (1, 2):
        model = make_model(seed)
        zoo.save_pretrained(model, folder, tag="t2")
        assert same(zoo.load_pretrained(None, folder), model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w"]


def test_non_finite_weights_are_not_saved_unless_forced(weights, tmp_path):
    good, _ = weights
    folder = tmp_path / "w"
    zoo.save_pretrained(good, folder, tag="good_t2")
    broken = make_model(3)
    with torch.no_grad():
        broken.head.module.weight[0, 0] = float("nan")
        broken.features[0].module[0].weight[0, 0, 0, 0] = float("inf")
    with pytest.raises(WeightsError, match=r"not saved: non-finite values .* allow_non_finite=True") as err:
        zoo.save_pretrained(broken, folder, tag="bad_t2")
    assert "head.module.weight" in str(err.value) and "features.0.module.0.weight" in str(err.value)
    assert same(zoo.load_pretrained(None, folder), good)  # the good folder is untouched
    zoo.save_pretrained(broken, tmp_path / "forced", tag="bad_t2", allow_non_finite=True)
    with pytest.raises(WeightsError, match="non-finite values"):
        zoo.load_pretrained(None, tmp_path / "forced")


# ------------------------------------------------------------------------------------------- hostile configs


def _nested(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


def _edit(cfg: dict, **changes) -> dict:
    out = json.loads(json.dumps(cfg))
    for key, value in changes.items():
        target, _, field = key.rpartition("__")
        (out[target] if target else out)[field] = value
    return out


HOSTILE_CONFIGS = {
    "model_not_a_string": (lambda c: _edit(c, model=5), "model: Input should be a valid string"),
    "model_is_a_path": (lambda c: _edit(c, model="../evil"), "model: String should match pattern"),
    "args_a_list": (lambda c: _edit(c, args=[1, 2]), "args: Input should be a valid dictionary"),
    "args_missing": (lambda c: {k: v for k, v in c.items() if k != "args"}, "args: Field required"),
    "T_a_string": (lambda c: _edit(c, T="4"), "T: Input should be a valid integer"),
    "T_a_bool": (lambda c: _edit(c, T=True), "T: Input should be a valid integer"),
    "num_classes_negative": (lambda c: _edit(c, num_classes=-1), "num_classes: Input should be greater"),
    "format_a_string": (lambda c: _edit(c, format="1"), "format: Input should be a valid integer"),
    "format_from_the_future": (lambda c: _edit(c, format=99), "format 99 is newer than this zoo-core reads"),
    "checksum_not_hex": (lambda c: _edit(c, files={WEIGHTS_NAME: "../x"}), "String should match pattern"),
    "parameters_wrong_type": (lambda c: _edit(c, parameters={"total": "many"}), "parameters.total"),
    "deep_nesting": (lambda c: _edit(c, metrics=_nested(40)), "nested deeper than 32 levels"),
    "deeper_than_the_parser": (
        lambda c: json.dumps(c)[:-1] + ', "metrics": ' + "[" * 100_000 + "]" * 100_000 + "}",
        "nested deeper than 32 levels",
    ),
    "not_an_object": (lambda c: [c], "expected a JSON object, got list"),
    "arg_of_the_wrong_type": (
        lambda c: _edit(c, args__channels="abc"),
        "cannot build 'spiking_cnn' from its arguments: SpikingCNN: channels must be",
    ),
    "unknown_argument": (lambda c: _edit(c, args__bogus=1), "does not accept bogus"),
    "neuron_kwargs_not_a_dict": (
        lambda c: _edit(c, args__neuron_kwargs=[1]),
        "cannot build 'spiking_cnn' from its arguments",
    ),
    "huge_model": (
        lambda c: _edit(c, args__channels=[10**6, 10**6]),
        r"its arguments imply [\d,]+ values, the file holds [\d,]+; nothing was allocated",
    ),
    "wrong_head": (lambda c: _edit(c, args__num_classes=5), "shape mismatch for 'head.module.weight'"),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE_CONFIGS))
def test_hostile_configs_are_a_weights_error(weights, tmp_path, attack):
    _, source = weights
    folder = tmp_path / "w"
    folder.mkdir()
    for f in source.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    edit, message = HOSTILE_CONFIGS[attack]
    cfg = json.loads((source / CONFIG_NAME).read_text())
    edited = edit(cfg)
    (folder / CONFIG_NAME).write_text(edited if isinstance(edited, str) else json.dumps(edited))
    start = time.monotonic()
    with pytest.raises(WeightsError) as err:  # never TypeError, AttributeError, RecursionError, MemoryError
        zoo.load_pretrained(None, folder)
    assert time.monotonic() - start < 5
    assert str(folder / CONFIG_NAME) in str(err.value) or str(folder / WEIGHTS_NAME) in str(err.value)
    assert __import__("re").search(message, str(err.value)), str(err.value)


def test_config_size_and_literals_are_bounded(weights, tmp_path):
    _, source = weights
    folder = tmp_path / "w"
    folder.mkdir()
    (folder / WEIGHTS_NAME).write_bytes((source / WEIGHTS_NAME).read_bytes())
    text = (source / CONFIG_NAME).read_text()
    for body, message in (
        (text[:-2] + ', "pad": "' + "x" * (2 << 20) + '"}', "more than a config.json may have"),
        (text.replace('"T": 2', '"T": NaN'), "NaN is not a JSON number"),
        (text.replace('"T": 2', '"T": ' + "9" * 5000), "not valid JSON"),
        (b"\xff\xfe".decode("latin-1") + text, "not valid JSON"),
    ):
        (folder / CONFIG_NAME).write_text(body, encoding="latin-1" if body.startswith("\xff") else "utf-8")
        with pytest.raises(WeightsError, match=message):
            zoo.load_pretrained(None, folder)


def test_a_config_implying_a_bigger_model_is_refused_before_allocation(tmp_path):
    """The model is first built on the meta device: the real build happens only once the layout matches."""
    devices: list[str] = []

    class Probe(torch.nn.Module):
        def __init__(self, width: int = 4, T: int = 1, num_classes: int = 2) -> None:
            super().__init__()
            devices.append(torch.empty(0).device.type)
            self.fc = torch.nn.Linear(width, num_classes)

    zoo.register_model(
        "probe_net", owner="tests.test_hub_safety", defaults={"width": 4, "T": 1, "num_classes": 2}
    )(Probe)
    try:
        zoo.save_pretrained(zoo.create_model("probe_net"), tmp_path / "w", card=False)
        devices.clear()
        assert isinstance(zoo.load_pretrained(None, tmp_path / "w"), Probe)
        assert devices == ["meta", "cpu"]
        cfg = json.loads((tmp_path / "w" / CONFIG_NAME).read_text())
        cfg["args"]["width"] = 10**9  # 2e9 parameters: 8 GB if it were allocated
        (tmp_path / "w" / CONFIG_NAME).write_text(json.dumps(cfg))
        devices.clear()
        with pytest.raises(WeightsError, match="imply 2,000,000,002 values, the file holds 10"):
            zoo.load_pretrained(None, tmp_path / "w")
        assert devices == ["meta"]
    finally:
        zoo.unregister("model", "probe_net")


# ------------------------------------------------------------------------------------------- safetensors headers


def _raw(header: object, data: bytes = b"") -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


HOSTILE_HEADERS = {
    "huge_header_length": (struct.pack("<Q", 2**62) + b"{}", "header of"),
    "truncated": (b"\x01\x00", "truncated or corrupt"),
    "header_not_json": (struct.pack("<Q", 3) + b"{[x", "header"),
    "header_deeply_nested": (struct.pack("<Q", 200_000) + b"[" * 100_000 + b"]" * 100_000, "header"),
    "unknown_dtype": (
        _raw({"w": {"dtype": "Q9", "shape": [1], "data_offsets": [0, 1]}}, b"\0"),
        "unknown dtype",
    ),
    "negative_shape": (_raw({"w": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}}, b"\0"), "shape"),
    "size_mismatch": (
        _raw({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 4]}}, b"\0" * 4),
        "bytes of",
    ),
    "overlap": (
        _raw(
            {
                "a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]},
            },
            b"\0" * 3,
        ),
        "gaps or overlaps",
    ),
    "data_beyond_the_file": (
        _raw({"w": {"dtype": "U8", "shape": [9], "data_offsets": [0, 9]}}, b"\0"),
        "describes",
    ),
    "float6": (_raw({"w": {"dtype": "F6_E2M3", "shape": [4], "data_offsets": [0, 3]}}, b"\0" * 3), "cannot"),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE_HEADERS))
def test_hostile_safetensors_headers_are_a_weights_error(weights, tmp_path, attack):
    _, source = weights
    folder = tmp_path / "w"
    folder.mkdir()
    blob, message = HOSTILE_HEADERS[attack]
    (folder / WEIGHTS_NAME).write_bytes(blob)
    cfg = json.loads((source / CONFIG_NAME).read_text())
    cfg["files"] = {}  # the header is under test, not the checksum
    (folder / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match=message) as err:
        zoo.load_pretrained(None, folder)
    assert str(folder / WEIGHTS_NAME) in str(err.value)


# ------------------------------------------------------------------------------------------- every dtype

FLOAT8 = [d for d in DTYPES.values() if str(d).startswith("torch.float8")]
#: the byte that encodes NaN in each float8 format
FLOAT8_NAN = {
    "torch.float8_e4m3fn": 0x7F,
    "torch.float8_e4m3fnuz": 0x80,
    "torch.float8_e5m2": 0x7F,
    "torch.float8_e5m2fnuz": 0x80,
    "torch.float8_e8m0fnu": 0xFF,
}


@pytest.mark.parametrize("name", sorted(DTYPES))
def test_every_safetensors_dtype_reads_back_exactly(tmp_path, name):
    dtype = DTYPES[name]
    raw = torch.arange(16, dtype=torch.uint8).reshape(2, 8)
    tensor = raw.view(dtype) if dtype.itemsize == 1 else torch.arange(16).reshape(2, 8).to(dtype)
    save_file({"w": tensor}, tmp_path / "t.safetensors")
    got = read_safetensors(tmp_path / "t.safetensors")["w"]
    assert got.dtype == dtype and got.shape == tensor.shape
    assert torch.equal(got.view(torch.uint8), tensor.view(torch.uint8))
    non_finite(got)  # defined for every dtype (float8 has no isfinite kernel)


@pytest.mark.parametrize("dtype", FLOAT8, ids=str)
def test_float8_weights_load_and_their_nan_is_named(weights, tmp_path, dtype):
    model, _ = weights
    state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    fresh = zoo.create_model("spiking_cnn", T=2)
    check_state_dict(fresh, state, "float8 file")  # finite: no complaint (and no crash)
    zoo.load_pretrained(fresh, _folder_with(tmp_path / "ok", state, model))
    assert torch.equal(fresh.head.module.weight, state["head.module.weight"].to(torch.float32))
    nan = torch.tensor([FLOAT8_NAN[str(dtype)]], dtype=torch.uint8).view(dtype)
    assert non_finite(nan)
    state["head.module.bias"] = torch.cat([nan, state["head.module.bias"][1:]])
    with pytest.raises(WeightsError, match=r"non-finite values \(NaN/Inf\) in 'head.module.bias'"):
        zoo.load_pretrained(
            zoo.create_model("spiking_cnn", T=2), _folder_with(tmp_path / "nan", state, model)
        )


def test_weights_a_model_cannot_take_are_refused_not_crashed(weights, tmp_path):
    model, _ = weights
    state = dict(model.state_dict())
    four = getattr(torch, "float4_e2m1fn_x2", None)
    if four is not None:  # packed 4-bit floats: torch cannot convert them to float32
        w = state["head.module.bias"]
        state["head.module.bias"] = torch.zeros(w.numel(), dtype=torch.uint8).view(four)
        with pytest.raises(WeightsError, match=r"dtype mismatch for 'head\.module\.bias': file F4"):
            zoo.load_pretrained(None, _folder_with(tmp_path / "f4", state, model))
    state = dict(model.state_dict())
    state["head.module.bias"] = torch.full_like(state["head.module.bias"], 1e300, dtype=torch.float64)
    fp16 = zoo.create_model("spiking_cnn", T=2).half()
    with pytest.raises(WeightsError, match=r"overflow the model's torch\.float16"):
        zoo.load_pretrained(fp16, _folder_with(tmp_path / "overflow", state, model))


def _folder_with(folder: Path, state: dict, model: torch.nn.Module) -> Path:
    zoo.save_pretrained(model, folder, card=False)
    blob = save({k: v.contiguous() for k, v in state.items()})
    (folder / WEIGHTS_NAME).write_bytes(blob)
    cfg = json.loads((folder / CONFIG_NAME).read_text())
    cfg["files"] = {}
    (folder / CONFIG_NAME).write_text(json.dumps(cfg))
    return folder


# ------------------------------------------------------------------------------------------- hostile cards


def _card_with(front_matter: str) -> str:
    return f"---\n{front_matter}\n---\n\n# a card\n"


HOSTILE_CARDS = {
    "alias_bomb": (
        "a: &a ['x','x','x','x','x','x','x','x','x']\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b]",
        "aliases",
    ),
    "deep_nesting": ("tags: " + "[" * 60 + "]" * 60, "nested deeper than 32 levels"),
    "tags_not_a_list": ("library_name: zoo-core\ntags: 5", "tags: Input should be a valid list"),
    "license_a_list": ("license: [mit]", "license: Input should be a valid string"),
    "not_a_mapping": ("- just\n- a list", "must be a YAML mapping"),
    "huge": ("pad: '" + "x" * (300 << 10) + "'", "front matter larger than"),
    "invalid_yaml": ("tags: [unclosed", "not valid YAML"),
}


@pytest.mark.parametrize("attack", sorted(HOSTILE_CARDS))
def test_hostile_card_front_matter_is_refused_before_publishing(weights, tmp_path, attack):
    _, source = weights
    folder = tmp_path / "w"
    folder.mkdir()
    for f in source.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    text, message = HOSTILE_CARDS[attack]
    (folder / CARD_NAME).write_text(_card_with(text))

    class NoCalls:
        def __getattr__(self, name):
            raise AssertionError(f"the Hub was called ({name}) for an invalid card")

    with pytest.raises(WeightsError, match=message) as err:
        zoo.push_to_hub(folder, "zoo-test/cards", api=NoCalls())
    assert str(folder / CARD_NAME) in str(err.value)


# ------------------------------------------------------------------------------------------- publishing


def test_push_to_a_stalled_hub_is_one_bounded_line(stalled, weights):
    _, folder = weights
    error, elapsed = within(
        BOUND_S, zoo.push_to_hub, folder, "zoo-test/pushed", token="hf_" + "x" * 30, timeout=LIMIT_S
    )
    assert isinstance(error, WeightsError), repr(error)
    assert elapsed <= LIMIT_S + SLACK_S
    message = str(error)
    assert message.startswith("push to hf://zoo-test/pushed: no answer from") and "\n" not in message


def test_push_without_a_token_says_how_to_log_in(fake_hub, weights, tmp_path, monkeypatch):
    from huggingface_hub import constants

    _, folder = weights
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"))
    with pytest.raises(
        WeightsError, match="no Hugging Face token; log in with `hf auth login` or set HF_TOKEN"
    ):
        zoo.push_to_hub(folder, "zoo-test/pushed")
    assert not any(m == "POST" for m, _ in fake_hub.requests)


def test_push_rejects_a_malformed_branch(weights):
    _, folder = weights
    with pytest.raises(WeightsError, match="neither a commit id"):
        zoo.push_to_hub(folder, "zoo-test/pushed", revision="../main", api=object())


def test_a_config_that_could_not_be_read_back_is_not_written(tmp_path):
    with pytest.raises(WeightsError, match="tag: String should match pattern"):
        zoo.save_pretrained(make_model(1), tmp_path / "w", tag="../../evil")
    assert not (tmp_path / "w").exists()
