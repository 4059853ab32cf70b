"""Demo card of ``lmht_cnn_digits.digits_t2``: measure a trained weight folder in float64 and write its card.

The weights are trained by the core's trainer (``bptt`` rule, the command recorded in the folder)::

    python tools/train.py lmht_cnn_digits --dataset digits --epochs 20 --lr 5e-3 --weight-decay 5e-4 \\
        --seed 0 --tag digits_t2 --out plugins/lmht/zoo_lmht/weights/lmht_cnn_digits.digits_t2
    python plugins/lmht/scripts/make_digits_card.py plugins/lmht/zoo_lmht/weights/lmht_cnn_digits.digits_t2

This script loads the folder's weights (``model.safetensors`` is rewritten with the same bytes), measures on
the test split of the folder's data set, in float64 (:func:`zoo_core.sdk.write_demo_card`): the LM-HT model's
accuracy and profile, and ``reparam_accuracy``, the accuracy of the reparameterised single-threshold model
(:func:`zoo_lmht.reparam.reparameterize` of the float64 model, ``L * T`` binary-spike steps). The training record
(command, seed, optimiser, time) is copied from the folder's ``config.json``. It prints the ``metrics`` and
``sha256`` that ``zoo_lmht.plugin.DIGITS_WEIGHTS`` registers.
"""

from __future__ import annotations

import argparse
import shlex

import torch

import zoo_core as zoo
from zoo_core.sdk import cast_model, evaluate, read_config, write_demo_card


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", nargs="?", default="plugins/lmht/zoo_lmht/weights/lmht_cnn_digits.digits_t2")
    args = p.parse_args(argv)

    from zoo_lmht.neurons import LMHTNeuron
    from zoo_lmht.reparam import reparameterize

    torch.set_num_threads(1)
    cfg = read_config(args.folder)
    training = cfg["training"]
    model = zoo.load_pretrained(cfg["model"], args.folder).eval()
    test = zoo.create_dataset(training["dataset"], split="test", seed=training["seed"])

    double = cast_model(model, "float64")
    single = reparameterize(double)  # the reparameterisation of the float64 model: L*T binary-spike steps
    reparam_accuracy = evaluate(single, test, progress=False, dtype="float64")["accuracy"]
    x = torch.stack([a for a, _ in test]).double()
    with torch.no_grad():
        gap = (double.forward_steps(x).sum(0) - single.forward_steps(x).sum(0)).abs().max().item()
    leaks = [round(m.alpha.item(), 2) for m in model.modules() if isinstance(m, LMHTNeuron)]
    L, T = model.L, model.T
    notes = (
        f"L = {L} threshold levels, T = {T} steps (graded spikes k*theta, k = 0..{L}, theta = 2/L = {2 / L:g}); "
        f"baselines of the same cost run L*T = {L * T} steps. The profile counts MACs, not SOPs: graded spikes "
        f"(values 2 theta) are not binary. Reparameterised single-threshold model "
        f"(zoo_lmht.reparam.reparameterize, {L * T} binary-spike steps, float64): test accuracy "
        f"{reparam_accuracy:.4f} (metric reparam_accuracy); max |sum over steps of the logits - the LM-HT "
        f"model's| = {gap:.2g}. Learned leak logits alpha (lambda = sigmoid(alpha) + 0.5): {leaks}."
    )
    command = shlex.split(training["command"])  # python tools/train.py ARGS...
    write_demo_card(
        model,
        args.folder,
        tag=cfg["tag"],
        dataset=training["dataset"],
        seed=training["seed"],
        learning_rule=training["learning_rule"],
        optimizer=training["optimizer"],
        seconds=training["seconds"],
        epochs=training.get("epochs"),
        metrics={"reparam_accuracy": reparam_accuracy},
        notes=notes,
        split=training["split"],
        script=command[1],
        argv=command[2:],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
