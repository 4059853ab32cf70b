"""Demo weights: train the small DPCNN on scikit-learn digits and write its card.

    python plugins/dpcnn/scripts/make_digits_card.py --out plugins/dpcnn/zoo_dpcnn/weights/dpcnn_digits.digits_t4
    python plugins/dpcnn/scripts/make_digits_card.py --remeasure   # re-measure the published weights' card

1. trains ``dpcnn_digits`` (16C3-AP2-32C3-AP2-FC10, PCNN neurons with inter-channel coupling, RFTD-BN, T=4)
   with zoo-core's training loop (the same as ``python tools/train.py dpcnn_digits ...``: AdamW, cosine
   schedule, cross-entropy, learning rule ``bptt`` = STBP with the atan surrogate);
2. for comparison trains the same network with the same recipe and seed with intra-channel coupling, with no
   coupling, with zoo-core's LIF neuron instead of the PCNN, and with LIF neurons in a network twice as wide
   (32C3-AP2-64C3-AP2-FC10, the paper's "widening" alternative); ``--no-ablation`` skips these. Their test
   accuracies are recorded beside the card's model (``<variant>_accuracy``; those weights are not kept), with
   the neuron and synapse counts of each network in the notes;
3. writes the inter-coupled model as a weight folder with ``zoo_core.sdk.write_demo_card``: accuracy and profile
   (firing rate, SOPs including the coupling SOPs, MACs) measured in float64 on the test split, so
   ``zoo eval dpcnn_digits.digits_t4 --pretrained`` reproduces them on any CPU; adds the section on what follows
   the paper to the card and prints the metrics and sha256 to register.

``--remeasure`` skips training: it loads the published weights (``dpcnn_digits.digits_t4``, checksum verified),
keeps the training record and the comparison accuracies of the folder's ``config.json`` and rewrites the card
measured in float64; the weight file stays byte for byte the same.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

import torch
import zoo_core as zoo
from zoo_core.sdk import TrainConfig, evaluate, read_config, train, write_demo_card

from zoo_dpcnn.counting import count_neurons, count_synapses

SCRIPT = "plugins/dpcnn/scripts/make_digits_card.py"
DATASET = "digits"
FLOAT64 = "measured in float64"
LEARNING_RULE = "bptt (STBP: backpropagation through time with the atan surrogate, alpha 2)"

#: the card's network (``inter``) and the comparisons: overrides of ``dpcnn_digits``
VARIANTS: dict[str, dict[str, Any]] = {
    "inter": {},
    "intra": {"coupling": "intra"},
    "none": {"coupling": "none"},
    "lif": {"neuron": "lif", "coupling": "none"},
    "lif_wide": {"neuron": "lif", "coupling": "none", "cfg": [32, "A", 64, "A"]},
}

CARD_NOTE = """## What follows the paper and what is our reading

No official code exists and the paper body was not available (see plugins/dpcnn/README.md).

- From the paper (abstract): PCNN neurons (feeding, linking, dynamic threshold) replace LIF neurons in a deep
  SNN; inter-channel coupling lets neurons of different feature maps interact; RFTD-BN exists. Training by STBP
  is from a third-party summary.
