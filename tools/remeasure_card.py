"""Re-measure a published weight set's card in float64, keeping its weights byte for byte.

    python tools/remeasure_card.py spiking_cnn.digits_t4 [--spikes auto|binary|events] [--per-step]

Loads ``NAME.TAG`` (checksum verified), evaluates it the way its task does (``zoo eval``) in float64 on the data
the card names, and rewrites the folder's ``config.json`` and ``README.md`` with the new metrics (and profile,
for tasks that report one) and an ``evaluation`` record (precision and the ``zoo eval`` command that reproduces
the numbers on any CPU); classifiers' profiles are measured in the default ``zoo`` energy convention and, beside
it, in every convention registered for the model (a paper's own, ``zoo list --energy``). Every other field (training record, baselines, notes) is kept. The weights file is
rewritten from the same tensors, so its bytes and sha256 do not change; the tool checks that and stops if not.
Prints the metrics to register in the plugin's ``WeightInfo``.
"""

from __future__ import annotations

import argparse
import json
import sys

import zoo_core as zoo
from zoo_core.hub import WEIGHTS_NAME, read_config, resolve_source, sha256_file
from zoo_core.profiling import conventions_for
from zoo_core.tasks.base import CARD_DTYPE, card_evaluation
from zoo_core.tasks.classification import card_profile

#: config.json fields that save_pretrained derives from the model itself
DERIVED = {
    "format",
    "zoo_core_version",
    "model",
    "tag",
    "plugin",
    "task",
    "args",
    "num_classes",
    "preprocessing",
}
DERIVED |= {"parameters", "files"}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME.TAG")
    p.add_argument(
        "--spikes",
        choices=("auto", "binary", "events"),
        default="auto",
        help="how the profile tells spikes from analog values (default: auto, the neurons' declared kinds)",
    )
    p.add_argument(
        "--per-step",
        action="store_true",
        help="classifiers: also record the accuracy after 1..T time steps (default: if the card records it)",
    )
    args = p.parse_args(argv)
    base, tag = zoo.split_tag(args.name)
    info = zoo.model_info(base)
    if tag not in info.weights:
        raise SystemExit(f"{args.name}: not a published weight set ({', '.join(info.weight_tags) or 'none'})")
    w = info.weights[tag]
    folder = resolve_source(w.source, w.revision)
    cfg = read_config(folder)
    sha = sha256_file(folder / WEIGHTS_NAME)
    spikes = args.spikes
    model = zoo.create_model(args.name, pretrained=True)
    task = zoo.get_task(info.task)
    _, data = task.eval_data(model, dataset=None, split="test", weights=w, weights_config=cfg)
    per_step = args.per_step or "per_step_accuracy" in cfg
    options = {"per_step": True} if per_step else {}
    if task.reports_energy:
        options.update(spikes=spikes, also_energy=conventions_for(base))
    report = task.evaluate(model, data, progress=False, dtype=CARD_DTYPE, **options)
    extra = {k: v for k, v in cfg.items() if k not in DERIVED}
    extra["metrics"] = {**cfg.get("metrics", {}), **report["metrics"]}
    if "profile" in cfg:
        extra["profile"] = card_profile(report)
    if per_step:
        extra["per_step_accuracy"] = report["per_step_accuracy"]
    extra["evaluation"] = card_evaluation(model, tag, spikes)
    zoo.save_pretrained(model, folder, tag=tag, extra_config=extra)
    if sha256_file(folder / WEIGHTS_NAME) != sha:
        raise SystemExit(f"{folder / WEIGHTS_NAME}: the weights' bytes changed; restore the file from git")
    print(json.dumps({"metrics": extra["metrics"], "sha256": sha}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
