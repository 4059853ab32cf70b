"""Layout, state-dict keys, parameter counts, the variant table, shapes, encoding, readout, timm's head API."""

from __future__ import annotations

import copy

import pytest
import torch
import zoo_core as zoo
from zoo_core.sdk import ConfigError, InputError, parameter_counts, preprocessing, signature_defaults
from zoo_core.testing import check_model
from zoo_core.testing_parity import make_fire

from zoo_spikingresformer.dssa import DSSA
from zoo_spikingresformer.model import SpikingResformer

NAMES = [
    "spikingresformer_ti",
    "spikingresformer_s",
    "spikingresformer_m",
    "spikingresformer_l",
    "spikingresformer_cifar",
    "spikingresformer_dvsg",
]

# (planes, heads, stem kernel, stem out, group size, PLIF) per variant, as the official model factories build them
ARCH = {
    "spikingresformer_ti": ((64, 192, 384), (1, 3, 6), 7, 64, 64, False),
    "spikingresformer_s": ((64, 256, 512), (1, 4, 8), 7, 64, 64, False),
    "spikingresformer_m": ((64, 384, 768), (1, 6, 12), 7, 64, 64, False),
    "spikingresformer_l": ((128, 512, 1024), (2, 8, 16), 7, 128, 64, False),
    "spikingresformer_cifar": ((64, 192, 384), (1, 3, 6), 3, 64, 64, False),
    "spikingresformer_dvsg": ((32, 96, 192), (1, 3, 6), 3, 32, 32, True),
}

# parameter counts of the official models (measured by instantiating the official classes):
# (overrides, total, without BN affine)
COUNTS = [
    ("spikingresformer_ti", {}, 11_180_992, 11_141_312),
    ("spikingresformer_s", {}, 17_813_824, 17_761_472),
    ("spikingresformer_m", {}, 35_601_472, 35_523_776),
    ("spikingresformer_l", {}, 60_375_680, 60_270_976),
    ("spikingresformer_cifar", {"num_classes": 10}, 10_793_152, 10_753_472),
    ("spikingresformer_cifar", {"num_classes": 100}, 10_827_712, 10_788_032),
    ("spikingresformer_dvsg", {"num_classes": 11}, 2_709_830, 2_689_990),
    ("spikingresformer_digits", {}, 158_064, 155_152),
]


def _meta(name, **kw):
    with torch.device("meta"):
        return zoo.create_model(name, **kw)


def expected_keys(name, num_classes):
    """The official state-dict layout (the official module tree; listed in the README), written out independently
    of the model code."""
    planes, heads, k, d1, g, plif = ARCH[name]
    out = []

    def bn(prefix, n):
        out.extend((f"{prefix}.bn.{s}", (n,)) for s in ("weight", "bias", "running_mean", "running_var"))
        out.append((f"{prefix}.bn.num_batches_tracked", ()))

    def w(prefix):
        if plif:
            out.append((f"{prefix}.w", ()))

    out.append(("prologue.0.weight", (d1, 3, k, k)))
    bn("prologue.1", d1)
    for s, (c, h, p) in enumerate(zip(planes, heads, (4, 2, 1))):
        j = 0
        if s:
            out.append((f"layers.{s}.0.conv.weight", (c, planes[s - 1], 3, 3)))
            bn(f"layers.{s}.0.norm", c)
            w(f"layers.{s}.0.activation")
            j = 1
        for _ in range(s + 1):
            pre = f"layers.{s}.{j}"
            out += [(f"{pre}.firing_rate_x", (1, 1, h, 1, 1)), (f"{pre}.firing_rate_attn", (1, 1, h, 1, 1))]
            w(f"{pre}.activation_in")
            out.append((f"{pre}.W.weight", (2 * c, c, p, p)))
            bn(f"{pre}.norm", 2 * c)
            w(f"{pre}.activation_attn")
            w(f"{pre}.activation_out")
            out.append((f"{pre}.Wproj.weight", (c, c, 1, 1)))
            bn(f"{pre}.norm_proj", c)
            pre = f"layers.{s}.{j + 1}"
            w(f"{pre}.up.0")
            out.append((f"{pre}.up.1.weight", (4 * c, c, 1, 1)))
            bn(f"{pre}.up.2", 4 * c)
            w(f"{pre}.conv.0.0")
            out.append((f"{pre}.conv.0.1.weight", (4 * c, g, 3, 3)))
            bn(f"{pre}.conv.0.2", 4 * c)
            w(f"{pre}.down.0")
            out.append((f"{pre}.down.1.weight", (c, 4 * c, 1, 1)))
            bn(f"{pre}.down.2", c)
            j += 2
    out.append(("classifier.weight", (num_classes, planes[-1])))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_layout_is_official(name):
    m = _meta(name)
    got = [(k, tuple(v.shape)) for k, v in m.state_dict().items()]
    want = expected_keys(name, m.num_classes)
    assert got == want
    assert len(got) == (249 if name == "spikingresformer_dvsg" else 211)
    sd = m.state_dict()
    assert sd["layers.0.0.firing_rate_x"].dtype == torch.float32
    assert sd["prologue.1.bn.num_batches_tracked"].dtype == torch.int64


