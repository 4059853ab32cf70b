"""Official state-dict layout, normalisation inside, the gradient-setting protocol, the digits MLP, timm's head
API and the families' keyword-only constructors."""

from __future__ import annotations

import pytest
import torch
import zoo_core as zoo
from torch import nn
from zoo_core.sdk import ConfigError

from zoo_sparse_grad.models import GRADIENT_SETTINGS
from zoo_sparse_grad.neurons import SparseGradLIF


def shapes(name: str, **kw: object) -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        model = zoo.create_model(name, **kw)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def test_vgg11_state_dict_layout() -> None:
    s = shapes("sparse_grad_vgg11")
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    expected: dict[str, tuple[int, ...]] = {}
    convs = [("layer1", 0, 3, 64), ("layer2", 0, 64, 128), ("layer2", 3, 128, 256), ("layer3", 0, 256, 512)]
    convs += [
        ("layer3", 3, 512, 512),
        ("layer3", 6, 512, 512),
        ("layer4", 0, 512, 512),
        ("layer4", 3, 512, 512),
    ]
    for layer, i, cin, cout in convs:
        expected[f"{layer}.{i}.weight"], expected[f"{layer}.{i}.bias"] = (cout, cin, 3, 3), (cout,)
        for k in bn:
            expected[f"{layer}.{i + 1}.{k}"] = () if k == "num_batches_tracked" else (cout,)
    for i, (o, n) in zip((1, 3, 5), ((4096, 8192), (4096, 4096), (10, 4096))):
        expected[f"classifier.{i}.weight"], expected[f"classifier.{i}.bias"] = (o, n), (o,)
    assert s == expected
    with torch.device("meta"):
        assert sum(p.numel() for p in zoo.create_model("sparse_grad_vgg11").parameters()) == 61_377_034
        assert (
            sum(p.numel() for p in zoo.create_model("sparse_grad_vgg11", num_classes=100).parameters())
            == 61_745_764
        )


def test_wrn16_state_dict_layout() -> None:
    s = shapes("sparse_grad_wrn16")
    assert s["conv1.weight"] == (16, 3, 3, 3)
    for g, (cin, cout) in enumerate(((16, 64), (64, 128), (128, 256)), start=1):
        for b in range(2):
            p, i = f"block{g}.{b}", cin if b == 0 else cout
            assert s[f"{p}.bn1.running_var"] == (i,) and s[f"{p}.conv1.weight"] == (cout, i, 3, 3)
            assert s[f"{p}.bn2.weight"] == (cout,) and s[f"{p}.conv2.weight"] == (cout, cout, 3, 3)
            assert s[f"{p}.convex.comb"] == (2,)
            assert (f"{p}.convShortcut.weight" in s) == (b == 0)
        assert s[f"block{g}.0.convShortcut.weight"] == (cout, cin, 1, 1)
    assert s["bn1.weight"] == (256,) and s["fc.weight"] == (10, 256) and s["fc.bias"] == (10,)
    assert len(s) == 1 + 3 * (2 * (5 + 1 + 5 + 1 + 1) + 1) + 5 + 2
    with torch.device("meta"):
        assert sum(p.numel() for p in zoo.create_model("sparse_grad_wrn16").parameters()) == 2_748_902
        assert (
            sum(p.numel() for p in zoo.create_model("sparse_grad_wrn16", num_classes=100).parameters())
            == 2_772_032
        )


def test_from_official_and_official_config() -> None:
    model = zoo.create_model("sparse_grad_wrn16", stem_width=4, widen_factor=1, num_classes=7)
    official = model.state_dict()
    mapped = zoo.from_official(
        "sparse_grad_wrn16", {"state_dict": {f"module.{k}": v for k, v in official.items()}}
    )
    assert set(mapped) == set(model.state_dict())
    assert zoo.official_config("sparse_grad_wrn16", official) == {"num_classes": 7}
    vgg = zoo.create_model("sparse_grad_vgg11", img_size=8, width_mult=1 / 32, num_classes=5)
    assert zoo.official_config("sparse_grad_vgg11", vgg.state_dict()) == {"num_classes": 5}


def test_normalisation_is_inside_the_model_with_the_official_constants() -> None:
    torch.manual_seed(0)
    kw = {"T": 2, "img_size": 8, "width_mult": 1 / 32}
    a = zoo.create_model("sparse_grad_vgg11", **kw).double().eval()
    b = zoo.create_model("sparse_grad_vgg11", **kw, mean=[0.0] * 3, std=[1.0] * 3).double().eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).double().view(3, 1, 1)  # official: float32 tensors
    std = torch.tensor([0.2023, 0.1994, 0.2010]).double().view(3, 1, 1)
    with torch.no_grad():
        assert torch.equal(a(x), b((x - mean) / std))


