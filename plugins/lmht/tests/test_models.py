"""LM-HT models: official parameter counts and key layouts, official checkpoints, conformance, the families'
registration (keyword-only classes, variant tables) and timm's head API."""

from __future__ import annotations

import pytest
import torch
from zoo_lmht.neurons import LMHTNeuron
from zoo_lmht.reparam import reparameterize

import zoo_core as zoo
from zoo_core.sdk import ConfigError
from zoo_core.testing import check_model

D = torch.float64

# parameters() of the official builders after replace_activation_by_LMHT (T = 2: +10 per neuron), measured on the
# official code; "base" = the official builder before the activations are replaced
OFFICIAL_COUNTS = [
    ("lmht_resnet18", {"num_classes": 10}, 11_174_132),
    ("lmht_resnet18", {"num_classes": 1000, "use_imagenet": True}, 11_689_682),
    ("lmht_resnet34", {"num_classes": 1000}, 21_798_002),
    ("lmht_resnet19", {"num_classes": 10}, 12_630_858 + 18 * 10),  # base count; 18 neurons
    ("lmht_resnet20", {"num_classes": 10, "mode": "ann"}, 272_474 + 19),  # + 19 QCFS `thresh`
    ("lmht_resnet20", {"num_classes": 10, "mode": "lmht"}, 272_474 + 19 * 10),
    ("lmht_vgg13", {"num_classes": 10}, 28_334_410 + 12 * 10),  # base count; 12 neurons
    ("lmht_vgg13", {"num_classes": 100}, 28_703_140 + 12 * 10),
    ("lmht_vgg16", {"num_classes": 10, "mode": "ann"}, 33_646_666 + 15),
    ("lmht_vgg16", {"num_classes": 100, "mode": "ann"}, 34_015_396 + 15),
    ("lmht_cifarnet", {"num_classes": 10}, 45_007_882 + 7 * 10),  # base count; 7 neurons
    ("lmht_cifarnet", {"num_classes": 100}, 45_054_052 + 7 * 10),
    ("lmht_resnet19_dvs", {"num_classes": 10}, 12_630_282 + 18 * 10),
    ("lmht_resnet18_dvs", {"num_classes": 10}, 11_173_386 + 17 * 10),
]


@pytest.mark.parametrize(("name", "kw", "count"), OFFICIAL_COUNTS)
def test_parameter_counts_equal_the_official_ones(name, kw, count) -> None:
    with torch.device("meta"):
        model = zoo.create_model(name, T=2, **kw)
    assert sum(p.numel() for p in model.parameters()) == count


def test_resnet18_official_layout() -> None:
    sd = zoo.create_model("lmht_resnet18", num_classes=10, T=2).state_dict()
    assert sd["conv1.weight"].shape == (64, 3, 3, 3)
    for k in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
        assert f"bn1.{k}" in sd and f"layer1.0.conv1.1.{k}" in sd and f"layer2.0.downsample.0.1.{k}" in sd
    assert sd["sn1.v_threshold"].shape == (1,) and sd["sn1.alpha"].shape == (1,)
    assert sd["sn1.mask"].shape == (2, 2, 1, 1, 1, 1) and sd["sn1.mask_linear"].shape == (2, 2, 1, 1, 1)
    assert sd["layer1.0.conv1.0.weight"].shape == (64, 64, 3, 3)
    assert sd["layer4.1.conv2.0.weight"].shape == (512, 512, 3, 3)
    assert sd["layer2.0.downsample.0.0.weight"].shape == (128, 64, 1, 1)
    assert "layer1.0.downsample.0.0.weight" not in sd
    assert "layer3.1.sn2.mask" in sd and sd["fc.0.weight"].shape == (10, 512) and "fc.0.bias" in sd
    neurons = [k for k in sd if k.endswith(".alpha")]
    assert len(neurons) == 17


