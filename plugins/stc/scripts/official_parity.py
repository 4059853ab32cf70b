"""float64 parity of zoo_stc against the official STC code (an OpenSTL fork) on the same random weights.

    python plugins/stc/scripts/official_parity.py OFFICIAL_REPO_DIR --site /tmp/official/site2 [--full] [--tol TOL]

OFFICIAL_REPO_DIR is a checkout of ``wangtianyi1874/stclif@96fa1422`` (keep it outside this repository), e.g.::

    git --git-dir=<bare clone> archive 96fa1422 | tar -x -C /tmp/official/stclif
    pip install --no-deps --target /tmp/official/site2 spikingjelly==0.0.0.0.14   # passed with --site

Only three official files are used: ``openstl/modules/convlif_modules.py`` (the cells),
``openstl/models/convlif_model.py`` (the ``XXX_Model`` stacks) and ``openstl/utils/predrnn_utils.py``
(``reshape_patch`` / ``reshape_patch_back``); the cells need SpikingJelly's ``surrogate.Sigmoid`` (the README says
``pip install spikingjelly``; 0.0.0.0.14 is the release current when the code was written, and only that class is
used). The rest of OpenSTL (timm, lpips, ...) is not imported: the script registers a bare ``openstl`` package
with ``openstl.modules`` = ``convlif_modules`` so that ``convlif_model``'s ``from openstl.modules import ...``
resolves. No file of the checkout is edited; for float64 the script

* copies ``convlif_modules.py`` to a temporary directory and replaces the two ``return output.float()`` of
  ``SpikeAct_extended`` / ``ArchAct`` (GLIF's spike function, which casts float64 spikes to float32) by
  ``return output.to(input.dtype)`` (:func:`patch_modules`); the other cells use SpikingJelly's ``heaviside``,
  which keeps the dtype;
* sets ``torch.set_default_dtype(torch.float64)``: the official models allocate their zero states with
  ``torch.zeros(...)`` (default dtype) ``.to(configs.device)`` (``device = "cpu"`` here).

For every registered cell (the 8 official methods ``lif, plif, tclif, lmh, glif, stclif, stcplif, stclmh`` =
``stc_baseline_lif`` ... ``stc_lmh``) and each official data setting (``mmnist`` 1x64x64 10 -> 10 patch 2,
``taxibj`` 2x32x32 4 -> 4 patch 1 with ``gradient_detach = 1``, ``kth`` 1x128x128 10 -> 20 patch 4 with
``gradient_detach = 1``) at 2 x 32 channels (``num_hidden = [32, 32]``, batch 2), one random state dict
(:func:`zoo_core.testing_parity.randomise_state_dict`, seed 0; the neuron scalars ``t_m, s_u, s_p, d_u, d_p`` drawn
from U(-1, 1) too) goes into the official model and, through ``zoo.from_official``, into
``spiking_predictor_<cell>_<dataset>``; the script prints the max abs difference of

* the forecast (test protocol: all-zero scheduled-sampling mask; zoo ``model(x)``),
* all ``pre + aft - 1`` next-frame predictions with a random teacher-forcing mask (training protocol; zoo
  ``model.rollout(frames, mask)``),
* the training loss (official: the MSE its forward returns) and every parameter gradient of it,

and the firing rate of every layer (min / mean / max over layers and steps, silent layers) beside them, with the
largest official-vs-zoo difference of the per-layer rates. Then every cell alone: the official cell stepped over
6 steps against ``zoo.create_neuron(cell, channels=32, in_channels=4)`` loaded with its state dict (spikes, input
and parameter gradients). ``--full`` adds the official sizes (3 x 256 channels, batch 1) of STC-LIF, STC-PLIF,
STC-LM-H and LIF on Moving MNIST (64x64, 10 -> 10) and STC-LIF on TaxiBJ (:data:`FULL`; about 2.5 minutes of CPU
time more). Exit status 1 if a difference exceeds ``TOL`` = 1e-9 (or ``--tol``; exact equality is expected: the
outputs are linear in binary spikes) or a configuration has no spike. About 30 s of CPU time on one thread
without ``--full`` (measured: 30 s user, 4.4 min wall-clock on a shared, heavily loaded 2-core machine).
"""

from __future__ import annotations

import atexit
import importlib.util
import math
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
import zoo_core as zoo
from torch import Tensor, nn
from zoo_core.testing_parity import (
    FiringRecorder,
    grad_diff,
    max_abs_diff,
    parse_parity_args,
    randomise_state_dict,
    report,
)

