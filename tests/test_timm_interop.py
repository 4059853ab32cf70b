"""Zoo models through timm's own create_model, without touching timm's names: weights, data config, heads,
stages, weight sources (overlay file, local-dir: folders), and only timm's public API."""

from __future__ import annotations

import inspect
import json
import re
import warnings
from typing import ClassVar

import numpy as np
import pytest
import torch
from PIL import Image

import zoo_core as zoo
from zoo_core import timm_interop
from zoo_core.data import image_folder
from zoo_core.data.preprocessing import model_preprocessing, takes_images
from zoo_core.errors import ConfigError, WeightsError

timm = pytest.importorskip("timm")


@pytest.fixture(scope="module", autouse=True)
def registered():
    return zoo.register_with_timm()


def image(mode: str, size=(45, 38), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


def trained_like(seed: int, **kw) -> torch.nn.Module:
    """A spiking_cnn with weights and BN statistics unlike the demo's."""
    torch.manual_seed(seed)
    model = zoo.create_model("spiking_cnn", **kw)
    with torch.no_grad():
        model.train()(torch.rand(8, 1, 8, 8))
    return model.eval()


def same_tensors(a: torch.nn.Module, b: torch.nn.Module, skip=()) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sb if k not in skip)


# ----------------------------------------------------------------------------------------- registration
def test_zoo_models_are_created_by_timm_without_clashes(registered):
    before = set(timm.list_models()) - set(registered)
    names = zoo.register_with_timm()
    after = set(timm.list_models())
    assert names == registered == ["zoo_" + n for n in zoo.list_models() if takes_images(n)]
    assert before <= after and after - before == set(names)  # nothing of timm's was replaced
    model = timm.create_model("zoo_spiking_cnn", num_classes=5, T=2, drop_rate=0.0)
    assert model.zoo_name == "spiking_cnn" and model(torch.rand(2, 1, 8, 8)).shape == (2, 5)
    with pytest.raises(TypeError, match="drop_path_rate"):
        timm.create_model("zoo_spiking_cnn", drop_path_rate=0.1)
    assert zoo.register_with_timm() == names  # idempotent


def test_the_bridge_uses_no_private_timm_api():
    source = inspect.getsource(timm_interop)
    assert not re.search(r"timm\.\w+\._|from timm[\w.]*\._|\._registry|_model_entrypoints", source)


def test_timm_pretrained_tag_loads_the_zoo_weights():
    assert "zoo_spiking_cnn.digits_t4" in timm.list_models("zoo_*", pretrained=True)
    a = timm.create_model("zoo_spiking_cnn.digits_t4", pretrained=True)
    b = zoo.create_model("spiking_cnn.digits_t4", pretrained=True)
    assert same_tensors(a, b)
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(a.eval()(x), b.eval()(x))
    # the default tag of timm's registry is the model's first weight set
    c = timm.create_model("zoo_spiking_cnn", pretrained=True)
    assert same_tensors(c, b) and c.pretrained_cfg["tag"] == "digits_t4"
    with pytest.raises(ConfigError, match=r"no weight tag 'cifar10_t4'.*digits_t4"):
        timm.create_model("zoo_spiking_cnn.cifar10_t4", pretrained=True)
    with pytest.raises(WeightsError, match="no pretrained weights for zoo_resnet20_qcfs"):
        timm.create_model("zoo_resnet20_qcfs", pretrained=True, width_mult=0.25)


# ------------------------------------------------------------------------------------------ data config
def test_data_config_of_a_digits_model_is_1x8x8_without_normalisation():
    m = timm.create_model("zoo_spiking_cnn.digits_t4", pretrained=True)
    cfg = timm.data.resolve_data_config(model=m)
    assert cfg["input_size"] == (1, 8, 8)
    assert tuple(cfg["mean"]) == (0.0,) and tuple(cfg["std"]) == (1.0,)
    tf = timm.data.create_transform(**cfg)
    img = image("L")
    zoo_tf = model_preprocessing("spiking_cnn", m.zoo_args).transform()
    x = tf(img)
    assert x.shape == (1, 8, 8) and torch.equal(x, zoo_tf(img))
    # and it is what the weights see: the transformed image is a valid input with the same logits
    assert torch.equal(m.eval()(x[None]), m(zoo_tf(img)[None]))


