"""float64 parity of zoo_lmht against the official LM-HT code on the same random weights.

    python plugins/lmht/scripts/official_parity.py /tmp/official/lmht --site /tmp/official/site

OFFICIAL_REPO_DIR is a checkout of hzc1208/LMHT_SNN at commit d9e0db3 (``git archive d9e0db3``), kept outside this
repository and left unedited. Its models import SpikingJelly 0.0.0.0.14 (``clock_driven.layer``) and timm (the
venv's): install SpikingJelly into a scratch directory and pass it with ``--site``::

    .venv/bin/pip install --no-deps --target /tmp/official/site spikingjelly==0.0.0.0.14

No edit of the checkout is needed for float64 on CPU: the script calls ``torch.set_default_dtype(torch.float64)``
before building any model (the official neurons create their threshold in the default dtype). The models whose
classifier neurons see ``[T, B, N]`` (ResNet-19, CIFARNet, VGG-13 with 10 classes) cannot run with the released
``mask_linear`` shape ``[T, T, 1, 1, 1]``; for those the script replaces, on the built official model, the
``mask_linear`` of the classifier neurons by the shape of the official code's commented-out line,
``[T, T, 1, 1]`` (time-only mixing, what the zoo does), and reshapes it for the zoo.

Weights: :func:`zoo_core.testing_parity.randomise_state_dict` (He x 1.5 weights, BN statistics away from 0/1,
thresholds and QCFS clips in [0.5, 1]), T-GIM logits ``mask``/``mask_linear`` uniform in [-1.5, 1.5], leak logits
``alpha`` uniform in [-1, 1]. Each official model runs one forward first, so its state dict carries the ``*.core``
aliases of a trained checkpoint, and reaches the zoo through ``zoo.from_official`` + strict loading.

Printed per configuration (max abs differences, and the firing rate = fraction of non-zero graded outputs of every
LM-HT / IF neuron, or of every QCFS for the ANN, in both models):

* direct STBP models (ResNet-18 with (L, T) = (2, 2) and (4, 3), MS-ResNet-18, ResNet-18 DVS, ResNet-34 and
  MS-ResNet-34 with the ImageNet stem, VGG-13 (200 classes), Spikformer (dim 64), and the 3-D classifier models
  ResNet-19, CIFARNet and VGG-13 (10 classes)): eval per-step logits; training mode: loss ``CE(mean_t z_t, y)``,
  every parameter gradient, BN running statistics after the step;
* the hybrid pipeline (ResNet-20, Q = 8, L = 2, T = 2): the QCFS ANN (logits, loss, gradients, BN), the IF stage
  (``replace_layer_by_snn_layer`` + ``replace_QCFS_by_IFNode(16)`` vs ``LMHTHybrid.to_if``: logits and state dict),
  the LM-HT initialisation (``replace_IFNode_by_LMHT`` + ``conv1[2].scale = L`` vs ``LMHTHybrid.convert``: logits
  and state dict), then random alpha / Omega: logits, loss, gradients, BN;
* the reparameterisation (``replace_by_LMHT_Inference`` + ``replace_layer_bias`` + ``T = L T`` + the ``main.py``
  stem fix vs ``zoo_lmht.reparam.reparameterize``): logits over L T steps and the reparameterised state dicts, for
  ResNet-18, MS-ResNet-34 (ImageNet stem) and VGG-13 (200 classes).

Exit status 1 if any difference exceeds the tolerance (``--tol``, default 1e-12) or a network is silent.
"""

from __future__ import annotations

import copy
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

import zoo_core as zoo
from zoo_core.testing_parity import (
    FiringRecorder,
    grad_diff,
    max_abs_diff,
    parse_parity_args,
    randomise_state_dict,
    report,
    state_diff,
    summarise,
    wanted,
)

REQUIRED = (
    "modules.py",
    "utils.py",
    "models/ResNet.py",
    "models/VGG.py",
    "models/Spikformer.py",
    "ann_models",
)
D = torch.float64
B = 2


#: ``tools/bench_models.py --official lmht=DIR``: (model, constructor overrides, batch)
BENCH = [("lmht_resnet18", {"L": 2, "T": 2, "num_classes": 10}, 4)]
BENCH_NEURONS = ("LMHTNeuron",)


