"""Binary / ternary convs, deploy folding, straight-through gradients, the paper's parameter memory."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import zoo_core as zoo

from zoo_empf import BinaryConv, TernaryConv, deploy, param_memory

D = torch.float64


def _latent(conv: torch.nn.Conv2d, seed: int) -> None:
    with torch.no_grad():
        conv.weight.copy_(
            torch.randn(conv.weight.shape, generator=torch.Generator().manual_seed(seed), dtype=D)
        )
        conv.weight[0, 0, 0, 0] = 1.7  # one latent weight beyond the clip range


def test_binary_conv_equals_scaled_sign_conv() -> None:
    conv = BinaryConv(3, 4, 3, stride=2, padding=1).to(D)
    _latent(conv, 0)
    x = torch.randn(2, 3, 9, 9, generator=torch.Generator().manual_seed(1), dtype=D)
    w = conv.weight.detach()
    a = torch.stack([w[o].abs().sum() / w[o].numel() for o in range(4)]).view(4, 1, 1, 1)
    ref = F.conv2d(x, a * torch.sign(w), stride=2, padding=1)
    assert torch.allclose(conv(x), ref, rtol=0, atol=1e-12)
    # straight-through gradient of clamp(W, -1, 1): zero only where |W| > 1
    conv(x).sum().backward()
    assert conv.weight.grad[0, 0, 0, 0] == 0
    inside = w.abs() <= 1
    assert bool((conv.weight.grad[inside] != 0).all())
    # deployment: the folded plain conv gives the training-path output
    y = conv(x).detach()
    deploy(conv)
    assert conv.deployed
    assert torch.allclose(conv.weight.detach().abs().amax(dim=(1, 2, 3)), a.flatten(), rtol=0, atol=1e-15)
    assert all(conv.weight[o].detach().abs().unique().numel() == 1 for o in range(4))  # +-a_o per channel
    assert torch.allclose(conv(x), y, rtol=1e-12, atol=1e-12)


def test_ternary_conv_takes_three_values_and_deploys() -> None:
    conv = TernaryConv(4, 6, 3).to(D)
    _latent(conv, 2)
    assert conv.weight_clip_val.tolist() == [-1.0, 1.0]
    w = conv.weight.detach()
    wt = conv.quantized_weight().detach()
    c = w.clamp(-1, 1)
    delta = 0.7 * c.abs().mean()  # over the whole tensor, not per channel
    alpha = c.abs()[c.abs() > delta].mean()
    assert sorted(wt.unique().tolist()) == pytest.approx([-float(alpha), 0.0, float(alpha)], abs=1e-15)
    assert torch.equal(wt == 0, c.abs() <= delta)
    x = torch.randn(2, 4, 6, 6, generator=torch.Generator().manual_seed(3), dtype=D)
    assert torch.allclose(conv(x), F.conv2d(x, wt, padding=1), rtol=0, atol=1e-12)
    conv(x).square().sum().backward()
    assert conv.weight.grad[0, 0, 0, 0] == 0 and bool((conv.weight.grad[w.abs() < 1] != 0).any())
    y = conv(x).detach()
    deploy(conv)
    assert torch.allclose(conv(x), y, rtol=1e-12, atol=1e-12)
    # idempotent: re-quantising the deployed weights changes nothing (deployed checkpoints load for training)
    assert torch.allclose(conv.quantized_weight(), conv.weight, rtol=0, atol=1e-15)


def test_deployed_model_equals_training_model() -> None:
    torch.manual_seed(0)
    m = zoo.create_model(
        "empf_resnet18", T=2, img_size=8, width_mult=0.0625, num_classes=10, use_ternary=True
    )
    m = m.double().eval()
    x = torch.rand(2, 3, 8, 8, dtype=D)
    y = m(x)
    deploy(m)
    assert all(c.deployed for c in m.modules() if isinstance(c, TernaryConv))
    assert torch.allclose(m(x), y, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "name, kw, params, mb, base_mb",
    [
        ("empf_resnet18", {"num_classes": 10}, 11_174_090, 2.817, 44.66),
        ("empf_resnet18", {"num_classes": 100}, 11_220_260, 3.001, 44.84),
        ("empf_resnet18", {"num_classes": 100, "use_ternary": True}, 11_220_260, 4.396, 44.84),
        ("empf_resnet34", {"num_classes": 1000, "use_ternary": True}, 21_797_928, 10.061, 87.12),
        ("empf_vgg11", {"use_dvs": True, "in_chans": 2, "img_size": 48}, 9_268_906, 2.489, 37.05),
        ("empf_resnet18", {"use_ternary": True, "use_eca": 1, "mem_bn": True}, 11_247_620, 4.397, 44.84),
    ],
)
def test_param_memory_reproduces_paper(name: str, kw: dict, params: int, mb: float, base_mb: float) -> None:
    """The paper's "Param (MB)": 0.25 B per binary, 0.375 B per ternary weight, 4 B otherwise; BN and neuron
    parameters excluded."""
    with torch.device("meta"):
        m = zoo.create_model(name, **kw)
    assert sum(p.numel() for p in m.parameters()) == params
    pm = param_memory(m)
    assert round(pm["mb"], 3) == mb
    assert round(pm["base_mb"], 2) == base_mb
