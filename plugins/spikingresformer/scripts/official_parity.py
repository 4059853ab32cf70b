"""float64 parity of zoo_spikingresformer against the official SpikingResformer on the same random weights.

    python plugins/spikingresformer/scripts/official_parity.py /tmp/official/spikingresformer \\
        --site /tmp/official/site

OFFICIAL_REPO_DIR is a checkout of xyshi2000/SpikingResformer at commit 3f75127 (``git archive 3f75127``), kept
outside this repository and left unedited. Its models import SpikingJelly and timm: install SpikingJelly into a
scratch directory outside the venv and pass it with ``--site`` (timm comes from the venv)::

    .venv/bin/pip install --no-deps --target /tmp/official/site spikingjelly==0.0.0.0.14

The official neurons ask for the ``cupy`` backend, which SpikingJelly refuses at construction when CuPy is not
installed. The script (not the checkout) patches ``spikingjelly.activation_based.base.check_backend_library`` to a
no-op while the official model is built and then switches every SpikingJelly neuron to its ``torch`` backend; no
other change is needed for float64 on CPU.

For each configuration one random state dict (:func:`zoo_core.testing_parity.randomise_state_dict`, He x 1.5
weights, BN statistics away from 0/1, DSSA firing-rate buffers in [0.1, 0.5]) is loaded into both models (through
``zoo.from_official``, an identity for this layout) and the script prints the max abs differences of

* eval mode: the per-step logits for a static 4-D batch and a 5-D (time-varying) batch, and the mean logits;
* training mode, two steps starting from zero firing-rate buffers (as at the start of official training): the
  per-step logits, the loss ``CE(mean_t z_t, y)``, every parameter gradient, and the DSSA firing-rate buffers and
  BN running statistics after the two steps;

beside the firing rates of the spiking layers of both models (min/mean/max over layers and the number of silent
layers). Exit status 1 if any difference exceeds the tolerance (``--tol``, default 1e-12) or a network is silent.
"""

from __future__ import annotations

import sys
import time
import warnings

import torch
import torch.nn.functional as F
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

REQUIRED = ("models/spikingresformer.py", "models/submodules/layers.py")
D = torch.float64


def official_factory(name: str):
    import spikingjelly.activation_based.base as sj_base  # the official code's dependency (--site)
    from models import spikingresformer as off  # the official checkout (OFFICIAL_REPO_DIR)

    def build(**kw):
        saved = sj_base.check_backend_library
        sj_base.check_backend_library = lambda _backend: None  # accept backend="cupy" without CuPy
        try:
            m = getattr(off, name)(**kw)
        finally:
            sj_base.check_backend_library = saved
        for mod in m.modules():
            if isinstance(mod, sj_base.MemoryModule) and hasattr(mod, "backend"):
                mod.backend = "torch"
        return m.to(D)

    return build


#: ``tools/bench_models.py --official spikingresformer=DIR``: (model, constructor overrides, batch)
BENCH = [("spikingresformer_ti", {"img_size": 64, "T": 4}, 2)]


def bench_official(name: str, cfg: dict, model: torch.nn.Module, device: str):
    """(official model with ``model``'s float32 weights, ``run``): ``run(x)`` is the mean over T of the official
    per-step logits, what the zoo model returns (the layouts are identical: ``from_official`` is the identity)."""
    from spikingjelly.activation_based import functional  # the official code's dependency (--site)

    kw = {
        k: v
        for k, v in {**zoo.model_info(name).defaults, **cfg}.items()
        if k in ("T", "num_classes", "img_size")
    }
    off = official_factory(name)(**kw).float().to(device)
    off.load_state_dict(model.state_dict())

    def run(x: torch.Tensor) -> torch.Tensor:
        functional.reset_net(off)
        out = off(x).mean(0)  # per-step logits [T, B, K] -> their mean
        functional.reset_net(off)
        return out

    return off, run


def random_sd(off_sd: dict, seed: int) -> dict:
    """Random weights; the DSSA firing-rate buffers start at zero (as in training from scratch)."""
    sd = randomise_state_dict(off_sd, seed, keep=lambda k, _v: "firing_rate" in k)
    return {k: torch.zeros_like(v, dtype=D) if "firing_rate" in k else v for k, v in sd.items()}


def official_steps(off, x5_time_first):
    from spikingjelly.activation_based import functional  # the official code's dependency (--site)

    functional.reset_net(off)
    out = off(x5_time_first.transpose(0, 1))  # the official 5-D input is [B, T, C, H, W]
    functional.reset_net(off)
    return out


def official_static(off, x4):
    from spikingjelly.activation_based import functional  # the official code's dependency (--site)

    functional.reset_net(off)
    out = off(x4)
    functional.reset_net(off)
    return out


