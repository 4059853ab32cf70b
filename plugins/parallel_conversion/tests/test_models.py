"""The QCFS models: official parameter counts and state-dict layouts, modes, official checkpoints, conformance."""

from __future__ import annotations

import pytest
import torch
import zoo_core as zoo
from zoo_core.sdk import ConfigError, InputError
from zoo_core.testing import check_model

from zoo_parallel_conversion.neurons import ChannelwiseParallelIF, ParallelIF

QCFS_MODELS = ["vgg16_qcfs", "resnet20_qcfs", "resnet18_qcfs", "resnet34_qcfs", "qcfs_cnn_digits"]

# parameters() of the official builders, including every QCFS `up`
OFFICIAL_COUNTS = [
    ("vgg16_qcfs", {"num_classes": 10}, 33_646_681),
    ("vgg16_qcfs", {"num_classes": 100}, 34_015_411),
    ("vgg16_qcfs", {"num_classes": 1000, "img_size": 224}, 138_366_007),
    ("resnet20_qcfs", {"num_classes": 10}, 272_493),
    ("resnet20_qcfs", {"num_classes": 100}, 278_343),
    ("resnet34_qcfs", {"num_classes": 1000}, 21_790_025),
    ("resnet18_qcfs", {"num_classes": 100}, 11_220_149),
]


@pytest.mark.parametrize(("name", "kw", "count"), OFFICIAL_COUNTS)
def test_parameter_counts_equal_the_official_builders(name, kw, count) -> None:
    with torch.device("meta"):
        model = zoo.create_model(name, **kw)
    assert sum(p.numel() for p in model.parameters()) == count


def test_official_state_dict_layout_resnet20() -> None:
    sd = zoo.create_model("resnet20_qcfs", num_classes=10, is_cab=True).state_dict()
    assert sd["conv1.0.weight"].shape == (16, 3, 3, 3)
    assert sd["conv1.2.up"].shape == (1,) and sd["conv1.2.rec_in_mean"].shape == (16, 1, 1)
    for k in ("running_mean", "running_var", "num_batches_tracked", "weight", "bias"):
        assert f"conv1.1.{k}" in sd
    blk = "conv3_x.0."
    for k in ("residual_function.0.weight", "residual_function.1.weight", "residual_function.2.up"):
        assert blk + k in sd
    for k in (
        "residual_function.3.weight",
        "residual_function.4.bias",
        "shortcut.0.weight",
        "shortcut.1.bias",
    ):
        assert blk + k in sd
    assert "conv4_x.2.relu.up" in sd and "conv4_x.2.relu.rec_th_mean" in sd
    assert "conv2_x.0.shortcut.0.weight" not in sd  # identity shortcut in the first stage
    assert sd["fc.weight"].shape == (10, 64)
    no_cab = zoo.create_model("resnet20_qcfs", num_classes=10).state_dict()
    assert not any("rec_" in k for k in no_cab)


def test_official_state_dict_layout_vgg16() -> None:
    sd = zoo.create_model("vgg16_qcfs", width_mult=0.0625, is_cab=True).state_dict()
    for i in (0, 4):
        assert f"layer1.{i}.weight" in sd and f"layer1.{i}.bias" in sd  # conv with bias
        assert f"layer1.{i + 1}.running_var" in sd and f"layer1.{i + 2}.up" in sd
    assert "layer3.8.weight" in sd and "layer5.10.up" in sd
    assert "classifier.2.up" in sd and "classifier.5.up" in sd
    assert not any(k.startswith("classifier.2.rec") for k in sd)  # linear-level QCFS: never calibrated
    assert {k.split(".")[1] for k in sd if k.startswith("classifier.") and k.endswith("weight")} == {
        "1",
        "4",
        "7",
    }


def test_converted_snn_layout_and_skeleton_load() -> None:
    ann = zoo.create_model("resnet20_qcfs", T=4, num_classes=10, img_size=8, width_mult=0.5)
    snn = zoo.create_learning_rule("parallel_conversion").convert(ann)
    sd = snn.state_dict()
    assert sd["conv1.2.TxT"].shape == (4, 1) and sd["conv1.2.bias"].shape == (4, 1)
    assert "conv1.2.up" not in sd
    assert isinstance(snn.conv1[2], ParallelIF) and snn.mode == "parallel"
    skeleton = zoo.create_model(
        "resnet20_qcfs", T=4, num_classes=10, img_size=8, width_mult=0.5, mode="parallel"
    )
    skeleton.load_state_dict(sd)  # thresholds restored from the buffers
    x = torch.rand(2, 3, 8, 8)
    assert torch.equal(skeleton.eval()(x), snn(x))
    cab = zoo.create_model("resnet20_qcfs", T=4, is_cab=True, img_size=8, width_mult=0.5, mode="parallel")
    n = cab.conv1[2]
    assert isinstance(n, ChannelwiseParallelIF)
    assert n.pre_th.shape == n.post_th.shape == (8, 1, 1)
    assert n.TxT.shape == (4, 1, 1, 1, 1) and n.bias.shape == (4, 1, 8, 1, 1)


