"""Does the contrastive projector beat the baseline OOD scores? The demo recipe over several seeds, and a figure.

    HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 .venv/bin/python plugins/copylens/scripts/ood_report.py [--seeds 5]

Trains ``copylens_probe_minilm_stdlib`` on ``stdlib_docstrings`` with the demo recipe (the one in
``make_demo_card.py``) for seeds 0..N-1 and prints, per seed and as mean +- sample std, the test accuracy and the
AUROC of each OOD score (the contrastive projector's and the baselines: maximum softmax probability, energy, max
cosine of the LSTM feature to the class prototypes), all measured in float64. Then draws
``plugins/copylens/figures/demo_ood.png`` for the shipped demo weights: ROC curves of the four scores and the
contrastive score's histogram for in-distribution and OOD test texts with the stored threshold. Needs the ``demo``
and ``figures`` extras. About 40 s per seed on one CPU thread.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
import zoo_core as zoo
from zoo_core.sdk import TrainConfig

NAME = "copylens_probe_minilm_stdlib"
FIGURE = Path(__file__).resolve().parents[1] / "figures" / "demo_ood.png"
SCORES = ["contrastive", "msp", "energy", "head_prototype"]
KEYS = ["accuracy", "auroc", "auroc_msp", "auroc_energy", "auroc_head_prototype"]


def seeds_table(n: int) -> None:
    task = zoo.get_task("text-attribution")
    rows = []
    for seed in range(n):
        cfg = TrainConfig(
            model=NAME,
            dataset="stdlib_docstrings",
            epochs=15,
            batch_size=32,
            lr=1e-3,
            seed=seed,
            verbose=False,
        )
        rows.append({k: task.train(cfg)["metrics"][k] for k in KEYS})
        print(f"seed {seed}: " + ", ".join(f"{k} {rows[-1][k]:.4f}" for k in KEYS), flush=True)
    print("\n| seed | " + " | ".join(KEYS) + " |\n|---|" + "---|" * len(KEYS))
    for seed, r in enumerate(rows):
        print(f"| {seed} | " + " | ".join(f"{r[k]:.4f}" for k in KEYS) + " |")
    means = {k: statistics.mean(r[k] for r in rows) for k in KEYS}
    stds = {k: statistics.stdev(r[k] for r in rows) if n > 1 else 0.0 for k in KEYS}
    print("| mean +- std | " + " | ".join(f"{means[k]:.4f} +- {stds[k]:.4f}" for k in KEYS) + " |")
    wins = sum(r["auroc"] > max(r[k] for k in KEYS[2:]) for r in rows)
    print(f"\ncontrastive AUROC above every baseline in {wins} of {n} seeds")


def roc(pos: torch.Tensor, neg: torch.Tensor) -> tuple[list[float], list[float]]:
    """FPR and TPR at every threshold (scores >= t are called in distribution)."""
    ts = torch.cat([torch.tensor([float("inf")]), torch.sort(torch.cat([pos, neg]), descending=True).values])
    return [float((neg >= t).double().mean()) for t in ts], [float((pos >= t).double().mean()) for t in ts]


def figure() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = zoo.create_model(f"{NAME}.stdlib_docstrings", pretrained=True).double().eval()
    test = zoo.create_dataset("stdlib_docstrings", split="test")
    with torch.no_grad():
        s_id = model.scores(*model.extract(test.texts, 64, torch.float64))
        s_ood = model.scores(*model.extract(test.ood_texts, 64, torch.float64))
    from zoo_copylens.probe import auroc

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4.2))
    for s in SCORES:
        fpr, tpr = roc(s_id[s], s_ood[s])
        a.plot(
            fpr, tpr, label=f"{s} (AUROC {auroc(s_id[s], s_ood[s]):.3f})", lw=1.6 if s == "contrastive" else 1
        )
    a.plot([0, 1], [0, 1], "k:", lw=0.8)
    a.set(xlabel="false-positive rate (OOD texts kept)", ylabel="true-positive rate (sub-dataset texts kept)",
          title="OOD detection, demo probe (float64)")  # fmt: skip
    a.legend(fontsize=8, loc="lower right")
    both = torch.cat([s_id["contrastive"], s_ood["contrastive"]])
    bins = torch.linspace(float(both.min()), float(both.max()), 31).tolist()
    b.hist(s_id["contrastive"].tolist(), bins=bins, alpha=0.6, label="sub-datasets (test, 144)")
    b.hist(s_ood["contrastive"].tolist(), bins=bins, alpha=0.6, label="logging + argparse (OOD, 159)")
    b.axvline(float(model.ood_threshold), color="k", ls="--", lw=1, label="stored threshold (95 % train TPR)")
    b.set(xlabel="contrastive score max_k cos(e, mu_k)", ylabel="texts", title="contrastive OOD score")
    b.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    FIGURE.parent.mkdir(exist_ok=True)
    fig.savefig(FIGURE, dpi=110)
    print(f"wrote {FIGURE}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--figure-only", action="store_true")
    args = p.parse_args()
    if not args.figure_only:
        seeds_table(args.seeds)
    figure()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