def test_resnet20_official_layouts() -> None:
    ann = zoo.create_model("lmht_resnet20", num_classes=10, mode="ann").state_dict()
    assert ann["conv1.0.weight"].shape == (16, 3, 3, 3) and ann["conv1.2.thresh"].shape == (1,)
    for k in ("residual_function.0.weight", "residual_function.1.bias", "residual_function.2.thresh"):
        assert "conv2_x.0." + k in ann
    assert "conv3_x.0.shortcut.0.weight" in ann and "conv3_x.0.shortcut.1.running_var" in ann
    assert "conv2_x.0.shortcut.0.weight" not in ann and "conv4_x.2.relu.thresh" in ann
    assert ann["fc.weight"].shape == (10, 64)
    snn = zoo.create_model("lmht_resnet20", num_classes=10, mode="lmht").state_dict()
    assert snn["conv1.0.0.weight"].shape == (16, 3, 3, 3) and "conv1.1.0.running_mean" in snn
    assert snn["conv1.2.mask"].shape == (2, 2, 1, 1, 1, 1) and "conv1.2.v_threshold" in snn
    assert "conv3_x.0.residual_function.3.0.weight" in snn and "conv3_x.0.shortcut.0.0.weight" in snn
    assert "conv4_x.2.relu.alpha" in snn and snn["fc.0.weight"].shape == (10, 64)


def test_from_official_drops_core_aliases_and_infers_config() -> None:
    model = zoo.create_model("lmht_resnet18", num_classes=10, T=2, width_mult=0.0625, img_size=8)
    sd = model.state_dict()
    official = dict(sd)
    for k, v in sd.items():
        if k.endswith(".mask"):
            official[k[: -len("mask")] + "core"] = v.clone()  # what a trained official checkpoint holds
    wrapped = {"model": {f"module.{k}": v for k, v in official.items()}, "epoch": 3, "max_acc1": 0.5}
    mapped = zoo.from_official("lmht_resnet18", wrapped)
    assert list(mapped) == list(sd)
    model.load_state_dict(mapped)  # strict
    lost = {k: v for k, v in official.items() if not k.endswith(".mask")}
    assert all(
        torch.equal(zoo.from_official("lmht_resnet18", lost)[k], sd[k]) for k in sd if k.endswith(".mask")
    )
    cfg = zoo.official_config("lmht_resnet18", wrapped)
    assert cfg == {"num_classes": 10, "in_chans": 3, "use_imagenet": False, "T": 2}
    ann = zoo.create_model("lmht_resnet20", num_classes=100, mode="ann").state_dict()
    assert zoo.official_config("lmht_resnet20", ann) == {"num_classes": 100, "in_chans": 3, "mode": "ann"}
    snn = zoo.create_model("lmht_resnet20", num_classes=10, T=3).state_dict()
    assert zoo.official_config("lmht_resnet20", snn) == {
        "num_classes": 10,
        "in_chans": 3,
        "T": 3,
        "mode": "lmht",
    }
    if_sd = zoo.create_model("lmht_resnet20", num_classes=10, mode="if").state_dict()
    assert "conv1.2.v_threshold" in if_sd and not any(k.endswith(".alpha") for k in if_sd)
    assert zoo.official_config("lmht_resnet20", if_sd) == {"num_classes": 10, "in_chans": 3, "mode": "if"}


@pytest.mark.parametrize(
    "name",
    [
        "lmht_resnet18",
        "lmht_resnet20",
        "lmht_resnet34",
        "lmht_vgg13",
        "lmht_vgg16",
        "lmht_ms_resnet18",
        "lmht_spikformer_4_384",
        "lmht_resnet19",
        "lmht_resnet19_dvs",
        "lmht_cifarnet",
        "lmht_vgg13_hybrid",
        "lmht_cnn_digits",
    ],
)
def test_conformance(name) -> None:
    check_model(name)


@pytest.mark.parametrize("mode", ["ann", "if"])
def test_resnet20_other_modes_conform(mode) -> None:
    check_model("lmht_resnet20", mode=mode, T=3)


