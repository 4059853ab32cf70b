"""The predictors: conformance, official parameter counts and key layout, patching, the rollout protocol."""

import pytest
import torch
import zoo_core as zoo
from zoo_core.sdk import ConfigError, InputError, WeightsError, signature_defaults
from zoo_core.testing import check_model, check_neuron

from zoo_stc.cells import CELLS
from zoo_stc.models import SpikingPredictor, patch, unpatch
from zoo_stc.plugin import DEMO_TAG
from zoo_stc.settings import CELL_LABELS, DATASETS, STC_CELLS

MODELS = [f"spiking_predictor_{c}_{d}" for c in CELLS for d in DATASETS]
OFFICIAL = ("mmnist", "taxibj", "kth")

#: parameter counts of the official models (wangtianyi1874/stclif@96fa142, measured by instantiating its
#: classes), in the order of the official method list: LIF, PLIF, TC-LIF, LM-H, GLIF, STC-LIF, STC-PLIF, STC-LM-H
PARAMS = {
    "mmnist": [3304960, 3304963, 3304975, 3304975, 3311104, 3922432, 3922435, 3922447],
    "taxibj": [3291648, 3291651, 3291663, 3291663, 3297792, 3909120, 3909123, 3909135],
    "kth": [3384832, 3384835, 3384847, 3384847, 3390976, 4002304, 4002307, 4002319],
}


def test_every_model_and_neuron_is_registered():
    # the cell keys are the registered neuron names, and one table names the models
    assert list(CELLS) == list(CELL_LABELS)
    assert set(CELLS) == set(zoo.list_neurons("stc_*"))
    assert set(STC_CELLS) == {"stc_lif", "stc_plif", "stc_lmh"}
    assert zoo.list_models("spiking_predictor_*") == sorted(MODELS) and len(MODELS) == 32
    assert zoo.list_models("stc_*") == []
    for name in MODELS:
        info = zoo.model_info(name)
        assert info.task == "video-prediction" and info.family == "spiking_predictor"
        assert info.defaults["neuron"] == name.removeprefix("spiking_predictor_").rsplit("_", 1)[0]


def test_the_settings_table():
    """Official settings (3 x 256 channels, K 5, 16 groups) and the zoo's CPU-sized mdigits setting."""
    for cell in CELLS:
        for ds in OFFICIAL:
            d = zoo.model_info(f"spiking_predictor_{cell}_{ds}").defaults
            assert (d["num_hidden"], d["kernel_size"], d["groups"]) == ([256, 256, 256], 5, 16)
            assert d["gradient_detach"] == (cell in STC_CELLS and ds != "mmnist")
        d = zoo.model_info(f"spiking_predictor_{cell}_mdigits").defaults
        want = {"num_hidden": [16, 16], "in_chans": 1, "img_size": 32, "patch_size": 2}
        assert {k: d[k] for k in want} == want and (d["pre_seq_length"], d["aft_seq_length"]) == (5, 5)
    assert zoo.model_info("spiking_predictor_stc_baseline_lif_kth").defaults["aft_seq_length"] == 20
    assert zoo.model_info("spiking_predictor_stc_lif_taxibj").defaults["in_chans"] == 2
    # a weight tag only where its weights are (the two demo models), with exactly the model's configuration
    tagged = {n for n in MODELS if zoo.model_info(n).weights}
    assert tagged == {"spiking_predictor_stc_lif_mdigits", "spiking_predictor_stc_baseline_lif_mdigits"}
    for n in tagged:
        info = zoo.model_info(n)
        assert all(info.defaults[k] == v for k, v in info.weights[DEMO_TAG].config.items())


def test_constructor_is_keyword_only_and_defaults_are_the_official_mmnist_stc_lif():
    with pytest.raises(TypeError):
        SpikingPredictor("stc_lif")  # type: ignore[misc]
    defaults = zoo.model_info("spiking_predictor_stc_lif_mmnist").defaults
    assert signature_defaults(SpikingPredictor) == defaults


@pytest.mark.parametrize("name", MODELS)
def test_conformance(name):
    check_model(name)


@pytest.mark.parametrize("name", [n for n in zoo.list_neurons("stc_*")])
def test_neuron_conformance(name):
    check_neuron(name)


@pytest.mark.parametrize("dataset", OFFICIAL)
def test_parameter_counts_equal_the_official_models(dataset):
    got = [
        sum(p.numel() for p in zoo.create_model(f"spiking_predictor_{c}_{dataset}").parameters())
        for c in CELLS
    ]
    assert got == PARAMS[dataset]


