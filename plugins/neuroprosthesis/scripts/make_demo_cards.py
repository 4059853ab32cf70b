"""Train the plugin's demo weights with ``zoo train`` and write their card folders.

    OMP_NUM_THREADS=1 .venv/bin/python plugins/neuroprosthesis/scripts/make_demo_cards.py [off_cnn] [sid]

``off_cnn``: ``retina_off_cnn`` (the Zheng et al. 2021 CNN for two simulated OFF cells) on ``retina_white_noise``
with the official OFF-cell recipe's loss, regularisers and optimiser (Poisson loss, Adam lr 1e-3) but batch 256
and early stopping on a 10 % validation split (min_delta 1e-4, patience 10) instead of on the training loss: the
20,000 training windows of this data set (the official simulation has 250,000) overfit under the official
batch 4096 / 1000 epochs / training-loss stopping (test CC vs true rate 0.81 after 1000 epochs). About a minute.

``sid``: ``sid_decoder_digits`` (the Spike-Image Decoder at the demo size: 90 cells -> 32x32) on ``digits_spikes``
with the official recipe: Adam lr 1e-3, batch 10, MSE on the output image, 300 epochs (the official 10 x 30).
About 15 minutes on one core.

Each card's metrics are measured in float64 by the task (``zoo eval NAME.TAG --pretrained`` reproduces them) next
to the baselines; the script prints the sha256 and metrics to paste into ``DEMO_WEIGHTS`` in
``zoo_neuroprosthesis/plugin.py``. The pictures: ``scripts/plot_demos.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
WEIGHTS = "plugins/neuroprosthesis/zoo_neuroprosthesis/weights"

DEMOS = {
    "off_cnn": (
        "retina_off_cnn",
        "white_noise_t20",
        [
            "--dataset",
            "retina_white_noise",
            "--epochs",
            "200",
            "--batch-size",
            "256",
            "--lr",
            "1e-3",
            "--rule-kwargs",
            json.dumps(
                {
                    "val_split": 0.1,
                    "early_stopping": {"monitor": "val_loss", "min_delta": 1e-4, "patience": 10},
                },
                separators=(",", ":"),
            ),
        ],
    ),
    "sid": (
        "sid_decoder_digits",
        "digits_spikes_90",
        ["--dataset", "digits_spikes", "--epochs", "300", "--batch-size", "10", "--lr", "1e-3"],
    ),
}


def main() -> int:
    zoo = str(Path(sys.executable).with_name("zoo"))
    for key in sys.argv[1:] or list(DEMOS):
        name, tag, args = DEMOS[key]
        out = f"{WEIGHTS}/{name}.{tag}"
        cmd = [zoo, "train", name, *args, "--seed", "0", "--out", out, "--tag", tag]
        subprocess.run(cmd, cwd=ROOT, check=True)
        cfg = json.loads((ROOT / out / "config.json").read_text())
        print(
            json.dumps(
                {"name": name, "tag": tag, "sha256": cfg["files"], "metrics": cfg["metrics"]}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
