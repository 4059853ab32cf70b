"""float64 parity of zoo_sparse_grad against the official code of Liu et al. (ICML 2024) on the same weights.

    python plugins/sparse_grad/scripts/official_parity.py OFFICIAL_REPO_DIR --site /tmp/official/site2 \
        [--quick] [--tol TOL]

OFFICIAL_REPO_DIR is a checkout of ``putshua/gradient_reg_defense@2e0fc369`` (``snn_models/`` and ``utils.py`` are
used; keep it outside this repository), e.g.::

    git --git-dir=<bare clone> archive 2e0fc369 | tar -x -C /tmp/official/gradient_reg_defense
    pip install --no-deps --target /tmp/official/site2 torchattacks==3.2.7 six   # the official FGSM (--site)

Minimal edit for float64: the official spike functions (``ZIF``/``Sig``/``Atan.forward`` and
``RateBp.forward`` in ``snn_models/layers.py``) return ``(...).float()``, which turns float64 spikes into
float32. The script does NOT edit the checkout: it copies ``snn_models/`` and ``utils.py`` into a temporary
directory, replaces those four ``.float()`` casts of the spike outputs by ``.to(input.dtype)`` /
``.to(mem.dtype)`` (:func:`patch_layers`; nothing else changes) and imports from there.

Models: WRN-16-4 and VGG-11 (CIFAR-10, full size), T = 4, batch 4, 32x32 inputs in [0, 1]. One random state
dict (:func:`zoo_core.testing_parity.randomise_state_dict`, seed 0; ``zoo.from_official`` maps it, the identity
for this paper) goes into the official model and the zoo's. Both are built under the default float32 dtype and
cast with ``.double()``: the official ``TensorNormalization`` then holds the CIFAR mean/std as float32 tensors
(``torch.tensor`` of Python floats, plain attributes that ``.double()`` leaves alone), and the zoo's default
constants are the same float32-rounded values. Printed, as max abs differences:

* train mode: the per-step logits (official: the merged ``[T*B, C]`` output of the last linear layer), the mean
  logits, the cross-entropy loss, every parameter gradient (absolute, and relative to the model's largest
  gradient entry), the BatchNorm running statistics after the pass;
* eval mode (running statistics first set to one batch's statistics on both sides, so eval-mode neurons fire):
  the logits, and for each of the four gradient settings of ``val_ensemble`` (``bptt:zif:1``, ``bptt:sig:4``,
  ``bptt:atan:2``, ``bptr:zif:1``) the FGSM input (eps 8/255; official ``torchattacks.FGSM`` 3.2.7 against
  :func:`zoo_core.sdk.fgsm`);
* for each gradient setting, one step of the official ``utils.train_reg`` (lambda 0.01, h 0.01, SGD with
  lr 0, so only the gradients are produced) against :class:`zoo_sparse_grad.regulariser.SparseGradRule`'s
  ``training_step``: the CE term, the regulariser R (its value is printed; it is non-zero only where spikes
  flip at ``x + h sign g``), every parameter gradient of CE + lambda R, the BatchNorm statistics after the two
  train-mode forwards;
* the neuron alone (official ``LIFSpike`` against ``sparse_grad_lif``, tau 1 and 0.5, every setting): spikes
  and input gradients;
* WRN-16-4 built under ``torch.set_default_dtype(torch.float64)`` (both then hold the exact decimal constants):
  the train-mode block and the eval logits.

Beside each block it prints the firing rates of the zoo model's spiking layers (min / mean / max over layers,
silent layers) and the largest difference between the official and the zoo per-layer rates. The exit status is
1 if any difference exceeds ``TOL`` (1e-9, or ``--tol``; 0 is expected: both compute the same operations in the
same order, up to the exp-ratio vs sigmoid form of the two-class probability) or if no layer fired. Runtime:
about 2.5 minutes of CPU time on one thread (measured: 2 min 15 s user, 17 min wall-clock on a shared,
heavily loaded 2-core machine); ``--quick`` runs the neuron and WRN-16-4 only (about a minute).
"""

from __future__ import annotations

import atexit
import functools
import importlib
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
import zoo_core as zoo
from torch import Tensor, nn
from zoo_core.sdk import fgsm
from zoo_core.testing_parity import (
    FiringRecorder,
    grad_diff,
    max_abs_diff,
    parse_parity_args,
    randomise_state_dict,
    report,
    state_diff,
)