def test_data_config_of_an_imagenet_model_is_its_resize_crop_and_mean_std(tmp_path):
    m = timm.create_model("zoo_spikingresformer_ti")
    cfg = timm.data.resolve_data_config(model=m)
    pre = zoo.model_info("spikingresformer_ti").preprocessing
    assert cfg == {
        "input_size": (3, 224, 224),
        "interpolation": "bicubic",
        "mean": tuple(pre["mean"]),
        "std": tuple(pre["std"]),
        "crop_pct": 0.95,
        "crop_mode": "center",
    }
    tf = timm.data.create_transform(**cfg)
    img = image("RGB", size=(300, 260))
    x = tf(img)
    # timm's pipeline equals the zoo's own preprocessing, and the image-folder loader of zoo eval
    assert x.shape == (3, 224, 224) and torch.equal(
        x, model_preprocessing("spikingresformer_ti").transform()(img)
    )
    (tmp_path / "c").mkdir()
    img.save(tmp_path / "c" / "0.png")
    data = image_folder(tmp_path, "test", 3, 224, pre)
    assert torch.equal(data[0][0], x)


def test_only_image_models_are_timm_models():
    for name in zoo.list_models():
        assert timm.models.is_model(f"zoo_{name}") == takes_images(name), name


def test_every_model_carries_its_registered_preprocessing_as_timm_data_config():
    for name in filter(takes_images, zoo.list_models()):
        d = zoo.model_info(name).defaults
        pre = zoo.model_info(name).preprocessing
        cfg = timm.data.resolve_data_config(
            pretrained_cfg=timm.models.get_pretrained_cfg(f"zoo_{name}").to_dict()
        )
        c = d["in_chans"]
        assert cfg["input_size"] == (c, d["img_size"], d["img_size"]), name
        assert tuple(cfg["mean"]) == tuple(pre.get("mean", (0.0,) * c)), name
        assert tuple(cfg["std"]) == tuple(pre.get("std", (1.0,) * c)), name
        assert cfg["interpolation"] == pre.get("interpolation", "bilinear"), name
        assert cfg["crop_mode"] == ("center" if "resize" in pre else "squash"), name


def test_pretrained_models_carry_the_data_config_of_their_weights():
    for full in zoo.list_models(pretrained=True):
        name = full.split(".")[0]
        if not takes_images(name):
            continue
        m = timm.create_model("zoo_" + full, pretrained=True)
        expected = model_preprocessing(name, m.zoo_args).timm_data_config()
        cfg = timm.data.resolve_data_config(model=m)
        assert cfg == {k: expected[k] for k in cfg}, full


# ------------------------------------------------------------------------------------------------- heads
def test_head_api_through_timm():
    m = timm.create_model("zoo_spiking_cnn.digits_t4", pretrained=True).eval()
    x = torch.rand(4, 1, 8, 8)
    assert m.num_features == 128 and m.get_classifier().out_features == 10
    feats = m.forward_features(x)
    assert feats.shape == (4, 4, 128)  # [T, B, num_features]: what the head receives per step
    assert torch.equal(m.forward_head(feats), m(x))
    m.reset_classifier(3)
    assert m.get_classifier().out_features == 3 and m(x).shape == (4, 3)


def test_pretrained_with_another_num_classes_loads_all_but_the_classifier():
    ref = zoo.create_model("spiking_cnn.digits_t4", pretrained=True)
    with pytest.warns(
        UserWarning, match=r"except the classifier.*skipped head\.module\.bias, head\.module\.weight"
    ):
        m = timm.create_model("zoo_spiking_cnn.digits_t4", pretrained=True, num_classes=5)
    head = {"head.module.weight", "head.module.bias"}
    assert m.num_classes == 5 and m.get_classifier().out_features == 5 and m.zoo_args["num_classes"] == 5
    assert same_tensors(m, ref, skip=head)
    assert m.state_dict().keys() == ref.state_dict().keys()
    assert m(torch.rand(2, 1, 8, 8)).shape == (2, 5)
    # the same number of classes loads everything, silently
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert same_tensors(
            timm.create_model("zoo_spiking_cnn.digits_t4", pretrained=True, num_classes=10), ref
        )


def test_num_classes_zero_is_a_feature_extractor():
    ref = zoo.create_model("spiking_cnn.digits_t4", pretrained=True)
    with pytest.warns(UserWarning, match="removed the pretrained classifier"):
        m = timm.create_model("zoo_spiking_cnn.digits_t4", pretrained=True, num_classes=0)
    x = torch.rand(3, 1, 8, 8)
    assert m(x).shape == (3, m.num_features) == (3, 128)
    assert torch.equal(m(x), ref.eval().forward_features(x).mean(0))


