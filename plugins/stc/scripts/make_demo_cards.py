"""Train the two demo predictors (STC-LIF and the LIF baseline) on Moving digits and write their card folders.

    OMP_NUM_THREADS=1 .venv/bin/python plugins/stc/scripts/make_demo_cards.py [CELL ...]

Each runs ``zoo train spiking_predictor_<cell>_mdigits`` (the command is recorded in the card; the card's metrics
are measured in float64 with the evaluation block ``zoo eval`` reproduces), then prints the sha256 and metrics to
paste into ``DEMO_WEIGHTS`` in ``zoo_stc/plugin.py``. The ``mdigits`` models' defaults are the demo size: 32x32
canvas, 16-px digits (8x8 x 2), 5 -> 5 frames, patch 2, 2 x 16 channels (one per group). Recipe: Adam lr 1e-3,
batch 8, 400 steps, no scheduled sampling (own predictions always fed, as the official test protocol), seed 0.
Single thread: a few minutes per model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TAG = "moving_digits_5to5"
RULE_KWARGS = {"sampling_start_value": 0.0}
STEPS = 400


def main() -> int:
    zoo = str(Path(sys.executable).with_name("zoo"))
    for cell in sys.argv[1:] or ["stc_lif", "stc_baseline_lif"]:
        name = f"spiking_predictor_{cell}_mdigits"
        out = f"plugins/stc/zoo_stc/weights/{name}.{TAG}"
        cmd = [
            zoo, "train", name, "--dataset", "moving_digits",
            "--rule-kwargs", json.dumps(RULE_KWARGS, separators=(",", ":")),
            "--epochs", "1", "--batch-size", "8", "--lr", "1e-3", "--max-steps", str(STEPS),
            "--seed", "0", "--out", out, "--tag", TAG,
        ]  # fmt: skip
        subprocess.run(cmd, cwd=ROOT, check=True)
        cfg = json.loads((ROOT / out / "config.json").read_text())
        print(json.dumps({"name": name, "sha256": cfg["files"], "metrics": cfg["metrics"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