def load_zoo_weights(off: nn.Module, zm: nn.Module, name: str) -> None:
    """Copy ``zm``'s state into ``off`` through ``zoo.from_official`` (a renaming: its tensors alias ``off``'s)."""
    zsd = zm.state_dict()
    with torch.no_grad():
        for k, t in zoo.from_official(name, off.state_dict()).items():
            t.copy_(zsd[k].reshape(t.shape))
    got = zoo.from_official(name, off.state_dict())
    if set(got) != set(zsd) or any(not torch.equal(got[k].reshape(v.shape), v) for k, v in zsd.items()):
        raise AssertionError(f"{name}: the zoo weights did not load into the official model")


def bench_official(name: str, cfg: dict, model: nn.Module, device: str):
    """(official ResNet-18 with ``model``'s float32 weights, ``run``): ``run(x)`` is the mean over T of the
    official per-step logits (the zoo model's output); the official forward edits its input, so it gets a copy."""
    import utils as off_utils  # the official checkout (OFFICIAL_REPO_DIR)
    from models import ResNet as R  # the official checkout

    if name != "lmht_resnet18":
        raise ValueError(f"bench_official: no official builder for {name!r}")
    L, T = model.L, model.T
    off = off_utils.replace_activation_by_LMHT(R.resnet18(num_classes=cfg.get("num_classes", 100), T=T), L, T)
    load_zoo_weights(off, model, name)
    off = off.to(device)
    return off, lambda x: off(x.clone()).mean(0)


def randomise(sd: dict, seed: int, only_neurons: bool = False) -> dict:
    """Random weights (or, with ``only_neurons``, random alpha / masks over ``sd``); ``*.core`` = its mask."""
    neuron = ("mask", "mask_linear", "alpha")
    out = randomise_state_dict(sd, seed, keep=lambda k, _v: only_neurons or k.rsplit(".", 1)[-1] in neuron)
    g = torch.Generator().manual_seed(seed + 100)
    for k, v in sd.items():
        last = k.rsplit(".", 1)[-1]
        if last in ("mask", "mask_linear"):
            out[k] = (torch.rand(v.shape, generator=g, dtype=D) * 2 - 1) * 1.5
        elif last == "alpha":
            out[k] = torch.rand(v.shape, generator=g, dtype=D) * 2 - 1
    for k, v in sd.items():
        if k.rsplit(".", 1)[-1] == "core":
            base = k[: -len("core")]
            out[k] = out[base + "mask"] if v.dim() == 6 else out[base + "mask_linear"]
    return out


def load_both(off: nn.Module, zm: nn.Module, name: str, sd: dict) -> None:
    off.load_state_dict(sd)
    zsd = zoo.from_official(name, sd)
    target = zm.state_dict()
    zsd = {
        k: v.reshape(target[k].shape) if k in target and v.shape != target[k].shape else v
        for k, v in zsd.items()
    }
    zm.load_state_dict(zsd, strict=True)


def neuron_rates(label: str, off: nn.Module, zm: nn.Module, fn, select=None) -> dict[str, float]:
    sel = select or (
        lambda _n, m: (
            type(m).__name__ in ("LMHTNeuron", "LMHT_Inference_Neuron", "IFNeuron")
            or isinstance(m, zoo.BaseNeuron)
        )
    )
    with FiringRecorder(off, sel) as fo, FiringRecorder(zm, sel) as fz:
        fn()
    if len(fo.rates) != len(fz.rates):
        raise AssertionError(f"{label}: {len(fo.rates)} official neurons ran, {len(fz.rates)} in the zoo")
    return {**fo.summary(f"official {label}"), **fz.summary(f"zoo {label}")}


def run_both(off: nn.Module, zm: nn.Module, x_off: torch.Tensor, x_zoo: torch.Tensor, res: dict) -> None:
    res["o"] = off(x_off.clone())  # the official forwards edit their input in place (unsqueeze_)
    res["z"] = zm.forward_steps(x_zoo)


