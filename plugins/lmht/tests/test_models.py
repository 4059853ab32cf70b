"""LM-HT models: official parameter counts and key layouts, official checkpoints, conformance, reparameterisation
and the network-level claims (spec sections c4, c5, d, f, h)."""

from __future__ import annotations

import pytest
import torch
from zoo_lmht.neurons import LMHTInferenceNeuron, LMHTNeuron
from zoo_lmht.reparam import reparameterize

import zoo_core as zoo
from zoo_core.sdk import QCFS, ConfigError
from zoo_core.testing import check_model

D = torch.float64

# spec section d: parameters() of the official builders after replace_activation_by_LMHT (T = 2: +10 per neuron)
SPEC_COUNTS = [
    ("lmht_resnet18", {"num_classes": 10}, 11_174_132),
    ("lmht_resnet18", {"num_classes": 1000, "use_imagenet": True}, 11_689_682),
    ("lmht_resnet34", {"num_classes": 1000}, 21_798_002),
    ("lmht_resnet19", {"num_classes": 10}, 12_630_858 + 18 * 10),  # spec: base count; 18 neurons
    ("lmht_resnet20", {"num_classes": 10, "mode": "ann"}, 272_474 + 19),  # + 19 QCFS `thresh`
    ("lmht_resnet20", {"num_classes": 10, "mode": "lmht"}, 272_474 + 19 * 10),
    ("lmht_vgg13", {"num_classes": 10}, 28_334_410 + 12 * 10),  # spec: base count; 12 neurons
    ("lmht_vgg13", {"num_classes": 100}, 28_703_140 + 12 * 10),
    ("lmht_vgg16", {"num_classes": 10, "mode": "ann"}, 33_646_666 + 15),
    ("lmht_vgg16", {"num_classes": 100, "mode": "ann"}, 34_015_396 + 15),
    ("lmht_cifarnet", {"num_classes": 10}, 45_007_882 + 7 * 10),  # spec: base count; 7 neurons
    # measured on the official builders (parity harness): cifarnet C100, resnet19(use_dvs=True), resnet18 DVS
    ("lmht_cifarnet", {"num_classes": 100}, 45_054_052 + 7 * 10),
    ("lmht_resnet19_dvs", {"num_classes": 10}, 12_630_282 + 18 * 10),
    ("lmht_resnet18_dvs", {"num_classes": 10}, 11_173_386 + 17 * 10),
]


@pytest.mark.parametrize(("name", "kw", "count"), SPEC_COUNTS)
def test_parameter_counts_equal_the_spec(name, kw, count) -> None:
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


def _small18(randomise, **kw):
    m = zoo.create_model("lmht_resnet18", num_classes=10, T=2, width_mult=0.0625, img_size=8, **kw)
    return m


def test_reparameterisation_layout_and_skeleton(randomise) -> None:
    model = randomise(_small18(randomise), seed=1, masks=True, alpha=-0.3).eval()
    inf = reparameterize(model)
    assert isinstance(model.sn1, LMHTNeuron)  # the training model is unchanged
    assert isinstance(inf.sn1, LMHTInferenceNeuron) and inf.T == 4 and inf.mode == "inference"
    sd = inf.state_dict()
    assert sd["sn1.alpha"].shape == (4,) and sd["sn1.mask"].shape == (4, 4, 1, 1, 1, 1)
    assert sd["layer1.0.sn1.mask_linear"].shape == (4, 4, 1, 1)
    lam = float(torch.sigmoid(torch.tensor(-0.3))) + 0.5
    assert sd["sn1.alpha"].tolist() == pytest.approx([lam, 1.0, lam, 1.0], abs=1e-7)
    # biases and running means divided by L, except the stem BN (restored); stem neuron scale 1/L
    msd = model.state_dict()
    assert torch.equal(sd["bn1.bias"], msd["bn1.bias"]) and torch.equal(
        sd["bn1.running_mean"], msd["bn1.running_mean"]
    )
    assert torch.equal(sd["layer1.0.conv1.1.bias"], msd["layer1.0.conv1.1.bias"] / 2)
    assert torch.equal(sd["layer1.0.conv1.1.running_mean"], msd["layer1.0.conv1.1.running_mean"] / 2)
    assert torch.equal(sd["fc.0.bias"], msd["fc.0.bias"] / 2) and inf.sn1.scale == 0.5
    skeleton = _small18(randomise, mode="inference")
    skeleton.load_state_dict(sd)
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(skeleton.eval()(x), inf(x))