TOL = 1e-9
D = torch.float64
SETTINGS = {
    "bptt:zif:1": ("bptt", 1.0, "zif"),
    "bptt:sig:4": ("bptt", 4.0, "sig"),
    "bptt:atan:2": ("bptt", 2.0, "atan"),
    "bptr:zif:1": ("bptr", 1.0, "zif"),
}
REQUIRED = ("snn_models/layers.py", "snn_models/VGG.py", "snn_models/WideResNet.py", "utils.py")
#: (official text, replacement) pairs of :func:`patch_layers`; each must occur the stated number of times
PATCHES = (
    ("out = (input >= 0).float()", "out = (input >= 0).to(input.dtype)", 3),
    ("spike = ((mem - 1.) > 0).float()", "spike = ((mem - 1.) > 0).to(mem.dtype)", 1),
)


#: ``tools/bench_models.py --official sparse_grad=DIR``: (model, constructor overrides, batch)
BENCH = [("sparse_grad_vgg11", {"T": 4}, 4)]
BENCH_NEURONS = ("LIFSpike",)


def bench_official(name: str, cfg: dict, model: nn.Module, device: str):
    """(the official VGG-11 with ``model``'s float32 weights, ``run``): both take the image and return the mean
    logits over T (identical layouts; the unpatched checkout, float32 here)."""
    import snn_models  # the official checkout (OFFICIAL_REPO_DIR)

    if name != "sparse_grad_vgg11":
        raise ValueError(f"bench_official: no official builder for {name!r}")
    info = {**zoo.model_info(name).defaults, **cfg}
    norm = (tuple(info["mean"]), tuple(info["std"]))
    off = snn_models.VGG("vgg11", info["T"], info["num_classes"], norm, info["tau"])
    off.load_state_dict(zoo.from_official(name, model.state_dict()), strict=True)  # the identity
    off = off.to(device)
    return off, off


def patch_layers(text: str) -> str:
    """The float64 edit of ``snn_models/layers.py``: spike outputs keep the input dtype (see module docstring).

    Raises ``ValueError`` if the official text is not found as often as expected (a different commit).
    """
    for old, new, count in PATCHES:
        found = text.count(old)
        if found != count:
            raise ValueError(f"patch_layers: expected {count} occurrence(s) of {old!r}, found {found}")
        text = text.replace(old, new)
    return text


