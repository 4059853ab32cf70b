"""The rasteriser alone: fit 1,000 Gaussians to 8 views of a 300-Gaussian scene at 32x32 with known poses.

    OMP_NUM_THREADS=1 .venv/bin/python plugins/usp_gaussian/scripts/fit_rasteriser.py [--steps 200] [--json FILE]

Ground truth: 300 coloured Gaussians in the unit box, 8 cameras on a 120-degree arc, sharp renders on black. The
model starts from 1,000 random Gaussians in the box and is fitted with L1 and Adam (means 3e-3, quats and scales
1e-2, colour and opacity 5e-2), one random view per step (:func:`zoo_usp_gaussian.joint.rasteriser_fit_check`).
Prints the mean PSNR over the 8 views every 50 steps; a correct rasteriser passes 30 dB by step 200
(``tests/test_splat.py`` asserts it).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from zoo_usp_gaussian.joint import rasteriser_fit_check


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.process_time()
    curve = rasteriser_fit_check(args.steps, seed=args.seed)
    per_step = (time.process_time() - t0) / max(1, args.steps)
    for step, db in curve.items():
        print(f"step {step}: {db:.2f} dB")
    print(f"{per_step:.3f} s CPU per step (scoring included)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"psnr": curve, "cpu_seconds_per_step": per_step}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
