"""zoo_core.attacks: FGSM/PGD invariants on a non-spiking and a spiking model, the ensemble protocol."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

import zoo_core as zoo
from zoo_core.errors import ConfigError, InputError
from zoo_core.tasks.attacks import fgsm, pgd, robust_accuracy


def linear_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).double()


def spiking_model() -> nn.Module:
    return zoo.create_model("spiking_cnn.digits_t4", pretrained=True)


def digits(n: int = 48, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    data = zoo.create_dataset("digits", split="test")
    return data.tensors[0][:n].to(dtype), data.tensors[1][:n]


def test_fgsm_equals_the_closed_form_on_a_linear_model() -> None:
    model = linear_model()
    x, y = digits(32, torch.float64)
    W = model[1].weight.detach()
    p = torch.softmax(model(x), -1).detach()
    grad = (p - F.one_hot(y, 10).double()) @ W  # d CE / d x of a linear classifier, per sample
    expected = (x + 0.1 * grad.sign().view_as(x)).clamp(0, 1)
    assert torch.equal(fgsm(model, x, y, 0.1), expected)


@pytest.mark.parametrize("which", ["linear", "spiking"])
@pytest.mark.parametrize("eps", [0.0, 0.05, 0.3])
def test_attacks_stay_in_the_ball_and_in_range(which: str, eps: float) -> None:
    model = linear_model() if which == "linear" else spiking_model()
    x, y = digits(32, torch.float64 if which == "linear" else torch.float32)
    gen = torch.Generator().manual_seed(0)
    for adv in (fgsm(model, x, y, eps), pgd(model, x, y, eps, steps=3, step_size=eps / 2, generator=gen)):
        assert adv.shape == x.shape and adv.dtype == x.dtype and not adv.requires_grad
        assert (adv - x).abs().max() <= eps + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
        if eps > 0:
            assert (adv != x).any()


@pytest.mark.parametrize("which", ["linear", "spiking"])
def test_pgd_first_step_is_fgsm_and_tracking_pgd_is_never_weaker(which: str) -> None:
    model = linear_model(1) if which == "linear" else spiking_model()
    x, y = digits(96, torch.float64 if which == "linear" else torch.float32)
    eps = 0.15
    a_fgsm = fgsm(model, x, y, eps)
    one = pgd(model, x, y, eps, steps=1, step_size=eps, random_start=False)
    assert torch.equal(one, a_fgsm)
    # keep_best PGD whose first iterate is the FGSM point: every sample FGSM fools stays fooled
    a_pgd = pgd(model, x, y, eps, steps=5, step_size=eps, random_start=False, keep_best=True)
    model.eval()
    with torch.no_grad():
        ok_fgsm = model(a_fgsm).argmax(-1) == y
        ok_pgd = model(a_pgd).argmax(-1) == y
    assert not (ok_pgd & ~ok_fgsm).any()
    assert ok_pgd.sum() <= ok_fgsm.sum() < len(y)


def test_keep_best_returns_a_fooling_iterate_when_the_last_one_is_not() -> None:
    # steps of 2 eps overshoot back and forth inside the ball: some samples are fooled by an early iterate only
    model = spiking_model()
    x, y = digits(128)
    plain = pgd(model, x, y, 0.1, steps=4, step_size=0.2, random_start=False)
    best = pgd(model, x, y, 0.1, steps=4, step_size=0.2, random_start=False, keep_best=True)
    with torch.no_grad():
        fooled_plain = model(plain).argmax(-1) != y
        fooled_best = model(best).argmax(-1) != y
    assert (fooled_best | ~fooled_plain).all()  # whatever the last iterate fools, keep_best fools too
    assert fooled_best.sum() > fooled_plain.sum()
    assert (best - x).abs().max() <= 0.1 + 1e-6 and best.min() >= 0 and best.max() <= 1


def test_attacks_restore_the_train_flag_and_use_eval_mode() -> None:
    model = zoo.create_model("spiking_cnn", channels=[4, 8])
    x, y = digits(8)
    model.train()
    fgsm(model, x, y, 0.1)
    assert model.training and all(m.training for m in model.modules())
    bn = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    before = [int(m.num_batches_tracked) for m in bn]
    pgd(model, x, y, 0.1, steps=2)
    assert [int(m.num_batches_tracked) for m in bn] == before  # eval mode: running statistics untouched


def test_bad_inputs_are_rejected() -> None:
    model = linear_model()
    x, y = digits(4, torch.float64)
    with pytest.raises(ConfigError, match="eps"):
        fgsm(model, x, y, -0.1)
    with pytest.raises(ConfigError, match=r"\[0, 1\]"):
        pgd(model, x, y, 1.5)
    with pytest.raises(ConfigError, match="steps"):
        pgd(model, x, y, 0.1, steps=0)
    with pytest.raises(ConfigError, match="step_size"):
        pgd(model, x, y, 0.1, step_size=float("nan"))
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        fgsm(model, x * 2 + 0.5, y, 0.1)
    with pytest.raises(InputError, match="NaN"):
        fgsm(model, x.clone().fill_(float("nan")), y, 0.1)
    with pytest.raises(InputError, match="int64"):
        fgsm(model, x, y.float(), 0.1)
    with pytest.raises(ConfigError, match="unknown attack"):
        robust_accuracy(model, TensorDataset(x, y), attack="cw")


class _Flip(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[no-untyped-def]
        return x.clone()

    @staticmethod
    def backward(ctx, g):  # type: ignore[no-untyped-def]
        return -g


class TwoPaths(nn.Module):
    """A linear classifier offering two gradient settings: the true gradient and its negation."""

    def __init__(self) -> None:
        super().__init__()
        self.net = linear_model(3)
        self.setting = "true"

    def gradient_settings(self) -> list[str]:
        return ["true", "flipped"]

    def set_gradient_setting(self, name: str) -> None:
        self.setting = name

    def get_gradient_setting(self) -> str:
        return self.setting

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(_Flip.apply(x) if self.setting == "flipped" else x)


def test_robust_accuracy_matches_a_manual_count_and_the_ensemble_rule() -> None:
    model = TwoPaths()
    x, y = digits(80, torch.float64)
    data = TensorDataset(x, y)
    r = robust_accuracy(model, data, "fgsm", 0.1, settings=["true", "flipped"], batch_size=32)
    hits = {}
    for s in ("true", "flipped"):
        model.setting = s
        with torch.no_grad():
            hits[s] = model(fgsm(model, x, y, 0.1)).argmax(-1) == y
    model.setting = "flipped"
    assert r["per_setting"] == {s: hits[s].double().mean().item() for s in hits}
    assert r["robust_accuracy"] == (hits["true"] & hits["flipped"]).double().mean().item()
    assert r["per_setting"]["flipped"] > r["per_setting"]["true"]  # ascending the negated gradient helps
    with torch.no_grad():
        assert r["clean_accuracy"] == (model(x).argmax(-1) == y).double().mean().item()
    model.setting = "flipped"
    robust_accuracy(model, data, "pgd", 0.1, steps=2, settings=["true"])
    assert model.setting == "flipped"  # restored
    zero = robust_accuracy(model.net, data, "pgd", 0.0, steps=2)
    assert zero["robust_accuracy"] == zero["clean_accuracy"]
    with pytest.raises(ConfigError, match="gradient settings"):
        robust_accuracy(model.net, data, "fgsm", 0.1, settings=["true"])
    with pytest.raises(ConfigError, match="subset"):
        robust_accuracy(model, data, "fgsm", 0.1, settings=["bptt"])


def test_pgd_is_reproducible_with_a_seed() -> None:
    model = spiking_model()
    x, y = digits(16)
    a = pgd(model, x, y, 0.1, steps=2, generator=torch.Generator().manual_seed(5))
    b = pgd(model, x, y, 0.1, steps=2, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