def import_official(src: Path) -> tuple[ModuleType, ModuleType, ModuleType]:
    """Copy the official package to a temporary directory, patch it, import ``(layers, snn_models, utils)``."""
    tmp = Path(tempfile.mkdtemp(prefix="sparse_grad_official_"))
    atexit.register(shutil.rmtree, tmp, True)
    shutil.copytree(src / "snn_models", tmp / "snn_models", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(src / "utils.py", tmp / "utils.py")
    layers = tmp / "snn_models" / "layers.py"
    layers.write_text(patch_layers(layers.read_text()))
    sys.path.insert(0, str(tmp))
    utils = importlib.import_module("utils")
    # train_reg's progress bar off (display only)
    utils.tqdm = functools.partial(utils.tqdm, disable=True)
    return importlib.import_module("snn_models.layers"), importlib.import_module("snn_models"), utils


def _bn_state(m: nn.Module) -> dict[str, Tensor]:
    return {k: v for k, v in m.state_dict().items() if "running" in k}


class StepLogits:
    """Forward hook on the last linear layer: its merged ``[T*B, C]`` output viewed as per-step ``[T, B, C]``."""

    def __init__(self, layer: nn.Module, T: int):
        self.T, self.out = T, None
        self.h = layer.register_forward_hook(lambda _m, _i, o: setattr(self, "out", o.detach()))

    def steps(self) -> Tensor:
        return self.out.view(self.T, -1, self.out.shape[-1])


def rates_diff(a: FiringRecorder, b: FiringRecorder) -> float:
    """Largest difference of per-layer firing rates, matched in module order (official vs zoo)."""
    ra, rb = list(a.rates.values()), list(b.rates.values())
    if len(ra) != len(rb):
        return math.inf
    return max((abs(x - y) for x, y in zip(ra, rb)), default=0.0)


def grad_diff_rel(a: nn.Module, b: nn.Module) -> float:
    """Largest gradient difference divided by the largest gradient entry of ``a`` (over all parameters).

    Not per parameter: the conv biases in front of a train-mode BatchNorm have a gradient that is exactly 0 in
    exact arithmetic (BN removes the mean), i.e. rounding noise of ~1e-15 on both sides, and a per-parameter
    ratio of two noises says nothing.
    """
    scale = max((float(p.grad.abs().max()) for p in a.parameters() if p.grad is not None), default=0.0)
    return grad_diff(a, b) / max(scale, 1e-300)


def calibrate_bn(*models: nn.Module, x: Tensor) -> None:
    """Set every BatchNorm's running statistics to those of one train-mode batch ``x`` (momentum 1)."""
    for m in models:
        bns = [b for b in m.modules() if isinstance(b, nn.modules.batchnorm._BatchNorm)]
        saved = [b.momentum for b in bns]
        for b in bns:
            b.momentum = 1.0
        m.train()
        with torch.no_grad():
            m(x)
        for b, mom in zip(bns, saved):
            b.momentum = mom


def compare_model(
    label: str,
    name: str,
    off: nn.Module,
    zm: nn.Module,
    head: str,
    x: Tensor,
    y: Tensor,
    T: int,
    official: dict[str, Any],
    full: bool = True,
    tol: float = TOL,
) -> bool:
    """Every comparison of the module docstring for one (official, zoo) model pair (``full=False``: the
    train-mode block and the eval logits only)."""
    sd = randomise_state_dict(off.state_dict(), seed=0)
    off.load_state_dict(sd)
    zm.load_state_dict(zoo.from_official(name, sd), strict=True)
    ok = True
    # --- train mode: logits per step, loss, gradients, BN statistics
    off.train(), zm.train()
    ho, hz = StepLogits(off.get_submodule(head), T), StepLogits(zm.get_submodule(head), T)
    with FiringRecorder(off) as fo, FiringRecorder(zm) as fz:
        lo, lz = off(x), zm(x)
    co, cz = F.cross_entropy(lo, y), F.cross_entropy(lz, y)
    co.backward(), cz.backward()
    diffs = {
        "train logits per step": max_abs_diff(ho.steps(), hz.steps()),
        "train mean logits": max_abs_diff(lo, lz),
        "CE loss": abs(co.item() - cz.item()),
        "param grads": grad_diff(off, zm),
        "param grads (rel. to largest)": grad_diff_rel(off, zm),
        "BN stats after train pass": state_diff(_bn_state(off), _bn_state(zm)),
        "official vs zoo rates": rates_diff(fo, fz),
    }
    ok &= report(
        f"{label}: train mode (|logits| max {float(lo.detach().abs().max()):.3g})",
        diffs,
        fz.summary("zoo"),
        tol,
    )
    # --- eval mode: logits and FGSM under each gradient setting
    off.load_state_dict(sd), zm.load_state_dict(sd)
    calibrate_bn(off, zm, x=x)
    off.eval(), zm.eval()
    with torch.no_grad(), FiringRecorder(off) as fo, FiringRecorder(zm) as fz:
        lo, lz = off(x), zm(x)
    diffs = {
        "eval logits": max_abs_diff(lo, lz),
        "eval logits per step": max_abs_diff(ho.steps(), hz.steps()),
        "official vs zoo rates": rates_diff(fo, fz),
    }
    if not full:
        return report(f"{label}: eval mode", diffs, fz.summary("zoo"), tol) and ok
    for s, mode in SETTINGS.items():
        off.set_attack_mode(mode)
        zm.set_gradient_setting(s)
        xo = official["torchattacks"].FGSM(off, eps=8 / 255)(x, y)
        xz = fgsm(zm, x, y, 8 / 255)
        diffs[f"FGSM input {s}"] = max_abs_diff(xo, xz)
    ok &= report(f"{label}: eval mode, FGSM eps 8/255", diffs, fz.summary("zoo"), tol)
    # --- one official train_reg step per gradient setting
    calibrated = {k: v.clone() for k, v in off.state_dict().items()}
    ds = torch.utils.data.TensorDataset(x, y)
    for s, mode in SETTINGS.items():
        off.load_state_dict(calibrated), zm.load_state_dict(calibrated)
        off.set_attack_mode(mode)
        zm.set_gradient_setting(s)
        opt_o = torch.optim.SGD(off.parameters(), lr=0.0)
        opt_z = torch.optim.SGD(zm.parameters(), lr=0.0)
        loader = torch.utils.data.DataLoader(ds, batch_size=len(x))
        with FiringRecorder(zm) as fz:
            ce_o, r_o = official["utils"].train_reg(
                off, "cpu", loader, nn.CrossEntropyLoss(), opt_o, lamb=0.01, h=0.01
            )
            out = zoo.create_learning_rule("sparse_grad", lamb=0.01, h=0.01).training_step(zm, (x, y), opt_z)
        diffs = {
            "CE": abs(ce_o - out["ce"]),
            "R": abs(r_o - out["reg"]),
            "param grads of CE + 0.01 R": grad_diff(off, zm),
            "param grads (rel. to largest)": grad_diff_rel(off, zm),
            "BN stats after the two forwards": state_diff(_bn_state(off), _bn_state(zm)),
        }
        ok &= report(
            f"{label}: train_reg step, {s} (R = {r_o:.4g}, CE = {ce_o:.4g})", diffs, fz.summary("zoo"), TOL
        )
    return ok


def compare_neuron(layers: ModuleType) -> bool:
    """Official ``LIFSpike`` vs ``sparse_grad_lif``: spikes and input gradients, every setting, tau 1 and 0.5.

    At tau != 1 the official BPTR factor ``(1 - 0.2 + 0.2 tau) / (tau + 1)`` is computed in float32 (``tau`` is
    saved as ``torch.tensor(tau)``), the zoo's in the input dtype: that one entry is held to float32 precision
    (``1e-7``) and reported in its own block.
    """
    T, ok = 6, True
    g = torch.Generator().manual_seed(3)
    x = torch.rand(T, 8, 64, generator=g, dtype=D) * 1.6 - 0.3
    up = torch.randn(T, 8, 64, generator=g, dtype=D)
    for tau in (1.0, 0.5):
        diffs: dict[str, float] = {}
        for s, mode in SETTINGS.items():
            off = layers.LIFSpike(T, tau=tau)
            off.mode, off.gama = mode[0], mode[1]
            off.set_surrogate_gradient(mode[2])
            zn = zoo.create_neuron("sparse_grad_lif", tau=tau, surrogate=mode[2], gama=mode[1], mode=mode[0])
            xo, xz = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
            with FiringRecorder(zn) as fz:
                so = off(xo.flatten(0, 1)).view(T, 8, 64)
                sz = zn(xz)
            (so * up).sum().backward()
            (sz * up).sum().backward()
            diffs[f"{s} spikes"] = max_abs_diff(so, sz)
            diffs[f"{s} input grad"] = max_abs_diff(xo.grad, xz.grad)
        f32 = {k: diffs.pop(k) for k in ["bptr:zif:1 input grad"] if tau != 1.0}
        ok &= report(f"neuron LIFSpike tau={tau}", diffs, fz.summary("zoo"), TOL)
        if f32:
            ok &= report(
                f"neuron LIFSpike tau={tau}, BPTR factor (official: float32)", f32, fz.summary("zoo"), 1e-7
            )
    return ok


def main(argv: list[str] | None = None) -> int:
    global TOL
    argv = list(sys.argv[1:] if argv is None else argv)
    quick = "--quick" in argv  # WRN-16-4 and the neuron only (about a minute)
    args = parse_parity_args([a for a in argv if a != "--quick"], __doc__, REQUIRED)
    TOL = TOL if args.tol is None else args.tol
    src = args.official_dir
    try:
        import torchattacks  # reason: the official FGSM, an optional dependency of this script only
    except ImportError:
        raise SystemExit(
            "official_parity.py: torchattacks is not importable; pip install --no-deps --target "
            "/tmp/official/site2 torchattacks==3.2.7 six, then pass --site /tmp/official/site2"
        ) from None
    torch.set_num_threads(1)
    layers, snn_models, utils = import_official(src)
    official = {"torchattacks": torchattacks, "utils": utils}
    t0 = time.time()
    ok = compare_neuron(layers)
    T, B = 4, 4
    g = torch.Generator().manual_seed(1)
    x = torch.rand(B, 3, 32, 32, generator=g, dtype=D)
    y = torch.tensor([1, 7, 3, 0])
    c10 = ((0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010))  # the official data_loaders.py's CIFAR-10 norm
    models = [("wrn16-4 CIFAR-10", "sparse_grad_wrn16", "fc")]
    if not quick:
        models.append(("vgg11 CIFAR-10", "sparse_grad_vgg11", "classifier.5"))
    for label, name, head in models:

        def official_model(name: str = name) -> nn.Module:
            if name == "sparse_grad_wrn16":
                return snn_models.WideResNet("wrn16", T, 10, c10, 1.0).double()
            return snn_models.VGG("vgg11", T, 10, c10).double()

        # both built under the default float32 dtype, then .double(): the official TensorNormalization holds
        # torch.tensor(c10) (float32-rounded), the zoo's default constants are those values
        zm = zoo.create_model(name, T=T).double()
        ok &= compare_model(label, name, official_model(), zm, head, x, y, T, official)
    # built under a float64 default dtype both hold the exact decimals (train-mode block and eval logits)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(D)
    try:
        zm = zoo.create_model("sparse_grad_wrn16", T=T)
        off = snn_models.WideResNet("wrn16", T, 10, c10, 1.0)
        ok &= compare_model(
            "wrn16-4 CIFAR-10, built under the float64 default dtype",
            "sparse_grad_wrn16",
            off,
            zm,
            "fc",
            x,
            y,
            T,
            official,
            full=False,
        )
    finally:
        torch.set_default_dtype(previous)
    print(f"{'ALL PASS' if ok else 'FAILED'} in {time.time() - t0:.0f} s (tolerance {TOL:g})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
