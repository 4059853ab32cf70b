"""LM-HT network procedures: the reparameterisation to a single-threshold SNN (layout, stem rule, equality of
the summed logits where it is exact), direct training with the core's ``bptt`` rule, and the hybrid pipeline
(QCFS ANN -> IF -> LM-HT) with its exact relations to the quantised ANN (float64)."""

from __future__ import annotations

import pytest
import torch
from zoo_lmht.neurons import LMHTInferenceNeuron, LMHTNeuron
from zoo_lmht.reparam import reparameterize

import zoo_core as zoo
from zoo_core.sdk import QCFS

D = torch.float64


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
    """With leak 1 (alpha = 0) and any Omega, or uniform Omega, the summed logits of the reparameterised
    ResNet-18 (L T steps) equal those of the LM-HT model (float64)."""
    model = randomise(_small18(randomise), seed=2, masks=masks, alpha=alpha).double().eval()
    inf = reparameterize(model)
    x = torch.rand(3, 3, 8, 8, dtype=D, generator=torch.Generator().manual_seed(0)) * 2 - 0.5
    with torch.no_grad():
        a = model.forward_steps(x)
        b = inf.forward_steps(x)
    assert a.shape[0] == 2 and b.shape[0] == 4
    assert torch.allclose(a.sum(0), b.sum(0), rtol=0, atol=1e-10)
    assert torch.allclose(model(x), 2 * inf(x), rtol=0, atol=1e-10)


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


def test_ms_resnet_count_and_reparameterisation(randomise) -> None:
    with torch.device("meta"):
        big = zoo.create_model("lmht_ms_resnet34")
    assert (
        sum(p.numel() for p in big.parameters()) == 21_797_672 + 33 * 10
    )  # official base count + 33 neurons
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


def test_cifarnet_runs_and_reparameterises(randomise) -> None:
    """Small CIFARNet: classifier neurons see [T, B, N] (time-only mixing), multi-level output; the
    reparameterised model (our stem rule; official main.py has no cifarnet fix) matches for alpha = 0 and
    uniform Omega."""
    model = randomise(zoo.create_model("lmht_cifarnet", width_mult=0.0625, img_size=8), seed=2).to(D).eval()
    x = torch.rand(3, 3, 8, 8, dtype=D, generator=torch.Generator().manual_seed(3)) * 2 - 0.5
    with torch.no_grad():
        y = model.forward_steps(x)
        inf = reparameterize(model)
        y_inf = inf.forward_steps(x)
    assert y.shape == (2, 3, 10) and y_inf.shape == (4, 3, 10) and y.abs().max() > 1e-3
    assert inf.layer1[1].scale == 0.5 and isinstance(inf.classifier[1], LMHTInferenceNeuron)
    assert torch.allclose(y.sum(0), y_inf.sum(0), rtol=0, atol=1e-10)


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


def test_resnet20_lmht_equals_quantized_ann(randomise) -> None:
    """QCFS(lambda=2, n=T L) ResNet-20 vs the same weights with LM-HT(L=2, T=2, theta=1, rho=1/2),
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


@pytest.mark.parametrize(("L", "T"), [(2, 2), (4, 2), (2, 3)])
def test_hybrid_init_is_L_times_the_quantized_ann_without_biases(randomise, L, T) -> None:
    """Our derivation: the hybrid initialisation (theta = lambda, v0 = theta/2, leak 1, Omega = 1/T,
    first neuron scale L) is exactly L times a QCFS ANN with T L levels when the network has no bias terms
    (BN mean and bias 0, fc bias 0): mean_T(SNN logits) == L * ANN logits (float64). With biases (not rescaled by
    the official pipeline) or other ANN levels it is only approximate (logits about L times the ANN's)."""
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