@pytest.mark.parametrize(("name", "kw", "total", "no_bn"), COUNTS)
def test_parameter_counts_exact(name, kw, total, no_bn):
    counts = parameter_counts(_meta(name, **kw))
    assert counts["total"] == total
    if no_bn is not None:
        assert counts["without_bn_affine"] == no_bn


def test_registered_defaults_and_paper():
    for name in NAMES:
        info = zoo.model_info(name)
        assert info.plugin == "spikingresformer" and info.family == "spikingresformer"
        assert info.paper.year == 2024 and info.paper.venue == "CVPR" and "2403.14302" in info.paper.url
        assert info.paper.authors[0].startswith("Shi") and "@inproceedings" in info.paper.bibtex
    main = {n: zoo.model_info(n).defaults for n in NAMES}
    # the paper's main setting of each variant, from one class and a table of variants
    for name, (t, classes, img) in {
        "spikingresformer_ti": (4, 1000, 224),
        "spikingresformer_l": (4, 1000, 224),
        "spikingresformer_cifar": (4, 10, 32),
        "spikingresformer_dvsg": (16, 11, 64),
    }.items():
        d = main[name]
        assert (d["T"], d["num_classes"], d["img_size"], d["in_chans"]) == (t, classes, img, 3)
        assert (d["depths"], d["patch_sizes"]) == ([1, 2, 3], [4, 2, 1])
    for name, (planes, heads, k, _, g, plif) in ARCH.items():
        d = main[name]
        assert (d["planes"], d["num_heads"], d["group_size"]) == (list(planes), list(heads), g)
        assert d["stem"] == ("imagenet" if k == 7 else "conv3x3") and d["neuron"] == (
            "plif" if plif else "lif"
        )
    assert signature_defaults(SpikingResformer) == main["spikingresformer_ti"]
    with pytest.raises(TypeError):
        SpikingResformer(4)  # type: ignore[misc]


def test_preprocessing_presets():
    """ImageNet: the official timm eval transform (crop_pct 0.95: bicubic resize 235, centre crop 224) over the
    ImageNet preset; CIFAR: the CIFAR-10 preset (the official normalisation); digits: the digits preset."""
    imagenet = zoo.model_info("spikingresformer_ti").preprocessing
    assert imagenet == {**preprocessing("imagenet"), "input": imagenet["input"], "resize": 235,
                        "interpolation": "bicubic", "crop_pct": 0.95}  # fmt: skip
    assert imagenet["mean"] == [0.485, 0.456, 0.406] and imagenet["crop"] == 224
    assert imagenet["resize"] == int(224 / 0.95)
    cifar = zoo.model_info("spikingresformer_cifar").preprocessing
    assert cifar == {**preprocessing("cifar10"), "input": cifar["input"]}
    assert cifar["mean"] == [0.4914, 0.4822, 0.4465] and cifar["std"] == [0.2023, 0.1994, 0.2010]
    digits = zoo.model_info("spikingresformer_digits").preprocessing
    assert digits == {**preprocessing("digits"), "input": digits["input"]}
    assert "standardises" in digits["input"]


