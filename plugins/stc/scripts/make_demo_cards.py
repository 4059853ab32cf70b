"""Train the two demo predictors (STC-LIF and LIF) on Moving digits and write their card folders.

    OMP_NUM_THREADS=1 .venv/bin/python plugins/stc/scripts/make_demo_cards.py

Each runs ``zoo train`` (the command is recorded in the card), then prints the sha256 and metrics to paste into
``DEMO_WEIGHTS`` in ``zoo_stc/plugin.py``. Recipe: 32x32 canvas, 16-px digits (8x8 x 2), 5 -> 5 frames, patch 2,
2 x 16 channels (one per group), Adam lr 1e-3, batch 8, 400 steps, no scheduled sampling (own predictions always fed, as the
official test protocol), seed 0. Single thread: a few minutes per model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TAG = "moving_digits_5to5"
MODEL_KWARGS = {"num_hidden": [16, 16], "img_size": 32, "pre_seq_length": 5, "aft_seq_length": 5}
RULE_KWARGS = {"sampling_start_value": 0.0}
STEPS = 400


def main() -> int:
    zoo = str(Path(sys.executable).with_name("zoo"))
    for neuron in sys.argv[1:] or ["stclif", "lif"]:
        name = f"stc_{neuron}_mmnist"
        out = f"model_cards/{name}.{TAG}"
        cmd = [
            zoo, "train", name, "--dataset", "moving_digits",
            "--model-kwargs", json.dumps(MODEL_KWARGS, separators=(",", ":")),
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