def test_vgg_layouts() -> None:
    sd = zoo.create_model("lmht_vgg13", num_classes=10, width_mult=0.0625).state_dict()
    assert "layer1.0.0.bias" in sd and "layer1.0.1.running_mean" in sd and "layer1.1.mask" in sd
    assert "layer4.6.0.weight" in sd and "layer5.1.alpha" in sd
    assert {k.split(".")[1] for k in sd if k.startswith("classifier") and k.endswith("weight")} == {
        "0",
        "3",
        "6",
    }
    assert "classifier.1.mask_linear" in sd and "classifier.4.alpha" in sd
    head200 = zoo.create_model("lmht_vgg13", num_classes=200, width_mult=0.0625).state_dict()
    assert [k for k in head200 if k.startswith("classifier")] == ["classifier.0.weight", "classifier.0.bias"]
    ann = zoo.create_model("lmht_vgg16", num_classes=10, mode="ann", width_mult=0.0625).state_dict()
    assert "layer1.0.bias" in ann and "layer1.2.thresh" in ann and "layer3.10.thresh" in ann
    assert "classifier.1.weight" in ann and "classifier.2.thresh" in ann and "classifier.7.weight" in ann
    snn = zoo.create_model("lmht_vgg16", num_classes=10, width_mult=0.0625).state_dict()
    assert "layer1.0.0.weight" in snn and "layer1.2.mask" in snn and "classifier.7.0.weight" in snn


def test_spikformer_count_layout_and_token_neurons() -> None:
    with torch.device("meta"):
        big = zoo.create_model("lmht_spikformer_4_384", T=2)
    assert sum(p.numel() for p in big.parameters()) == 9_325_060  # official count (CIFAR-10, T = 2)
    model = zoo.create_model("lmht_spikformer_4_384", embed_dims=32, num_heads=2, depths=1, img_size=8)
    sd = model.state_dict()
    for k in ("patch_embed.proj_conv.weight", "patch_embed.rpe_lif.mask", "block.0.attn.q_lif.mask_linear"):
        assert k in sd
    assert "block.0.mlp.fc2_bn.running_var" in sd and sd["head.weight"].shape == (10, 32)
    official = dict(sd)
    official["block.0.attn.q_lif.core"] = sd[
        "block.0.attn.q_lif.mask_linear"
    ]  # token neurons alias mask_linear
    official["patch_embed.proj_lif.core"] = sd["patch_embed.proj_lif.mask"]
    assert list(zoo.from_official("lmht_spikformer_4_384", official)) == list(sd)
    model(torch.rand(2, 3, 8, 8)).sum().backward()
    q = model.block[0].attn.q_lif
    assert q.mask_linear.grad is not None and not q.mask.requires_grad
    with pytest.raises(ConfigError, match="BatchNorm1d"):
        reparameterize(model)


