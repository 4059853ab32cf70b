"""Measure the demo weights ``spikingresformer_digits.digits_t4`` and (re)write their card, keeping the weights.

    OMP_NUM_THREADS=1 .venv/bin/python tools/train.py spikingresformer_digits --epochs 15 --lr 2e-3 \
        --weight-decay 0.01 --batch-size 64 --seed 0 --out plugins/spikingresformer/zoo_spikingresformer/weights/spikingresformer_digits.digits_t4 \
        --tag digits_t4                                                      # trains (~7.5 min, 1 thread)
    OMP_NUM_THREADS=1 .venv/bin/python plugins/spikingresformer/scripts/measure_demo_card.py

The second step loads the folder's weights and writes its card with :func:`zoo_core.sdk.write_demo_card`:
accuracy and profile measured in float64 on the test split (so ``zoo eval ... --pretrained`` reproduces them on
any CPU), plus the paper's SOP / energy convention (:func:`zoo_spikingresformer.paper_energy`, also in float64),
and the training record of the folder's ``config.json`` (the ``tools/train.py`` command). ``model.safetensors``
is rewritten with the same bytes. It prints the metrics and sha256 to paste into ``DIGITS_T4`` in
``zoo_spikingresformer/plugin.py``.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import torch
import zoo_core as zoo
from torch.utils.data import DataLoader
from zoo_core.sdk import cast_model, read_config, sha256_file, write_demo_card

from zoo_spikingresformer import paper_energy

ROOT = Path(__file__).resolve().parents[3]
NAME, TAG = "spikingresformer_digits", "digits_t4"
NOTES = (
    "the zoo's small SpikingResformer configuration (not an official variant): Conv3x3 stem (1 -> 16) + BN, "
    "planes 16/32/64, one (DSSA, GWFFN) pair per stage, heads 1/2/4, patch sizes 2/2/1 (DSSA lengths 16/4/4), "
    "group size 16, LIF, T=4; 158,064 parameters (155,152 without BatchNorm affine parameters). Inputs: pixel / "
    "16, standardised inside the model with the training split's pixel mean 0.30538339 and std 0.37611917. "
    "paper_sops / paper_energy_pj: the paper's energy convention (SOPs of every conv and attention matmul except "
    "the stem conv prologue.0 and the classifier, E = 0.9 pJ x SOPs; zoo_spikingresformer.paper_energy) per test "
    "image; the profile uses the zoo convention (4.6 pJ x MACs of the analog stem and head + 0.9 pJ x SOPs). "
    "Trained single-process on 1 CPU thread (OMP_NUM_THREADS=1); the metrics and profile were measured in float64 "
    "after training by plugins/spikingresformer/scripts/measure_demo_card.py"
)


@torch.no_grad()
def paper_numbers(
    model: torch.nn.Module, dataset: str, seed: int, dtype: str = "float64"
) -> dict[str, float]:
    """The paper's SOPs and energy per test image, profiled in ``dtype`` on the batches ``zoo eval`` uses."""
    model = cast_model(model, dtype).eval()
    test = zoo.create_dataset(dataset, split="test", seed=seed)
    sums, n = {"sops": 0.0, "energy_pj": 0.0}, 0
    for x, _ in DataLoader(test, batch_size=256):
        p = zoo.profile(model, x.to(getattr(torch, dtype)))
        paper = paper_energy(p)
        for k in sums:
            sums[k] += paper[k] * p.batch_size
        n += p.batch_size
    return {f"paper_{k}": v / n for k, v in sums.items()}


def main() -> int:
    folder = ROOT / "plugins" / "spikingresformer" / "zoo_spikingresformer" / "weights" / f"{NAME}.{TAG}"
    before = sha256_file(folder / "model.safetensors")
    training = read_config(folder)["training"]
    model = zoo.load_pretrained(NAME, folder)
    script, *argv = shlex.split(training["command"])[1:]  # "python tools/train.py ARGS"
    write_demo_card(
        model,
        folder,
        tag=TAG,
        dataset=training["dataset"],
        seed=training["seed"],
        learning_rule=training["learning_rule"],
        optimizer=training["optimizer"],
        seconds=training["seconds"],
        epochs=training.get("epochs"),
        metrics=paper_numbers(model, training["dataset"], training["seed"]),
        notes=NOTES,
        split=training["split"],
        script=script,
        argv=argv,
    )
    after = sha256_file(folder / "model.safetensors")
    if after != before:
        print(f"model.safetensors changed: {before} -> {after}", file=sys.stderr)
        return 1
    print(json.dumps({"sha256 unchanged": after}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