@pytest.mark.parametrize(("masks", "alpha"), [(True, 0.0), (False, -0.8), (False, 0.0)])
def test_reparameterised_network_matches_training_network(randomise, masks, alpha) -> None:
    """Spec c4: with leak 1 (alpha = 0) and any Omega, or uniform Omega, the summed logits of the
    reparameterised ResNet-18 (L T steps) equal those of the LM-HT model (float64)."""
    model = randomise(_small18(randomise), seed=2, masks=masks, alpha=alpha).double().eval()
    inf = reparameterize(model)
    x = torch.rand(3, 3, 8, 8, dtype=D, generator=torch.Generator().manual_seed(0)) * 2 - 0.5
    with torch.no_grad():
        a = model.forward_steps(x)
        b = inf.forward_steps(x)
    assert a.shape[0] == 2 and b.shape[0] == 4
    assert torch.allclose(a.sum(0), b.sum(0), rtol=0, atol=1e-10)
    assert torch.allclose(model(x), 2 * inf(x), rtol=0, atol=1e-10)


def test_resnet20_lmht_equals_quantized_ann(randomise) -> None:
    """Spec c5/h3: QCFS(lambda=2, n=T L) ResNet-20 vs the same weights with LM-HT(L=2, T=2, theta=1, rho=1/2),
    leak 1, uniform Omega, no input scaling: mean_T(SNN logits) == ANN logits (float64)."""
    ann = zoo.create_model("lmht_resnet20", num_classes=10, mode="ann", levels=4, thresh=2.0, width_mult=0.5)
    ann = randomise(ann, seed=3).double().eval()
    snn = zoo.create_learning_rule("lmht_hybrid", L=2, T=2).convert(ann)
    for m in snn.modules():
        if isinstance(m, LMHTNeuron):
            m.v_threshold.data.fill_(1.0)
            m.scale = 1.0
    x = torch.rand(4, 3, 8, 8, dtype=D, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        y_ann, y_snn = ann(x), snn(x)
    assert y_ann.abs().max() > 0.1
    assert torch.allclose(y_snn, y_ann, rtol=0, atol=1e-12)


def test_hybrid_rule_initialisation(randomise) -> None:
    ann = zoo.create_model("lmht_resnet20", num_classes=10, mode="ann", levels=8, width_mult=0.5)
    ann = randomise(ann, seed=4)
    with torch.no_grad():
        ann.conv2_x[1].relu.thresh.fill_(3.5)
    rule = zoo.create_learning_rule("lmht_hybrid", L=2, T=2)
    snn = rule.convert(ann)
    assert ann.mode == "ann" and snn.mode == "lmht" and snn.T == 2
    n0 = snn.conv1[2]
    assert isinstance(n0, LMHTNeuron) and n0.scale == 2.0 and n0.init_mem == 0.5
    assert float(snn.conv2_x[1].relu.v_threshold) == 3.5 and snn.conv2_x[1].relu.scale == 1.0
    assert float(n0.alpha.detach()) == 0.0 and not n0.mask.any()
    assert rule.record["T"] == 2 and len(rule.record["sites"]) == 19 and not rule.record["lossless"]["exact"]
    # the converted model has the hybrid layout of a fresh lmht-mode skeleton (loads strictly)
    skeleton = zoo.create_model("lmht_resnet20", num_classes=10, width_mult=0.5)
    skeleton.load_state_dict(snn.state_dict())
    ifm = rule.to_if(ann)
    assert ifm.T == 16 and type(ifm.conv1[2]).__name__ == "ConversionIF"
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert ifm(x).shape == (2, 10) and torch.equal(skeleton.eval()(x), snn(x))
    # STBP fine-tuning step
    opt = torch.optim.SGD(snn.parameters(), lr=5e-4, momentum=0.9, weight_decay=5e-4, nesterov=True)
    out = rule.training_step(snn, (x, torch.tensor([1, 2])), opt)
    assert set(out) >= {"loss", "acc"} and n0.alpha.grad is not None


def test_direct_training_with_bptt(randomise) -> None:
    torch.manual_seed(0)
    model = _small18(randomise)
    rule = zoo.create_learning_rule("bptt")
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = torch.rand(8, 3, 8, 8)
    y = torch.arange(8) % 10
    losses = [rule.training_step(model, (x, y), opt)["loss"] for _ in range(8)]
    assert losses[-1] < losses[0]
    assert model.sn1.mask.grad is not None and model.layer4[1].sn2.alpha.grad is not None


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


def test_vgg16_hybrid_and_classifier_neurons(randomise) -> None:
    ann = randomise(zoo.create_model("lmht_vgg16", num_classes=10, mode="ann", width_mult=0.0625), seed=5)
    snn = zoo.create_learning_rule("lmht_hybrid", L=2, T=2).convert(ann)
    assert snn.layer1[2].scale == 2.0 and snn.classifier[2].input_rank == 3
    assert snn.classifier[2].mask_linear.requires_grad and not snn.classifier[2].mask.requires_grad
    x = torch.rand(2, 3, 32, 32)
    snn.train()
    snn(x).sum().backward()
    assert snn.classifier[2].mask_linear.grad is not None and snn.layer2[2].mask.grad is not None
    skeleton = zoo.create_model("lmht_vgg16", num_classes=10, width_mult=0.0625)
    skeleton.load_state_dict(snn.state_dict())
    ann13 = zoo.create_model("lmht_vgg13_hybrid", num_classes=10, mode="ann", width_mult=0.0625)
    assert "layer4.4.weight" in ann13.state_dict() and "layer4.8.weight" not in ann13.state_dict()
    snn13 = zoo.create_learning_rule("lmht_hybrid").convert(ann13)
    zoo.create_model("lmht_vgg13_hybrid", num_classes=10, width_mult=0.0625).load_state_dict(
        snn13.state_dict()
    )


def test_vgg13_reparameterisation_stem(randomise) -> None:
    model = zoo.create_model("lmht_vgg13", num_classes=10, width_mult=0.0625, img_size=16)
    model = randomise(model, seed=6, masks=True, alpha=0.0).double().eval()
    inf = reparameterize(model)
    msd, sd = model.state_dict(), inf.state_dict()
    for k in ("layer1.0.0.bias", "layer1.0.1.bias", "layer1.0.1.running_mean"):
        assert torch.equal(sd[k], msd[k])
    assert torch.equal(sd["layer2.0.0.bias"], msd["layer2.0.0.bias"] / 2) and inf.layer1[1].scale == 0.5
    x = torch.rand(2, 3, 16, 16, dtype=D, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = model.forward_steps(x), inf.forward_steps(x)
    assert torch.allclose(a.sum(0), b.sum(0), rtol=0, atol=1e-10)
    skeleton = zoo.create_model(
        "lmht_vgg13", num_classes=10, width_mult=0.0625, img_size=16, mode="inference"
    )
    skeleton.load_state_dict(sd)
    with torch.no_grad():
        assert torch.equal(skeleton.double().eval()(x), inf(x))


def test_demo_weights_and_reparameterisation() -> None:
    """The published digits weights load (checksum verified), reach the card's accuracy, and the
    reparameterised single-threshold model keeps it."""
    model = zoo.create_model("lmht_cnn_digits.digits_t2", pretrained=True).eval()
    ds = zoo.create_dataset("digits", split="test")
    x = torch.stack([a for a, _ in ds])
    y = torch.tensor([int(b) for _, b in ds])
    inf = reparameterize(model)
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
        acc_inf = (inf(x).argmax(1) == y).float().mean().item()
    assert acc >= 0.97 and acc == pytest.approx(0.9944444, abs=1e-4)
    assert acc_inf >= 0.97


def test_ms_resnet_count_and_reparameterisation(randomise) -> None:
    with torch.device("meta"):
        big = zoo.create_model("lmht_ms_resnet34")
    assert sum(p.numel() for p in big.parameters()) == 21_797_672 + 33 * 10  # spec d: base + 33 neurons
    model = zoo.create_model("lmht_ms_resnet18", num_classes=10, width_mult=0.0625, img_size=8)
    assert not model.sn1.alpha.requires_grad  # exists in the official state dict, never called
    model = randomise(model, seed=7, masks=True, alpha=0.0).double().eval()
    inf = reparameterize(model)
    assert inf.input_scale == 0.5 and inf.sn1.scale == 1.0
    assert torch.equal(inf.bn1.bias, model.bn1.bias)
    x = torch.rand(2, 3, 8, 8, dtype=D, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        a, b = model.forward_steps(x), inf.forward_steps(x)
    assert torch.allclose(a.sum(0), b.sum(0), rtol=0, atol=1e-10)
    skeleton = zoo.create_model(
        "lmht_ms_resnet18", num_classes=10, width_mult=0.0625, img_size=8, mode="inference"
    )
    skeleton.load_state_dict(inf.state_dict())
    with torch.no_grad():
        assert torch.equal(skeleton.double().eval()(x), inf(x))


def test_spikformer_count_layout_and_token_neurons() -> None:
    with torch.device("meta"):
        big = zoo.create_model("lmht_spikformer_4_384", T=2)
    assert sum(p.numel() for p in big.parameters()) == 9_325_060  # spec d (CIFAR-10, T = 2)
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


@pytest.mark.parametrize(("L", "T"), [(2, 2), (4, 2), (2, 3)])
def test_hybrid_init_is_L_times_the_quantized_ann_without_biases(randomise, L, T) -> None:
    """Spec c0/e (our derivation): the hybrid initialisation (theta = lambda, v0 = theta/2, leak 1, Omega = 1/T,
    first neuron scale L) is exactly L times a QCFS ANN with T L levels when the network has no bias terms
    (BN mean and bias 0, fc bias 0): mean_T(SNN logits) == L * ANN logits (float64). With biases (not rescaled by
    the official pipeline) or other ANN levels it is only approximate, as the spec measured."""
    ann = zoo.create_model("lmht_resnet20", num_classes=10, mode="ann", levels=T * L, width_mult=0.5)
    ann = randomise(ann, seed=8)
    with torch.no_grad():
        g = torch.Generator().manual_seed(9)
        for m in ann.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.bias.zero_()
                m.running_mean.zero_()
            elif isinstance(m, QCFS):  # every QCFS clip at random in [0.5, 1.5]
                m.thresh.copy_(torch.rand(1, generator=g) + 0.5)
        ann.fc.bias.zero_()
    ann = ann.double().eval()
    snn = zoo.create_learning_rule("lmht_hybrid", L=L, T=T).convert(ann)
    x = torch.rand(3, 3, 8, 8, dtype=D, generator=torch.Generator().manual_seed(4)) * 2 - 0.5
    with torch.no_grad():
        y_ann, y_snn = ann(x), snn(x)
    assert y_ann.abs().max() > 0.01 and y_ann.std(0).max() > 1e-3  # non-trivial, input-dependent
    assert torch.allclose(y_snn, L * y_ann, rtol=0, atol=1e-12)


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


def test_cifarnet_runs_and_reparameterises(randomise) -> None:
    """Small CIFARNet: classifier neurons see [T, B, N] (time-only mixing), multi-level output; the
    reparameterised model (our stem rule; official main.py has no cifarnet fix) matches for alpha = 0 and
    uniform Omega (spec c4)."""
    model = randomise(zoo.create_model("lmht_cifarnet", width_mult=0.0625, img_size=8), seed=2).to(D).eval()
    x = torch.rand(3, 3, 8, 8, dtype=D, generator=torch.Generator().manual_seed(3)) * 2 - 0.5
    with torch.no_grad():
        y = model.forward_steps(x)
        inf = reparameterize(model)
        y_inf = inf.forward_steps(x)
    assert y.shape == (2, 3, 10) and y_inf.shape == (4, 3, 10) and y.abs().max() > 1e-3
    assert inf.layer1[1].scale == 0.5 and isinstance(inf.classifier[1], LMHTInferenceNeuron)
    assert torch.allclose(y.sum(0), y_inf.sum(0), rtol=0, atol=1e-10)


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
