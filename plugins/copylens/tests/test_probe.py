"""The probe's mathematics as claims: fusion identities, the packed LSTM head (padding, batch order, parameter
count), p a distribution, NT-Xent closed forms, AUROC identities, the OOD scores; and the conformance kit."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import zoo_core as zoo
from zoo_core.sdk import ConfigError, InputError
from zoo_core.testing import check_model

from zoo_copylens.probe import (
    LayerFusion,
    auroc,
    average_ranks,
    class_metrics,
    compact,
    fpr_at_tpr,
    nt_xent,
    threshold_at_tpr,
)
from zoo_copylens.task import random_crops

SMALL = {"backbone": {"model_type": "gpt2", "seed": 0}, "d_model": 12, "num_layers": 3, "hidden_size": 10,
         "num_classes": 4, "proj_hidden": 16, "proj_dim": 8, "max_length": 7}  # fmt: skip


def probe(**kw):
    torch.manual_seed(0)
    return zoo.create_model("copylens_probe", **{**SMALL, **kw}).eval()


def feats(b=3, n=3, length=7, d=12, seed=0, dtype=torch.float32):
    return torch.randn(b, n, length, d, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ------------------------------------------------------------------------------------------------ conformance
@pytest.mark.parametrize("name", ["copylens_probe", "copylens_probe_hidden", "copylens_probe_minilm_stdlib"])
def test_registered_probes_conform(name):
    check_model(name)


@pytest.mark.parametrize(
    "kw", [{"fusion": "weighted"}, {"fusion": "concat", "layers": [-1, 0]}, {"layers": [1]}]
)
def test_fusion_options_conform(kw):
    check_model("copylens_probe", **kw)


def test_registered_layouts_and_state_dict_keys():
    m = zoo.create_model("copylens_probe_minilm_stdlib")
    assert sorted(m.state_dict()) == sorted([
        "lstm.weight_ih_l0", "lstm.weight_hh_l0", "lstm.bias_ih_l0", "lstm.bias_hh_l0", "head.weight",
        "head.bias", "proj.0.weight", "proj.0.bias", "proj.2.weight", "proj.2.bias", "prototypes",
        "head_prototypes", "ood_threshold",
    ])  # fmt: skip
    shapes = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert shapes["lstm.weight_ih_l0"] == (512, 384) and shapes["proj.0.weight"] == (256, 128 + 384)
    assert shapes["prototypes"] == (4, 128) and shapes["head.weight"] == (4, 128)
    assert m.classes == ["email", "unittest", "asyncio", "xml"]
    assert zoo.create_model("copylens_probe", fusion="weighted").state_dict()["fuse.layer_logits"].shape == (
        12,
    )


def test_lstm_head_parameter_count_formula():
    """LSTM: 4h(d_in + h + 2) (torch keeps two biases) + Linear h K + K; d_in 384, h 128, K 4: 263,684."""
    m = zoo.create_model("copylens_probe_minilm_stdlib")
    count = sum(p.numel() for mod in (m.lstm, m.head) for p in mod.parameters())
    d, h, k = 384, 128, 4
    assert count == 4 * h * (d + h + 2) + h * k + k == 263_684
    proj = sum(p.numel() for p in m.proj.parameters())
    assert proj == (h + d) * 256 + 256 + 256 * 128 + 128
    for d, h, k in ((12, 10, 4), (7, 3, 2)):
        m = probe(d_model=d, hidden_size=h, num_classes=k)
        assert (
            sum(p.numel() for mod in (m.lstm, m.head) for p in mod.parameters())
            == 4 * h * (d + h + 2) + (h + 1) * k
        )


# ------------------------------------------------------------------------------------------------ fusion
def test_mean_of_identical_layers_is_the_identity_and_equal_logits_are_the_mean():
    x = feats()
    same = x[:, :1].expand(-1, 3, -1, -1)
    torch.testing.assert_close(LayerFusion("mean", 3, 12)(same), x[:, 0], atol=1e-6, rtol=0)
    w = LayerFusion("weighted", 3, 12)
    torch.testing.assert_close(w(x), LayerFusion("mean", 3, 12)(x), atol=1e-6, rtol=0)
    with torch.no_grad():
        w.layer_logits.fill_(2.5)  # any equal logits
    torch.testing.assert_close(w(x), x.mean(1), atol=1e-6, rtol=0)
    torch.testing.assert_close(w(same), x[:, 0], atol=1e-6, rtol=0)  # any weights: identical layers stay
    with torch.no_grad():
        w.layer_logits.copy_(torch.tensor([0.0, 50.0, 0.0]))  # one dominant layer picks that layer
    torch.testing.assert_close(w(x), x[:, 1], atol=1e-5, rtol=0)
    assert torch.allclose(w.weights().sum(), torch.tensor(1.0))


def test_concat_fusion_is_a_linear_map_of_the_stacked_layers():
    c = LayerFusion("concat", 2, 4)
    x = feats(b=2, n=2, length=5, d=4)
    expected = torch.cat([x[:, 0], x[:, 1]], -1) @ c.linear.weight.T + c.linear.bias
    torch.testing.assert_close(c(x), expected, atol=1e-6, rtol=0)


def test_layer_selection_reads_only_the_chosen_layers():
    m = probe(layers=[2])
    x = feats()
    y = x.clone()
    y[:, :2] = torch.randn_like(y[:, :2])  # change the unused layers
    with torch.no_grad():
        assert torch.equal(m(x), m(y))
        assert not torch.equal(probe()(x), probe()(y))


# ------------------------------------------------------------------------------------------------ head
def test_contribution_is_a_distribution():
    m = probe()
    with torch.no_grad():
        out = m.scores(feats(b=5))
    p = out["probs"]
    assert p.shape == (5, 4) and bool(((p >= 0) & (p <= 1)).all())
    torch.testing.assert_close(p.sum(1), torch.ones(5), atol=1e-6, rtol=0)
    torch.testing.assert_close(p, torch.softmax(m(feats(b=5))[:, 0], 1))


def test_z_is_the_lstm_state_after_the_last_valid_token():
    m = probe()
    x = feats(b=2, dtype=torch.float64)
    m = m.double()
    mask = torch.ones(2, 7, dtype=torch.bool)
    mask[1, 4:] = False
    with torch.no_grad():
        fused, mk = m.fused(x, mask)
        z = m.lstm_state(fused, mk)
        for i, n in enumerate((7, 4)):
            out, _ = m.lstm(fused[i : i + 1, :n])  # the plain LSTM on the valid tokens only
            torch.testing.assert_close(z[i], out[0, -1], atol=1e-12, rtol=0)


@pytest.mark.parametrize("where", ["right", "left", "scattered"])
def test_padding_does_not_change_the_output(where):
    """Padding tokens (any values, even NaN) never reach p, the embedding or the scores."""
    m = probe()
    x = feats(b=2)
    pad = torch.full((2, 3, 4, 12), float("nan"))
    if where == "right":
        big, keep = torch.cat([x, pad], 2), [*range(7)]
    elif where == "left":
        big, keep = torch.cat([pad, x], 2), [*range(4, 11)]
    else:
        big, keep = torch.cat([x[:, :, :3], pad, x[:, :, 3:]], 2), [0, 1, 2, 7, 8, 9, 10]
    mask = torch.zeros(2, 11, dtype=torch.bool)
    mask[:, keep] = True
    with torch.no_grad():
        torch.testing.assert_close(m(big, mask), m(x), atol=1e-6, rtol=0)
        a, b = m.scores(big, mask), m.scores(x)
    for k in ("probs", "e", "contrastive", "msp", "energy"):
        torch.testing.assert_close(a[k], b[k], atol=1e-6, rtol=0)


def test_batch_order_equivariance_and_compaction():
    m = probe()
    x = feats(b=5)
    mask = torch.rand(5, 7, generator=torch.Generator().manual_seed(1)) > 0.4
    mask[:, 0] = True
    order = torch.tensor([3, 1, 4, 0, 2])
    with torch.no_grad():
        torch.testing.assert_close(m(x[order], mask[order]), m(x, mask)[order], atol=1e-6, rtol=0)
    moved, lengths = compact(x[:, 0], mask)
    for i in range(5):
        assert torch.equal(moved[i, : lengths[i]], x[i, 0][mask[i]])


def test_bad_inputs_are_refused_clearly():
    m = probe()
    with pytest.raises(InputError, match="num_layers"):
        m(torch.randn(3, 7, 12))
    with pytest.raises(InputError, match="3 layers of size 12"):
        m(torch.randn(2, 2, 7, 12))
    with pytest.raises(InputError, match="NaN"):
        x = feats()
        x[0, 0, 0, 0] = float("nan")
        m(x)
    with pytest.raises(InputError, match="at least one valid token"):
        m(feats(), torch.zeros(3, 7))
    with pytest.raises(InputError, match="mask"):
        m(feats(), torch.ones(3, 6))
    with pytest.raises(InputError):
        m(torch.zeros(3, 3, 7, 12, dtype=torch.long))
    for bad in ({"fusion": "max"}, {"features": "mlp"}, {"layers": [3]}, {"layers": [0, -3]},
                {"classes": ["a", "b"]}, {"hidden_size": 0}, {"backbone": ""}):  # fmt: skip
        with pytest.raises(ConfigError):
            probe(**bad)


# ------------------------------------------------------------------------------------------------ NT-Xent
def test_nt_xent_closed_forms():
    n, tau = 4, 0.1
    same = torch.ones(n, 16)
    assert float(nt_xent(same, same, tau)) == pytest.approx(math.log(2 * n - 1), abs=1e-6)  # 1.945910
    eye = torch.eye(n, 16)  # pair i: e_i in both views, orthogonal to every other pair
    expected = math.log(1 + (2 * n - 2) * math.exp(-1 / tau))
    assert expected == pytest.approx(2.7236e-4, rel=1e-3)
    assert float(nt_xent(eye, eye, tau)) == pytest.approx(expected, rel=1e-3)
    assert float(nt_xent(eye.double(), eye.double(), tau)) == pytest.approx(expected, rel=1e-12)


def test_nt_xent_by_hand_and_invariances():
    g = torch.Generator().manual_seed(0)
    a, b = (
        torch.randn(5, 6, generator=g, dtype=torch.float64),
        torch.randn(5, 6, generator=g, dtype=torch.float64),
    )
    u = F.normalize(torch.cat([a, b]), dim=1)
    sim = u @ u.T / 0.5
    total = 0.0
    for i in range(10):
        j = (i + 5) % 10
        others = [k for k in range(10) if k != i]
        total += -(sim[i, j] - torch.logsumexp(sim[i, others], 0))
    assert float(nt_xent(a, b, 0.5)) == pytest.approx(float(total) / 10, rel=1e-12)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))  # a common rotation
    assert float(nt_xent(a @ q, b @ q, 0.5)) == pytest.approx(float(nt_xent(a, b, 0.5)), rel=1e-10)
    assert float(nt_xent(3 * a, 0.2 * b, 0.5)) == pytest.approx(float(nt_xent(a, b, 0.5)), rel=1e-10)  # scale
    perm = torch.tensor([2, 0, 4, 1, 3])
    assert float(nt_xent(a[perm], b[perm], 0.5)) == pytest.approx(float(nt_xent(a, b, 0.5)), rel=1e-10)
    assert float(nt_xent(b, a, 0.5)) == pytest.approx(float(nt_xent(a, b, 0.5)), rel=1e-10)  # view swap
    with pytest.raises(ConfigError):
        nt_xent(a, b, 0.0)
    with pytest.raises(InputError):
        nt_xent(a, b[:4])


# ------------------------------------------------------------------------------------------------ AUROC
def test_auroc_identities():
    g = torch.Generator().manual_seed(0)
    s_id, s_ood = torch.randn(40, generator=g) + 0.7, torch.randn(30, generator=g)
    a = auroc(s_id, s_ood)
    assert 0.5 < a < 1
    assert auroc(s_id, s_id) == 0.5  # identical score sets
    assert auroc(-s_id, -s_ood) == pytest.approx(1 - a, abs=1e-12)  # the score reversed
    for f in (torch.exp, lambda t: 3 * t**3 + 1, torch.sigmoid):  # strictly increasing transforms
        assert auroc(f(s_id), f(s_ood)) == pytest.approx(a, abs=1e-12)
    assert auroc([2.0, 3.0], [0.0, 1.0]) == 1.0 and auroc([0.0, 1.0], [2.0, 3.0]) == 0.0  # perfect separation
    assert auroc([1.0, 1.0], [1.0]) == 0.5  # ties count half
    pairs = sum(float(x > y) + 0.5 * float(x == y) for x in s_id for y in s_ood) / (40 * 30)
    assert a == pytest.approx(pairs, abs=1e-12)  # the pair-counting definition
    assert average_ranks(torch.tensor([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]
    with pytest.raises(InputError):
        auroc([], [1.0])
    with pytest.raises(InputError):
        auroc([float("nan")], [1.0])


def test_threshold_and_fpr_at_tpr():
    s_id = torch.arange(1, 21, dtype=torch.float64)  # 1..20
    t = threshold_at_tpr(s_id, 0.95)
    assert t == 2.0 and float((s_id >= t).double().mean()) == 0.95
    assert fpr_at_tpr(s_id, [0.0, 1.0, 2.0, 30.0], 0.95) == 0.5
    assert threshold_at_tpr(s_id, 1.0) == 1.0


def test_class_metrics_by_hand():
    pred, target = torch.tensor([0, 0, 1, 1, 2, 2]), torch.tensor([0, 1, 1, 1, 2, 0])
    cm = class_metrics(pred, target, 3)
    assert cm["accuracy"] == pytest.approx(4 / 6)
    assert cm["precision"] == pytest.approx([0.5, 1.0, 0.5]) and cm["recall"] == pytest.approx(
        [0.5, 2 / 3, 1.0]
    )
    assert cm["f1"][1] == pytest.approx(0.8) and cm["support"] == [2, 3, 1]
    assert cm["macro_f1"] == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)


# ------------------------------------------------------------------------------------------------ OOD scores
def test_ood_scores_match_their_definitions_and_prototypes():
    m = probe()
    x, y = feats(b=12, seed=3), torch.arange(12) % 4
    m.fit_prototypes(x, None, y, tpr=0.75)
    with torch.no_grad():
        out = m.scores(x)
    for k in range(4):
        mean = out["e"][y == k].mean(0)
        torch.testing.assert_close(m.prototypes[k], mean / mean.norm(), atol=1e-6, rtol=0)
    torch.testing.assert_close(out["e"].norm(dim=1), torch.ones(12), atol=1e-6, rtol=0)
    cos = out["e"] @ m.prototypes.T
    torch.testing.assert_close(out["contrastive"], cos.max(1).values, atol=1e-6, rtol=0)
    torch.testing.assert_close(m(x)[:, 1].detach(), cos, atol=1e-6, rtol=0)
    torch.testing.assert_close(out["msp"], out["probs"].max(1).values)
    torch.testing.assert_close(out["energy"], torch.logsumexp(out["logits"], 1))
    zc = F.normalize(out["z"], dim=1) @ m.head_prototypes.T
    torch.testing.assert_close(out["head_prototype"], zc.max(1).values, atol=1e-6, rtol=0)
    assert float((out["contrastive"] >= m.ood_threshold).double().mean()) >= 0.75


def test_random_crops_are_contiguous_runs_of_valid_tokens():
    g = torch.Generator().manual_seed(0)
    mask = torch.zeros(50, 12, dtype=torch.bool)
    lengths = torch.randint(1, 13, (50,), generator=g)
    for i, n in enumerate(lengths):
        mask[i, :n] = True
    for _ in range(5):
        v = random_crops(mask, 0.5, g)
        assert bool((v <= mask).all())
        n_view = v.sum(1)
        assert bool((n_view >= torch.ceil(0.5 * lengths.double()).long()).all()) and bool(
            (n_view <= lengths).all()
        )
        for row in v:
            idx = row.nonzero().flatten()
            assert len(idx) >= 1 and bool((idx.diff() == 1).all())
