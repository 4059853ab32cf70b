"""``zoo robust-eval``: clean and adversarial (FGSM / PGD) accuracy of a classifier.

Importing this module registers the command. Like the rest of the CLI, torch and the registries load only when
the command runs. The model's task runs the attack (classifiers: :mod:`zoo_core.tasks.attacks`).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from fractions import Fraction

from .base import EXIT_OK, CLIError, Command, add_dtype_argument, command, precision, weights_card


def parse_budget(text: str) -> float:
    """A budget in pixel units: a number (``0.03``) or a fraction (``8/255``)."""
    try:
        value = float(Fraction(text.strip())) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a number or fraction like 8/255: {text!r}") from None
    return value


def _check_args(args: argparse.Namespace) -> None:
    if not math.isfinite(args.eps) or not 0.0 <= args.eps <= 1.0:
        raise CLIError(
            f"--eps must be in [0, 1] (L-infinity budget in pixel units of images in [0, 1], e.g. 8/255), "
            f"got {args.eps}"
        )
    if args.steps < 1:
        raise CLIError(f"--steps must be >= 1, got {args.steps}")
    if args.step_size is not None and (not math.isfinite(args.step_size) or args.step_size < 0):
        raise CLIError(f"--step-size must be a finite number >= 0, got {args.step_size}")
    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.limit is not None and args.limit < 1:
        raise CLIError(f"--limit must be >= 1, got {args.limit}")


@command
class RobustEvalCommand(Command):
    """Clean and robust accuracy of a classifier under an L-infinity FGSM or PGD attack on [0, 1] inputs.

    NAME.TAG loads that weight set (checksum verified); a NAME without a tag is evaluated with fresh weights
    unless --weights gives a folder. --eps is in pixel units (0.1, or a fraction: 8/255). PGD uses --steps
    iterations of --step-size (default eps/4) from a random start in the ball (--no-random-start: from the
    image). --ensemble attacks once per gradient setting the model offers (the SNN models of sparse_grad:
    bptt:zif:1, bptt:sig:4, bptt:atan:2, bptr:zif:1) and counts a sample only if it survives all of them.
    """

    name = "robust-eval"
    help = "clean and adversarial (FGSM/PGD) accuracy of a classifier"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", metavar="NAME[.TAG]", help="model, with a weight tag to load its weights")
        parser.add_argument("--attack", required=True, choices=("fgsm", "pgd"), help="the attack")
        parser.add_argument(
            "--eps", required=True, type=parse_budget, help="L-infinity budget in [0, 1], e.g. 0.1 or 8/255"
        )
        parser.add_argument("--steps", type=int, default=10, help="PGD iterations (default 10)")
        parser.add_argument(
            "--step-size", type=parse_budget, default=None, help="PGD step in pixel units (default eps/4)"
        )
        parser.add_argument(
            "--random-start",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="PGD starts from a uniform random point of the eps ball (default: yes)",
        )
        parser.add_argument(
            "--ensemble",
            action="store_true",
            help="attack under every gradient setting the model offers; robust only if all fail",
        )
        parser.add_argument("--weights", metavar="FOLDER", help="load a local weight folder instead")
        parser.add_argument(
            "--dataset",
            default=None,
            help="a registered data set (zoo info NAME), 'digits', or a folder of images (one sub-folder per "
            "class); default: the weights' data set, else digits",
        )
        parser.add_argument("--split", default="test", help="data split (default: test)")
        parser.add_argument("--limit", type=int, default=None, help="evaluate the first N samples only")
        parser.add_argument("--batch-size", type=int, default=256)
        parser.add_argument("--seed", type=int, default=0, help="seed of PGD's random start (default 0)")
        add_dtype_argument(parser, "attack")
        parser.add_argument("--json", action="store_true", help="print the results as JSON")

    def run(self, args: argparse.Namespace) -> int:
        _check_args(args)
        from torch.utils.data import Subset  # lazy: zoo --help stays torch-free

        from ..api import (  # lazy: zoo --help stays torch-free
            create_model,
            get_task,
            load_pretrained,
            model_info,
            split_tag,
        )

        base, tag = split_tag(args.name)
        info = model_info(base)
        task = get_task(info.task)
        if args.weights:
            model = load_pretrained(None, args.weights)
        else:
            if tag is None:
                print(
                    f"zoo: note: {base} without a weight tag: attacking freshly initialised weights",
                    file=sys.stderr,
                )
            model = create_model(args.name, pretrained=tag is not None)
        weights = info.weights.get(tag) if tag else None
        dtype = precision(args.dtype, weights_card(args.weights, weights))
        dataset, data = task.eval_data(model, dataset=args.dataset, split=args.split, weights=weights)
        if args.limit is not None:
            data = Subset(data, range(min(args.limit, len(data))))  # type: ignore[arg-type]
        report = task.robust_eval(
            model,
            data,
            attack=args.attack,
            eps=args.eps,
            steps=args.steps,
            step_size=args.step_size,
            random_start=args.random_start,
            ensemble=args.ensemble,
            batch_size=args.batch_size,
            seed=args.seed,
            progress=not args.json,
            dtype=dtype,
        )
        report = {"model": args.name, "dataset": dataset, "split": args.split, **report}
        if args.json:
            print(json.dumps(report, indent=2))
            return EXIT_OK
        what = args.attack.upper()
        if args.attack == "pgd":
            start = "random start" if args.random_start else "no random start"
            what += f"-{args.steps} (step {report['step_size']:.4g}, {start}, seed {args.seed})"
        print(
            f"{args.name} on {dataset} ({args.split}, {report['samples']} samples), {what}, eps {args.eps:.4g}"
        )
        print(f"  {'clean accuracy':<22}{report['clean_accuracy']:.4f}")
        label = "robust accuracy" + (" (all)" if args.ensemble else "")
        print(f"  {label:<22}{report['robust_accuracy']:.4f}")
        for s, acc in report["per_setting"].items():
            print(f"    {s:<20}{acc:.4f}")
        if dtype:
            print(f"  attacked in {dtype}")
        return EXIT_OK
