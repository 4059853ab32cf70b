"""Demo weights: train the QCFS CNN on digits, convert it with parallel conversion, write the SNN's card.

    python plugins/parallel_conversion/scripts/make_digits_card.py --out plugins/parallel_conversion/zoo_parallel_conversion/weights/qcfs_cnn_digits_parallel.digits_t4

1. trains ``qcfs_cnn_digits`` (the QCFS ANN, n = T = 4 levels) with zoo-core's training loop (the same as
   ``python tools/train.py qcfs_cnn_digits ...``: AdamW, cosine schedule, cross-entropy, learning rule ``bptt``,
   which for an ANN is plain backpropagation with QCFS's straight-through floor);
2. converts it with ``zoo.create_learning_rule("parallel_conversion")`` (T = n = 4: lossless) into the model
   ``qcfs_cnn_digits_parallel`` (the same class in ``mode="parallel"``) and, for comparison, with the
   sequential IF baseline;
3. writes the SNN's weight folder with ``zoo_core.sdk.write_demo_card``, which measures its test accuracy and
   spike profile in float64 (the neurons' graded spikes of amplitude theta counted as events by default); beside
   it, also in float64: the accuracy of the source ANN and of the IF SNN, and the largest logit difference
   between the SNN and the ANN; prints the metrics and the sha256 to register in ``plugin.py``.

``--remeasure`` skips the training: it loads the published weights ``qcfs_cnn_digits_parallel.digits_t4``,
recovers their source ANN exactly (the same weights, each QCFS clip = its parallel neuron's threshold, which
the conversion sets to the clip) and writes the folder ``--out`` again with the training record of its current
card; the weights file stays byte for byte the same.
"""

from __future__ import annotations

import argparse
import time

import torch


def source_ann(snn: torch.nn.Module) -> torch.nn.Module:
    """The QCFS ANN ``qcfs_cnn_digits`` a parallel SNN was converted from: its weights and, as each QCFS clip,
    the threshold of the parallel neuron in its place (the conversion sets theta = lambda)."""
    import zoo_core as zoo
    from zoo_core.sdk import ConfigError, find_qcfs

    ann = zoo.create_model("qcfs_cnn_digits", **{**snn.zoo_args, "mode": "ann"})
    sites = find_qcfs(ann)
    neurons = tuple(f"{s.name}." for s in sites)
    weights = {k: v for k, v in snn.state_dict().items() if not k.startswith(neurons)}
    missing, unexpected = ann.load_state_dict(weights, strict=False)
    if sorted(missing) != sorted(f"{s.name}.up" for s in sites) or unexpected:
        raise ConfigError(
            f"not the parallel SNN of qcfs_cnn_digits: missing {missing}, unexpected {unexpected}"
        )
    with torch.no_grad():
        for s in sites:
            s.threshold.fill_(snn.get_submodule(s.name).v_threshold)
    return ann.eval()


def compare(
    ann: torch.nn.Module, snn: torch.nn.Module, seed: int
) -> tuple[dict[str, float], dict[str, float]]:
    """The metrics measured beside the SNN, in float64 (the metrics and the differences for the notes)."""
    import zoo_core as zoo
    from zoo_core.sdk import cast_model, evaluate

    test = zoo.create_dataset("digits", split="test", seed=seed)
    snn_if = zoo.create_learning_rule("parallel_conversion", neuron="if").convert(ann)
    x = torch.stack([test[i][0] for i in range(len(test))]).double()
    with torch.no_grad():
        ann_logits = cast_model(ann, "float64").eval()(x)
        diff = float((cast_model(snn, "float64").eval()(x) - ann_logits).abs().max())
        diff_if = float((cast_model(snn_if, "float64").eval()(x) - ann_logits).abs().max())
    metrics = {
        "ann_accuracy": evaluate(ann, test, progress=False, dtype="float64")["accuracy"],
        "if_accuracy": evaluate(snn_if, test, progress=False, dtype="float64")["accuracy"],
        "max_abs_logit_diff_snn_ann": diff,
    }
    return metrics, {"if": diff_if}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--out",
        default="plugins/parallel_conversion/zoo_parallel_conversion/weights/qcfs_cnn_digits_parallel.digits_t4",
    )
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--T", type=int, default=4)
    p.add_argument(
        "--remeasure", action="store_true", help="measure the published weights again (no training)"
    )
    args = p.parse_args(argv)

    import zoo_core as zoo
    from zoo_core.sdk import TrainConfig, read_config, resolve_source, train, write_demo_card

    torch.set_num_threads(1)
    tag = f"digits_t{args.T}"
    record: dict = {}
    if args.remeasure:
        snn = zoo.create_model(f"qcfs_cnn_digits_parallel.{tag}", pretrained=True)  # sha256 verified
        ann = source_ann(snn)
        weights = zoo.model_info("qcfs_cnn_digits_parallel").weights[tag]
        record = read_config(resolve_source(weights.source, weights.revision))["training"]
        seconds, convert_s = record["seconds"], None
    else:
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
        t0 = time.perf_counter()
        converted = zoo.create_learning_rule("parallel_conversion").convert(ann)  # T = the ANN's levels
        convert_s = time.perf_counter() - t0
        snn = zoo.create_model("qcfs_cnn_digits_parallel", T=args.T)
        snn.load_state_dict(converted.state_dict())  # thresholds restored from the neurons' buffers
        snn.eval()
        seconds = result["seconds"] + convert_s
    metrics, diffs = compare(ann, snn, args.seed)
    notes = (
        f"These are the weights of the parallel SNN (mode='parallel', T={args.T}); ann_accuracy is its source QCFS "
        "ANN (qcfs_cnn_digits), if_accuracy the same ANN converted to sequential IF neurons (the classic "
        "conversion). All measured in float64: max |logit difference| SNN vs ANN on the test set "
        f"{metrics['max_abs_logit_diff_snn_ann']:.2g} (lossless up to rounding), sequential IF vs ANN "
        f"{diffs['if']:.2g}. Spikes carry amplitude theta; the profile counts SOPs as for a deployment with the "
        "amplitudes folded into the next layer (the neurons declare graded spikes; zoo eval counts them so)."
        + (f" Conversion took {convert_s:.3f} s." if convert_s is not None else "")
    )
    write_demo_card(
        snn,
        args.out,
        tag=tag,
        dataset="digits",
        seed=args.seed,
        learning_rule=record.get("learning_rule")
        or "ANN: bptt (backprop through QCFS, straight-through floor), then parallel_conversion "
        f"(T = n = {args.T}, theta = lambda, rho = 1/2, no calibration)",
        epochs=record.get("epochs", args.epochs),
        optimizer=record.get("optimizer")
        or f"AdamW lr={args.lr} weight_decay={args.weight_decay}, cosine schedule, batch 64",
        seconds=seconds,
        metrics=metrics,
        notes=notes,
        script="plugins/parallel_conversion/scripts/make_digits_card.py",
        argv=["--out", args.out] if args.remeasure else argv,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
