"""``zoo plot``: pictures of a model or a training run, written as PNG or SVG (:mod:`zoo_core.viz`).

Importing this module registers the command. Like the rest of the CLI, torch, matplotlib and the registries load
only when the command runs; a missing matplotlib is one line naming the extra to install.
"""

from __future__ import annotations

import argparse
from typing import Any

from .base import EXIT_OK, CLIError, Command, command, is_source_name, note, weights_card

#: what each picture is called in the "wrote FILE: ..." line
SHORT = {"raster": "spike raster", "rates": "firing rates", "trace": "membrane trace"}
PICTURES = {
    "raster": "spike raster of one spiking layer for one sample (time step x neuron)",
    "rates": "firing rate of every spiking layer at every time step (heat map)",
    "trace": "membrane potential of one neuron over time, with its threshold and spikes",
    "frames": "example inputs and outputs as the model's task shows them (labels, predicted frames, ...)",
    "curves": "training curves from a run log (JSON lines, CSV, or a run folder)",
}


def _out(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="FILE", help="the picture to write: FILE.png or FILE.svg")
    p.add_argument("--dpi", type=float, default=100, help="pixels per inch of a PNG (default 100)")
    p.add_argument(
        "--title", default=None, help="a heading above the picture (default: the model and sample)"
    )


def _model_arguments(p: argparse.ArgumentParser, count: int | None = None) -> None:
    p.add_argument(
        "name",
        metavar="NAME[.TAG]",
        help="model, with a weight tag to load its weights, or hf://owner/repo[@rev]",
    )
    p.add_argument("--pretrained", action="store_true", help="load the weight set of the tag")
    p.add_argument("--weights", metavar="FOLDER", help="load a local weight folder instead")
    p.add_argument(
        "--dataset",
        default=None,
        help="a registered data set or a folder of images (default: the weights' data set, else the task's)",
    )
    p.add_argument("--split", default="test", help="data split (default: test)")
    p.add_argument(
        "--index", type=int, default=0, help="the (first) sample of the data set to show (default 0)"
    )
    if count is not None:
        p.add_argument("--count", type=int, default=count, help=f"samples from --index (default {count})")
    _out(p)