def official_keys(neuron: str, layers: int = 3) -> list[str]:
    """The official model's state-dict keys (``XXX_Model`` of ``convlif_model.py``), written out by hand."""
    scalars = {
        "stc_baseline_plif": ["t_m"],
        "stc_plif": ["t_m"],
        "stc_baseline_tclif": ["t_m", "s_u", "s_p", "d_u", "d_p"],
        "stc_baseline_lmh": ["t_m", "s_u", "s_p", "d_u", "d_p"],
        "stc_lmh": ["t_m", "s_u", "s_p", "d_u", "d_p"],
    }.get(neuron, [])
    convs = ["conv_x"] + (["conv_h", "conv_v"] if neuron in ("stc_lif", "stc_plif", "stc_lmh") else [])
    glif = [f"glif.{p}" for p in ("alpha", "beta", "gamma", "tau", "Vth", "leak", "reVth", "conduct")]
    keys = []
    for i in range(layers):
        keys += [f"cell_list.{i}.{s}" for s in scalars]
        for c in convs:
            keys += [
                f"cell_list.{i}.{c}.0.weight",
                f"cell_list.{i}.{c}.1.weight",
                f"cell_list.{i}.{c}.1.bias",
            ]
        if neuron == "stc_baseline_glif":
            keys += [f"cell_list.{i}.{p}" for p in glif]
    return [*keys, "conv_last.weight"]


@pytest.mark.parametrize("neuron", list(CELLS))
def test_state_dict_keys_are_the_official_ones_and_from_official_round_trips(neuron):
    name = f"spiking_predictor_{neuron}_taxibj"
    m = zoo.create_model(name, num_hidden=[16, 16, 16], img_size=8)
    sd = m.state_dict()
    assert sorted(sd) == sorted(official_keys(neuron))
    assert sd["cell_list.0.conv_x.0.weight"].shape == (16, 2, 5, 5)
    if neuron in STC_CELLS:
        assert sd["cell_list.1.conv_h.0.weight"].shape == (16, 1, 5, 5)  # groups = 16
    official = {k: torch.randn_like(v) for k, v in sd.items()}
    # the official trainer's latest.pth layout (checkpoint.pth is the bare state dict)
    wrapped = {
        "epoch": 3,
        "optimizer": {"state": {}},
        "state_dict": {f"module.{k}": v for k, v in official.items()},
    }
    mapped = zoo.from_official(name, wrapped)
    assert mapped.keys() == official.keys()
    m.load_state_dict(mapped, strict=True)
    assert all(torch.equal(m.state_dict()[k], official[k]) for k in official)
    assert zoo.official_config(name, official) == {"num_hidden": [16, 16, 16], "kernel_size": 5}
    with pytest.raises(WeightsError, match="unexpected key"):
        zoo.from_official(name, {**official, "MSE_criterion.weight": torch.zeros(1)})


def test_patch_follows_openstl_reshape_patch():
    """Channel (row*p + col)*C + c of patch (y, x) holds pixel (c, y*p + row, x*p + col)."""
    p, C = 2, 3
    x = torch.randn(2, 3, C, 4, 6)
    z = patch(x, p)
    assert z.shape == (2, 3, p * p * C, 2, 3)
    for row in range(p):
        for col in range(p):
            for c in range(C):
                assert torch.equal(z[:, :, (row * p + col) * C + c], x[:, :, c, row::p, col::p])
    assert torch.equal(unpatch(z, p), x)


def _model(neuron="stc_lif", **kw):
    torch.manual_seed(0)
    cfg = {"num_hidden": [16, 16], "img_size": 8, "pre_seq_length": 3, "aft_seq_length": 3, **kw}
    return zoo.create_model(f"spiking_predictor_{neuron}_mmnist", **cfg).double().eval()


def test_forward_is_the_autoregressive_rollout():
    m = _model()
    frames = torch.rand(2, 6, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        y = m(frames[:, :3])
        r = m.rollout(frames)
        r0 = m.rollout(frames, torch.zeros(2, 2, dtype=torch.float64))
        # the ground truth after the input window must not matter without teacher forcing
        r1 = m.rollout(torch.cat([frames[:, :3], torch.rand(2, 3, 1, 8, 8, dtype=torch.float64)], 1))
    assert y.shape == (2, 3, 1, 8, 8) and r.shape == (2, 5, 1, 8, 8)
    assert torch.equal(y, r[:, -3:]) and torch.equal(r, r0) and torch.equal(r, r1)


def test_teacher_forcing_feeds_the_ground_truth():
    """With mask 1 everywhere the rollout equals a model whose input window covers all frames but the last."""
    m = _model("stc_lmh")
    frames = torch.rand(2, 6, 1, 8, 8, dtype=torch.float64)
    full = zoo.create_model(
        "spiking_predictor_stc_lmh_mmnist",
        num_hidden=[16, 16],
        img_size=8,
        pre_seq_length=5,
        aft_seq_length=1,
    )
    full = full.double().eval()
    full.load_state_dict(m.state_dict())
    with torch.no_grad():
        tf = m.rollout(frames, torch.ones(2, 2, dtype=torch.float64))
        ref = unpatch(full._run(frames[:, :6], None, teacher=False), 2)
        mixed = m.rollout(frames, torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64))
        auto = m.rollout(frames)
    assert torch.equal(tf, ref)
    assert torch.equal(mixed[1], auto[1])  # sample 1 has no teacher forcing
    assert not torch.equal(mixed[0], auto[0])


