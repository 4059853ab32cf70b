"""Weight folders: exact round trips, checksums, and a clear error for every kind of bad file."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import zoo_core as zoo
from zoo_core.errors import WeightsError
from zoo_core.hub import CONFIG_NAME, WEIGHTS_NAME, load_official, parse_card, sha256_file


@pytest.fixture
def trained(tmp_path):
    torch.manual_seed(0)
    model = zoo.create_model(
        "spiking_cnn", T=2, num_classes=4, neuron="plif", neuron_kwargs={"surrogate": "sigmoid"}
    )
    with torch.no_grad():  # make BN statistics non-trivial so the round trip covers buffers too
        model.train()(torch.rand(16, 1, 8, 8))
    folder = zoo.save_pretrained(
        model.eval(), tmp_path / "w", tag="test_t2", extra_config={"metrics": {"accuracy": 0.5}}
    )
    return model, folder


def _params_equal(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_round_trip_is_exact_and_config_complete(trained):
    model, folder = trained
    cfg = json.loads((folder / CONFIG_NAME).read_text())
    assert (
        cfg["model"] == "spiking_cnn"
        and cfg["tag"] == "test_t2"
        and cfg["T"] == 2
        and cfg["num_classes"] == 4
    )
    assert cfg["args"]["neuron"] == "plif" and cfg["args"]["neuron_kwargs"] == {"surrogate": "sigmoid"}
    assert cfg["zoo_core_version"] == zoo.__version__
    assert cfg["files"][WEIGHTS_NAME] == sha256_file(folder / WEIGHTS_NAME)
    loaded = zoo.load_pretrained(None, folder)
    assert _params_equal(model, loaded) and not loaded.training
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(model(x), loaded(x))
    # filling an existing model works too
    other = zoo.create_model("spiking_cnn", T=2, num_classes=4, neuron="plif")
    zoo.load_pretrained(other, folder)
    assert _params_equal(model, other)


def test_card_is_written_and_parses(trained):
    _, folder = trained
    card = parse_card((folder / "README.md").read_text())
    assert card.data.library_name == "zoo-core"
    assert "spiking-neural-network" in card.data.tags
    # no data set is named, so the accuracy is stated in the body only (a model-index needs a Hub dataset id)
    assert card.data.eval_results is None
    assert "| accuracy (test) | 0.5 |" in (folder / "README.md").read_text()


def _copy(folder, tmp_path):
    dst = tmp_path / "bad"
    shutil.copytree(folder, dst)
    return dst


def _rewrite(dst, fn):
    sd = load_file(dst / WEIGHTS_NAME)
    fn(sd)
    save_file(sd, dst / WEIGHTS_NAME)
    cfg = json.loads((dst / CONFIG_NAME).read_text())
    cfg["files"] = {}  # a re-saved file: the test is about its content, not its checksum
    (dst / CONFIG_NAME).write_text(json.dumps(cfg))


def _rename_key(sd):
    k = "head.module.weight"
    sd["head.module.weights"] = sd.pop(k)


def _wrong_shape(sd):
    sd["head.module.weight"] = torch.zeros(5, 128)


def _nan(sd):
    sd["features.0.module.0.weight"][0, 0, 0, 0] = float("nan")


def _wrong_dtype(sd):
    sd["head.module.bias"] = torch.zeros(4, dtype=torch.int64)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_rename_key, r"missing keys: head\.module\.weight; unexpected keys: head\.module\.weights"),
        (_wrong_shape, r"shape mismatch for 'head\.module\.weight': file \(5, 128\), model \(4, 128\)"),
        (_nan, r"non-finite values \(NaN/Inf\) in 'features\.0\.module\.0\.weight'"),
        (_wrong_dtype, r"dtype mismatch for 'head\.module\.bias'"),
    ],
)
def test_bad_content_is_named_and_nothing_is_half_loaded(trained, tmp_path, mutate, message):
    _, folder = trained
    dst = _copy(folder, tmp_path)
    _rewrite(dst, mutate)
    victim = zoo.create_model("spiking_cnn", T=2, num_classes=4, neuron="plif")
    before = {k: v.clone() for k, v in victim.state_dict().items()}
    with pytest.raises(WeightsError, match=message) as err:
        zoo.load_pretrained(victim, dst)
    assert str(dst / WEIGHTS_NAME) in str(err.value)
    assert all(torch.equal(before[k], v) for k, v in victim.state_dict().items()), "model was half-loaded"


def test_truncated_file_fails_checksum_then_parse(trained, tmp_path):
    _, folder = trained
    dst = _copy(folder, tmp_path)
    data = (dst / WEIGHTS_NAME).read_bytes()
    (dst / WEIGHTS_NAME).write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        zoo.load_pretrained(None, dst)
    cfg = json.loads((dst / CONFIG_NAME).read_text())
    cfg["files"] = {}
    (dst / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        zoo.load_pretrained(None, dst)


def test_config_errors(trained, tmp_path):
    _, folder = trained
    dst = _copy(folder, tmp_path)
    cfg = json.loads((dst / CONFIG_NAME).read_text())
    cfg["args"]["neuron"] = "no_such_neuron"
    (dst / CONFIG_NAME).write_text(json.dumps(cfg))
    with pytest.raises(WeightsError, match="unknown neuron 'no_such_neuron'"):
        zoo.load_pretrained(None, dst)
    (dst / CONFIG_NAME).write_text("{not json")
    with pytest.raises(WeightsError, match="not valid JSON"):
        zoo.load_pretrained(None, dst)
    (dst / CONFIG_NAME).unlink()
    with pytest.raises(WeightsError, match=r"config\.json: missing"):
        zoo.load_pretrained(None, dst)
    with pytest.raises(WeightsError, match="not found"):
        zoo.load_pretrained(None, tmp_path / "nowhere")


def test_expected_checksum_from_registry_is_verified(trained):
    _, folder = trained
    with pytest.raises(WeightsError, match="sha256 mismatch"):
        zoo.load_pretrained(None, folder, expected_sha256={WEIGHTS_NAME: "0" * 64})


def test_pickle_needs_opt_in_and_is_weights_only(tmp_path):
    sd = {"w": torch.arange(3.0)}
    path = tmp_path / "official.pth"
    torch.save({"state_dict": sd}, path)
    with pytest.raises(WeightsError, match="allow_pickle=True"):
        load_official(path)
    assert torch.equal(load_official(path, allow_pickle=True)["w"], sd["w"])

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(WeightsError, match="weights-only"):
        load_official(tmp_path / "evil.pth", allow_pickle=True)


def test_safetensors_is_recognised_by_content_not_by_name(tmp_path):
    from safetensors.torch import save_file

    from zoo_core.hub.official import is_safetensors

    sd = {"w": torch.arange(3.0), "b": torch.ones(2, 2)}
    save_file(sd, tmp_path / "pytorch_model.bin")  # safetensors under a pickle's name: no opt-in needed
    got = load_official(tmp_path / "pytorch_model.bin")
    assert got.keys() == sd.keys() and all(torch.equal(got[k], sd[k]) for k in sd)
    torch.save(sd, tmp_path / "zip.pth")  # torch's zip pickle, and headers that only look like one
    (tmp_path / "short.bin").write_bytes(b"\x02\x00")
    (tmp_path / "toolong.bin").write_bytes((1000).to_bytes(8, "little") + b'{"a": 1}')
    (tmp_path / "notjson.bin").write_bytes((4).to_bytes(8, "little") + b"{abc")
    (tmp_path / "array.bin").write_bytes((2).to_bytes(8, "little") + b"[]")
    assert is_safetensors(tmp_path / "pytorch_model.bin")
    for bad in ("zip.pth", "short.bin", "toolong.bin", "notjson.bin", "array.bin"):
        assert not is_safetensors(tmp_path / bad), bad
        with pytest.raises(WeightsError, match="allow_pickle=True"):
            load_official(tmp_path / bad)


def test_save_needs_a_zoo_model(tmp_path):
    with pytest.raises(WeightsError, match=r"zoo\.create_model"):
        zoo.save_pretrained(torch.nn.Linear(2, 2), tmp_path / "x")


def test_from_official_and_convert(tmp_path, capsys):
    from zoo_core.cli import main

    torch.manual_seed(0)
    src = zoo.create_model("spiking_cnn", num_classes=3)

    def from_official(sd):  # an "official" layout: every key prefixed with "net."
        return {k.removeprefix("net."): v for k, v in sd.items()}

    def official_config(sd):
        return {"num_classes": sd["head.module.weight"].shape[0]}

    zoo.register_model(
        "official_cnn",
        owner="tests",
        defaults=zoo.model_info("spiking_cnn").defaults,
        from_official=from_official,
        official_config=official_config,
    )(type(src))
    try:
        official = {"net." + k: v for k, v in src.state_dict().items()}
        ckpt = tmp_path / "official.pth"
        torch.save({"model": {"module." + k: v for k, v in official.items()}, "epoch": 3}, ckpt)
        mapped = zoo.from_official("official_cnn", {"model": official})
        assert mapped.keys() == src.state_dict().keys()
        with pytest.raises(ValueError, match="no official-checkpoint mapping"):
            zoo.from_official("spiking_cnn", official)
        # pickles need the opt-in on the command line too
        assert (
            main(
                ["convert", "--official", str(ckpt), "--model", "official_cnn", "--out", str(tmp_path / "o")]
            )
            == 2
        )
        assert "allow_pickle" in capsys.readouterr().err
        out = tmp_path / "w"
        code = main(
            [
                "convert",
                "--official",
                str(ckpt),
                "--model",
                "official_cnn",
                "--out",
                str(out),
                "--allow-pickle",
                "--tag",
                "test",
            ]
        )
        assert code == 0
        loaded = zoo.load_pretrained(None, out)
        assert loaded.zoo_args["num_classes"] == 3  # inferred from the checkpoint
        assert all(torch.equal(loaded.state_dict()[k], v) for k, v in src.state_dict().items())
        cfg = json.loads((out / CONFIG_NAME).read_text())
        assert cfg["official"]["official_sha256"] == sha256_file(ckpt)
        assert cfg["parameters"]["total"] == sum(p.numel() for p in src.parameters())
        bn = sum(
            m.weight.numel() + m.bias.numel() for m in src.modules() if isinstance(m, torch.nn.BatchNorm2d)
        )
        assert cfg["parameters"]["without_bn_affine"] == cfg["parameters"]["total"] - bn
        assert f"{cfg['parameters']['total']:,}" in (out / "README.md").read_text()
    finally:
        zoo.unregister("model", "official_cnn")


def test_identical_weights_give_identical_bytes(tmp_path):
    torch.manual_seed(0)
    model = zoo.create_model("spiking_cnn")
    digests = {
        sha256_file(zoo.save_pretrained(model, tmp_path / str(i), card=False) / WEIGHTS_NAME)
        for i in range(8)
    }
    assert len(digests) == 1


def test_package_sources_resolve_wherever_the_package_is(tmp_path, monkeypatch) -> None:
    """Demo weights ship inside their package: found from any working directory; a bad package source says so."""
    from zoo_core.hub import is_source, package_source, resolve_source

    src = zoo.model_info("spiking_cnn").weights["digits_t4"].source
    assert src == package_source("zoo_core", "weights/spiking_cnn.digits_t4") and is_source(src)
    monkeypatch.chdir(tmp_path)  # nothing relative to the checkout
    folder = resolve_source(src)
    assert folder == Path(zoo.__file__).resolve().parent / "weights" / "spiking_cnn.digits_t4"
    model = zoo.create_model("spiking_cnn.digits_t4", pretrained=True)
    assert model.zoo_weights["source"] == str(folder)
    for bad, why in (
        ("package://no_such_package_xyz/weights/a", "is not installed"),
        ("package://zoo_core/weights/nothing.here", "no such folder in the installed package"),
        ("package://zoo_core/../etc", "a package source is"),
        ("model_cards/spiking_cnn.digits_t4", "weight folder not found"),
    ):
        with pytest.raises(WeightsError, match=why):
            resolve_source(bad)
    assert not is_source("digits_t4") and is_source(str(tmp_path)) and is_source("hf://a/b")
