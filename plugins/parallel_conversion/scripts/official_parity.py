"""float64 parity of zoo_parallel_conversion against the official Parallel Conversion code on the same weights.

    python plugins/parallel_conversion/scripts/official_parity.py /tmp/official/parallel_conversion

OFFICIAL_REPO_DIR is a checkout of hzc1208/Parallel_Conversion at commit 622d40fc (the upstream snapshot was not
fetchable here; the fork bjourne/hao_s2025 holds that commit: ``git archive 622d40fc``), kept outside this
repository. Its models need only torch and torchvision (the venv's); no SpikingJelly.

float64: the official neurons cast their spikes with ``.float()`` (always float32). The script does not edit the
checkout: it copies it into a temporary directory, replaces the four ``.float()`` in ``modules.py`` by
``.to(x.dtype)`` there, and imports that copy (the same edit made by hand works too). It also sets
``torch.set_default_dtype(torch.float64)`` first, because the neurons both codes create during conversion take
the default dtype; the "float32 build" configurations instead run under the default float32 dtype and cast the
models with ``.double()`` (the path of a user's float32 session). Everything else runs unchanged on CPU; the
``main.py`` driver loops it needs (the statistics pass, ``calib_one_epoch``, the per-step loop of the IF baseline,
the ``[T*B]`` input repetition) are re-stated here without ``.cuda()``.

Weights: :func:`zoo_core.testing_parity.randomise_state_dict` (He x 1.5 weights, BN statistics away from 0/1, QCFS
clips ``up`` in [0.5, 1]). Printed per configuration (max abs differences, and the firing rate = fraction of
non-zero outputs of every official / zoo neuron; for the ANN stage, of every QCFS):

* resnet20_qcfs and vgg16_qcfs (full size, 10 classes, 32x32, B = 2, T = n = 4): the QCFS ANN (eval logits;
  training mode: loss, parameter gradients, BN statistics); direct conversion (``replace_qcfs_by_neuron(...,
  'ParaInfNeuron')`` vs ``parallel_conversion``): per-step logits and the converted state dict; the sequential
  IF baseline (``'IFNeuron'``, run step by step vs ``neuron="if"``): per-step logits;
* the same two, built under float32 and cast with ``.double()`` before the weights are loaded and the models
  converted (the IF baseline's thresholds must then be the float64 clips, not their float32 roundings);
* the calibrated path (``is_cab=True`` models, 3 calibration batches, reference level 8): the calibrated DA-QCFS
  buffers, the channel-wise SNN's per-step logits and state dict; also from a non-cab zoo model;
* training-free ResNet-18 (official ``ResNet_ReLU.resnet18``: ``RecReLU`` statistics pass, QCFS calibration,
  ``ParaInfNeuron_CW_ND``; T = 8, 3 calibration batches of 64x64 images) against the rule applied to torchvision's
  ResNet-18 with the same weights: the time-averaged logits.

Exit status 1 if any difference exceeds the tolerance (``--tol``, default 1e-12) or a network is silent.
"""

from __future__ import annotations

import atexit
import copy
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
import zoo_core as zoo
from torch import nn
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

REQUIRED = ("modules.py", "utils.py", "models/ResNet_QCFS.py", "models/VGG_QCFS.py", "models/ResNet_ReLU.py")
D = torch.float64
B = 2
OFFICIAL_NEURONS = ("ParaInfNeuron", "ParaInfNeuron_CW_ND", "IFNeuron")


#: ``tools/bench_models.py --official parallel_conversion=DIR``: (model, constructor overrides, batch)
BENCH = [("resnet20_qcfs", {"mode": "parallel", "T": 4, "num_classes": 10}, 8)]
BENCH_NEURONS = OFFICIAL_NEURONS
#: the official neurons cast their spikes with ``(v >= th).float()``: no gradient through them, so no
#: forward+backward to compare with
BENCH_INFERENCE_ONLY = ("resnet20_qcfs",)


def bench_official(name: str, cfg: dict, model: nn.Module, device: str):
    """(the official ``resnet20_qcfs`` converted with ``ParaInfNeuron`` carrying ``model``'s float32 weights and
    thresholds, ``run``): ``run(x)`` repeats ``x`` over T as ``main.py`` does (``[T*B, ...]``) and returns the
    mean over T of the per-step logits, the zoo model's output."""
    import utils as off_utils  # the official checkout (OFFICIAL_REPO_DIR, unpatched: float32 here)
    from models.ResNet_QCFS import resnet20_qcfs  # the official checkout

    if name != "resnet20_qcfs" or cfg.get("mode") != "parallel":
        raise ValueError(f"bench_official: no official builder for {name!r} {cfg}")
    T = model.T
    off = off_utils.replace_qcfs_by_neuron(
        resnet20_qcfs(T, False, cfg.get("num_classes", 100)), "ParaInfNeuron"
    )
    zoo_modules = dict(model.named_modules())
    for n, m in off.named_modules():
        if type(m).__name__ == "ParaInfNeuron":
            m.v_threshold = zoo_modules[n].v_threshold  # a Python float in both codes
    off.load_state_dict(model.state_dict(), strict=True)  # the converted layouts are identical
    off = off.to(device)
    return off, lambda x: official_snn(off, x, T).mean(0)