@command
class PlotCommand(Command):
    """Draw a picture of a model (on samples of its data set) or of a training run, as PNG or SVG.

      zoo plot raster NAME[.TAG] --pretrained --out raster.png [--layer L] [--index I]
      zoo plot rates  NAME[.TAG] --pretrained --out rates.png [--count N]
      zoo plot trace  NAME[.TAG] --pretrained --out trace.png [--layer L] [--neuron K]
      zoo plot frames NAME[.TAG] --pretrained --out frames.png [--count N]
      zoo plot curves LOGFILE --out curves.png

    The samples come from the data set zoo eval would use (--dataset, --split; --index picks the first). A
    spiking layer is a neuron module named by its module path (zoo_core.viz.record); --layer defaults to the
    first that runs. Needs matplotlib: pip install "zoo-core[viz]".
    """

    name = "plot"
    help = "pictures: spike raster, firing rates, membrane trace, example outputs, training curves"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        sub = parser.add_subparsers(
            title="pictures", metavar="PICTURE", dest="picture", required=True, parser_class=type(parser)
        )
        parsers = {
            k: sub.add_parser(
                k, help=v, description=v[0].upper() + v[1:] + ".", formatter_class=parser.formatter_class
            )
            for k, v in PICTURES.items()
        }
        _model_arguments(parsers["raster"])
        parsers["raster"].add_argument("--layer", default=None, help="spiking layer (default: the first)")
        parsers["raster"].add_argument(
            "--max-neurons", type=int, default=256, help="show the layer's first N neurons (default 256)"
        )
        _model_arguments(parsers["rates"], count=1)
        _model_arguments(parsers["trace"])
        parsers["trace"].add_argument("--layer", default=None, help="spiking layer (default: the first)")
        parsers["trace"].add_argument(
            "--neuron",
            type=int,
            default=None,
            help="flattened neuron index (default: the one that fired most)",
        )
        _model_arguments(parsers["frames"])
        parsers["frames"].add_argument(
            "--count",
            type=int,
            default=None,
            help="samples to show (default: the task's, 8 images or 2 videos)",
        )
        parsers["curves"].add_argument(
            "log", metavar="LOGFILE", help="run log (.jsonl, .csv, .json) or run folder"
        )
        parsers["curves"].add_argument(
            "--columns", default=None, help="comma-separated columns to draw (default: every numeric one)"
        )
        _out(parsers["curves"])

    def run(self, args: argparse.Namespace) -> int:
        from .. import viz  # lazy: torch and matplotlib load only when a picture is drawn

        if args.dpi <= 0:
            raise CLIError(f"--dpi must be > 0, got {args.dpi}")
        for opt in ("count", "max_neurons"):
            value = getattr(args, opt, None)
            if value is not None and value < 1:
                raise CLIError(f"--{opt.replace('_', '-')} must be >= 1, got {value}")
        viz.check_path(args.out)
        viz.figure((1, 1))  # matplotlib is there (else one line naming the extra), before any model loads
        if args.picture == "curves":
            columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
            viz.curves(args.log, columns=columns, path=args.out, dpi=args.dpi, title=args.title)
            print(f"wrote {args.out}: training curves of {args.log}")
            return EXIT_OK
        model, dataset, data = _model_and_data(args)
        where = f"{dataset} ({args.split})"
        if not 0 <= args.index < len(data):
            raise CLIError(f"--index {args.index} is out of range: {where} holds {len(data)} samples")
        common: dict[str, Any] = {"path": args.out, "dpi": args.dpi}
        if args.picture == "frames":
            title = args.title or f"{args.name} on {where}"
            viz.examples(model, data, args.count, start=args.index, title=title, **common)
            print(f"wrote {args.out}: examples of {args.name} on {where} from sample {args.index}")
            return EXIT_OK
        count = getattr(args, "count", 1)
        x = _inputs(data, args.index, count)
        what = f"sample {args.index}" if count == 1 else f"samples {args.index}-{args.index + len(x) - 1}"
        title = args.title or f"{args.name} on {where}, {what}"
        if args.picture == "raster":
            viz.raster(model, x, args.layer, max_neurons=args.max_neurons, title=title, **common)
        elif args.picture == "rates":
            viz.firing_rates(model, x, title=title, **common)
        else:
            viz.membrane_trace(model, x, args.layer, args.neuron, title=title, **common)
        print(f"wrote {args.out}: {SHORT[args.picture]} of {args.name}, {what} of {where}")
        return EXIT_OK


def _model_and_data(args: argparse.Namespace) -> tuple[Any, str, Any]:
    """The model (like zoo eval: NAME.TAG --pretrained, --weights FOLDER or a source) and the data to show."""
    from ..api import create_model, get_task, load_pretrained, model_info, split_tag  # lazy: as above
    from ..hub import resolve_source  # lazy: as above

    folder = args.weights
    if is_source_name(args.name):
        if folder:
            raise CLIError(f"{args.name} is already a weight source; drop --weights")
        folder = str(resolve_source(args.name))
    weights = None
    if folder is not None:
        model = load_pretrained(None, folder)
        info = model_info(model.zoo_name)
    else:
        base, tag = split_tag(args.name)
        info = model_info(base)
        if not args.pretrained:
            how = (
                f"add --pretrained to load {args.name}" if tag else "give NAME.TAG --pretrained or --weights"
            )
            note(f"note: plotting freshly initialised (random) weights of {base}; {how}")
        model = create_model(args.name, pretrained=args.pretrained)
        weights = info.weights.get(tag) if args.pretrained and tag else None
    task = get_task(info.task)
    dataset, data = task.eval_data(
        model,
        dataset=args.dataset,
        split=args.split,
        weights=weights,
        weights_config=weights_card(folder, weights),
    )
    return model.eval(), dataset, data


def _inputs(data: Any, index: int, count: int) -> Any:
    """The model input of samples ``index ..`` (at most ``count``): the first item of each ``(input, target)``
    sample, batched the way the data set's loader batches them."""
    from torch.utils.data import DataLoader, Subset  # lazy: as above

    count = min(count, len(data) - index)
    subset = Subset(data, range(index, index + count))
    batch = next(iter(DataLoader(subset, batch_size=count, collate_fn=getattr(data, "collate_fn", None))))
    return batch[0] if isinstance(batch, list | tuple) else batch
