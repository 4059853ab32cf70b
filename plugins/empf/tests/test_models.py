"""Models: conformance kit, timm head API, official state-dict layout, from_official / official_config."""

from __future__ import annotations

import pytest
import torch
import zoo_core as zoo
from zoo_core.sdk import ConfigError, InputError
from zoo_core.testing import check_model

from zoo_empf import EMPFNeuron, TernaryConv

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


@pytest.mark.parametrize("name", zoo.list_models("empf_*"))
def test_conformance(name: str) -> None:
    check_model(name)


@pytest.mark.parametrize(
    "kw",
    [
        {"use_ternary": True, "parallel_mode": True, "mem_bn": True, "use_eca": 1, "mode": "compression"},
        {"use_eca": 2},
        {"use_lif": "vanilla"},
    ],
)
def test_conformance_variants(kw: dict) -> None:
    check_model("empf_resnet18", **kw)


@pytest.mark.parametrize("name", ["empf_resnet19", "empf_vgg11", "empf_digits"])
def test_head_api(name: str) -> None:
    """forward_head(forward_features(x)) is the model's output (ResNet-19: a head with an EM-PF neuron inside);
    reset_classifier swaps the final linear layer."""
    torch.manual_seed(0)
    cfg = zoo.model_info(name).test_config
    m = zoo.create_model(name, **cfg).double().eval()
    x = torch.rand(3, m.in_chans, m.img_size, m.img_size, dtype=torch.float64)
    with torch.no_grad():
        y = m(x)
        feats = m.forward_features(x)
        assert feats.shape == (m.T, 3, m.num_features)
        assert torch.allclose(m.forward_head(feats), y, rtol=1e-12, atol=1e-12)
        assert torch.equal(m.forward_head(feats, pre_logits=True), feats)
    head = m.get_classifier()
    assert isinstance(head, torch.nn.Linear) and head.out_features == cfg.get("num_classes", 10)
    m.reset_classifier(5)
    assert m.get_classifier() is not head and m.get_classifier().weight.dtype == torch.float64
    with torch.no_grad():
        assert m(x).shape == (3, 5)