def test_from_official_unwraps_and_renames() -> None:
    model = zoo.create_model("resnet20_qcfs", num_classes=10)
    sd = model.state_dict()
    wrapped = {"model": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}
    mapped = zoo.from_official("resnet20_qcfs", wrapped)
    assert list(mapped) == list(sd)
    lmht = {
        k.replace(".up", ".thresh"): v for k, v in sd.items()
    }  # LM-HT's hybrid ANN names the clip `thresh`
    assert list(zoo.from_official("resnet20_qcfs", lmht)) == list(sd)
    cfg = zoo.official_config("resnet20_qcfs", sd)
    assert cfg == {"is_cab": False, "num_classes": 10, "in_chans": 3}
    assert zoo.official_config("resnet20_qcfs", wrapped) == cfg
    vgg = zoo.create_model("vgg16_qcfs", num_classes=100, width_mult=0.0625, is_cab=True).state_dict()
    assert zoo.official_config("vgg16_qcfs", vgg) == {
        "is_cab": True,
        "num_classes": 100,
        "in_chans": 3,
        "img_size": 32,
    }


@pytest.mark.parametrize("mode", ["parallel", "if"])
@pytest.mark.parametrize("name", ["resnet20_qcfs", "vgg16_qcfs"])
def test_snn_modes_conform(name, mode) -> None:
    check_model(name, mode=mode)


def test_cab_and_digits_conform() -> None:
    check_model("resnet18_qcfs", mode="parallel", is_cab=True)
    check_model("qcfs_cnn_digits", mode="parallel")


def test_modes_inputs_and_errors() -> None:
    ann = zoo.create_model("qcfs_cnn_digits", T=4)
    x = torch.rand(3, 1, 8, 8)
    assert ann(x).shape == (3, 10) and ann.forward_steps(x).shape == (4, 3, 10)
    snn = zoo.create_learning_rule("parallel_conversion").convert(ann)
    assert snn(x).shape == (3, 10) and snn(x.unsqueeze(0).repeat(4, 1, 1, 1, 1)).shape == (3, 10)
    with pytest.raises(InputError, match="T=4"):
        snn(torch.rand(2, 3, 1, 8, 8))  # a 2-frame sequence for a T=4 SNN
    with pytest.raises(ConfigError):
        zoo.create_model("qcfs_cnn_digits", mode="spiking")
    with pytest.raises(ConfigError):
        zoo.create_model("vgg16_qcfs", img_size=16)
    with pytest.raises(ConfigError, match="already an SNN"):
        zoo.create_learning_rule("parallel_conversion").convert(snn)


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("qcfs_cnn_digits", {}),
        ("vgg16_qcfs", {"width_mult": 0.0625}),
        ("resnet20_qcfs", {"T": 2, "img_size": 8, "width_mult": 0.5}),
    ],
)
def test_timm_head_api_in_every_mode(name, kw) -> None:
    """forward_head(forward_features(x)) == model(x) for the ANN (static image: one pass; frames) and for its
    parallel SNN; reset_classifier(5) gives 5 logits."""
    torch.manual_seed(0)
    ann = zoo.create_model(name, **kw).eval()
    size, c = ann.img_size, ann.in_chans
    x = torch.rand(3, c, size, size)
    frames = torch.rand(ann.T, 3, c, size, size)
    snn = zoo.create_learning_rule("parallel_conversion").convert(ann)
    with torch.no_grad():
        for model, inp in ((ann, x), (ann, frames), (snn, x), (snn, frames)):
            feats = model.forward_features(inp)
            t = 1 if (model is ann and inp is x) else model.T
            assert feats.shape[:2] == (t, 3) and feats[0, 0].numel() == model.num_features
            assert torch.equal(model.forward_head(feats), model(inp))
            assert model.forward_head(feats, pre_logits=True) is feats
    assert ann.get_classifier().out_features == ann.num_classes
    snn.reset_classifier(5)
    with torch.no_grad():
        assert snn(x).shape == (3, 5) and snn.num_classes == 5


def test_variants_are_one_class_each_family() -> None:
    """Each family is one class; the registered defaults are the class defaults plus the variant's arguments."""
    r18, r20, r34 = (zoo.model_info(f"resnet{d}_qcfs").defaults for d in (18, 20, 34))
    assert r18["blocks"] == [2, 2, 2, 2] and r18["widths"] == [64, 128, 256, 512]
    assert r20["blocks"] == [3, 3, 3] and r20["widths"] == [16, 32, 64] and r20["T"] == 8
    assert r34["blocks"] == [3, 4, 6, 3] and (r34["num_classes"], r34["img_size"]) == (1000, 224)
    with torch.device("meta"):
        models = {n: zoo.create_model(n) for n in ("resnet18_qcfs", "resnet20_qcfs", "resnet34_qcfs")}
    assert len({type(m) for m in models.values()}) == 1
    assert models["resnet20_qcfs"].stage_names == ("conv2_x", "conv3_x", "conv4_x")
    assert zoo.model_info("qcfs_cnn_digits_parallel").defaults == {
        **zoo.model_info("qcfs_cnn_digits").defaults,
        "mode": "parallel",
    }
    with pytest.raises(ConfigError, match="blocks and widths"):
        zoo.create_model("resnet18_qcfs", blocks=[2, 2, 2])
    with pytest.raises(TypeError):
        type(models["resnet18_qcfs"])(4)  # keyword-only constructor