def compare_pair(
    off: nn.Module,
    zm: nn.Module,
    x_off: torch.Tensor,
    x_zoo: torch.Tensor,
    y: torch.Tensor,
    diffs: dict,
    tag: str,
) -> dict[str, float]:
    """Eval per-step logits, then one training-mode step: loss, gradients, BN statistics."""
    res: dict = {}
    off.eval()
    zm.eval()
    with torch.no_grad():
        rates = neuron_rates(f"{tag}eval", off, zm, lambda: run_both(off, zm, x_off, x_zoo, res))
    diffs[f"{tag}eval per-step logits"] = max_abs_diff(res["o"], res["z"])
    off.train()
    zm.train()
    off.zero_grad()
    zm.zero_grad()
    rates |= neuron_rates(f"{tag}train", off, zm, lambda: run_both(off, zm, x_off, x_zoo, res))
    lo, lz = F.cross_entropy(res["o"].mean(0), y), F.cross_entropy(res["z"].mean(0), y)
    lo.backward()
    lz.backward()
    diffs[f"{tag}train per-step logits"] = max_abs_diff(res["o"], res["z"])
    diffs[f"{tag}train loss"] = abs(lo.item() - lz.item())
    diffs[f"{tag}train parameter grads"] = grad_diff(off, zm, reshape=True)
    osd, zsd = off.state_dict(), zm.state_dict()
    diffs[f"{tag}BN running stats after the step"] = state_diff(osd, zsd, [k for k in osd if "running_" in k])
    return rates


def direct(
    title: str,
    build,
    name: str,
    zkw: dict,
    L: int,
    T: int,
    img: int,
    tol: float,
    dvs: int = 0,
    classes: int = 10,
    three_d: tuple[str, ...] = (),
    reparam: str = "",
) -> bool:
    import utils as off_utils  # the official checkout (OFFICIAL_REPO_DIR)

    t0 = time.time()
    g = torch.Generator().manual_seed(11)
    if dvs:
        x_zoo = torch.rand(dvs, B, 2, img, img, generator=g, dtype=D) * 2
        x_off = x_zoo.transpose(0, 1).contiguous()
    else:
        x_off = x_zoo = torch.randn(B, 3, img, img, generator=g, dtype=D)
    y = torch.randint(0, classes, (B,), generator=g)
    off = off_utils.replace_activation_by_LMHT(build(), L, T)
    for n, m in off.named_modules():  # classifier neurons on [T, B, N]: the commented-out [T, T, 1, 1] shape
        if type(m).__name__ == "LMHTNeuron" and n.startswith(three_d) and three_d:
            m.mask_linear = nn.Parameter(torch.zeros(T, T, 1, 1))
    zm = zoo.create_model(name, L=L, T=T, num_classes=classes, **zkw)
    off.eval()
    with torch.no_grad():
        off(x_off.clone())  # registers the *.core aliases, as in a trained checkpoint
    sd = randomise(off.state_dict(), 0)
    load_both(off, zm, name, sd)
    diffs: dict[str, float] = {}
    rates = compare_pair(off, zm, x_off, x_zoo, y, diffs, "")
    if reparam:
        rates |= reparameterisation(off, zm, name, L, T, x_off, x_zoo, reparam, diffs)
    return report(f"{title} (L={L}, T={T}, img {img}, B={B}; {time.time() - t0:.0f} s)", diffs, rates, tol)


def reparameterisation(off, zm, name, L, T, x_off, x_zoo, stem: str, diffs: dict) -> dict:
    import utils as off_utils  # the official checkout (OFFICIAL_REPO_DIR)
    from zoo_lmht.reparam import reparameterize  # this plugin

    off.eval()
    zm.eval()
    for m in off.modules():  # drop the official neurons' last potentials (autograd graph) so deepcopy works
        if hasattr(m, "v"):
            m.v = None
    with torch.no_grad():
        r = off_utils.replace_by_LMHT_Inference(copy.deepcopy(off), L, T)
        r = off_utils.replace_layer_bias(r, L)
        r.T = L * T
        if stem == "resnet18":  # official main.py --direct_inference stem fixes
            r.bn1.bias *= L
            r.bn1.running_mean *= L
            r.sn1.scale = 1.0 / L
        elif stem == "ms_resnet34":
            r.bn1.bias *= L
            r.bn1.running_mean *= L
            r.input_scale = 1.0 / L
        elif stem == "vgg13":
            r.layer1[0][0].bias *= L
            r.layer1[0][1].bias *= L
            r.layer1[0][1].running_mean *= L
            r.layer1[1].scale = 1.0 / L
        zr = reparameterize(zm)
        res: dict = {}
        rates = neuron_rates("reparameterised", r, zr, lambda: run_both(r, zr, x_off, x_zoo, res))
    diffs["reparameterised logits (L*T steps)"] = max_abs_diff(res["o"], res["z"])
    osd = zoo.from_official(name, r.state_dict())
    zsd = zr.state_dict()
    diffs["reparameterised state dict"] = state_diff(zsd, osd)
    return rates


