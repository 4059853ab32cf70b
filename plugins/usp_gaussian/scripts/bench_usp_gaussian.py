"""Benchmark the pure-torch tile rasteriser against the naive per-pixel loop.

    OMP_NUM_THREADS=1 .venv/bin/python plugins/usp_gaussian/scripts/bench_usp_gaussian.py [--json FILE] [--quick]

For each (image size, Gaussian count): a random scene seen by one camera; the time per view of the reference
rasteriser's forward pass and of its forward + backward pass (the gradient of the image's sum reaching every
Gaussian parameter), and of the per-pixel loop (forward only: the CUDA kernel's rules, one pixel and one Gaussian
at a time in Python). Reported as ratios (loop / reference), which travel between machines better than seconds;
the seconds are printed too. Process CPU time, best of a few repeats.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from zoo_usp_gaussian.scene import look_at
from zoo_usp_gaussian.splat import Camera, GaussianScene, rasterize_loop, spherical_harmonics


def _setup(size: int, n: int) -> tuple[GaussianScene, Camera, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    scene = GaussianScene(torch.rand(n, 3, generator=g) - 0.5, sh_degree=0, generator=g)
    with torch.no_grad():
        scene.opacities.uniform_(-1, 3, generator=g)
    f = 0.5 * size / 0.364
    cam = Camera(fx=f, fy=f, cx=size / 2, cy=size / 2, width=size, height=size)
    return scene, cam, look_at(torch.tensor([0.0, 0.5, 2.6]), torch.zeros(3))


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", default=None)
    ap.add_argument("--quick", action="store_true", help="the two smallest settings only")
    args = ap.parse_args()
    torch.set_num_threads(1)
    settings = [(16, 100), (32, 300), (32, 1000), (64, 1000), (64, 3000)]
    if args.quick:
        settings = settings[:2]
    rows = []
    print(
        f"{'size':>6}{'gauss':>7}{'fwd s':>10}{'fwd+bwd s':>11}{'loop s':>9}{'loop/fwd':>10}{'loop/fwd+bwd':>14}"
    )
    for size, n in settings:
        scene, cam, c2w = _setup(size, n)

        def fwd(scene=scene, cam=cam, c2w=c2w) -> None:
            with torch.no_grad():
                scene.render(c2w, cam, (0.0, 0.0, 0.0))

        def fwd_bwd(scene=scene, cam=cam, c2w=c2w) -> None:
            scene.zero_grad(set_to_none=True)
            scene.render(c2w, cam, (0.0, 0.0, 0.0))[0].sum().backward()

        t_f, t_fb = _best(fwd, 3), _best(fwd_bwd, 3)
        with torch.no_grad():
            _, _, proj = scene.render(c2w, cam, (0.0, 0.0, 0.0))
            colors = torch.clamp(spherical_harmonics(0, scene.means, scene.features_dc[:, None]) + 0.5, min=0)
            opac = torch.sigmoid(scene.opacities) * proj.compensation[:, None]
        bg = torch.zeros(3)
        t_loop = _best(lambda p=proj, c=colors, o=opac, s=size, b=bg: rasterize_loop(p, c, o, s, s, b), 1)
        row = {"size": size, "gaussians": n, "forward_s": t_f, "forward_backward_s": t_fb, "loop_s": t_loop,
               "loop_over_forward": t_loop / t_f, "loop_over_forward_backward": t_loop / t_fb}  # fmt: skip
        rows.append(row)
        print(
            f"{size:>6}{n:>7}{t_f:>10.4f}{t_fb:>11.4f}{t_loop:>9.2f}{t_loop / t_f:>10.1f}{t_loop / t_fb:>14.1f}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
