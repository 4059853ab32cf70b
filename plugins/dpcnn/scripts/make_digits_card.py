"""Demo weights: train the small DPCNN on scikit-learn digits and write its card.

    python plugins/dpcnn/scripts/make_digits_card.py --out model_cards/dpcnn_digits.digits_t4

1. trains ``dpcnn_digits`` (16C3-AP2-32C3-AP2-FC10, PCNN neurons with inter-channel coupling, RFTD-BN, T=4)
   with zoo-core's training loop (the same as ``python tools/train.py dpcnn_digits ...``: AdamW, cosine
   schedule, cross-entropy, learning rule ``bptt`` = STBP with the atan surrogate);
2. for comparison trains the same network with the same recipe and seed with intra-channel coupling, with no
   coupling, with zoo-core's LIF neuron instead of the PCNN, and with LIF neurons in a network twice as wide
   (32C3-AP2-64C3-AP2-FC10, the paper's "widening" alternative); ``--no-ablation`` skips these;
3. measures test accuracies, neuron / synapse counts and a ``zoo.profile`` of the card model (firing rate,
   SOPs including the coupling SOPs, MACs);
4. writes the inter-coupled model as a weight folder with its card; prints the sha256 to register.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

import torch

VARIANTS = {
    "inter": {},
    "intra": {"coupling": "intra"},
    "none": {"coupling": "none"},
    "lif": {"neuron": "lif", "coupling": "none"},
    "lif_wide": {"neuron": "lif", "coupling": "none", "channels": [32, 64]},
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


def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(-1) == y).double().mean())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="model_cards/dpcnn_digits.digits_t4")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--T", type=int, default=4)
    p.add_argument("--no-ablation", action="store_true")
    args = p.parse_args(argv)

    import zoo_core as zoo
    from zoo_core import save_pretrained
    from zoo_core.sdk import TrainConfig, train

    from zoo_dpcnn.counting import count_neurons, count_synapses

    torch.set_num_threads(1)
    test = zoo.create_dataset("digits", split="test", seed=args.seed)
    x = torch.stack([test[i][0] for i in range(len(test))])
    y = torch.tensor([test[i][1] for i in range(len(test))])

    results: dict[str, Any] = {}
    models: dict[str, torch.nn.Module] = {}
    for name, kw in VARIANTS.items():
        if args.no_ablation and name != "inter":
            continue
        cfg = TrainConfig(
            model="dpcnn_digits",
            dataset="digits",
            learning_rule="bptt",
            model_kwargs={"T": args.T, **kw},
            epochs=args.epochs,
            lr=args.lr,
            weight_decay=args.weight_decay,
            seed=args.seed,
            verbose=False,
        )
        r = train(cfg, return_model=True)
        m = r["model"].eval()
        models[name] = m
        results[name] = {
            "accuracy": accuracy(m, x, y),
            "seconds": round(r["seconds"], 1),
            "neurons": count_neurons(m, x)["total"],
            "synapses": count_synapses(m)["total"],
        }
        print(name, results[name], flush=True)

    model = models["inter"]
    prof = zoo.profile(model, x[:256])
    profile = {
        "mean_firing_rate": prof.mean_firing_rate,
        "sops": prof.sops,
        "macs": prof.macs,
        "energy_pj": prof.energy_pj,
        "convention": "zoo.profile (per sample, first 256 test images); the PCNN coupling SOPs are counted by "
        "the plugin's counting rule pcnn_coupling",
    }
    command = "python plugins/dpcnn/scripts/make_digits_card.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    ablation = ", ".join(f"{k}: {v['accuracy']:.4f}" for k, v in results.items())
    training = {
        "command": command,
        "dataset": "digits",
        "split": "scikit-learn's 8x8 handwritten digits, [1,8,8] in [0,1], 10 classes (offline); "
        f"stratified 80/20 train/test split, seed {args.seed}",
        "seed": args.seed,
        "learning_rule": "bptt (STBP: backpropagation through time with the atan surrogate, alpha 2)",
        "epochs": args.epochs,
        "optimizer": f"AdamW lr={args.lr} weight_decay={args.weight_decay}, cosine schedule, batch 64",
        "eval_split": "test",
        "dataset_name": "scikit-learn 8x8 digits",
        "seconds": results["inter"]["seconds"],
        "notes": (
            "A CPU demo, not a paper setting: the paper trains VGG9 on MNIST/F-MNIST/CIFAR-10/N-MNIST. PCNN "
            "constants and RFTD-BN are the plugin's documented reading (plugins/dpcnn/README.md), not the "
            "paper's values. Same network, recipe and seed with other neurons (test accuracy): "
            f"{ablation}."
        ),
    }
    metrics = {"accuracy": results["inter"]["accuracy"]}
    for k, v in results.items():
        if k != "inter":
            metrics[f"{k}_accuracy"] = v["accuracy"]
    folder = save_pretrained(
        model,
        args.out,
        tag=f"digits_t{args.T}",
        extra_config={"metrics": metrics, "training": training, "profile": profile, "variants": results},
    )
    readme = folder / "README.md"
    text = readme.read_text()
    readme.write_text(text.replace("## Citation", CARD_NOTE + "\n## Citation", 1))
    cfgj = json.loads((folder / "config.json").read_text())
    print(json.dumps({"metrics": metrics, "profile": profile, "sha256": cfgj["files"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