def hybrid(arch: str, Q: int, L: int, T: int, tol: float) -> bool:
    import utils as off_utils  # the official checkout (OFFICIAL_REPO_DIR)
    from ann_models.ResNet import resnet20  # the official checkout
    from ann_models.VGG import vgg16

    t0 = time.time()
    name = f"lmht_{arch}"
    build = {"resnet20": resnet20, "vgg16": vgg16}[arch]
    g = torch.Generator().manual_seed(5)
    x = torch.randn(B, 3, 32, 32, generator=g, dtype=D)
    y = torch.randint(0, 10, (B,), generator=g)
    diffs: dict[str, float] = {}
    rule = zoo.create_learning_rule("lmht_hybrid", L=L, T=T)

    # the QCFS ANN
    off = off_utils.replace_activation_by_QCFS(build(num_classes=10), Q, 8.0)
    zm = zoo.create_model(name, mode="ann", levels=Q, num_classes=10, L=L, T=T)
    load_both(off, zm, name, randomise(off.state_dict(), 3))
    qcfs = lambda _n, m: type(m).__name__ == "QCFS"  # noqa: E731
    res: dict = {}
    for mode in ("eval", "train"):
        getattr(off, mode)()
        getattr(zm, mode)()

        def run() -> None:
            res["o"], res["z"] = off(x.clone()), zm(x)

        if mode == "eval":
            with torch.no_grad():
                rates = neuron_rates("ANN eval (QCFS non-zero)", off, zm, run, qcfs)
        else:
            run()
    diffs["ANN eval logits"] = max_abs_diff(res["o"], res["z"])
    lo, lz = F.cross_entropy(res["o"], y), F.cross_entropy(res["z"], y)
    lo.backward()
    lz.backward()
    diffs["ANN train logits"] = max_abs_diff(res["o"], res["z"])
    diffs["ANN train loss"] = abs(lo.item() - lz.item())
    diffs["ANN train parameter grads"] = grad_diff(off, zm)
    osd = off.state_dict()
    diffs["ANN BN running stats after the step"] = state_diff(
        osd, zm.state_dict(), [k for k in osd if "running_" in k]
    )
    off.eval()
    zm.eval()
    off.zero_grad()

    # IF stage (16 steps)
    with torch.no_grad():
        o_if = off_utils.replace_QCFS_by_IFNode(off_utils.replace_layer_by_snn_layer(copy.deepcopy(off)), 16)
        o_if.ann_mode, o_if.T = False, 16
        z_if = rule.to_if(zm)
        rates |= neuron_rates("IF stage", o_if, z_if, lambda: run_both(o_if, z_if, x, x, res))
    diffs["IF stage logits (16 steps)"] = max_abs_diff(res["o"], res["z"])
    diffs["IF stage state dict"] = state_diff(z_if.state_dict(), zoo.from_official(name, o_if.state_dict()))

    # LM-HT initialisation
    with torch.no_grad():
        o_lm = off_utils.replace_IFNode_by_LMHT(copy.deepcopy(o_if), L, T)
        o_lm.T = T
        if arch == "resnet20":  # hybrid_train.py: the first neuron sees the repeated stem
            o_lm.conv1[2].scale = L
        else:
            o_lm.layer1[2].scale = L
            for n, m in o_lm.named_modules():  # classifier neurons on [T, B, N]: [T, T, 1, 1] (see docstring)
                if n.startswith("classifier.") and type(m).__name__ == "LMHTNeuron":
                    m.mask_linear = nn.Parameter(torch.zeros(T, T, 1, 1))
        z_lm = rule.convert(zm)
        rates |= neuron_rates("LM-HT init", o_lm, z_lm, lambda: run_both(o_lm, z_lm, x, x, res))
    diffs["LM-HT init logits"] = max_abs_diff(res["o"], res["z"])
    o_lm(x.clone())  # *.core aliases
    diffs["LM-HT init state dict"] = state_diff(
        z_lm.state_dict(), zoo.from_official(name, o_lm.state_dict()), reshape=True
    )

    # random alpha / Omega, then forward, loss, gradients, BN
    load_both(o_lm, z_lm, name, randomise(o_lm.state_dict(), 4, only_neurons=True))
    rates |= compare_pair(o_lm, z_lm, x, x, y, diffs, "LM-HT random alpha/Omega: ")
    return report(
        f"hybrid {arch} (Q={Q}, L={L}, T={T}, 32x32, B={B}; {time.time() - t0:.0f} s)", diffs, rates, tol
    )