def _bn(prefix: str, c: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{prefix}.{k}", () if k == "num_batches_tracked" else (c,)) for k in BN]


def _neuron(prefix: str, T: int, c: int, alpha: bool = True, mem_bn: bool = False) -> list:
    keys = [(f"{prefix}.v_th", (T,))] + ([(f"{prefix}.alpha", (T,))] if alpha else [])
    if mem_bn and alpha:
        keys += [(f"{prefix}.bn_ratio", (T,)), (f"{prefix}.mem_ratio", (T,))]
        for i in range(T):
            keys += _bn(f"{prefix}.bn.{i}", c)
    return keys


def official_resnet_keys(
    T: int,
    classes: int,
    blocks=(2, 2, 2, 2),
    ternary=False,
    eca=False,
    mem_bn=False,
    parallel=False,
    stem=(3, 3),
) -> list[tuple[str, tuple[int, ...]]]:
    """The official ResNet key list, written out from the official module order (independent of the model
    code): stem, then per block conv1, attn1, conv2, attn2, downsample, act1, act2, then fc."""
    cin, k = stem
    keys = [("conv1.weight", (64, cin, k, k)), *_bn("bn1", 64)]
    qc = [("weight_clip_val", (2,))] if ternary else []
    inp = 64
    for s, (width, n) in enumerate(zip((64, 128, 256, 512), blocks), start=1):
        for b in range(n):
            p = f"layer{s}.{b}"
            keys += [(f"{p}.conv1.0.weight", (width, inp, 3, 3))] + [(f"{p}.conv1.0.{q}", sh) for q, sh in qc]
            keys += _bn(f"{p}.conv1.1", width)
            if eca:
                keys += [(f"{p}.attn1.conv.weight", (1, 1, 5)), (f"{p}.attn1.conv.bias", (1,))]
            keys += [(f"{p}.conv2.0.weight", (width, width, 3, 3))] + [
                (f"{p}.conv2.0.{q}", sh) for q, sh in qc
            ]
            keys += _bn(f"{p}.conv2.1", width)
            if eca:
                keys += [(f"{p}.attn2.conv.weight", (1, 1, 5)), (f"{p}.attn2.conv.bias", (1,))]
            if b == 0 and inp != width:
                keys += [(f"{p}.downsample.0.weight", (width, inp, 1, 1))]
                keys += [(f"{p}.downsample.0.{q}", sh) for q, sh in qc] + _bn(f"{p}.downsample.1", width)
            keys += _neuron(f"{p}.act1", T, inp, mem_bn=mem_bn)
            keys += _neuron(f"{p}.act2", T, width, alpha=not parallel, mem_bn=mem_bn)
            inp = width
    return [*keys, ("fc.weight", (classes, 512)), ("fc.bias", (classes,))]


def _layout(model: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()]


@pytest.mark.parametrize(
    "kw, expect",
    [
        ({"num_classes": 10}, {"classes": 10}),
        (
            {"use_ternary": True, "use_eca": 1, "mem_bn": True, "parallel_mode": True},
            {"classes": 100, "ternary": True, "eca": True, "mem_bn": True, "parallel": True},
        ),
        ({"num_classes": 1000}, {"classes": 1000, "stem": (3, 7)}),
        ({"use_dvs": True, "in_chans": 2, "num_classes": 10}, {"classes": 10, "stem": (2, 3)}),
    ],
)
def test_resnet18_official_layout(kw: dict, expect: dict) -> None:
    with torch.device("meta"):
        m = zoo.create_model("empf_resnet18", **kw)
    assert _layout(m) == official_resnet_keys(4, **expect)


def test_resnet34_and_resnet19_layout() -> None:
    with torch.device("meta"):
        r34 = zoo.create_model("empf_resnet34")
        r19 = zoo.create_model("empf_resnet19", num_classes=10)
    assert _layout(r34) == official_resnet_keys(4, 1000, (3, 4, 6, 3), ternary=True, stem=(3, 7))
    keys = dict(_layout(r19))
    assert not any(k.startswith("layer1.") for k in keys)
    assert keys["layer2.0.conv1.0.weight"] == (128, 64, 3, 3) and keys["layer2.0.downsample.0.weight"] == (
        128,
        64,
        1,
        1,
    )
    assert (
        "layer2.2.act2.alpha" in keys
        and "layer4.1.conv2.0.weight" in keys
        and "layer4.2.act1.v_th" not in keys
    )
    assert keys["fc.0.weight"] == (256, 512) and keys["fc.1.v_th"] == (4,) and keys["fc.1.alpha"] == (4,)
    assert keys["fc.2.weight"] == (10, 256)


def test_vgg11_dvs_layout() -> None:
    with torch.device("meta"):
        m = zoo.create_model("empf_vgg11", T=10)
    keys = dict(_layout(m))
    assert keys["layer1.0.weight"] == (64, 2, 3, 3) and keys["layer1.1.running_var"] == (64,)
    assert keys["layer1.2.v_th"] == (10,) and keys["layer1.2.alpha"] == (10,)
    assert keys["layer2.0.weight"] == (128, 64, 3, 3) and "layer2.2.v_th" in keys  # layer2.3 = AvgPool
    assert keys["layer3.3.weight"] == (256, 256, 3, 3) and "layer3.5.alpha" in keys
    assert keys["classifier.weight"] == (10, 4608)
    assert all(type(mod).__name__ == "BinaryConv" for n, mod in m.named_modules() if n.endswith(".0"))
    assert type(zoo.create_model("empf_vgg13", width_mult=0.0625, img_size=16).layer1[0]).__name__ == "Conv2d"


def _official_like(model: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A random state dict with the official keys/shapes (BN variances positive, clip values [-1, 1])."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, v in model.state_dict().items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(7)
        elif k.endswith("weight_clip_val"):
            sd[k] = torch.tensor([-1.0, 1.0])
        elif k.endswith("running_var"):
            sd[k] = torch.rand(v.shape, generator=g) + 0.5
        else:
            sd[k] = torch.randn(v.shape, generator=g) * 0.1
    return sd


def test_from_official_wrapped_checkpoint() -> None:
    kw = {"use_ternary": True, "use_eca": 1, "mem_bn": True, "parallel_mode": True, "width_mult": 0.125}
    torch.manual_seed(0)
    src = zoo.create_model("empf_resnet18", **kw)
    official = _official_like(src, 1)
    ckpt = {"model": official, "snn_optimizer": {"state": {}}, "snn_epoch": 299, "snn_max_acc1": 78.6}
    sd = zoo.from_official("empf_resnet18", ckpt)
    assert list(sd) == list(official) and any(k.endswith("weight_clip_val") for k in sd)
    cfg = zoo.official_config("empf_resnet18", official)
    assert cfg == {
        "T": 4,
        "num_classes": 100,
        "use_ternary": True,
        "mem_bn": True,
        "use_eca": 1,
        "parallel_mode": True,
        "in_chans": 3,
        "use_dvs": False,
    }
    model = zoo.create_model("empf_resnet18", **{**cfg, "width_mult": 0.125})
    model.load_state_dict(sd, strict=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in official.items())
    model.eval()
    with torch.no_grad():
        assert torch.isfinite(model(torch.rand(2, 3, 8, 8))).all()
    vgg = zoo.official_config(
        "empf_vgg11", _official_like(zoo.create_model("empf_vgg11", width_mult=0.0625, img_size=16), 2)
    )
    assert vgg["use_dvs"] and vgg["in_chans"] == 2 and vgg["T"] == 10 and vgg["use_mem_bn"] is False


def test_streaming_contract_and_errors() -> None:
    torch.manual_seed(0)
    m = zoo.create_model("empf_digits", T=3, channels=[4, 8, 8]).double().eval()
    x = torch.rand(3, 2, 1, 8, 8, dtype=torch.float64)
    with pytest.raises(InputError, match="streaming"):
        m.forward_step(x[0])
    with zoo.streaming(m):
        steps = torch.stack([m.forward_step(x_t) for x_t in x.unbind(0)])
    assert torch.equal(steps, m.forward_steps(x))
    assert torch.allclose(m(x), steps.mean(0), rtol=0, atol=1e-15)
    with pytest.raises(InputError, match="T=3"):
        m(torch.rand(4, 2, 1, 8, 8, dtype=torch.float64))
    with pytest.raises(ConfigError, match="in_chans=2"):
        zoo.create_model("empf_resnet18", use_dvs=True)
    with pytest.raises(ConfigError, match="mode"):
        zoo.create_model("empf_digits", mode="8bit")
    assert isinstance(m.features[2], EMPFNeuron) and not any(isinstance(c, TernaryConv) for c in m.modules())