def test_bad_input_is_refused_with_a_clear_message():
    m = _model()
    with pytest.raises(InputError, match=r"\[B, 3, 1, 8, 8\]"):
        m(torch.rand(2, 4, 1, 8, 8))
    with pytest.raises(InputError, match="mask"):
        m.rollout(torch.rand(2, 6, 1, 8, 8), torch.zeros(2, 3))
    with pytest.raises(ConfigError, match="multiple of groups"):
        zoo.create_model("spiking_predictor_stc_lif_mmnist", num_hidden=[24])
    with pytest.raises(ConfigError, match=r"neuron must be one of .*'stc_baseline_glif'"):
        zoo.create_model("spiking_predictor_stc_lif_mmnist", neuron="stclif")
    with pytest.raises(ConfigError, match="multiple of patch_size"):
        zoo.create_model("spiking_predictor_stc_lif_kth", img_size=10)


def _reference_stclif(sd, frames, p, pre, aft, layers):
    """The STC-LIF predictor written out with functional ops on the state dict (OpenSTL's channels-last
    ``reshape_patch``, the cell equations of zoo_stc.cells), for the autoregressive test protocol."""
    import torch.nn.functional as F

    b, t, c, h, w = frames.shape
    ims = frames.permute(0, 1, 3, 4, 2).reshape(b, t, h // p, p, w // p, p, c).transpose(3, 4)
    ims = ims.reshape(b, t, h // p, w // p, p * p * c).permute(0, 1, 4, 2, 3)

    def gn_conv(prefix, x, groups=1):
        y = F.conv2d(x, sd[f"{prefix}.0.weight"], padding=2, groups=groups)
        return F.group_norm(y, 16, sd[f"{prefix}.1.weight"], sd[f"{prefix}.1.bias"], eps=1e-5)

    hid = [torch.zeros(b, sd[f"cell_list.{i}.conv_x.0.weight"].shape[0], h // p, w // p, dtype=frames.dtype)
           for i in range(layers)]  # fmt: skip
    spk = [z.clone() for z in hid]
    outs = []
    for step in range(pre + aft - 1):
        inp = ims[:, step] if step < pre else outs[-1]
        for i in range(layers):
            q = f"cell_list.{i}"
            a_h = torch.tanh(gn_conv(f"{q}.conv_h", spk[i], 16))
            a_v = torch.tanh(gn_conv(f"{q}.conv_v", spk[i], 16))
            m = hid[i] * (1 + a_h) + gn_conv(f"{q}.conv_x", inp) * (1 + a_v)
            spk[i] = (m >= 1).to(m.dtype)
            hid[i] = m - spk[i]
            inp = spk[i]
        outs.append(F.conv2d(inp, sd["conv_last.weight"]))
    pred = torch.stack(outs[-aft:], 1).permute(0, 1, 3, 4, 2)  # [B, aft, H/p, W/p, p*p*C]
    pred = pred.reshape(b, aft, h // p, w // p, p, p, c).transpose(3, 4).reshape(b, aft, h, w, c)
    return pred.permute(0, 1, 4, 2, 3)


def test_stclif_predictor_equals_a_functional_re_implementation():
    m = _model(num_hidden=[32, 16])
    g = torch.Generator().manual_seed(4)
    with torch.no_grad():
        for k, v in m.state_dict().items():
            if k.endswith("1.bias"):
                v.copy_(torch.rand(v.shape, generator=g, dtype=torch.float64) - 0.5)
            elif k.endswith("1.weight"):
                v.copy_(torch.rand(v.shape, generator=g, dtype=torch.float64) + 0.5)
        x = torch.rand(2, 3, 1, 8, 8, generator=g, dtype=torch.float64)
        ref = _reference_stclif(m.state_dict(), x, 2, 3, 3, 2)
        y = m(x)
    assert y.abs().max() > 0
    assert torch.equal(y, ref)


def test_profile_reads_the_batch_of_a_batch_first_predictor():
    """``zoo.profile`` takes the batch from the model's declared ``[B, T, C, H, W]`` input, not from dim 1 (which
    is a classifier's ``[T, B, ...]`` batch): per-sample MACs of a batch of 3 equal those of one sample."""
    name = "spiking_predictor_stc_lif_mmnist"
    m = zoo.create_model(name, **zoo.model_info(name).test_config).eval()
    spec = zoo.model_info(name).io or zoo.task_info("video-prediction").io
    x = torch.rand(spec.inputs[0].resolve(m.zoo_args, batch=3), generator=torch.Generator().manual_seed(0))
    assert x.shape[0] == 3 and x.shape[1] not in (1, 3)  # dim 1 is time: the old guess read it as the batch
    p3, p1 = zoo.profile(m, x), zoo.profile(m, x[:1])
    assert (p3.batch_size, p1.batch_size) == (3, 1)
    assert p3.macs == p1.macs > 0
