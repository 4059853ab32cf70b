"""Spec sections d, f and h.1, h.2, h.7, h.8: layout, keys, parameter counts, shapes, encoding, readout."""

from __future__ import annotations

import copy

import pytest
import torch
import zoo_core as zoo
from zoo_core.sdk import ConfigError, InputError, parameter_counts
from zoo_core.testing import check_model

from zoo_spikingresformer.dssa import DSSA

NAMES = [
    "spikingresformer_ti",
    "spikingresformer_s",
    "spikingresformer_m",
    "spikingresformer_l",
    "spikingresformer_cifar",
    "spikingresformer_dvsg",
]

# (planes, heads, stem kernel, stem out, group size, PLIF) per variant: spec section d
ARCH = {
    "spikingresformer_ti": ((64, 192, 384), (1, 3, 6), 7, 64, 64, False),
    "spikingresformer_s": ((64, 256, 512), (1, 4, 8), 7, 64, 64, False),
    "spikingresformer_m": ((64, 384, 768), (1, 6, 12), 7, 64, 64, False),
    "spikingresformer_l": ((128, 512, 1024), (2, 8, 16), 7, 128, 64, False),
    "spikingresformer_cifar": ((64, 192, 384), (1, 3, 6), 3, 64, 64, False),
    "spikingresformer_dvsg": ((32, 96, 192), (1, 3, 6), 3, 32, 32, True),
}

# spec section d "Parameter counts" (official code, measured): (overrides, total, without BN affine)
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
    """The official state-dict layout of spec section f, written out independently of the model code."""
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
    assert zoo.model_info("spikingresformer_ti").defaults == {
        "T": 4,
        "num_classes": 1000,
        "img_size": 224,
        "in_chans": 3,
    }
    assert zoo.model_info("spikingresformer_cifar").defaults == {
        "T": 4,
        "num_classes": 10,
        "img_size": 32,
        "in_chans": 3,
    }
    assert zoo.model_info("spikingresformer_dvsg").defaults == {
        "T": 16,
        "num_classes": 11,
        "img_size": 64,
        "in_chans": 3,
    }


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
def dvsg8(liven):
    """spikingresformer_dvsg (PLIF) at 8x8, T=4, float64, with weights that fire in every block."""
    torch.manual_seed(0)
    m = liven(zoo.create_model("spikingresformer_dvsg", img_size=8, T=4).double())
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