def configurations(tol: float) -> list[tuple[str, Callable[[], bool]]]:
    """(name, run) of every configuration; names are what ``--only`` matches."""
    from models import VGG as V
    from models import ResNet as R  # the official checkout (OFFICIAL_REPO_DIR)
    from models import Spikformer as S

    def spikformer() -> nn.Module:
        return S.Spikformer(
            T=2, img_size_h=32, img_size_w=32, in_channels=3, num_classes=10, embed_dims=64, num_heads=4,
            mlp_ratios=4, depths=2, sr_ratios=1,
        )  # fmt: skip

    def d(
        title: str, build: Callable[[], nn.Module], name: str, zkw: dict, img: int = 32, **kw: Any
    ) -> tuple:
        L, T = kw.pop("L", 2), kw.pop("T", 2)
        return title, lambda: direct(title, build, name, zkw, L, T, img, tol, **kw)

    return [
        d("ResNet-18 CIFAR", lambda: R.resnet18(num_classes=10, T=2), "lmht_resnet18", {}, reparam="resnet18"),
        d("ResNet-18 CIFAR", lambda: R.resnet18(num_classes=10, T=3), "lmht_resnet18", {}, L=4, T=3,
          reparam="resnet18"),
        d("MS-ResNet-18", lambda: R.ms_resnet18(num_classes=10, T=2), "lmht_ms_resnet18", {}),
        d("ResNet-18 DVS (4 frames)", lambda: R.resnet18(num_classes=10, T=2, use_dvs=True), "lmht_resnet18_dvs",
          {"img_size": 32}, dvs=4),
        d("ResNet-34 ImageNet stem", lambda: R.resnet34(num_classes=10, T=2, use_imagenet=True), "lmht_resnet34",
          {"img_size": 64}, img=64),
        d("MS-ResNet-34 ImageNet stem", lambda: R.ms_resnet34(num_classes=10, T=2, use_imagenet=True),
          "lmht_ms_resnet34", {"img_size": 64}, img=64, reparam="ms_resnet34"),
        d("VGG-13 (200 classes)", lambda: V.vgg13(num_classes=200, time_step=2), "lmht_vgg13", {"img_size": 64},
          img=64, classes=200, reparam="vgg13"),
        d("Spikformer (dim 64, 4 heads, 2 blocks)", spikformer, "lmht_spikformer_4_384",
          {"embed_dims": 64, "num_heads": 4, "depths": 2}),
        d("ResNet-19 (fc neuron on [T, B, N])", lambda: R.resnet19(num_classes=10, T=2, use_resnet19=True),
          "lmht_resnet19", {}, three_d=("fc.",)),
        d("CIFARNet (classifier neurons on [T, B, N])", lambda: V.cifarnet(num_classes=10, time_step=2),
          "lmht_cifarnet", {}, three_d=("classifier.",)),
        d("VGG-13 (10 classes; classifier neurons on [T, B, N])", lambda: V.vgg13(num_classes=10, time_step=2),
          "lmht_vgg13", {"img_size": 32}, three_d=("classifier.",)),
        ("hybrid resnet20", lambda: hybrid("resnet20", 8, 2, 2, tol)),
        ("hybrid resnet20", lambda: hybrid("resnet20", 4, 4, 3, tol)),
        ("hybrid vgg16", lambda: hybrid("vgg16", 8, 2, 2, tol)),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_parity_args(argv, __doc__, REQUIRED)
    tol = 1e-12 if args.tol is None else args.tol
    torch.set_num_threads(1)
    torch.set_default_dtype(D)
    warnings.filterwarnings("ignore", category=FutureWarning)  # timm deprecations in the official imports
    results = [run() for name, run in configurations(tol) if wanted(args, name)]
    return summarise(results)


if __name__ == "__main__":
    sys.exit(main())