# ------------------------------------------------------------------------------------------------ stages
def test_features_only_returns_each_stage_averaged_over_time():
    ref = zoo.create_model("spiking_cnn.digits_t4", pretrained=True)
    f = timm.create_model("zoo_spiking_cnn.digits_t4", pretrained=True, features_only=True)
    assert f.feature_info.channels() == [16, 32] and f.feature_info.reduction() == [2, 4]
    x = torch.rand(5, 1, 8, 8)
    out = f(x)
    h = ref.encode(x)
    stage1 = ref.features[:3](h)
    stage2 = ref.features[3:6](stage1)
    assert [o.shape for o in out] == [(5, 16, 4, 4), (5, 32, 2, 2)]
    assert torch.equal(out[0], stage1.mean(0)) and torch.equal(out[1], stage2.mean(0))
    frames = torch.rand(3, 2, 1, 8, 8)  # [T, B, C, H, W] frames too
    assert torch.equal(f(frames)[1], ref.features(ref.encode(frames)).mean(0))
    last = timm.create_model("zoo_spiking_cnn", features_only=True, out_indices=(-1,))
    assert last.feature_info.channels() == [32] and [o.shape for o in last(x)] == [(5, 32, 2, 2)]


def test_features_only_of_a_time_folded_resnet():
    kw = {"width_mult": 0.25, "T": 2, "num_classes": 10}
    x = torch.rand(3, 3, 32, 32)
    for mode in ("ann", "parallel"):
        torch.manual_seed(0)
        f = timm.create_model("zoo_resnet20_qcfs", features_only=True, mode=mode, **kw).eval()
        m = f.model
        assert f.feature_info.channels() == [4, 8, 16] and f.feature_info.reduction() == [1, 2, 4]
        # by hand: the ANN runs a static image once; the SNN runs the T-times repeated image folded [T*B, ...]
        h = x if mode == "ann" else x.repeat(2, 1, 1, 1)
        stages = []
        h = m.conv1(h)
        for name in ("conv2_x", "conv3_x", "conv4_x"):
            h = getattr(m, name)(h)
            stages.append(h if mode == "ann" else h.view(2, 3, *h.shape[1:]).mean(0))
        out = f(x)
        assert len(out) == 3 and all(torch.equal(a, b) for a, b in zip(out, stages)), mode


class PerStep(torch.nn.Module):
    """A toy model whose stage runs once per time step, [B, C, H, W] each time."""

    feature_info: ClassVar[list[dict]] = [{"module": "stage", "num_chs": 2, "reduction": 1}]

    def __init__(self):
        super().__init__()
        self.stage = torch.nn.Conv2d(1, 2, 1)

    def forward(self, x):  # x: [T, B, 1, H, W]
        return torch.stack([self.stage(x_t) for x_t in x]).mean((0, 2, 3, 4))


def test_features_of_a_stage_run_once_per_step_average_all_steps():
    model = PerStep()
    x = torch.rand(3, 2, 1, 4, 4)
    (out,) = timm_interop.SpikingFeatures(model)(x)
    assert torch.allclose(out, torch.stack([model.stage(x_t) for x_t in x]).mean(0), rtol=0, atol=1e-7)


def test_features_only_names_the_models_that_support_it():
    supported = timm_interop.feature_models()
    assert {"spiking_cnn", "resnet18_qcfs", "resnet20_qcfs", "resnet34_qcfs"} <= set(supported)
    with pytest.raises(
        ConfigError, match=r"zoo_sparse_grad_mlp_digits declares no stages.*models that do: .*zoo_spiking_cnn"
    ):
        timm.create_model("zoo_sparse_grad_mlp_digits", features_only=True)
    with pytest.raises(ConfigError, match="out_indices"):
        timm.create_model("zoo_spiking_cnn", features_only=True, out_indices=(2,))


# ---------------------------------------------------------------------------------------- weight sources
def test_pretrained_cfg_overlay_file_is_honoured(tmp_path):
    mine = trained_like(seed=3)
    zoo.save_pretrained(mine, tmp_path / "w", tag="mine_t4")
    demo = zoo.create_model("spiking_cnn.digits_t4", pretrained=True)
    assert not same_tensors(mine, demo)
    for file in (tmp_path / "w", tmp_path / "w" / "model.safetensors"):  # a weight folder or its file
        m = timm.create_model(
            "zoo_spiking_cnn.digits_t4", pretrained=True, pretrained_cfg_overlay={"file": str(file)}
        )
        assert same_tensors(m, mine), file
        assert m.pretrained_cfg["file"] == str(file)
    with pytest.raises(WeightsError, match="downloads only from the Hugging Face Hub"):
        timm.create_model(
            "zoo_spiking_cnn", pretrained=True, pretrained_cfg_overlay={"url": "https://x/y.pth"}
        )
    (tmp_path / "w.pth").write_bytes(b"not loaded")
    with pytest.raises(WeightsError, match="no pickled checkpoints"):
        timm.create_model(
            "zoo_spiking_cnn", pretrained=True, pretrained_cfg_overlay={"file": str(tmp_path / "w.pth")}
        )
    # a file of another architecture is refused by the zoo's checked loader, nothing half-loaded
    zoo.save_pretrained(trained_like(seed=4, channels=[8, 16]), tmp_path / "other")
    with pytest.raises(WeightsError):
        timm.create_model(
            "zoo_spiking_cnn",
            pretrained=True,
            pretrained_cfg_overlay={"file": str(tmp_path / "other/model.safetensors")},
        )