def test_timm_head_api():
    torch.manual_seed(0)
    m = zoo.create_model("spikingresformer_digits.digits_t4", pretrained=True).double().eval()
    x = torch.rand(3, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        feats = m.forward_features(x)
        assert feats.shape == (4, 3, 64, 2, 2)  # [T, B, C, H', W'] before pooling
        assert torch.equal(m.forward_head(feats), m(x))
        assert m.forward_head(feats, pre_logits=True).shape == (4, 3, 64)
    assert m.num_features == 64 and m.get_classifier() is m.classifier
    m.reset_classifier(5)
    assert m.classifier.bias is None  # the official head has no bias
    with torch.no_grad():
        assert m(x).shape == (3, 5)
    assert m.num_classes == 5


def test_dssa_lengths_from_constructor_img_size():
    def lengths(name, **kw):
        return [m.length for m in _meta(name, **kw).modules() if isinstance(m, DSSA)]

    assert lengths("spikingresformer_ti") == [196] * 6
    assert lengths("spikingresformer_l", img_size=288) == [324] * 6
    assert lengths("spikingresformer_cifar") == [64] * 6
    assert lengths("spikingresformer_dvsg") == [256] * 6
    assert lengths("spikingresformer_digits") == [16, 4, 4]
    assert lengths("spikingresformer_ti", img_size=32) == [4] * 6


def test_stage_shapes_ti_224():
    torch.manual_seed(0)
    m = zoo.create_model("spikingresformer_ti").eval()
    for d in m.dssa_modules():
        d.firing_rate_x.fill_(0.2)
        d.firing_rate_attn.fill_(0.1)
    shapes = {}

    def rec(name):
        return lambda mod, i, o: shapes.setdefault(name, []).append(tuple(o.shape))

    m.prologue.register_forward_hook(rec("stem"))
    for s, stage in enumerate(m.layers):
        stage.register_forward_hook(rec(f"stage{s}"))
        for blk in stage:
            if isinstance(blk, DSSA):
                blk.activation_attn.register_forward_hook(rec(f"attn{s}"))
    with torch.no_grad():
        out = m(torch.rand(1, 3, 224, 224), per_step=True)
    assert shapes["stem"] == [(4, 1, 64, 56, 56)]
    assert shapes["stage0"] == [(4, 1, 64, 56, 56)]
    assert shapes["stage1"] == [(4, 1, 192, 28, 28)]
    assert shapes["stage2"] == [(4, 1, 384, 14, 14)]
    assert shapes["attn0"] == [(4, 1, 1, 196, 3136)]
    assert shapes["attn1"] == [(4, 1, 3, 196, 784)] * 2
    assert shapes["attn2"] == [(4, 1, 6, 196, 196)] * 3
    assert out.shape == (4, 1, 1000)


# ------------------------------------------------------------------------------------ behaviour (float64)
@pytest.fixture(scope="module")
def dvsg8():
    """spikingresformer_dvsg (PLIF) at 8x8, T=4, float64, with weights that fire in every block."""
    torch.manual_seed(0)
    calibration = torch.rand((4, 3, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    m = make_fire(zoo.create_model("spikingresformer_dvsg", img_size=8, T=4).double(), calibration, seed=0)
    rates = []
    hooks = [
        n.register_forward_hook(lambda mod, i, o: rates.append(float(o.mean())))
        for n in m.modules()
        if isinstance(n, zoo.BaseNeuron)
    ]
    with torch.no_grad():
        y = m(torch.rand(3, 3, 8, 8, dtype=torch.float64))
    for h in hooks:
        h.remove()
    assert min(rates) > 0.01 and max(rates) < 0.9, rates  # every neuron layer is alive
    assert not torch.allclose(y[0], y[1])
    return m


def test_static_image_equals_repeated_frames(dvsg8):
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        a = dvsg8(x, per_step=True)
        b = dvsg8(x.unsqueeze(0).repeat(4, 1, 1, 1, 1), per_step=True)
    assert torch.equal(a, b)
    assert a.shape == (4, 2, 11)
    assert torch.equal(dvsg8(x), a.mean(0))


def test_causality_in_time(dvsg8):
    g = torch.Generator().manual_seed(3)
    frames = torch.rand(4, 2, 3, 8, 8, generator=g, dtype=torch.float64)  # time-first [T, B, C, H, W]
    other = frames.clone()
    other[3] = torch.rand(2, 3, 8, 8, generator=g, dtype=torch.float64)
    with torch.no_grad():
        a, b = dvsg8(frames, per_step=True), dvsg8(other, per_step=True)
    assert torch.equal(a[:3], b[:3])
    assert not torch.equal(a[3], b[3])
    # frames may be longer than the model's T: the time dimension of the input wins
    with torch.no_grad():
        assert dvsg8(torch.cat([frames, frames]), per_step=True).shape == (8, 2, 11)


def test_readout_linearity(dvsg8):
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        feats = dvsg8.avgpool(dvsg8.forward_features(x)).flatten(2)  # [T, B, C]
        a = dvsg8.classifier(feats).mean(0)
        b = dvsg8.classifier(feats.mean(0))
        out = dvsg8(x)
    assert torch.equal(out, a)
    assert torch.allclose(a, b, rtol=0, atol=1e-12 * float(a.abs().max()))


def test_eval_batch_independence_bit_exact(dvsg8):
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        full = dvsg8(x)
        alone = dvsg8(x[1:2])
    assert torch.equal(full[1:2], alone)


def test_tiny_perturbation_after_downsample_changes_nothing(dvsg8):
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        a = dvsg8(x)
        b = dvsg8(x + 1e-12)
    assert torch.equal(a, b)


def test_bad_inputs_and_arguments():
    m = zoo.create_model("spikingresformer_cifar", img_size=16, T=2).eval()
    with pytest.raises(InputError, match="img_size=32"):
        m(torch.rand(1, 3, 32, 32))
    with pytest.raises(InputError, match="channels"):
        m(torch.rand(1, 1, 16, 16))
    with pytest.raises(ConfigError):
        zoo.create_model("spikingresformer_ti", T=0)
    with pytest.raises(ConfigError, match="too small"):
        zoo.create_model("spikingresformer_ti", img_size=8)


def test_gradients_train_mode():
    m = zoo.create_model("spikingresformer_dvsg", img_size=16, T=2)
    out = m(torch.rand(2, 2, 3, 16, 16))
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    assert m.layers[0][0].activation_in.w.grad is not None
    assert m.no_weight_decay() == {n for n, _ in m.named_parameters() if n.endswith(".w")}
    assert len(m.no_weight_decay()) == 38


@pytest.mark.parametrize("name", [*NAMES, "spikingresformer_digits"])
def test_conformance_kit(name):
    check_model(name)


def test_deepcopy_keeps_python_flags():
    m = zoo.create_model("spikingresformer_digits")
    m.train()
    m(torch.rand(2, 1, 8, 8))
    c = copy.deepcopy(m)
    assert all(d.rate_x_initialised for d in c.dssa_modules())
