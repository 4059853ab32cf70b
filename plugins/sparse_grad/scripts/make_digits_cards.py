"""Demo weights of spec h.6: the digits MLP SNN trained without (lambda = 0) and with SR (lambda = 0.01).

    python plugins/sparse_grad/scripts/make_digits_cards.py            # writes both cards under model_cards/

Recipe (spec h.6, the official ``train_reg`` loop): scikit-learn digits scaled to [0, 1], stratified 70/30
split (random_state 0; data set ``digits_70_30``); model ``sparse_grad_mlp_digits`` (normalise (x-0.5)/0.5, T = 4,
Linear(64,256) -> BN1d -> IF (zif) -> Linear(256,10), mean over T); learning rule ``sparse_grad`` (h = 0.01,
both forwards in train mode for every lambda, as the official code); SGD lr 0.05, momentum 0.9, weight decay 5e-4,
cosine annealing over 30 epochs (stepped per epoch), batch 32, seed 0. Evaluation on the 540 test images: clean,
FGSM and PGD-10 (step eps/4, random start, seed 0) at eps 0.05 and 0.1 with the training gradient (bptt:zif:1),
and the four-setting ensemble (``val_ensemble``). Prints the sha256 of each weight file to record in plugin.py.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

import torch
from torch.utils.data import DataLoader

CARDS = {"digits_t4": 0.0, "digits_t4_sr": 0.01}
EPSILONS = (0.05, 0.1)


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


def metrics_of(model: torch.nn.Module, seed: int) -> dict[str, float]:
    import zoo_core as zoo
    from zoo_core.sdk import robust_accuracy

    test = zoo.create_dataset("digits_70_30", split="test", seed=seed)
    out: dict[str, float] = {}
    for eps in EPSILONS:
        for attack in ("fgsm", "pgd"):
            kw = (
                {"steps": 10, "step_size": eps / 4, "random_start": True, "seed": seed}
                if attack == "pgd"
                else {}
            )
            r = robust_accuracy(model, test, attack, eps, batch_size=540, **kw)
            out["accuracy"] = r["clean_accuracy"]
            key = f"{attack}{'10' if attack == 'pgd' else ''}_eps{eps:g}"
            out[key] = r["robust_accuracy"]
            e = robust_accuracy(
                model, test, attack, eps, batch_size=540, settings=model.gradient_settings(), **kw
            )
            out[f"{key}_ensemble"] = e["robust_accuracy"]
    return {"accuracy": out.pop("accuracy"), **out}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", default="model_cards")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--h", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)

    from zoo_core import save_pretrained

    torch.set_num_threads(1)
    command = " ".join(
        ["python plugins/sparse_grad/scripts/make_digits_cards.py"]
        + [shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])]
    )
    summary = {}
    for tag, lamb in CARDS.items():
        model, seconds = train_one(lamb, args)
        metrics = metrics_of(model, args.seed)
        training = {
            "command": command,
            "dataset": "digits_70_30",
            "split": "scikit-learn's 8x8 digits, [1,8,8] in [0,1]; stratified 70/30 train/test split, "
            f"random_state {args.seed} (1,257 train / 540 test)",
            "seed": args.seed,
            "learning_rule": f"sparse_grad (lamb={lamb}, h={args.h}; "
            + ("undefended baseline" if lamb == 0 else "sparse-gradient regularisation")
            + ", both forwards in train mode as the official train_reg)",
            "epochs": args.epochs,
            "optimizer": f"SGD lr={args.lr} momentum=0.9 weight_decay={args.weight_decay}, cosine annealing "
            f"over {args.epochs} epochs, batch {args.batch_size}",
            "eval_split": "test",
            "dataset_name": "scikit-learn 8x8 digits (70/30)",
            "seconds": round(seconds, 1),
            "notes": "Robust accuracies: FGSM and PGD-10 (step eps/4, random start, seed "
            f"{args.seed}) in L-infinity on [0,1] inputs, eps in pixel units, attacks use the training gradient "
            "(bptt:zif:1), one batch of all 540 test images (the random start is drawn per batch); *_ensemble keys count a sample only if it survives the attack under all four "
            "gradient settings (bptt:zif:1, bptt:sig:4, bptt:atan:2, bptr:zif:1), as the official val_ensemble.",
        }
        folder = save_pretrained(
            model,
            f"{args.out_dir}/sparse_grad_mlp_digits.{tag}",
            tag=tag,
            extra_config={"metrics": metrics, "training": training},
        )
        cfg = json.loads((folder / "config.json").read_text())
        summary[tag] = {"metrics": metrics, "sha256": cfg["files"]["model.safetensors"], "seconds": seconds}
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
