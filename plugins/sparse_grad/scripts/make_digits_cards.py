"""Demo weights: the digits MLP SNN trained without (lambda = 0) and with SR (lambda = 0.01), and their cards.

    python plugins/sparse_grad/scripts/make_digits_cards.py            # writes both cards into zoo_sparse_grad/weights/
    python plugins/sparse_grad/scripts/make_digits_cards.py --remeasure  # measure the published weights again

Recipe (the official ``train_reg`` loop on a small problem): scikit-learn digits scaled to [0, 1], stratified
70/30 split (random_state 0; data set ``digits_70_30``); model ``sparse_grad_mlp_digits`` (normalise
(x-0.5)/0.5, T = 4, Linear(64,256) -> BN1d -> IF (zif) -> Linear(256,10), mean over T); learning rule
``sparse_grad`` (h = 0.01, both forwards in train mode for every lambda, as the official code); SGD lr 0.05,
momentum 0.9, weight decay 5e-4, cosine annealing over 30 epochs (stepped per epoch), batch 32, seed 0.

Each card is written by ``zoo_core.sdk.write_demo_card``, which measures the clean test accuracy and the spike
profile in float64. Beside them, also in float64 on the 540 test images: FGSM and PGD-10 (step eps/4, random
start, seed 0) at eps 0.05 and 0.1 with the training gradient (bptt:zif:1), and the four-setting ensemble
(``val_ensemble``). Prints the metrics and the sha256 of each weight file to record in ``plugin.py``.

``--remeasure`` skips the training: it loads the published weights (checksums verified) and writes their
folders again with the training record of their current cards; the weight files stay byte for byte the same.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from torch.utils.data import DataLoader, TensorDataset

CARDS = {"digits_t4": 0.0, "digits_t4_sr": 0.01}
EPSILONS = (0.05, 0.1)
NOTES = (
    "Robust accuracies, measured in float64: FGSM and PGD-10 (step eps/4, random start, seed {seed}) in "
    "L-infinity on [0,1] inputs, eps in pixel units, attacks use the training gradient (bptt:zif:1), one batch of "
    "all 540 test images (the random start is drawn per batch); *_ensemble keys count a sample only if it "
    "survives the attack under all four gradient settings (bptt:zif:1, bptt:sig:4, bptt:atan:2, bptr:zif:1), as "
    "the official val_ensemble."
)


def train_one(lamb: float, args: argparse.Namespace) -> tuple[torch.nn.Module, float]:
    import zoo_core as zoo

    torch.manual_seed(args.seed)
    model = zoo.create_model("sparse_grad_mlp_digits", T=args.T)
    rule = zoo.create_learning_rule("sparse_grad", lamb=lamb, h=args.h)
    train = zoo.create_dataset("digits_70_30", split="train", seed=args.seed)
    loader = DataLoader(
        train, batch_size=args.batch_size, shuffle=True, generator=torch.Generator().manual_seed(args.seed)
    )
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        logs = [rule.training_step(model, batch, opt) for batch in loader]
        sched.step()
        if args.verbose:
            ce = sum(r["ce"] for r in logs) / len(logs)
            reg = sum(r["reg"] for r in logs) / len(logs)
            print(f"lambda={lamb} epoch {epoch + 1}: ce {ce:.4f} reg {reg:.2f}", file=sys.stderr)
    return model.eval(), time.perf_counter() - t0


def robust_metrics(model: torch.nn.Module, seed: int) -> dict[str, float]:
    """FGSM / PGD-10 robust accuracies at each eps, single gradient and ensemble, in float64."""
    import zoo_core as zoo
    from zoo_core.sdk import cast_model, robust_accuracy

    test = zoo.create_dataset("digits_70_30", split="test", seed=seed)
    x = torch.stack([test[i][0] for i in range(len(test))]).double()
    y = torch.tensor([test[i][1] for i in range(len(test))])
    data = DataLoader(TensorDataset(x, y), batch_size=len(test))  # one batch: one PGD random start
    model = cast_model(model, "float64")
    out: dict[str, float] = {}
    for eps in EPSILONS:
        for attack in ("fgsm", "pgd"):
            kw = (
                {"steps": 10, "step_size": eps / 4, "random_start": True, "seed": seed}
                if attack == "pgd"
                else {}
            )
            key = f"{attack}{'10' if attack == 'pgd' else ''}_eps{eps:g}"
            out[key] = robust_accuracy(model, data, attack, eps, **kw)["robust_accuracy"]
            e = robust_accuracy(model, data, attack, eps, settings=model.gradient_settings(), **kw)
            out[f"{key}_ensemble"] = e["robust_accuracy"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", default="plugins/sparse_grad/zoo_sparse_grad/weights")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--h", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--verbose", action="store_true")
    p.add_argument(
        "--remeasure", action="store_true", help="measure the published weights again (no training)"
    )
    args = p.parse_args(argv)

    import zoo_core as zoo
    from zoo_core.sdk import read_config, resolve_source, write_demo_card

    torch.set_num_threads(1)
    for tag, lamb in CARDS.items():
        record: dict = {}
        if args.remeasure:
            model = zoo.create_model(f"sparse_grad_mlp_digits.{tag}", pretrained=True).eval()
            weights = zoo.model_info("sparse_grad_mlp_digits").weights[tag]
            record = read_config(resolve_source(weights.source, weights.revision))["training"]
            seconds = record["seconds"]
        else:
            model, seconds = train_one(lamb, args)
        write_demo_card(
            model,
            f"{args.out_dir}/sparse_grad_mlp_digits.{tag}",
            tag=tag,
            dataset="digits_70_30",
            seed=args.seed,
            learning_rule=record.get("learning_rule")
            or f"sparse_grad (lamb={lamb}, h={args.h}; "
            + ("undefended baseline" if lamb == 0 else "sparse-gradient regularisation")
            + ", both forwards in train mode as the official train_reg)",
            epochs=record.get("epochs", args.epochs),
            optimizer=record.get("optimizer")
            or f"SGD lr={args.lr} momentum=0.9 weight_decay={args.weight_decay}, cosine annealing over "
            f"{args.epochs} epochs, batch {args.batch_size}",
            seconds=seconds,
            metrics=robust_metrics(model, args.seed),
            notes=NOTES.format(seed=args.seed),
            split=record.get("split"),
            script="plugins/sparse_grad/scripts/make_digits_cards.py",
            argv=[] if args.remeasure else argv,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
