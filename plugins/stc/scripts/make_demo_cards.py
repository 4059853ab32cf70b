"""Train the two demo predictors (STC-LIF and the LIF baseline) on Moving digits and write their card folders.

    OMP_NUM_THREADS=1 .venv/bin/python plugins/stc/scripts/make_demo_cards.py [CELL ...]
    OMP_NUM_THREADS=1 .venv/bin/python plugins/stc/scripts/make_demo_cards.py --compare

Each runs ``zoo train spiking_predictor_<cell>_mdigits`` (the command is recorded in the card; the card's metrics
are measured in float64 with the evaluation block ``zoo eval`` reproduces), then prints the sha256 and metrics to
paste into ``DEMO_WEIGHTS`` in ``zoo_stc/plugin.py``. The ``mdigits`` models' defaults are the demo size: 32x32
canvas, 16-px digits (8x8 x 2), 5 -> 5 frames, patch 2, 2 x 16 channels (one per group). Recipe (the zoo's CPU
setting, not the paper's 500 epochs): Adam lr 2e-3 with a cosine schedule over the 3,750 steps (3 epochs of the
10,000 generated training sequences, batch 8), MSE loss over all next-frame predictions, the official scheduled
sampling with its rate scaled to the short run (eta from 1 down by 5e-4 per step: teacher forcing fades out over
the first 2,000 steps, then the model's own predictions are always fed, as at test time), seed 0. Single thread:
about 15-25 minutes per model; the two cells can run side by side (one process each).

``--compare`` (after both are trained) records each demo's own float64 metrics in the other's card as a baseline
beside it (``lif_*`` in the STC-LIF card, ``stc_lif_*`` in the LIF card, with a training note saying what they are)
and prints the metrics to paste; then re-render the cards with ``tools/render_cards.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TAG = "moving_digits_5to5"
RULE_KWARGS = {"sampling_start_value": 1.0, "sampling_changing_rate": 5e-4}
EPOCHS = 3
LR = "2e-3"


#: cell -> (the prefix its metrics carry in the other demo card, what it is)
PEERS = {
    "stc_lif": ("stc_lif_", "STC-LIF"),
    "stc_baseline_lif": ("lif_", "the LIF baseline"),
}
METRICS = ("mse", "mae", "ssim", "psnr")


def folder(cell: str) -> Path:
    """The demo weight folder of ``cell``."""
    return ROOT / f"plugins/stc/zoo_stc/weights/spiking_predictor_{cell}_mdigits.{TAG}"


def compare() -> None:
    """Record each demo's own metrics in the other demo's card (config.json ``metrics`` and training notes)."""
    cfgs = {cell: json.loads((folder(cell) / "config.json").read_text()) for cell in PEERS}
    for cell, cfg in cfgs.items():
        (peer,) = (c for c in PEERS if c != cell)
        prefix, label = PEERS[peer]
        own = {
            k: v for k, v in cfg["metrics"].items() if not k.startswith(tuple(p for p, _ in PEERS.values()))
        }
        cfg["metrics"] = {**own, **{prefix + m: cfgs[peer]["metrics"][m] for m in METRICS}}
        note = (
            f"; {prefix}* are the same metrics of {label} (spiking_predictor_{peer}_mdigits.{TAG}), trained by the "
            "same command with its cell, on the same test sequences"
        )
        notes = cfg["training"]["notes"].split("; " + prefix)[0]
        cfg["training"]["notes"] = notes + note
    for cell, cfg in cfgs.items():
        (folder(cell) / "config.json").write_text(json.dumps(cfg, indent=2) + "\n")
        print(json.dumps({"cell": cell, "metrics": cfg["metrics"]}, indent=2))


def main() -> int:
    if sys.argv[1:] == ["--compare"]:
        compare()
        return 0
    zoo = str(Path(sys.executable).with_name("zoo"))
    for cell in sys.argv[1:] or ["stc_lif", "stc_baseline_lif"]:
        name = f"spiking_predictor_{cell}_mdigits"
        out = f"plugins/stc/zoo_stc/weights/{name}.{TAG}"
        cmd = [
            zoo, "train", name, "--dataset", "moving_digits",
            "--rule-kwargs", json.dumps(RULE_KWARGS, separators=(",", ":")),
            "--epochs", str(EPOCHS), "--batch-size", "8", "--lr", LR,
            "--seed", "0", "--out", out, "--tag", TAG,
        ]  # fmt: skip
        subprocess.run(cmd, cwd=ROOT, check=True)
        cfg = json.loads((ROOT / out / "config.json").read_text())
        print(json.dumps({"name": name, "sha256": cfg["files"], "metrics": cfg["metrics"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
