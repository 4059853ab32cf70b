"""Training-free conversion of a random timm ResNet-18: relative error to the ANN's logits as T grows.

    python plugins/parallel_conversion/scripts/t_curve.py

Setup (float64, no download): ``timm.create_model("resnet18", pretrained=False, num_classes=10)`` (seed 0),
calibration data 4 batches of 8 uniform-random 3x32x32 images (seed 1), evaluation on 4 more such images;
error = ||SNN(x) - ANN(x)|| / ||ANN(x)|| (Frobenius norm over the logits). Two settings: the official
procedure (``min_threshold=None``) and ``min_threshold=1e-3``.
"""

from __future__ import annotations

import torch


def main() -> int:
    import timm
    import zoo_core as zoo

    torch.set_num_threads(1)
    torch.manual_seed(0)
    ann = timm.create_model("resnet18", pretrained=False, num_classes=10).double().eval()
    g = torch.Generator().manual_seed(1)
    calib = [torch.rand(8, 3, 32, 32, generator=g, dtype=torch.float64) for _ in range(4)]
    x = torch.rand(4, 3, 32, 32, generator=g, dtype=torch.float64)
    with torch.no_grad():
        ref = ann(x)
    print(
        "| T | relative error, official (min_threshold=None) | relative error, min_threshold=1e-3 | dead channels (official) |"
    )
    print("|---|---|---|---|")
    for T in (2, 4, 8, 16, 32, 64):
        row = []
        for mt in (None, 1e-3):
            rule = zoo.create_learning_rule("parallel_conversion", T=T, min_threshold=mt)
            snn = rule.convert(ann, calibration=calib)
            with torch.no_grad():
                row.append(float((snn(x) - ref).norm() / ref.norm()))
            if mt is None:
                dead = sum(s.get("nonpositive_thresholds", 0) for s in rule.record["sites"])
        print(f"| {T} | {row[0]:.4f} | {row[1]:.4f} | {dead} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