def float64_copy(root: Path) -> Path:
    """A temporary copy of the checkout whose ``modules.py`` keeps the input dtype (``.float()`` -> ``.to(x.dtype)``)."""
    tmp = Path(tempfile.mkdtemp(prefix="parallel_conversion_f64_"))
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)  # removed when the process ends
    shutil.copytree(root, tmp / "repo", ignore=shutil.ignore_patterns(".git", "__pycache__"))
    mod = tmp / "repo" / "modules.py"
    src = mod.read_text()
    if src.count(".float()") != 4:
        raise SystemExit(
            f"official_parity.py: error: {root}/modules.py is not the expected file (commit 622d40fc)"
        )
    mod.write_text(src.replace(".float()", ".to(x.dtype)"))
    return tmp / "repo"


def neuron_rates(label: str, off: nn.Module, zm: nn.Module, fn, ann: bool = False) -> dict[str, float]:
    def sel_off(_n: str, m: nn.Module) -> bool:
        return type(m).__name__ in (("QCFS",) if ann else OFFICIAL_NEURONS)

    def sel_zoo(_n: str, m: nn.Module) -> bool:
        return (
            type(m).__name__ in ("QCFS", "DAQCFS")
            if ann
            else isinstance(m, zoo.BaseNeuron)
            or (type(m).__name__ in ("ParallelIF", "ChannelwiseParallelIF", "ConversionIF"))
        )

    with FiringRecorder(off, sel_off) as fo, FiringRecorder(zm, sel_zoo) as fz:
        fn()
    if len(fo.rates) != len(fz.rates):
        raise AssertionError(f"{label}: {len(fo.rates)} official neurons ran, {len(fz.rates)} in the zoo")
    return {**fo.summary(f"official {label}"), **fz.summary(f"zoo {label}")}


def repeat_T(x: torch.Tensor, T: int) -> torch.Tensor:
    return x.unsqueeze(0).repeat(T, 1, 1, 1, 1).flatten(0, 1)  # official main.py: [T*B, C, H, W], time outer


