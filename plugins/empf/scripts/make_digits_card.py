"""Demo weights: train ``empf_digits`` online (EM-PF rule) on 8x8 digits and write its card.

    python plugins/empf/scripts/make_digits_card.py --out plugins/empf/zoo_empf/weights/empf_digits.digits_t4
    python plugins/empf/scripts/make_digits_card.py --remeasure   # re-measure the published weights' card

Recipe: scikit-learn digits (the core's ``digits_70_30``: stratified 70/30 train/test split, seed 0; the model
maps the [0, 1] pixels to [-1, 1] inside), T = 4 (static image repeated), SGD lr 0.05, momentum 0.9, Nesterov,
weight decay 5e-4, cosine schedule over 30 epochs (stepped per epoch), batch 64, seed 0; evaluation = argmax of
the mean logits over the T steps.

1. trains with ``empf_online`` (forward, loss, backward and an optimiser step at every time step);
2. trains a second model from the same initialisation with ``empf_online(opt_backprop=True)`` (one random step
   per batch back-propagated; the steps before it forwarded under no_grad) for comparison: its test accuracy
   is recorded beside the card's model as ``random_backprop_accuracy`` (those weights are not kept);
3. writes the online-trained model as the card (``--out``) with ``zoo_core.sdk.write_demo_card``: accuracy and
   profile measured in float64, so ``zoo eval empf_digits.digits_t4 --pretrained`` reproduces them on any CPU;
   prints the metrics and sha256 for the plugin's ``WeightInfo``.

``--remeasure`` skips training: it loads the published weights (``empf_digits.digits_t4``, checksum verified),
keeps the training record and the comparison accuracy of the folder's ``config.json`` and rewrites the card
measured in float64; the weight file stays byte for byte the same.
"""

from __future__ import annotations

import argparse
import copy
import shlex
import time
from pathlib import Path

import torch
import zoo_core as zoo
from torch.utils.data import DataLoader
from zoo_core.sdk import evaluate, read_config, write_demo_card

SCRIPT = "plugins/empf/scripts/make_digits_card.py"
DATASET = "digits_70_30"
FLOAT64 = "measured in float64"
LEARNING_RULE = "empf_online (per time step: forward, CE on the step's logits, backward, optimiser step)"


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


def notes(random_backprop: float | None, how: str) -> str:
    """The card's notes: the rule, the comparison beside the model (``how`` it was measured), the readout."""
    text = "Online rule (T optimiser steps per batch)."
    if random_backprop is not None:
        text += (
            " The same initialisation trained with random single-step back-propagation (empf_online, "
            f"opt_backprop=True: one optimiser step per batch) reaches {random_backprop:.4f} test accuracy "
            f"(random_backprop_accuracy; {how}; those weights are not published)."
        )
    return text + " Evaluation: argmax of the mean logits over T = 4 steps (static image repeated)."


def remeasure(out: str) -> None:
    """Rewrite the card of the published weights measured in float64, with the recorded training facts."""
    folder = Path(out)
    old = read_config(folder)
    model = zoo.create_model(f"{old['model']}.{old['tag']}", pretrained=True)
    rec = old["training"]
    command = shlex.split(rec["command"])  # python SCRIPT ARGS...
    other = old["metrics"].get("random_backprop_accuracy")
    # the comparison model is not stored: its accuracy stays as recorded, and so does how it was measured
    how = (
        FLOAT64 if FLOAT64 in rec.get("notes", "") else "measured in float32 when these weights were trained"
    )
    facts = {k: rec[k] for k in ("seed", "learning_rule", "optimizer", "seconds", "epochs") if k in rec}
    card = {
        "metrics": None if other is None else {"random_backprop_accuracy": other},
        "notes": notes(other, how),
    }
    write_demo_card(
        model, folder, tag=old["tag"], dataset=DATASET, script=command[1], argv=command[2:], **facts, **card
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="plugins/empf/zoo_empf/weights/empf_digits.digits_t4")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--skip-random", action="store_true", help="do not train the random-backprop comparison")
    p.add_argument("--remeasure", action="store_true", help="re-measure the published weights (no training)")
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    if args.remeasure:
        remeasure(args.out)
        return 0
    train_set = zoo.create_dataset(DATASET, split="train", seed=args.seed)
    torch.manual_seed(args.seed)
    model = zoo.create_model("empf_digits", T=args.T)
    init = copy.deepcopy(model.state_dict())

    secs = train(model, zoo.create_learning_rule("empf_online"), train_set, args.epochs, args.lr,
                 args.weight_decay, args.seed)  # fmt: skip
    metrics: dict[str, float] = {}
    if not args.skip_random:
        other = zoo.create_model("empf_digits", T=args.T)
        other.load_state_dict(init)
        rule = zoo.create_learning_rule("empf_online", opt_backprop=True, seed=args.seed)
        train(other, rule, train_set, args.epochs, args.lr, args.weight_decay, args.seed)
        test_set = zoo.create_dataset(DATASET, split="test", seed=args.seed)
        metrics["random_backprop_accuracy"] = evaluate(other, test_set, progress=False, dtype="float64")[
            "accuracy"
        ]
    write_demo_card(
        model,
        args.out,
        tag=f"digits_t{args.T}",
        dataset=DATASET,
        seed=args.seed,
        learning_rule=LEARNING_RULE,
        optimizer=f"SGD lr={args.lr} momentum=0.9 nesterov weight_decay={args.weight_decay}, cosine schedule "
        "per epoch, batch 64",
        seconds=secs,
        epochs=args.epochs,
        metrics=metrics,
        notes=notes(metrics.get("random_backprop_accuracy"), FLOAT64),
        script=SCRIPT,
        argv=argv,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
