"""Guard a refactor: record every registered model's numerics before it, check them after.

    python tools/model_snapshot.py save  SNAPSHOT_DIR [--pattern 'lmht_*']
    python tools/model_snapshot.py check SNAPSHOT_DIR [--pattern 'lmht_*'] [--rename old=new ...]

``save`` builds each model at its conformance-kit size (``ModelInfo.test_config``) in float64 with seed 0, runs
one training-mode forward (so BatchNorm statistics and firing-rate buffers are populated) and one eval-mode
forward on a fixed input, and writes the initial state dict, the input and both outputs. ``check`` builds the model with
the current code, loads the saved state dict (strict: same keys and shapes), and requires bit-identical outputs
and the same parameter count. ``--rename old=new`` maps a model registered under a new name. Exit status 1 on
any difference, with one line per model.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

import zoo_core as zoo
from zoo_core.testing import make_input


def _build(name: str, seed: int = 0) -> torch.nn.Module:
    info = zoo.model_info(name)
    torch.manual_seed(seed)
    return zoo.create_model(name, **info.test_config).double()


def _inputs(name: str, model: torch.nn.Module) -> torch.Tensor:
    info = zoo.model_info(name)
    io = info.io or zoo.task_info(info.task).io
    return make_input(io.inputs[0], dict(model.zoo_args), seed=7, dtype=torch.float64)


def _run(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    model.train()
    with torch.no_grad():
        y_train = model(x)
    model.eval()
    with torch.no_grad():
        y_eval = model(x)
    return y_train, y_eval


def save(folder: Path, pattern: str) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {}
    for name in zoo.list_models(pattern):
        model = _build(name)
        x = _inputs(name, model)
        save_file(
            {k: v.contiguous() for k, v in model.state_dict().items()}, folder / f"{name}.state.safetensors"
        )
        y_train, y_eval = _run(model, x)
        save_file(
            {"x": x.contiguous(), "y_train": y_train.contiguous(), "y_eval": y_eval.contiguous()},
            folder / f"{name}.io.safetensors",
        )
        manifest[name] = {"params": sum(p.numel() for p in model.parameters()), "config": model.zoo_args}
        print(f"saved {name}", flush=True)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str))
    return 0


def check(folder: Path, pattern: str, renames: dict[str, str]) -> int:
    manifest = json.loads((folder / "manifest.json").read_text())
    bad = 0
    for old, entry in manifest.items():
        name = renames.get(old, old)
        if not (fnmatch.fnmatchcase(old, pattern) or fnmatch.fnmatchcase(name, pattern)):
            continue
        try:
            model = _build(name)
            state = load_file(folder / f"{old}.state.safetensors")
            model.load_state_dict(state, strict=True)
            io = load_file(folder / f"{old}.io.safetensors")
            y_train, y_eval = _run(model, io["x"])
            params = sum(p.numel() for p in model.parameters())
            problems = []
            if params != entry["params"]:
                problems.append(f"parameters {params} != {entry['params']}")
            if not torch.equal(y_train, io["y_train"]):
                problems.append(
                    f"train-mode output differs (max {float((y_train - io['y_train']).abs().max()):.3g})"
                )
            if not torch.equal(y_eval, io["y_eval"]):
                problems.append(
                    f"eval-mode output differs (max {float((y_eval - io['y_eval']).abs().max()):.3g})"
                )
        except Exception as exc:  # a refactor may break anything: report it per model
            problems = [f"{type(exc).__name__}: {exc}"]
        if problems:
            bad += 1
            print(f"DIFF {old} -> {name}: " + "; ".join(problems), flush=True)
        else:
            print(f"same {old}" + (f" -> {name}" if name != old else ""), flush=True)
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("save", "check"))
    p.add_argument("folder", type=Path)
    p.add_argument("--pattern", default="*")
    p.add_argument("--rename", nargs="*", default=[], metavar="OLD=NEW")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.action == "save":
        return save(args.folder, args.pattern)
    return check(args.folder, args.pattern, dict(r.split("=", 1) for r in args.rename))


if __name__ == "__main__":
    sys.exit(main())
