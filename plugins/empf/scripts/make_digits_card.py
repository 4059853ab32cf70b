"""Demo weights: train ``empf_digits`` online (EM-PF rule) on 8x8 digits and write its card.

    python plugins/empf/scripts/make_digits_card.py --out model_cards/empf_digits.digits_t4

Recipe (spec h.8): scikit-learn digits in [-1, 1] (the model maps [0, 1] pixels inside), stratified 70/30
train/test split (random_state 0), T = 4 (static image repeated), SGD lr 0.05, momentum 0.9, Nesterov, weight
decay 5e-4, cosine schedule over 30 epochs (stepped per epoch), batch 64, seed 0; evaluation = argmax of the
summed (here: mean) logits over the T steps.

1. trains with ``empf_online`` (forward, loss, backward and an optimiser step at every time step);
2. trains a second model from the same initialisation with ``empf_online(opt_backprop=True)`` (one random step
   per batch back-propagated; the steps before it forwarded under no_grad), for comparison;
3. writes the online-trained model as the card (``--out``) and prints its sha256 for the plugin's WeightInfo.
"""

from __future__ import annotations

import argparse
import copy
import json
import shlex
import sys
import time

import torch
from torch.utils.data import DataLoader


def train(model: torch.nn.Module, rule, data, epochs: int, lr: float, wd: float, seed: int) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    loader = DataLoader(data, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(seed))
    t0 = time.perf_counter()
    for epoch in range(epochs):
        losses = [rule.training_step(model, batch, opt)["loss"] for batch in loader]
        sched.step()
        print(f"epoch {epoch + 1}/{epochs}: loss {sum(losses) / len(losses):.4f}", flush=True)
    return time.perf_counter() - t0


@torch.no_grad()
def accuracy(model: torch.nn.Module, data) -> float:
    model.eval()
    x = torch.stack([data[i][0] for i in range(len(data))])
    y = torch.tensor([int(data[i][1]) for i in range(len(data))])
    return float((model(x).argmax(-1) == y).double().mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="model_cards/empf_digits.digits_t4")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--test-fraction", type=float, default=0.3, help="0.3 = the spec's 70/30 split")
    p.add_argument("--skip-random", action="store_true", help="do not train the random-backprop comparison")
    args = p.parse_args(argv)

    import zoo_core as zoo
    from zoo_core import save_pretrained

    torch.set_num_threads(1)
    train_set = zoo.create_dataset("digits", split="train", test_fraction=args.test_fraction, seed=args.seed)
    test_set = zoo.create_dataset("digits", split="test", test_fraction=args.test_fraction, seed=args.seed)
    torch.manual_seed(args.seed)
    model = zoo.create_model("empf_digits", T=args.T)
    init = copy.deepcopy(model.state_dict())

    secs = train(model, zoo.create_learning_rule("empf_online"), train_set, args.epochs, args.lr,
                 args.weight_decay, args.seed)  # fmt: skip
    acc = accuracy(model, test_set)
    print(f"online rule: test accuracy {acc:.4f} ({secs:.0f} s)", flush=True)
    metrics = {"accuracy": acc}
    notes = f"Online rule (T optimiser steps per batch): {acc:.4f} test accuracy."
    if not args.skip_random:
        other = zoo.create_model("empf_digits", T=args.T)
        other.load_state_dict(init)
        rule = zoo.create_learning_rule("empf_online", opt_backprop=True, seed=args.seed)
        secs_r = train(other, rule, train_set, args.epochs, args.lr, args.weight_decay, args.seed)
        acc_r = accuracy(other, test_set)
        print(f"random single-step back-prop: test accuracy {acc_r:.4f} ({secs_r:.0f} s)", flush=True)
        metrics["random_backprop_accuracy"] = acc_r
        notes += (
            f" The same initialisation trained with random single-step back-propagation (empf_online, "
            f"opt_backprop=True: one optimiser step per batch) reaches {acc_r:.4f} (not these weights)."
        )
    command = "python plugins/empf/scripts/make_digits_card.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    training = {
        "command": command,
        "dataset": "digits",
        "split": "scikit-learn's 8x8 handwritten digits, [1,8,8] in [0,1] (mapped to [-1,1] inside the model), "
        f"10 classes (offline); stratified {100 - round(100 * args.test_fraction)}/{round(100 * args.test_fraction)} "
        f"train/test split, seed {args.seed}",
        "seed": args.seed,
        "learning_rule": "empf_online (per time step: forward, CE on the step's logits, backward, optimiser step)",
        "epochs": args.epochs,
        "optimizer": f"SGD lr={args.lr} momentum=0.9 nesterov weight_decay={args.weight_decay}, cosine schedule "
        "per epoch, batch 64",
        "eval_split": "test",
        "dataset_name": "scikit-learn 8x8 digits",
        "seconds": round(secs, 1),
        "notes": notes + " Evaluation: argmax of the mean logits over T = 4 steps (static image repeated).",
    }
    folder = save_pretrained(
        model, args.out, tag=f"digits_t{args.T}", extra_config={"metrics": metrics, "training": training}
    )
    cfg = json.loads((folder / "config.json").read_text())
    print(json.dumps({"metrics": metrics, "sha256": cfg["files"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