- From the classical PCNN: the neuron equations (leaky feeding and linking, U = F (1 + beta L), strict U > E,
  additive threshold jump, no membrane reset, coupling through the previous step's spikes).
- Our reading: all constants (a_F = a_L = a_E = 0.5, V_L = V_E = 1, beta = 0.5, E[0] = 1, V_F = 0), the learnable
  3x3 inter-channel kernel with PyTorch's default initialisation, the atan surrogate, RFTD-BN as per-time-step
  batch normalisation, this small 16C3-AP2-32C3-AP2-FC10 network, T = 4 and the training recipe.
- The LIF rows use zoo-core's `lif` (tau 2, hard reset) in the same network and, for `lif_wide`, in a network
  with twice the channels (the widening alternative the paper compares against).
"""


def notes(accuracies: dict[str, float], T: int, how: str) -> str:
    """The card's notes: what the demo is, and every variant's accuracy, neurons per step and synaptic weights
    (counted from the architecture: the same for any weights)."""
    x = torch.rand(1, 1, 8, 8)
    rows = []
    for name, acc in accuracies.items():
        m = zoo.create_model("dpcnn_digits", T=T, **VARIANTS[name])
        rows.append(f"{name}: {acc:.4f}, {count_neurons(m, x)['total']}, {count_synapses(m)['total']}")
    return (
        "A CPU demo, not a paper setting: the paper trains VGG9 on MNIST/F-MNIST/CIFAR-10/N-MNIST. PCNN constants "
        "and RFTD-BN are the plugin's documented reading (plugins/dpcnn/README.md), not the paper's values. Same "
        "network, recipe and seed with other neurons (test accuracy, neurons per step, synaptic weights): "
        f"{'; '.join(rows)}. The comparison accuracies are {how}; those weights are not published."
    )


def add_card_note(folder: str | Path) -> None:
    """Insert :data:`CARD_NOTE` before the card's citation."""
    readme = Path(folder) / "README.md"
    text = readme.read_text()
    readme.write_text(text.replace("## Citation", CARD_NOTE + "\n## Citation", 1))


def remeasure(out: str) -> None:
    """Rewrite the card of the published weights measured in float64, with the recorded training facts."""
    old = read_config(out)
    model = zoo.create_model(f"{old['model']}.{old['tag']}", pretrained=True)
    rec = old["training"]
    command = shlex.split(rec["command"])  # python SCRIPT ARGS...
    metrics = {k: v for k, v in old["metrics"].items() if k != "accuracy"}
    # the comparison models are not stored: their accuracies stay as recorded, and so does how they were measured
    how = (
        FLOAT64 if FLOAT64 in rec.get("notes", "") else "measured in float32 when these weights were trained"
    )
    test = zoo.create_dataset(DATASET, split="test", seed=rec["seed"])
    accuracies = {"inter": evaluate(model, test, progress=False, dtype="float64")["accuracy"]}
    accuracies.update({k.removesuffix("_accuracy"): v for k, v in metrics.items()})
    facts = {k: rec[k] for k in ("seed", "learning_rule", "optimizer", "seconds", "epochs") if k in rec}
    card = {"metrics": metrics, "notes": notes(accuracies, old["args"]["T"], how)}
    write_demo_card(
        model, out, tag=old["tag"], dataset=DATASET, script=command[1], argv=command[2:], **facts, **card
    )
    add_card_note(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="plugins/dpcnn/zoo_dpcnn/weights/dpcnn_digits.digits_t4")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--no-ablation", action="store_true")
    p.add_argument("--remeasure", action="store_true", help="re-measure the published weights (no training)")
    args = p.parse_args(argv)

    torch.set_num_threads(1)
    if args.remeasure:
        remeasure(args.out)
        return 0
    test = zoo.create_dataset(DATASET, split="test", seed=args.seed)
    runs: dict[str, dict[str, Any]] = {}
    for name, kw in VARIANTS.items():
        if args.no_ablation and name != "inter":
            continue
        cfg = TrainConfig(
            model="dpcnn_digits",
            dataset=DATASET,
            learning_rule="bptt",
            model_kwargs={"T": args.T, **kw},
            epochs=args.epochs,
            lr=args.lr,
            weight_decay=args.weight_decay,
            seed=args.seed,
            verbose=False,
        )
        runs[name] = train(cfg, return_model=True)
        print(name, f"{runs[name]['seconds']:.1f} s", flush=True)
    accuracies = {
        name: evaluate(r["model"], test, progress=False, dtype="float64")["accuracy"]
        for name, r in runs.items()
    }
    write_demo_card(
        runs["inter"]["model"],
        args.out,
        tag=f"digits_t{args.T}",
        dataset=DATASET,
        seed=args.seed,
        learning_rule=LEARNING_RULE,
        optimizer=f"AdamW lr={args.lr} weight_decay={args.weight_decay}, cosine schedule, batch 64",
        seconds=runs["inter"]["seconds"],
        epochs=args.epochs,
        metrics={f"{k}_accuracy": v for k, v in accuracies.items() if k != "inter"},
        notes=notes(accuracies, args.T, FLOAT64),
        script=SCRIPT,
        argv=argv,
    )
    add_card_note(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