def official_snn(off: nn.Module, x: torch.Tensor, T: int) -> torch.Tensor:
    out = off(repeat_T(x, T))
    return out.view(T, out.shape[0] // T, -1)


def official_if(off: nn.Module, x: torch.Tensor, T: int) -> torch.Tensor:
    return torch.stack([off(x) for _ in range(T)])  # main.py eval_one_epoch_IF_speed: one call per step


def official_calibrate(off: nn.Module, batches: list[torch.Tensor]) -> None:
    import utils as off_utils  # the official checkout (float64 copy)

    off_utils.set_calib_opt(off, True)  # main.py calib_one_epoch
    off.eval()
    with torch.no_grad():
        for img in batches:
            off(img.unsqueeze(0).repeat(2, 1, 1, 1, 1).flatten(0, 1))
    off_utils.set_calib_opt(off, False)
    off_utils.set_calib_inf(off)


def qcfs_models(arch: str, T: int, tol: float, float32_build: bool = False) -> bool:
    """The QCFS ANN, direct conversion and the IF baseline; ``float32_build``: everything runs under the default
    float32 dtype (models built in float32, then ``.double()``; the conversions' neurons made in float32)."""
    if float32_build:
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float32)
        try:
            return qcfs_models(arch, T, tol)
        finally:
            torch.set_default_dtype(previous)
    import utils as off_utils  # the official checkout (float64 copy)
    from models.ResNet_QCFS import resnet20_qcfs  # the official checkout
    from models.VGG_QCFS import vgg16_qcfs  # the official checkout

    t0 = time.time()
    built = (
        "built in float32, then .double()"
        if torch.get_default_dtype() == torch.float32
        else "built in float64"
    )
    build = {"resnet20_qcfs": resnet20_qcfs, "vgg16_qcfs": vgg16_qcfs}[arch]
    g = torch.Generator().manual_seed(3)
    x = torch.randn(B, 3, 32, 32, generator=g, dtype=D)
    y = torch.randint(0, 10, (B,), generator=g)
    diffs: dict[str, float] = {}
    off = build(T, False, 10).double()
    zm = zoo.create_model(arch, T=T, num_classes=10).double()
    sd = randomise_state_dict(off.state_dict(), 0)
    off.load_state_dict(sd)
    zm.load_state_dict(zoo.from_official(arch, sd), strict=True)

    # the QCFS ANN
    res: dict = {}
    off.eval()
    zm.eval()
    with torch.no_grad():
        rates = neuron_rates(
            "ANN eval (QCFS non-zero)", off, zm, lambda: res.update(o=off(x), z=zm(x)), ann=True
        )
    diffs["ANN eval logits"] = max_abs_diff(res["o"], res["z"])
    ann_logits = res["o"]
    off.train()
    zm.train()
    lo, lz = F.cross_entropy(off(x), y), F.cross_entropy(zm(x), y)
    lo.backward()
    lz.backward()
    diffs["ANN train loss"] = abs(lo.item() - lz.item())
    diffs["ANN train parameter grads"] = grad_diff(off, zm)
    osd = off.state_dict()
    diffs["ANN BN running stats after the step"] = state_diff(
        osd, zm.state_dict(), [k for k in osd if "running_" in k]
    )
    off.load_state_dict(sd)  # back to the same weights and statistics for the conversions
    zm.load_state_dict(zoo.from_official(arch, sd), strict=True)
    off.eval()
    zm.eval()

    # direct conversion (T = n): parallel neurons
    with torch.no_grad():
        o_snn = off_utils.replace_qcfs_by_neuron(copy.deepcopy(off), "ParaInfNeuron")
        z_snn = zoo.create_learning_rule("parallel_conversion").convert(zm)
        rates |= neuron_rates(
            "parallel SNN",
            o_snn,
            z_snn,
            lambda: res.update(o=official_snn(o_snn, x, T), z=z_snn.forward_steps(x)),
        )
    diffs["parallel SNN per-step logits"] = max_abs_diff(res["o"], res["z"])
    diffs["parallel SNN state dict"] = state_diff(o_snn.state_dict(), z_snn.state_dict())
    lossless = max_abs_diff(res["o"].mean(0), ann_logits)

    # the sequential IF baseline
    with torch.no_grad():
        o_if = off_utils.replace_qcfs_by_neuron(copy.deepcopy(off), "IFNeuron")
        z_if = zoo.create_learning_rule("parallel_conversion", neuron="if").convert(zm)
        rates |= neuron_rates(
            "IF SNN", o_if, z_if, lambda: res.update(o=official_if(o_if, x, T), z=z_if.forward_steps(x))
        )
    diffs["IF SNN per-step logits"] = max_abs_diff(res["o"], res["z"])
    title = (
        f"{arch}, {built} (T = n = {T}, 32x32, B={B}; official SNN mean vs its ANN {lossless:.1e}; "
        f"{time.time() - t0:.0f} s)"
    )
    return report(title, diffs, rates, tol)


def calibrated(arch: str, T: int, tol: float) -> bool:
    import utils as off_utils  # the official checkout (float64 copy)
    from models.ResNet_QCFS import resnet20_qcfs  # the official checkout
    from models.VGG_QCFS import vgg16_qcfs  # the official checkout

    t0 = time.time()
    build = {"resnet20_qcfs": resnet20_qcfs, "vgg16_qcfs": vgg16_qcfs}[arch]
    g = torch.Generator().manual_seed(4)
    batches = [torch.randn(B, 3, 32, 32, generator=g, dtype=D) for _ in range(3)]
    x = torch.randn(B, 3, 32, 32, generator=g, dtype=D)
    off = build(T, True, 10).to(D)
    zm = zoo.create_model(arch, T=T, num_classes=10, is_cab=True).to(D)
    sd = randomise_state_dict(off.state_dict(), 1, keep=lambda k, _v: ".rec_" in k)
    off.load_state_dict(sd)
    zm.load_state_dict(zoo.from_official(arch, sd), strict=True)
    plain = zoo.create_model(arch, T=T, num_classes=10).to(D)  # the same weights, built without is_cab
    plain.load_state_dict(
        {k: v for k, v in zoo.from_official(arch, sd).items() if ".rec_" not in k}, strict=True
    )
    zm.eval()
    plain.eval()
    diffs: dict[str, float] = {}
    res: dict = {}
    official_calibrate(off, batches)
    with torch.no_grad():
        rule = zoo.create_learning_rule("parallel_conversion", T=T, reference_levels=8, keep_ann=True)
        z_snn = rule.convert(zm, calibration=batches)
        z_ann = rule.quantized_ann
        osd, zsd = off.state_dict(), z_ann.state_dict()
        diffs["calibrated shifts (rec_in_mean, rec_th_mean)"] = state_diff(
            osd, zsd, [k for k in osd if ".rec_" in k]
        )
        diffs["calibrated DA-QCFS ANN logits"] = max_abs_diff(off(x), z_ann(x))
        o_snn = off_utils.replace_qcfs_by_neuron(off, "ParaInfNeuron_CW_ND")
        rates = neuron_rates(
            "channel-wise SNN",
            o_snn,
            z_snn,
            lambda: res.update(o=official_snn(o_snn, x, T), z=z_snn.forward_steps(x)),
        )
        diffs["channel-wise SNN per-step logits"] = max_abs_diff(res["o"], res["z"])
        diffs["channel-wise SNN state dict"] = state_diff(o_snn.state_dict(), z_snn.state_dict())
        z2 = zoo.create_learning_rule("parallel_conversion", T=T, reference_levels=8).convert(
            plain, calibration=batches
        )
        diffs["same, from a non-cab zoo model"] = max_abs_diff(res["o"], z2.forward_steps(x))
    return report(
        f"{arch} calibrated (T={T}, 3 batches, 32x32, B={B}; {time.time() - t0:.0f} s)", diffs, rates, tol
    )


