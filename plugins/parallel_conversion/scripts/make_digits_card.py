"""Demo weights: train the QCFS CNN on digits, convert it with parallel conversion, write the SNN's card.

    python plugins/parallel_conversion/scripts/make_digits_card.py --out model_cards/qcfs_cnn_digits_parallel.digits_t4

1. trains ``qcfs_cnn_digits`` (the QCFS ANN, n = T = 4 levels) with zoo-core's training loop (the same as
   ``python tools/train.py qcfs_cnn_digits ...``: AdamW, cosine schedule, cross-entropy, learning rule ``bptt``,
   which for an ANN is plain backpropagation with QCFS's straight-through floor);
2. converts it with ``zoo.create_learning_rule("parallel_conversion")`` (T = n = 4: lossless) and, for
   comparison, with the sequential IF baseline;
3. measures the test accuracy of the ANN, the parallel SNN and the IF SNN, the largest logit difference
   between ANN and SNN, and the SNN's spike statistics;
4. writes the SNN (mode="parallel") as a weight folder with its card; prints the sha256 to register.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time

import torch
from torch.utils.data import DataLoader


def evaluate(model: torch.nn.Module, data) -> tuple[float, torch.Tensor]:
    model.eval()
    correct, logits = 0, []
    with torch.no_grad():
        for x, y in DataLoader(data, batch_size=512):
            out = model(x)
            logits.append(out)
            correct += int((out.argmax(-1) == y).sum())
    return correct / len(data), torch.cat(logits)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="model_cards/qcfs_cnn_digits_parallel.digits_t4")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--T", type=int, default=4)
    args = p.parse_args(argv)

    import zoo_core as zoo
    from zoo_core import save_pretrained
    from zoo_core.sdk import TrainConfig, train

    torch.set_num_threads(1)
    cfg = TrainConfig(
        model="qcfs_cnn_digits",
        dataset="digits",
        learning_rule="bptt",
        model_kwargs={"T": args.T},
        epochs=args.epochs,
        lr=args.lr,
        weight_decay=args.weight_decay,
        seed=args.seed,
    )
    result = train(cfg, return_model=True)
    ann = result["model"].eval()
    test = zoo.create_dataset("digits", split="test", seed=args.seed)

    t0 = time.perf_counter()
    rule = zoo.create_learning_rule("parallel_conversion")  # T = the ANN's levels
    snn = rule.convert(ann)
    convert_s = time.perf_counter() - t0
    snn_if = zoo.create_learning_rule("parallel_conversion", neuron="if").convert(ann)

    ann_acc, ann_logits = evaluate(ann, test)
    snn_acc, snn_logits = evaluate(snn, test)
    if_acc, if_logits = evaluate(snn_if, test)
    diff = float((snn_logits - ann_logits).abs().max())
    diff_if = float((if_logits - ann_logits).abs().max())
    ann64, snn64 = ann.double(), zoo.create_learning_rule("parallel_conversion").convert(ann.double())
    x64 = torch.stack([test[i][0] for i in range(len(test))]).double()
    with torch.no_grad():
        diff64 = float((snn64(x64) - ann64(x64)).abs().max())
    ann.float()
    # graded spikes (amplitude theta) counted as events, as for a deployment with theta folded into the weights
    x_test = torch.stack([test[i][0] for i in range(len(test))])
    prof = zoo.profile(snn, x_test, spikes="events").summary()

    command = "python plugins/parallel_conversion/scripts/make_digits_card.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    training = {
        "command": command,
        "dataset": "digits",
        "split": "scikit-learn's 8x8 handwritten digits, [1,8,8] in [0,1], 10 classes (offline); "
        f"stratified 80/20 train/test split, seed {args.seed}",
        "seed": args.seed,
        "learning_rule": f"ANN: bptt (backprop through QCFS, straight-through floor), then parallel_conversion "
        f"(T = n = {args.T}, theta = lambda, rho = 1/2, no calibration)",
        "epochs": args.epochs,
        "optimizer": f"AdamW lr={args.lr} weight_decay={args.weight_decay}, cosine schedule, batch 64",
        "eval_split": "test",
        "dataset_name": "scikit-learn 8x8 digits",
        "seconds": round(result["seconds"] + convert_s, 1),
        "notes": (
            f"These are the weights of the parallel SNN (mode='parallel', T={args.T}); ann_accuracy is its source "
            f"QCFS ANN, if_accuracy the same ANN converted to sequential IF neurons (the classic conversion). "
            f"Max |logit difference| SNN vs ANN on the test set: {diff:.2g} in float32, {diff64:.2g} in float64 "
            f"(lossless); sequential IF vs ANN: {diff_if:.2g}. Spikes carry amplitude theta; the profile counts "
            "SOPs as for a deployment with the amplitudes folded into the next layer (zoo.profile(..., "
            f"spikes='events')). Conversion took {convert_s:.3f} s."
        ),
    }
    metrics = {
        "accuracy": snn_acc,
        "snn_accuracy": snn_acc,
        "ann_accuracy": ann_acc,
        "if_accuracy": if_acc,
        "max_abs_logit_diff_snn_ann": diff,
    }
    folder = save_pretrained(
        snn,
        args.out,
        tag=f"digits_t{args.T}",
        extra_config={"metrics": metrics, "training": training, "profile": prof},
    )
    cfgj = json.loads((folder / "config.json").read_text())
    print(
        json.dumps(
            {"metrics": metrics, "profile": prof, "sha256": cfgj["files"], "float64_diff": diff64}, indent=1
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