def test_gradient_setting_protocol() -> None:
    model = zoo.create_model("sparse_grad_wrn16", T=2, img_size=8, stem_width=4, widen_factor=1)
    assert (
        model.gradient_settings() == list(GRADIENT_SETTINGS) and model.get_gradient_setting() == "bptt:zif:1"
    )
    neurons = [m for m in model.modules() if isinstance(m, SparseGradLIF)]
    assert len(neurons) == 2 * 6 + 1
    for name, (mode, gama, surrogate) in GRADIENT_SETTINGS.items():
        model.set_gradient_setting(name)
        assert model.get_gradient_setting() == name
        assert all((n.mode, n.gama, n.surrogate) == (mode, gama, surrogate) for n in neurons)
    model.set_attack_mode(("bptt", 4.0, "sig"))  # the official call
    assert model.get_gradient_setting() == "bptt:sig:4"
    with pytest.raises(ConfigError, match="offered"):
        model.set_gradient_setting("bptt:erf:2")


def test_mlp_forward_equals_an_explicit_computation() -> None:
    torch.manual_seed(1)
    model = zoo.create_model("sparse_grad_mlp_digits", hidden=32).double().eval()
    with torch.no_grad():
        model.bn1.running_mean.uniform_(-0.5, 0.5)
        model.bn1.running_var.uniform_(0.5, 1.5)
    x = torch.rand(5, 1, 8, 8, dtype=torch.float64)
    h = model.fc1(((x - 0.5) / 0.5).flatten(1))
    h = (h - model.bn1.running_mean) / torch.sqrt(model.bn1.running_var + model.bn1.eps) * model.bn1.weight
    h = h + model.bn1.bias  # the same current at every step: IF with hard reset, threshold 1
    v, logits = torch.zeros_like(h), []
    for _ in range(4):
        v = v + h
        s = (v >= 1.0).double()
        v = v * (1 - s)
        logits.append(model.fc2(s))
    with torch.no_grad():
        assert torch.allclose(model(x), torch.stack(logits).mean(0), rtol=1e-12, atol=1e-12)


def test_bad_model_arguments() -> None:
    with pytest.raises(ConfigError, match="multiple of 8"):
        zoo.create_model("sparse_grad_vgg11", img_size=12)
    with pytest.raises(ConfigError, match="6n"):
        zoo.create_model("sparse_grad_wrn16", depth=15)
    with pytest.raises(ConfigError, match="mean/std"):
        zoo.create_model("sparse_grad_mlp_digits", mean=[0.5, 0.5], std=[0.5])
    assert isinstance(zoo.create_model("sparse_grad_mlp_digits").act1, nn.Module)


@pytest.mark.parametrize(
    ("name", "feature_shape"),
    [
        ("sparse_grad_vgg11", (16, 1, 1)),
        ("sparse_grad_wrn16", (64,)),
        ("sparse_grad_mlp_digits", (256,)),
    ],
)
def test_timm_head_api(name: str, feature_shape: tuple[int, ...]) -> None:
    """forward_head(forward_features(x)) == model(x); features are per step; reset_classifier(5) gives 5 logits."""
    torch.manual_seed(0)
    kw = {"T": 2, "img_size": 8} if name != "sparse_grad_mlp_digits" else {"T": 2}
    kw.update({"width_mult": 1 / 32} if "vgg" in name else {"stem_width": 4} if "wrn" in name else {})
    model = zoo.create_model(name, **kw).double().eval()
    x = torch.rand(3, model.in_chans, model.img_size, model.img_size, dtype=torch.float64)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert tuple(feats.shape) == (2, 3, *feature_shape)
        assert torch.equal(model.forward_head(feats), model(x))
    assert model.num_features == feats[0, 0].numel()
    model.reset_classifier(5)
    with torch.no_grad():
        assert model(x).shape == (3, 5)


def test_families_are_keyword_only_classes_with_their_defaults_registered() -> None:
    from zoo_sparse_grad.models import SparseGradMLP, SparseGradVGG, SparseGradWRN

    for name, cls in (
        ("sparse_grad_vgg11", SparseGradVGG),
        ("sparse_grad_wrn16", SparseGradWRN),
        ("sparse_grad_mlp_digits", SparseGradMLP),
    ):
        assert zoo.model_info(name).defaults == zoo.signature_defaults(cls)
        with pytest.raises(TypeError):
            cls(4)
    assert zoo.model_info("sparse_grad_vgg11").defaults["mean"] == [0.4914, 0.4822, 0.4465]