TOL = 1e-9
D = torch.float64
REPO = "wangtianyi1874/stclif@96fa1422"
MODULES = "openstl/modules/convlif_modules.py"
MODEL = "openstl/models/convlif_model.py"
PATCHING = "openstl/utils/predrnn_utils.py"
#: zoo cell key -> official class-name stem (``<stem>Cell`` / ``<stem>_Model``)
CELLS = {
    "stc_baseline_lif": "LIF",
    "stc_baseline_plif": "PLIF",
    "stc_baseline_tclif": "TCLIF",
    "stc_baseline_lmh": "LMH",
    "stc_baseline_glif": "GLIF",
    "stc_lif": "STCLIF",
    "stc_plif": "STCPLIF",
    "stc_lmh": "STCLMH",
}
#: cells whose official forward carries a dendrite state: ``cell(x, h, d, g) -> (s, h, d)``
THREE_STATE = ("TCLIF", "LMH", "STCLMH")
#: official data settings: (C, H, pre, aft, patch, gradient_detach of the STC cells)
DATASETS = {
    "mmnist": (1, 64, 10, 10, 2, 0),
    "taxibj": (2, 32, 4, 4, 1, 1),
    "kth": (1, 128, 10, 20, 4, 1),
}
#: ``--full``: (cell, data set) pairs run at the official size (3 x 256 channels)
FULL = (
    ("stc_lif", "mmnist"),
    ("stc_plif", "mmnist"),
    ("stc_lmh", "mmnist"),
    ("stc_baseline_lif", "mmnist"),
    ("stc_lif", "taxibj"),
)
#: (official text, replacement, expected count) of :func:`patch_modules`
PATCHES = (("return output.float()", "return output.to(input.dtype)", 2),)


#: ``tools/bench_models.py --official stc=DIR``: (model, constructor overrides, batch); the official 3 x 256
#: channels take seconds per call here, so 2 x 32 (the parity configuration) at the official 64x64, 10 -> 10
BENCH = [("spiking_predictor_stc_lif_mmnist", {"num_hidden": [32, 32]}, 4)]
BENCH_NEURONS = ("STCLIFCell",)  # the class name in both codes (their first output / ``s``: the spikes)


