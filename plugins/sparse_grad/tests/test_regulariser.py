"""The SR regulariser against its definition (README and the module docstring) and the training rule's step."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
import zoo_core as zoo
from torch import nn
from zoo_core.sdk import ConfigError, fgsm

from zoo_sparse_grad.regulariser import sr_regulariser, sr_terms, two_class_prob


def smooth_model(seed: int = 0, classes: int = 5, gain: float = 1.0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, classes)).double().eval()
    with torch.no_grad():
        model[1].weight.mul_(gain)
    return model


def batch(seed: int = 1, n: int = 6, classes: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 2, 2, generator=g, dtype=torch.float64), torch.randint(
        0, classes, (n,), generator=g
    )


def reference_reg(model: nn.Module, x: torch.Tensor, y: torch.Tensor, h: float) -> torch.Tensor:
    """The definition, sample by sample: m_i by a Python loop, f_i = 2-class softmax, g by torch.func.jacrev."""
    z = model(x)
    m = []
    for i in range(len(y)):
        others = [j for j in range(z.shape[1]) if j != int(y[i])]
        m.append(max(others, key=lambda j: float(z[i, j].detach())))

    def f(xs: torch.Tensor) -> torch.Tensor:
        zz = model(xs)
        return torch.stack([torch.softmax(zz[i, [int(y[i]), m[i]]], 0)[0] for i in range(len(y))])

    jac = torch.func.jacrev(lambda xs: f(xs).sum())(x)  # d sum_i f_i / dx
    return ((f(x + h * jac.sign()) - f(x)) / h).pow(2).mean()


def test_regulariser_equals_its_definition() -> None:
    model, (x, y) = smooth_model(), batch()
    for h in (0.01, 0.1):
        assert sr_regulariser(model, x, y, h).item() == pytest.approx(
            reference_reg(model, x, y, h).item(), rel=1e-12
        )


def test_finite_difference_is_the_l1_norm_of_the_input_gradient_h1() -> None:
    # a gently curved tanh MLP (first layer x0.3); per sample: ((f(x + h sign g) - f(x)) / h) / ||g||_1 -> 1
    model, (x, y) = smooth_model(gain=0.3), batch(n=16)
    err = {}
    for h in (1e-2, 1e-6):
        t = sr_terms(model, x, y, h)
        fd = (t.p2 - t.p).detach() / h
        l1 = t.grad.flatten(1).abs().sum(1)  # eval model without batch coupling: row i of g is grad of f_i
        err[h] = ((fd / l1) - 1).abs().max().item()
        assert t.reg.item() == pytest.approx((fd**2).mean().item(), rel=1e-12)
    assert err[1e-2] < 2e-3 and err[1e-6] < 1e-6
    assert 0.5e-4 < err[1e-6] / err[1e-2] < 2e-4  # the error is the O(h) Taylor remainder


def test_two_class_probability_and_reuse_of_m_h2() -> None:
    z = torch.tensor([[2.0, 1.0, 3.0, -1.0], [0.5, 0.4, 0.1, 0.45]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    p, m = two_class_prob(z, y)
    assert m.tolist() == [2, 0]  # the strongest class other than the label
    assert torch.allclose(
        p, torch.stack([torch.softmax(z[0, [0, 2]], 0)[0], torch.softmax(z[1, [1, 0]], 0)[0]])
    )
    # m_i is kept for the perturbed input: find a batch where the strongest wrong class changes at x + h v
    model = smooth_model(3)
    for seed in range(50):
        x, y = batch(seed, n=8)
        t = sr_terms(model, x, y, h=0.3)
        _, m2 = two_class_prob(t.logits2.detach(), y)
        if bool((m2 != t.m).any()):
            break
    else:
        pytest.fail("no batch with a changed strongest wrong class found")
    zy, zm = t.logits2.gather(1, y[:, None])[:, 0], t.logits2.gather(1, t.m[:, None])[:, 0]
    assert torch.equal(t.p2, torch.sigmoid(zy - zm))
    p2_new, _ = two_class_prob(t.logits2, y)
    recomputed = ((p2_new - t.p) / 0.3).pow(2).mean()
    assert abs(recomputed.item() - t.reg.item()) > 1e-6  # re-choosing m would change R


def test_spiking_finite_difference_is_mostly_zero_for_tiny_h_h5() -> None:
    model = zoo.create_model("sparse_grad_mlp_digits.digits_t4", pretrained=True).double().eval()
    test = zoo.create_dataset("digits_70_30", split="test")
    x, y = test.tensors[0][:200].double(), test.tensors[1][:200]
    t = sr_terms(model, x, y, h=1e-7)
    zero = (t.p2 == t.p).double().mean().item()
    assert zero >= 0.9  # no spike flips: the finite difference is exactly 0
    assert t.grad.flatten(1).abs().sum(1).min() > 0  # while the surrogate gradient is not


def test_training_step_backpropagates_through_both_forwards() -> None:
    torch.manual_seed(0)
    model = zoo.create_model("sparse_grad_mlp_digits", hidden=32).double()
    x = torch.rand(16, 1, 8, 8, dtype=torch.float64)
    y = torch.arange(16) % 10
    ref = copy.deepcopy(model).train()
    rule = zoo.create_learning_rule("sparse_grad", lamb=0.05, h=0.01)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    out = rule.training_step(model, (x, y), opt)
    # independent: p, m, g, x2 written out here
    xr = x.clone().requires_grad_(True)
    z = ref(xr)
    wrong = z.detach().clone()
    wrong[torch.arange(16), y] = -float("inf")
    m = wrong.argmax(1)
    p = torch.softmax(torch.stack([z[torch.arange(16), y], z[torch.arange(16), m]], 1), 1)[:, 0]
    (g,) = torch.autograd.grad(p.sum(), xr, retain_graph=True)
    z2 = ref(x + 0.01 * g.sign())
    p2 = torch.softmax(torch.stack([z2[torch.arange(16), y], z2[torch.arange(16), m]], 1), 1)[:, 0]
    ce, reg = F.cross_entropy(z, y), ((p2 - p) / 0.01).pow(2).mean()
    (ce + 0.05 * reg).backward()
    assert out["ce"] == pytest.approx(ce.item(), rel=1e-12) and out["reg"] == pytest.approx(
        reg.item(), rel=1e-12
    )
    assert out["loss"] == pytest.approx((ce + 0.05 * reg).item(), rel=1e-12) and reg.item() > 0
    for (k, a), b in zip(model.named_parameters(), ref.parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=1e-10, atol=1e-13), k
    assert int(model.bn1.num_batches_tracked) == 2  # two train-mode forwards per step


def test_adversarial_training_step_uses_eval_mode_attack() -> None:
    torch.manual_seed(0)
    model = zoo.create_model("sparse_grad_mlp_digits", hidden=32).double()
    x, y = torch.rand(8, 1, 8, 8, dtype=torch.float64), torch.arange(8)
    ref = copy.deepcopy(model)
    rule = zoo.create_learning_rule("sparse_grad", lamb=0.0, attack="fgsm", eps=0.1)
    rule.training_step(model, (x, y), torch.optim.SGD(model.parameters(), lr=0.0))
    assert model.training  # back in train mode
    x_adv = fgsm(ref, x, y, 0.1)  # eval-mode attack (running statistics)
    ref.train()
    F.cross_entropy(ref(x_adv), y).backward()
    assert torch.allclose(model.fc2.weight.grad, ref.fc2.weight.grad, rtol=1e-10, atol=1e-13)


def test_rule_rejects_bad_arguments() -> None:
    for kw, what in (
        ({"lamb": -1.0}, "lamb"),
        ({"h": 0.0}, "h"),
        ({"attack": "cw"}, "attack"),
        ({"eps": 2}, "eps"),
    ):
        with pytest.raises(ConfigError, match=what):
            zoo.create_learning_rule("sparse_grad", **kw)