def rates_of(label: str, off, zm, fn) -> dict[str, float]:
    """Run ``fn`` under firing recorders on both models; return the official and zoo rate summaries."""
    with FiringRecorder(off) as fo, FiringRecorder(zm) as fz:
        fn()
    so, sz = fo.summary(f"official {label}"), fz.summary(f"zoo {label}")
    if len(fo.rates) != len(fz.rates):
        raise AssertionError(
            f"{label}: {len(fo.rates)} official spiking layers ran, {len(fz.rates)} in the zoo"
        )
    return {**so, **sz}


def compare(name: str, *, T: int, B: int, img: int, num_classes: int, tol: float) -> bool:
    t0 = time.time()
    kw = {"T": T, "num_classes": num_classes, "img_size": img}
    g = torch.Generator().manual_seed(7)
    x4 = torch.randn(B, 3, img, img, generator=g, dtype=D)
    x5 = torch.randn(T, B, 3, img, img, generator=g, dtype=D)
    y = torch.randint(0, num_classes, (B,), generator=g)
    off, zm = official_factory(name)(**kw), zoo.create_model(name, **kw).to(D)
    sd = random_sd(off.state_dict(), 0)
    off.load_state_dict(sd)
    zm.load_state_dict(zoo.from_official(name, sd), strict=True)
    if list(off.state_dict()) != list(zm.state_dict()):
        raise AssertionError(f"{name}: state-dict keys or their order differ")
    diffs: dict[str, float] = {}
    res: dict[str, torch.Tensor] = {}

    # training mode: two steps from zero firing-rate buffers (the first sets them, the second averages)
    off.train()
    zm.train()
    rates: dict[str, float] = {}
    for step, xs in enumerate((x5, x5.flip(0)), 1):
        off.zero_grad()
        zm.zero_grad()

        def run_train(xs: torch.Tensor = xs) -> None:
            res["o"], res["z"] = official_steps(off, xs), zm.forward_steps(xs)

        if step == 1:
            rates |= rates_of("train", off, zm, run_train)
        else:
            run_train()
        lo, lz = F.cross_entropy(res["o"].mean(0), y), F.cross_entropy(res["z"].mean(0), y)
        lo.backward()
        lz.backward()
        diffs[f"train step {step} per-step logits"] = max_abs_diff(res["o"], res["z"])
        diffs[f"train step {step} loss"] = abs(lo.item() - lz.item())
        diffs[f"train step {step} parameter grads"] = grad_diff(off, zm)
    osd, zsd = off.state_dict(), zm.state_dict()
    diffs["firing-rate buffers after 2 steps"] = state_diff(osd, zsd, [k for k in osd if "firing_rate" in k])
    diffs["BN running stats after 2 steps"] = state_diff(osd, zsd, [k for k in osd if "running_" in k])

    # eval mode with the buffers and BN statistics of those two steps
    off.eval()
    zm.eval()

    def run_eval() -> None:
        with torch.no_grad():
            res["o4"], res["z4"] = official_static(off, x4), zm.forward_steps(x4)
            res["o5"], res["z5"] = official_steps(off, x5), zm.forward_steps(x5)

    rates |= rates_of("eval", off, zm, run_eval)
    with torch.no_grad():
        res["zm"] = zm(x5)
    diffs["eval per-step logits, 4-D input"] = max_abs_diff(res["o4"], res["z4"])
    diffs["eval per-step logits, 5-D input"] = max_abs_diff(res["o5"], res["z5"])
    diffs["eval mean logits (model(x))"] = max_abs_diff(res["o5"].mean(0), res["zm"])
    scale = float(res["o5"].abs().max())
    title = (
        f"{name} (img {img}, B={B}, T={T}, {num_classes} classes; eval |logits| max {scale:.3g}; "
        f"{time.time() - t0:.0f} s)"
    )
    return report(title, diffs, rates, tol)


def main(argv: list[str] | None = None) -> int:
    args = parse_parity_args(argv, __doc__, REQUIRED)
    tol = 1e-12 if args.tol is None else args.tol
    torch.set_num_threads(1)
    # the random state dicts start with zero firing-rate buffers on purpose (training from scratch)
    warnings.filterwarnings("ignore", message=".*firing-rate buffers.*are zero")
    # timm/torch deprecation warnings of the official imports
    warnings.filterwarnings("ignore", category=FutureWarning)
    configs = [
        ("spikingresformer_cifar", 4, 2, 32, 10),
        ("spikingresformer_dvsg", 4, 2, 32, 11),
        ("spikingresformer_ti", 2, 2, 64, 1000),
        ("spikingresformer_s", 2, 2, 64, 1000),
        ("spikingresformer_m", 2, 1, 64, 1000),
        ("spikingresformer_l", 2, 1, 64, 1000),
    ]
    results = [
        compare(name, T=T, B=batch, img=img, num_classes=k, tol=tol)
        for name, T, batch, img, k in configs
        if wanted(args, name)
    ]
    return summarise(results)


if __name__ == "__main__":
    sys.exit(main())