def bench_official(name: str, cfg: dict, model: nn.Module, device: str):
    """(the official ``STCLIF_Model`` with ``model``'s float32 weights, ``run``): ``run(x)`` is the official test
    protocol (all-zero scheduled-sampling mask, the ``aft`` future frames zero: they are only the loss target)
    on the patched frames, its last ``aft`` predictions patched back to ``[B, aft, C, H, W]``, the zoo output."""
    src = next((Path(p) for p in sys.path if (Path(p) / MODEL).is_file()), None)  # the checkout (--official)
    if src is None or name != "spiking_predictor_stc_lif_mmnist":
        raise ValueError(f"bench_official: no official checkout on sys.path or no builder for {name!r}")
    _cells, models, patching = import_official(src)
    c, hw, pre, aft, p, detach = DATASETS["mmnist"]
    num_hidden = list(model.num_hidden) if hasattr(model, "num_hidden") else cfg["num_hidden"]
    conf = SimpleNamespace(
        in_shape=[pre, c, hw, hw], patch_size=p, filter_size=5, stride=1, layer_norm=0,
        gradient_detach=detach, device=device, pre_seq_length=pre, aft_seq_length=aft,
        reverse_scheduled_sampling=0,
    )  # fmt: skip
    off = models.STCLIF_Model(len(num_hidden), num_hidden, conf)
    off.load_state_dict(
        model.state_dict(), strict=True
    )  # the layouts are identical (from_official: identity)
    off = off.to(device)

    def run(x: Tensor) -> Tensor:
        b = x.shape[0]
        frames = torch.cat([x, x.new_zeros(b, aft, *x.shape[2:])], 1)
        patched = patching.reshape_patch(frames.permute(0, 1, 3, 4, 2), p)
        mask = x.new_zeros(b, aft - 1, hw // p, hw // p, p * p * c)
        nxt, _loss = off(patched, mask)
        return patching.reshape_patch_back(nxt, p).permute(0, 1, 4, 2, 3)[:, -aft:]

    return off, run


def patch_modules(text: str) -> str:
    """The float64 edit of ``convlif_modules.py`` (module docstring); ``ValueError`` if the text differs."""
    for old, new, count in PATCHES:
        found = text.count(old)
        if found != count:
            raise ValueError(f"patch_modules: expected {count} occurrence(s) of {old!r}, found {found}")
        text = text.replace(old, new)
    return text


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def import_official(src: Path) -> tuple[ModuleType, ModuleType, ModuleType]:
    """``(cells, models, patching)`` modules of the official checkout (cells patched in a temporary copy)."""
    tmp = Path(tempfile.mkdtemp(prefix="stc_official_"))
    atexit.register(shutil.rmtree, tmp, True)
    (tmp / "convlif_modules.py").write_text(patch_modules((src / MODULES).read_text()))
    pkg = types.ModuleType("openstl")
    pkg.__path__ = []  # a bare namespace: only openstl.modules is provided
    sys.modules["openstl"] = pkg
    cells = _load("openstl.modules", tmp / "convlif_modules.py")
    pkg.modules = cells
    return (
        cells,
        _load("official_convlif_model", src / MODEL),
        _load("official_predrnn_utils", src / PATCHING),
    )


def randomise(model: nn.Module, seed: int) -> dict[str, Tensor]:
    """:func:`randomise_state_dict` plus U(-1, 1) for the one-element neuron scalars (``t_m``, ``s_u``, ...)."""
    sd = randomise_state_dict(model.state_dict(), seed)
    g = torch.Generator().manual_seed(seed + 1)
    for k, v in sd.items():
        if v.numel() == 1 and v.is_floating_point():
            sd[k] = torch.rand(v.shape, generator=g, dtype=D) * 2 - 1
    return sd


class SpikeRecorder(FiringRecorder):
    """Firing rates of the cells (official: the first output ``s``; zoo: ``state['s']``)."""

    def __init__(self, model: nn.Module):
        super().__init__(model, select=lambda n, _m: n.startswith("cell_list.") and n.count(".") == 1)

    def _hook(self, name: str) -> Any:
        def hook(_m: nn.Module, _inp: object, out: Any) -> None:
            s = out["s"] if isinstance(out, dict) else out[0]
            c = self._counts.setdefault(name, [0, 0])
            c[0] += int(torch.count_nonzero(s.detach()))
            c[1] += s.numel()

        return hook


def rates_diff(a: FiringRecorder, b: FiringRecorder) -> float:
    """Largest difference of per-layer firing rates (official vs zoo, matched by layer name)."""
    ra, rb = a.rates, b.rates
    if ra.keys() != rb.keys():
        return math.inf
    return max((abs(ra[k] - rb[k]) for k in ra), default=0.0)


def compare_model(
    cell: str, dataset: str, num_hidden: list[int], batch: int, official: dict[str, ModuleType]
) -> bool:
    """Forecast, teacher-forced rollout, loss and gradients of one (cell, data set) pair."""
    c, hw, pre, aft, p, detach = DATASETS[dataset]
    stem = CELLS[cell]
    cfg = SimpleNamespace(
        in_shape=[pre, c, hw, hw], patch_size=p, filter_size=5, stride=1, layer_norm=0,
        gradient_detach=detach, device="cpu", pre_seq_length=pre, aft_seq_length=aft,
        reverse_scheduled_sampling=0,
    )  # fmt: skip
    off = getattr(official["models"], f"{stem}_Model")(len(num_hidden), num_hidden, cfg).to(D)
    name = f"spiking_predictor_{cell}_{dataset}"
    zm = zoo.create_model(name, num_hidden=num_hidden).to(D)
    sd = randomise(off, seed=0)
    off.load_state_dict(sd)
    zm.load_state_dict(zoo.from_official(name, sd), strict=True)
    g = torch.Generator().manual_seed(1)
    frames = torch.rand(batch, pre + aft, c, hw, hw, generator=g, dtype=D)  # [B, T, C, H, W]
    mask = (torch.rand(batch, aft - 1, generator=g, dtype=D) < 0.5).to(D)
    hp = hw // p
    patched = official["patching"].reshape_patch(frames.permute(0, 1, 3, 4, 2), p)  # official layout

    def official_run(m: Tensor) -> tuple[Tensor, Tensor]:
        mask_true = m[:, :, None, None, None].expand(batch, aft - 1, hp, hp, p * p * c)
        nxt, loss = off(patched, mask_true)
        back = official["patching"].reshape_patch_back(nxt, p)  # [B, T-1, H, W, C]
        return back.permute(0, 1, 4, 2, 3), loss

    with torch.no_grad(), SpikeRecorder(off) as ro, SpikeRecorder(zm) as rz:
        fo, _ = official_run(torch.zeros_like(mask))
        fz = zm(frames[:, :pre])
    diffs = {
        "forecast (test protocol)": max_abs_diff(fo[:, -aft:], fz),
        "rates (forecast)": rates_diff(ro, rz),
    }
    with SpikeRecorder(off) as ro, SpikeRecorder(zm) as rz:
        po, lo = official_run(mask)
        pz = zm.rollout(frames, mask)
    lz = F.mse_loss(pz, frames[:, 1:])
    lo.backward()
    lz.backward()
    diffs.update(
        {
            "rollout, random teacher mask": max_abs_diff(po, pz),
            "training loss (MSE)": abs(lo.item() - lz.item()),
            "param grads": grad_diff(off, zm),
            "param grads (rel)": grad_diff(off, zm, relative=True),
            "rates (rollout)": rates_diff(ro, rz),
        }
    )
    size = f"{len(num_hidden)} x {num_hidden[0]} channels, batch {batch}"
    title = f"{name} at {size} (|frame| max {fo.abs().max():.3g})"
    return report(title, diffs, rz.summary("zoo"), TOL)


def compare_cell(cell: str, official: dict[str, ModuleType]) -> tuple[dict[str, float], dict[str, float]]:
    """The official cell stepped by hand vs ``create_neuron(cell, in_channels=...)``: spikes and gradients."""
    stem, T, cin, ch, B, hw = CELLS[cell], 6, 4, 32, 2, 8
    off = getattr(official["cells"], f"{stem}Cell")(cin, ch, hw, hw, 5, 1, 0, *([1] if "STC" in stem else []))
    off = off.to(D)
    zn = zoo.create_neuron(cell, channels=ch, in_channels=cin, gradient_detach="STC" in stem).to(D)
    sd = randomise(off, seed=2)
    off.load_state_dict(sd)
    zn.load_state_dict(sd, strict=True)
    g = torch.Generator().manual_seed(3)
    x = torch.rand(T, B, cin, hw, hw, generator=g, dtype=D)
    up = torch.randn(T, B, ch, hw, hw, generator=g, dtype=D)
    xo, xz = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    h = d = s = torch.zeros(B, ch, hw, hw, dtype=D)
    outs = []
    for t in range(T):
        if stem in THREE_STATE:
            s, h, d = off(xo[t], h, d, s)
        else:
            s, h = off(xo[t], h, s)
        outs.append(s)
    so, sz = torch.stack(outs), zn(xz)
    (so * up).sum().backward()
    (sz * up).sum().backward()
    diffs = {
        f"{cell} spikes": max_abs_diff(so, sz),
        f"{cell} input grad": max_abs_diff(xo.grad, xz.grad),
        f"{cell} param grads (rel)": grad_diff(off, zn, relative=True),
    }
    return diffs, {f"{cell} rate": float(sz.detach().count_nonzero()) / sz.numel()}


def main(argv: list[str] | None = None) -> int:
    global TOL
    argv = list(sys.argv[1:] if argv is None else argv)
    full = "--full" in argv  # also the official sizes of FULL
    args = parse_parity_args([a for a in argv if a != "--full"], __doc__, (MODULES, MODEL, PATCHING))
    TOL = TOL if args.tol is None else args.tol
    src = args.official_dir
    try:
        import spikingjelly  # noqa: F401  # reason: the official cells' surrogate, needed by this script only
    except ImportError:
        raise SystemExit(
            "official_parity.py: spikingjelly is not importable; pip install --no-deps --target "
            "/tmp/official/site2 spikingjelly==0.0.0.0.14, then pass --site /tmp/official/site2"
        ) from None
    torch.set_num_threads(1)
    torch.set_default_dtype(D)  # the official zero states use the default dtype
    cells, models, patching = import_official(src)
    official = {"cells": cells, "models": models, "patching": patching}
    t0 = time.time()
    ok = True
    for dataset in DATASETS:
        for cell in CELLS:
            ok &= compare_model(cell, dataset, [32, 32], 2, official)
    diffs: dict[str, float] = {}
    rates: dict[str, float] = {}
    for cell in CELLS:
        d, r = compare_cell(cell, official)
        diffs.update(d)
        rates.update(r)
    ok &= report("the 8 cells alone (create_neuron(cell, channels=32, in_channels=4))", diffs, rates, TOL)
    if full:  # the official sizes the README reports: 3 x 256 channels, batch 1
        for cell, dataset in FULL:
            ok &= compare_model(cell, dataset, [256, 256, 256], 1, official)
    print(f"{'ALL PASS' if ok else 'FAILED'} in {time.time() - t0:.0f} s (tolerance {TOL:g})", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