def training_free(T: int, tol: float) -> bool:
    import torchvision
    import utils as off_utils  # the official checkout (float64 copy)
    from models.ResNet_ReLU import resnet18  # the official checkout

    t0 = time.time()
    g = torch.Generator().manual_seed(5)
    batches = [torch.randn(B, 3, 64, 64, generator=g, dtype=D) for _ in range(3)]
    x = torch.randn(B, 3, 64, 64, generator=g, dtype=D)
    off = resnet18(pretrained=False).to(D)
    sd = randomise_state_dict(off.state_dict(), 2)
    off.load_state_dict(sd)
    tv = torchvision.models.resnet18().to(D)
    tv.load_state_dict(sd, strict=True)
    off.eval()
    tv.eval()
    with torch.no_grad():
        ann = off(x)
        # main.py, is_relu with ParaInfNeuron_CW_ND: statistics pass, QCFS calibration, channel-wise neurons
        off = off_utils.replace_relu_by_func(off, "RecReLU")
        for img in batches:
            off(img)
        off = off_utils.replace_relu_by_func(off, "QCFS", T)
        official_calibrate(off, batches)
        off = off_utils.replace_relu_by_func(off, "ParaInfNeuron_CW_ND")
        snn = zoo.create_learning_rule("parallel_conversion", T=T).convert(tv, calibration=batches)
        res: dict = {}
        rates = neuron_rates("SNN", off, snn, lambda: res.update(o=official_snn(off, x, T).mean(0), z=snn(x)))
    diffs = {"time-averaged SNN logits": max_abs_diff(res["o"], res["z"])}
    rel = float((res["o"] - ann).norm() / ann.norm())
    title = (
        f"training-free ResNet-18 vs torchvision (T={T}, 3 batches, 64x64, B={B}; official SNN vs ANN rel. error "
        f"{rel:.2f}; {time.time() - t0:.0f} s)"
    )
    return report(title, diffs, rates, tol)


def main(argv: list[str] | None = None) -> int:
    args = parse_parity_args(argv, __doc__, REQUIRED)
    tol = 1e-12 if args.tol is None else args.tol
    sys.path.insert(0, str(float64_copy(args.official_dir)))
    torch.set_num_threads(1)
    # build in float64 (the neurons both codes create during conversion take the default dtype); the "float32
    # build" configurations instead build under float32 and cast with .double(), as a user would
    torch.set_default_dtype(D)
    warnings.filterwarnings("ignore", category=UserWarning, module="zoo_parallel_conversion")
    configs = [
        ("resnet20_qcfs", lambda: qcfs_models("resnet20_qcfs", 4, tol)),
        ("vgg16_qcfs", lambda: qcfs_models("vgg16_qcfs", 4, tol)),
        ("resnet20_qcfs float32 build", lambda: qcfs_models("resnet20_qcfs", 4, tol, float32_build=True)),
        ("vgg16_qcfs float32 build", lambda: qcfs_models("vgg16_qcfs", 4, tol, float32_build=True)),
        ("resnet20_qcfs calibrated", lambda: calibrated("resnet20_qcfs", 4, tol)),
        ("vgg16_qcfs calibrated", lambda: calibrated("vgg16_qcfs", 4, tol)),
        ("training-free resnet18", lambda: training_free(8, tol)),
    ]
    results = [run() for name, run in configs if wanted(args, name)]
    return summarise(results)


if __name__ == "__main__":
    sys.exit(main())