def test_config_json_carries_timms_keys_and_local_dir_loads_it(tmp_path):
    mine = trained_like(seed=5, T=2)
    folder = zoo.save_pretrained(mine, tmp_path / "w", tag="mine_t2")
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["architecture"] == "zoo_spiking_cnn" and cfg["num_classes"] == 10
    pc = cfg["pretrained_cfg"]
    assert pc["input_size"] == [1, 8, 8] and pc["mean"] == [0.0] and pc["std"] == [1.0]
    assert pc["crop_mode"] == "squash" and pc["interpolation"] == "bilinear" and pc["num_classes"] == 10
    timm.models.PretrainedCfg(**pc)  # only keys timm knows
    assert cfg["model_args"] == cfg["args"] and cfg["model_args"]["T"] == 2
    fresh = timm.create_model(f"local-dir:{folder}")  # no weights: the folder's architecture
    assert fresh.T == 2 and not same_tensors(fresh, mine)
    m = timm.create_model(f"local-dir:{folder}", pretrained=True)
    assert m.zoo_name == "spiking_cnn" and m.T == 2 and same_tensors(m, mine)
    assert timm.data.resolve_data_config(model=m)["input_size"] == (1, 8, 8)
    x = torch.rand(2, 1, 8, 8)
    assert torch.equal(m(x), mine(x))


def test_imagenet_style_config_json_pretrained_cfg():
    from zoo_core.hub import model_config_dict

    cfg = model_config_dict(
        zoo.create_model("spikingresformer_ti", **zoo.model_info("spikingresformer_ti").test_config)
    )
    pc = cfg["pretrained_cfg"]
    assert cfg["architecture"] == "zoo_spikingresformer_ti"
    # a test-sized model (img_size 48) keeps the declared crop fraction, as timm would
    assert pc["input_size"] == [3, 48, 48] and pc["crop_pct"] == 0.95 and pc["interpolation"] == "bicubic"
    assert pc["mean"] == [0.485, 0.456, 0.406] and pc["crop_mode"] == "center"


def test_models_built_by_the_zoo_carry_the_timm_data_config_too(tmp_path):
    for m in (
        zoo.create_model("spiking_cnn.digits_t4", pretrained=True),
        zoo.create_model("spikingresformer_ti"),
        zoo.load_pretrained(None, zoo.save_pretrained(trained_like(seed=6), tmp_path / "w")),
    ):
        cfg = timm.data.resolve_data_config(model=m)
        expected = model_preprocessing(m.zoo_name, m.zoo_args).timm_data_config()
        assert cfg == {k: expected[k] for k in cfg} and m.default_cfg is m.pretrained_cfg


def test_num_classes_is_refused_for_a_model_without_classifier():
    with pytest.raises(ConfigError, match=r"has no classifier.*video-prediction"):
        timm.create_model(
            "zoo_spiking_predictor_stc_lif_mdigits.moving_digits_5to5", pretrained=True, num_classes=3
        )


def test_a_model_built_unlike_its_declared_preprocessing_still_builds_and_saves(tmp_path):
    # resnet20_qcfs declares three CIFAR-100 means; with in_chans=1 they no longer fit any input
    with pytest.warns(UserWarning, match=r"no data config.*'mean' needs 1"):
        m = timm.create_model("zoo_resnet20_qcfs", in_chans=1, width_mult=0.25)
    assert m(torch.rand(2, 1, 32, 32)).shape == (2, 100)
    folder = zoo.save_pretrained(
        zoo.create_model("resnet20_qcfs", in_chans=1, width_mult=0.25), tmp_path / "w"
    )
    pc = json.loads((folder / "config.json").read_text())["pretrained_cfg"]
    assert pc["architecture"] == "zoo_resnet20_qcfs" and "mean" not in pc and "input_size" not in pc