def test_dvs_variant_one_step_stem() -> None:
    """Official CIFAR10-DVS path: frames averaged into one step; the stem neuron maps 1 input step to T steps
    with I_t = sum_j 2 sigma(M_tj) X_1 (the official broadcast, divided by x.shape[0] = 1)."""
    n = LMHTNeuron(L=2, T=3).to(D)
    with torch.no_grad():
        n.mask.copy_(torch.linspace(-1, 1, 9, dtype=D).view(3, 3, 1, 1, 1, 1))
    x = torch.rand(1, 2, 4, 3, 3, dtype=D, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = n(x)
    w = (2 * torch.sigmoid(torch.linspace(-1, 1, 9, dtype=D).view(3, 3))).sum(1)
    v = torch.zeros_like(x[0])
    for t in range(3):
        h = v + w[t] * x[0]
        s_t = torch.clamp(torch.floor(h / 1.0), 0, 2)
        assert torch.allclose(out[t], s_t, atol=0)
        v = h - s_t
    model = zoo.create_model("lmht_resnet18_dvs", width_mult=0.0625, img_size=8).eval()
    assert "conv1.0.weight" in model.state_dict() and "bn1.0.running_var" in model.state_dict()
    frames = torch.rand(10, 2, 2, 8, 8)
    with torch.no_grad():
        assert model.forward_steps(frames).shape == (2, 2, 10)
        assert torch.allclose(model(frames), model(frames.mean(0)), atol=1e-6)


def test_cifarnet_official_layout() -> None:
    """Official models/VGG.py cifarnet: groups [128] [256,M] [512,M] [1024] [512]; classifier
    Linear(512*8*8, 1024) -> neuron -> Dropout -> Linear(1024, 512) -> neuron -> Dropout -> Linear(512, classes)."""
    with torch.device("meta"):
        sd = zoo.create_model("lmht_cifarnet", num_classes=10).state_dict()
    convs = {k: tuple(v.shape) for k, v in sd.items() if k.endswith(".0.0.weight") and k.startswith("layer")}
    assert convs == {
        "layer1.0.0.weight": (128, 3, 3, 3),
        "layer2.0.0.weight": (256, 128, 3, 3),
        "layer3.0.0.weight": (512, 256, 3, 3),
        "layer4.0.0.weight": (1024, 512, 3, 3),
        "layer5.0.0.weight": (512, 1024, 3, 3),
    }
    assert "layer1.0.0.bias" in sd and "layer4.0.1.running_mean" in sd and "layer2.1.mask" in sd
    assert "layer2.3.0.weight" not in sd  # index 3 is the AvgPool
    heads = {k: tuple(v.shape) for k, v in sd.items() if k.startswith("classifier") and k.endswith("weight")}
    assert heads == {
        "classifier.0.0.weight": (1024, 32768),
        "classifier.3.0.weight": (512, 1024),
        "classifier.6.0.weight": (10, 512),
    }
    assert sd["classifier.1.mask_linear"].shape == (2, 2, 1, 1, 1) and "classifier.4.alpha" in sd
    assert len([k for k in sd if k.endswith(".alpha")]) == 7
    assert zoo.official_config("lmht_cifarnet", sd) == {"num_classes": 10, "in_chans": 3, "T": 2}
    with pytest.raises(ConfigError):
        zoo.create_model("lmht_cifarnet", img_size=30)


def test_resnet19_dvs_layout_and_stride() -> None:
    """Official resnet19(use_resnet19=True, use_dvs=True): per-step DVS stem (conv1.0 / bn1.0, 2 input
    channels) and layer2 with stride 2 (stride 1 in the static ResNet-19)."""
    dvs = zoo.create_model("lmht_resnet19_dvs", width_mult=0.0625, img_size=8)
    static = zoo.create_model("lmht_resnet19", width_mult=0.0625, img_size=8, num_classes=10)
    sd = dvs.state_dict()
    assert sd["conv1.0.weight"].shape == (4, 2, 3, 3) and "bn1.0.running_mean" in sd
    assert "fc.0.0.weight" in sd and "fc.1.mask_linear" in sd and "fc.2.0.weight" in sd
    assert not any(k.startswith("layer1.") for k in sd)
    assert dvs.layer2[0].conv1[0].stride == (2, 2) and static.layer2[0].conv1[0].stride == (1, 1)
    assert "layer2.0.downsample.0.0.weight" in sd
    assert zoo.official_config("lmht_resnet19_dvs", sd)["in_chans"] == 2
    frames = torch.rand(10, 2, 2, 8, 8)
    with torch.no_grad():
        assert dvs.eval().forward_steps(frames).shape == (2, 2, 10)
        assert torch.allclose(dvs(frames), dvs(frames.mean(0)), atol=1e-6)
    with pytest.raises(ConfigError, match="DVS"):
        reparameterize(dvs)
    with pytest.raises(ConfigError, match="DVS"):
        zoo.create_model("lmht_resnet18_dvs", mode="inference")


def test_cifar10_dvs_folder_feeds_the_dvs_models(tmp_path) -> None:
    """The core's CIFAR10-DVS loader (``zoo.create_dataset("cifar10_dvs", root=...)``, the official
    build_dvscifar split) batched time first feeds lmht_resnet18_dvs / lmht_resnet19_dvs; test items are the
    last 10 % of each class counted from the end (official DatasetSplitter)."""
    import numpy as np

    from zoo_core.sdk import CIFAR10_DVS_CLASSES

    g = np.random.default_rng(0)
    for name in CIFAR10_DVS_CLASSES:
        (tmp_path / name).mkdir()
        for i in range(10):
            frames = g.poisson(0.5, size=(4, 2, 16, 16)).astype(np.float32)
            np.savez(tmp_path / name / f"{name}_{i}.npz", frames=frames)
    test = zoo.create_dataset("cifar10_dvs", root=str(tmp_path), split="test", frames=4, img_size=8)
    train = zoo.create_dataset("cifar10_dvs", root=str(tmp_path), split="train", frames=4, img_size=8)
    assert len(test) == 10 and len(train) == 90
    assert [test.samples[i][0].name for i in test.indices[:1]] == ["airplane_9.npz"]
    loader = torch.utils.data.DataLoader(train, batch_size=4, collate_fn=train.collate_fn)
    x, y = next(iter(loader))
    assert x.shape == (4, 4, 2, 8, 8) and y.tolist() == [0, 0, 0, 0]
    for name in ("lmht_resnet18_dvs", "lmht_resnet19_dvs"):
        model = zoo.create_model(name, width_mult=0.0625, img_size=8)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        assert torch.isfinite(loss) and model.sn1.mask.grad is not None


FAMILIES = {
    "lmht_resnet18": ("LMHTResNet", {"blocks": [2, 2, 2, 2], "num_classes": 100, "img_size": 32}),
    "lmht_resnet34": ("LMHTResNet", {"blocks": [3, 4, 6, 3], "num_classes": 1000, "use_imagenet": True}),
    "lmht_resnet19": ("LMHTResNet", {"blocks": [3, 3, 2], "num_classes": 100, "use_dvs": False}),
    "lmht_resnet18_dvs": ("LMHTResNet", {"use_dvs": True, "in_chans": 2, "img_size": 48, "num_classes": 10}),
    "lmht_resnet19_dvs": ("LMHTResNet", {"blocks": [3, 3, 2], "use_dvs": True, "in_chans": 2}),
    "lmht_ms_resnet18": ("LMHTResNet", {"ms_block": True, "blocks": [2, 2, 2, 2], "use_imagenet": False}),
    "lmht_ms_resnet34": ("LMHTResNet", {"ms_block": True, "blocks": [3, 4, 6, 3], "img_size": 224}),
    "lmht_vgg13": ("LMHTVGG", {"cfg": "vgg13", "num_classes": 200, "img_size": 64}),
    "lmht_cifarnet": ("LMHTVGG", {"cfg": "cifarnet", "num_classes": 10, "img_size": 32}),
    "lmht_resnet20": ("LMHTResNet20", {"levels": 8, "thresh": 8.0, "mode": "lmht"}),
    "lmht_vgg16": ("LMHTHybridVGG", {"cfg": "vgg16", "num_classes": 100}),
    "lmht_vgg13_hybrid": ("LMHTHybridVGG", {"cfg": "vgg13", "num_classes": 100}),
    "lmht_spikformer_4_384": ("LMHTSpikformer", {"embed_dims": 384, "num_heads": 12, "depths": 4}),
    "lmht_cnn_digits": ("LMHTDigitsCNN", {"channels": [16, 32], "img_size": 8, "in_chans": 1}),
}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_variants_are_one_keyword_only_class_per_family(name) -> None:
    """Each registered model is its family's class built from the registered defaults (the paper's setting);
    the constructors take keywords only and know no registry name."""
    cls_name, expected = FAMILIES[name]
    info = zoo.model_info(name)
    assert {k: info.defaults[k] for k in expected} == expected
    assert info.defaults["T"] == 2 and info.defaults["L"] == 2
    with torch.device("meta"):
        model = zoo.create_model(name)
    assert type(model).__name__ == cls_name
    with pytest.raises(TypeError):
        type(model)(2)  # keyword-only
    assert "name" not in info.defaults and "who" not in info.defaults


def test_family_configuration_errors() -> None:
    for kw in ({"blocks": [2, 2]}, {"blocks": [2, 0, 2, 2]}, {"use_dvs": True, "use_imagenet": True}):
        with pytest.raises(ConfigError, match="LMHTResNet"):
            zoo.create_model("lmht_resnet18", **kw)
    with pytest.raises(ConfigError, match="mode"):
        zoo.create_model("lmht_resnet18", mode="ann")
    with pytest.raises(ConfigError, match="cfg"):
        zoo.create_model("lmht_vgg16", cfg="vgg19")
    with pytest.raises(ConfigError, match="width_mult"):
        zoo.create_model("lmht_vgg13", width_mult=0)
    inf = zoo.create_model("lmht_resnet18", T=3, L=2, mode="inference", width_mult=0.0625, img_size=8)
    assert inf.T == 6 and inf.T_train == 3 and inf.L == 2  # inference runs L*T steps


@pytest.mark.parametrize(
    ("name", "kw", "head"),
    [
        ("lmht_resnet18", {}, "fc.0"),
        ("lmht_resnet19", {}, "fc.2.0"),
        ("lmht_vgg13", {"img_size": 16}, "classifier.6.0"),
        ("lmht_cifarnet", {}, "classifier.6.0"),
        ("lmht_resnet20", {"width_mult": 0.5}, "fc.0"),
        ("lmht_resnet20", {"width_mult": 0.5, "mode": "ann"}, "fc"),
        ("lmht_vgg16", {"img_size": 32}, "classifier.7.0"),
        ("lmht_vgg16", {"img_size": 32, "mode": "ann"}, "classifier.7"),
        ("lmht_spikformer_4_384", {"embed_dims": 32, "num_heads": 2, "depths": 1}, "head"),
        ("lmht_cnn_digits", {"channels": [4, 8]}, "classifier.1"),
    ],
)
def test_timm_head_api(randomise, name, kw, head) -> None:
    """forward_head(forward_features(x)) == forward(x) (images and, for the ANN, frame sequences);
    get_classifier is the last linear layer; reset_classifier(5) gives 5 logits, reset_classifier(0) features."""
    small = {"num_classes": 10, "width_mult": 0.0625, "img_size": 8}
    info = zoo.model_info(name)
    model = zoo.create_model(name, **{**{k: v for k, v in small.items() if k in info.defaults}, **kw})
    model = randomise(model, seed=11, masks=True).double().eval()
    c, s = model.in_chans, model.img_size
    x = torch.rand(3, c, s, s, dtype=D, generator=torch.Generator().manual_seed(0)) * 2 - 0.5
    inputs = [x, x.unsqueeze(0).repeat(model.T, 1, 1, 1, 1)]
    with torch.no_grad():
        for inp in inputs:
            y = model(inp)
            assert y.shape == (3, 10) and y.abs().max() > 0
            assert torch.equal(model.forward_head(model.forward_features(inp)), y)
    assert model.get_classifier() is model.get_submodule(head)
    feats = model.forward_features(x)
    assert feats.shape[-1] == model.num_features or feats.dim() == 5  # digits: the head flattens
    model.reset_classifier(5)
    with torch.no_grad():
        assert model(x).shape == (3, 5) and model.num_classes == 5
    width = model.get_classifier().in_features
    model.reset_classifier(0)  # the head then ends with the input of its last linear layer
    with torch.no_grad():
        assert model(x).shape == (3, width)
