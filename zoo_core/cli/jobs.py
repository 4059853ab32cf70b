"""``zoo`` commands that run models: eval, train, card, push, bench-neuron, convert.

Importing this module registers the commands. What a command does depends on the model's task, so each asks
the task (:mod:`zoo_core.tasks`) rather than branching on it. Nothing heavy is imported until a command runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .base import (
    EXIT_OK,
    CLIError,
    Command,
    add_dtype_argument,
    command,
    is_source_name,
    json_object,
    precision,
    weights_card,
)

DEFAULT_EVAL = "spiking_cnn.digits_t4"


FORCE_HELP = (
    "skip the resource guard, which refuses a run whose dry run on two samples predicts more memory than 80%% of "
    "what is available"
)


@command
class EvalCommand(Command):
    """Evaluate a model the way its task does, and print its report.

    Classifiers (task image-classification): accuracy, mean firing rate, SOPs, MACs and energy per sample,
    throughput. Video predictors (task video-prediction): MSE, MAE, SSIM and PSNR next to the copy-last-frame
    baseline. A plugin's task reports its own metrics (zoo info TASK lists them).

    With no NAME it evaluates the demo weights spiking_cnn.digits_t4 (shipped inside zoo-core, no network).
    Published weights are evaluated in the precision their card records (float64 for the demo cards, so the
    card's numbers are reproduced on any CPU); --dtype overrides it. Energy follows E = 4.6 pJ x MACs +
    0.9 pJ x SOPs (45 nm); SOPs count the exact fan-out of every spike.
    """

    name = "eval"
    help = "evaluate a model the way its task does (classifiers: accuracy, SOPs, energy; predictors: MSE...)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "name",
            nargs="?",
            default=DEFAULT_EVAL,
            metavar="NAME[.TAG]",
            help=f"model, optionally with a weight tag, or a source hf://owner/repo[@rev] (default: {DEFAULT_EVAL} "
            "with --pretrained)",
        )
        parser.add_argument("--pretrained", action="store_true", help="load the weight set of the tag")
        parser.add_argument("--weights", metavar="FOLDER", help="load a local weight folder instead")
        parser.add_argument(
            "--dataset",
            default=None,
            help="a registered data set (zoo info DATASET) or a folder of images (one sub-folder per class; "
            "default: the weights' data set, else the task's default)",
        )
        parser.add_argument("--split", default="test", help="data split (default: test)")
        parser.add_argument("--batch-size", type=int, default=256)
        parser.add_argument(
            "--spikes",
            choices=("auto", "binary", "events"),
            default="auto",
            help="classifiers: how the profile tells spikes from analog values: auto (default: by the spike "
            "kind each neuron declares: binary and graded spikes count SOPs, real values MACs), binary (only "
            "0/1 inputs are spikes) or events (every non-zero output of a neuron is one event)",
        )
        parser.add_argument(
            "--energy",
            default="zoo",
            metavar="NAME",
            help="classifiers: the SOP / energy convention (default: zoo; a paper's own, e.g. lmht, empf, "
            "spikingresformer: zoo list --energy)",
        )
        add_dtype_argument(parser, "evaluation")
        parser.add_argument(
            "--per-step",
            action="store_true",
            help="classifiers: also the accuracy after 1..T time steps (cumulative mean of the per-step logits)",
        )
        parser.add_argument("--force", action="store_true", help=FORCE_HELP)
        parser.add_argument("--json", action="store_true", help="print the results as JSON")

    def run(self, args: argparse.Namespace) -> int:
        from ..api import (  # lazy: zoo --help stays torch-free
            create_model,
            energy_convention_info,
            get_task,
            load_pretrained,
            model_info,
            split_tag,
        )
        from ..hub import resolve_source  # lazy: zoo --help stays torch-free

        if args.batch_size < 1:
            raise CLIError(f"--batch-size must be >= 1, got {args.batch_size}")
        energy_convention_info(args.energy)  # an unknown convention fails before any work
        name = args.name
        folder = args.weights
        if is_source_name(name):  # a published repo: the model its config names, with its weights
            if args.weights:
                raise CLIError(f"{name} is already a weight source; drop --weights")
            folder = str(resolve_source(name))
        pretrained = args.pretrained or (name == DEFAULT_EVAL and folder is None)
        base, tag = split_tag(name) if folder is None else (None, None)
        weights = None
        if folder is not None:
            model = load_pretrained(None, folder)
            base = model.zoo_name
        info = model_info(base)
        task = get_task(info.task)
        if not task.reports_energy and (args.spikes != "auto" or args.energy != "zoo"):
            raise CLIError(
                f"--spikes and --energy set how a profile counts spikes and energy; task {info.task!r} of "
                f"{base} reports no profile (classifiers do)"
            )
        if folder is None:
            weights = info.weights.get(tag) if pretrained and tag else None
            if not pretrained:
                published = ", ".join(f"{base}.{t}" for t in info.weight_tags)
                how = (
                    f"add --pretrained to load {name}"
                    if tag
                    else (
                        f"published weights: {published} (with --pretrained)"
                        if published
                        else "no weights are published"
                    )
                )
                print(
                    f"zoo: note: evaluating freshly initialised (random) weights of {base}; {how}, or give --weights",
                    file=sys.stderr,
                )
            model = create_model(name, pretrained=pretrained)
        card = weights_card(folder, weights)
        dtype = precision(args.dtype, card)
        dataset, data = task.eval_data(
            model, dataset=args.dataset, split=args.split, weights=weights, weights_config=card
        )
        task.check_memory(
            f"zoo eval {name}", model, data, args.batch_size, training=False, force=args.force, dtype=dtype
        )
        report = task.evaluate(
            model,
            data,
            batch_size=args.batch_size,
            progress=not args.json,
            dtype=dtype,
            **({"spikes": args.spikes} if args.spikes != "auto" else {}),
            **({"energy": args.energy} if args.energy != "zoo" else {}),
            **({"per_step": True} if args.per_step else {}),
        )
        report = {
            "model": name,
            "task": info.task,
            "pretrained": bool(pretrained or folder),
            "dataset": dataset,
            "split": args.split,
            **report,
        }
        if args.json:
            print(json.dumps(report, indent=2))
            return EXIT_OK
        title = f"{name} on {dataset} ({args.split}, {report['samples']} samples)"
        print("\n".join(task.format_report(title, report)))
        return EXIT_OK


def add_train_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Arguments of ``zoo train`` / ``tools/train.py`` (kept here: building ``zoo --help`` must not import torch)."""
    p.add_argument("model", nargs="?", help="registered model name (zoo list); optional with --resume")
    p.add_argument(
        "--dataset",
        default=None,
        help="a registered data set or a folder of images, one sub-folder per class (default: the task's, "
        "digits for classifiers, moving_digits for video predictors)",
    )
    p.add_argument("--learning-rule", default="bptt", help="registered learning rule (default: bptt)")
    p.add_argument(
        "--rule-kwargs", default="{}", type=json_object, help="JSON arguments of the learning rule"
    )
    p.add_argument(
        "--model-kwargs",
        default="{}",
        type=json_object,
        help='JSON constructor overrides, e.g. \'{"T": 4, "neuron": "plif"}\'',
    )
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--optimizer", choices=("adamw", "sgd"), default="adamw", help="default: adamw")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    p.add_argument("--nesterov", action="store_true", help="SGD with Nesterov momentum")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    p.add_argument(
        "--out", default=None, help="write a weight folder (config.json, model.safetensors, README.md)"
    )
    p.add_argument("--tag", default=None, help="weight tag recorded in the folder, e.g. digits_t4")
    p.add_argument("--log-json", default=None, help="write per-rank results to FILE.rank<N> (for tests)")
    p.add_argument("--force", action="store_true", help=FORCE_HELP)
    g = p.add_argument_group("recipes")
    g.add_argument(
        "--recipe",
        default=None,
        help="start from a registered paper recipe (zoo list --recipes); options given explicitly override it",
    )
    g.add_argument(
        "--print-recipe",
        action="store_true",
        help="print the recipe (its source, its differences from the paper's run, the full command) and exit",
    )
    g = p.add_argument_group("schedule, regularisation and precision")
    g.add_argument("--warmup-epochs", type=float, default=0.0, help="linear warm-up epochs before the cosine")
    g.add_argument("--warmup-lr", type=float, default=1e-5, help="learning rate the warm-up starts from")
    g.add_argument("--min-lr", type=float, default=0.0, help="learning rate the cosine ends at")
    g.add_argument(
        "--no-weight-decay-1d",
        dest="weight_decay_1d",
        action="store_false",
        help="no weight decay on 1-D parameters (biases, norms), as timm's optimisers; parameters the model names "
        "in no_weight_decay() never decay",
    )
    g.add_argument(
        "--ema-decay", type=float, default=None, help="keep (and validate, save) an EMA of the weights"
    )
    g.add_argument("--amp", action="store_true", help="bfloat16 autocast in the training steps")
    g = p.add_argument_group('augmentation (timm\'s data pipeline: pip install "zoo-core[timm]")')
    g.add_argument(
        "--auto-augment",
        default=None,
        help="timm's AutoAugment/RandAugment policy for image folders, e.g. rand-m9-mstd0.5-inc1 or original",
    )
    g.add_argument("--reprob", type=float, default=0.0, help="random-erasing probability per training sample")
    g.add_argument("--mixup", type=float, default=0.0, help="mixup Beta alpha (0: off)")
    g.add_argument("--cutmix", type=float, default=0.0, help="cutmix Beta alpha (0: off)")
    g.add_argument("--mix-prob", type=float, default=1.0, help="probability of mixing a batch")
    g.add_argument(
        "--mix-switch-prob", type=float, default=0.5, help="probability of cutmix when both are on"
    )
    g.add_argument(
        "--dvs-augment",
        action="store_true",
        help="SpikingResformer's event-frame augmentation: flip, then roll / rotation / cutout",
    )
    g = p.add_argument_group("validation, log and checkpoints")
    g.add_argument(
        "--val-fraction",
        type=float,
        default=0.0,
        help="hold out this share of the training split to validate after every epoch and keep the best epoch",
    )
    g.add_argument(
        "--run-dir",
        default=None,
        help="write the run folder: settings, log.jsonl (one line per epoch), last and best checkpoints",
    )
    g.add_argument(
        "--resume",
        metavar="RUN_DIR",
        default=None,
        help="continue the run in RUN_DIR from its last checkpoint, with its settings (--epochs may extend it)",
    )
    return p


def _explicit(args: argparse.Namespace, fields: Any) -> dict[str, Any]:
    """The training options given explicitly on the command line (differing from the parser's defaults)."""
    defaults = vars(add_train_arguments(argparse.ArgumentParser()).parse_args([]))
    return {
        k: v
        for k, v in vars(args).items()
        if k in fields and k not in ("model", "recipe", "resume") and v != defaults.get(k)
    }


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`zoo_core.tasks.TrainConfig` of parsed :func:`add_train_arguments` arguments: with
    ``--recipe NAME`` the recipe's settings under the options given explicitly; with ``--resume RUN_DIR`` the
    run's recorded settings, where only ``--epochs`` and per-invocation settings (``--max-steps``, ``--out``,
    ``--tag``, ...) may be given anew."""
    from ..tasks import TrainConfig  # lazy: zoo --help stays torch-free
    from ..tasks.checkpoints import RunFolder  # lazy: as above
    from ..tasks.recipes import recipe_config  # lazy: as above
    from ..tasks.training import PER_INVOCATION  # lazy: as above

    fields = TrainConfig.model_fields
    explicit = _explicit(args, fields)
    if args.resume:
        if args.recipe:
            raise CLIError("--recipe starts a run; a resumed run keeps its own settings (drop --recipe)")
        settings = RunFolder(args.resume).settings()
        if args.model and args.model != settings.get("model"):
            raise CLIError(f"{args.resume} is a run of {settings.get('model')}, not {args.model}")
        changed = sorted(
            k
            for k, v in explicit.items()
            if k not in PER_INVOCATION and k != "epochs" and v != settings.get(k)
        )
        if changed:
            flags = ", ".join(f"--{k.replace('_', '-')}" for k in changed)
            raise CLIError(
                f"{flags}: a resumed run keeps the settings it started with ({args.resume}/run.json); only "
                "--epochs and --max-steps, --out, --tag, --num-workers may change; start a new --run-dir to "
                "change the others"
            )
        return TrainConfig(**{**settings, **explicit, "run_dir": args.resume, "resume": True})
    if not args.model:
        raise CLIError("give the model to train (zoo list), or --resume RUN_DIR to continue a run")
    if args.recipe:
        return recipe_config(args.recipe, args.model, **explicit)
    return TrainConfig(model=args.model, **explicit)


def run_training(args: argparse.Namespace, prefix: str, argv: list[str]) -> int:
    """``zoo train`` / ``tools/train.py``: print the recipe (``--print-recipe``) or train; the card records the
    command as ``prefix`` plus ``argv``."""
    from ..tasks import train  # lazy: zoo --help stays torch-free
    from ..tasks.recipes import describe_recipe, train_command  # lazy: as above
    from ..tasks.training import recipe_command  # lazy: as above

    if args.print_recipe and args.recipe:  # before the settings are complete: a recipe may want --dataset
        from ..tasks import TrainConfig  # lazy: as above

        print(describe_recipe(args.recipe, args.model, **_explicit(args, TrainConfig.model_fields)))
        return EXIT_OK
    cfg = config_from_args(args)
    if args.print_recipe:
        print(train_command(cfg))  # the settings this command would train with
        return EXIT_OK
    train(cfg, recipe_command(prefix, argv))
    return EXIT_OK


@command
class TrainCommand(Command):
    """Train a registered model the way its task trains and write a weight folder with its card.

    Classifiers train with a registered learning rule (--learning-rule, --rule-kwargs) on a registered data set
    or an image folder. Video predictors (task video-prediction) train on moving_digits with BPTT and
    scheduled sampling (--rule-kwargs: sampling_start_value, sampling_changing_rate, sampling_stop_iter).
    A task whose loop takes only some settings refuses the others by name ('zoo info TASK' lists what it takes).

    Runs under torchrun too: torchrun --standalone --nproc_per_node=2 -m zoo_core.cli train MODEL ...
    """

    name = "train"
    help = "train a model the way its task does and write a weight folder (tools/train.py)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        add_train_arguments(parser)

    def run(self, args: argparse.Namespace) -> int:
        return run_training(args, "zoo train", sys.argv[2:])


@command
class CardCommand(Command):
    """Print the model card of a published weight set, generated from the registry and its config.json (a source
    hf://owner/repo prints the repo's own card)."""

    name = "card"
    help = "print the model card of NAME.TAG"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "name", metavar="NAME.TAG", help="e.g. spiking_cnn.digits_t4, or a source hf://owner/repo[@rev]"
        )

    def run(self, args: argparse.Namespace) -> int:
        if is_source_name(args.name):  # a published repo: its own card, as the Hub shows it
            from ..hub import CARD_NAME, resolve_source  # lazy: zoo --help stays torch-free

            card = resolve_source(args.name) / CARD_NAME
            if not card.is_file():
                raise CLIError(f"{args.name}: the weight folder has no {CARD_NAME}")
            print(card.read_text())
            return EXIT_OK
        from ..api import get_task, model_info, split_tag  # lazy: zoo --help stays torch-free
        from ..hub import read_config, render_card, resolve_source  # lazy: zoo --help stays torch-free

        base, tag = split_tag(args.name)
        info = model_info(base)
        if tag is None:
            raise CLIError(
                f"give a weight tag: {', '.join(f'{base}.{t}' for t in info.weight_tags) or 'none published'}"
            )
        if tag not in info.weights:
            raise CLIError(
                f"{base} has no weight tag {tag!r}; published: {', '.join(info.weight_tags) or 'none'}"
            )
        w = info.weights[tag]
        cfg: dict[str, Any] = read_config(resolve_source(w.source, w.revision))
        print(render_card(base, tag, cfg, info, get_task(info.task)))
        return EXIT_OK


@command
class DownloadCommand(Command):
    """Fetch a published weight set into the local Hub cache, so that later runs need no network.

    NAME.TAG takes the weight set's registered source: a Hub repo is downloaded (with a progress bar, pinned to
    the registered revision) and its checksum verified; weights shipped inside a package are already local, and
    their folder is printed. A source hf://owner/repo[@revision] downloads that repo. Afterwards HF_HUB_OFFLINE=1
    serves it from the cache.
    """

    name = "download"
    help = "fetch a published weight set (NAME.TAG or hf://owner/repo) into the Hub cache"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "name", metavar="NAME.TAG", help="a weight set, or a source hf://owner/repo[@rev]"
        )
        parser.add_argument("--revision", default=None, help="Hub revision (default: the registered one)")
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="seconds the Hub may stay silent (default $ZOO_HUB_TIMEOUT, else 10)",
        )

    def run(self, args: argparse.Namespace) -> int:
        from ..api import model_info, split_tag  # lazy: zoo --help stays torch-free
        from ..hub import read_folder, resolve_source  # lazy: zoo --help stays torch-free

        expected = None
        source = args.name
        if not is_source_name(args.name):
            base, tag = split_tag(args.name)
            info = model_info(base)
            if tag is None and len(info.weights) == 1:
                tag = info.weight_tags[0]
            if tag not in info.weights:
                published = ", ".join(f"{base}.{t}" for t in info.weight_tags) or "none"
                raise CLIError(f"give a published weight set of {base}: {published}")
            w = info.weights[tag]
            source, expected = w.source, (w.sha256 or None)
            if args.revision is None and w.revision:
                args.revision = w.revision
        folder = read_folder(
            resolve_source(source, args.revision, timeout=args.timeout), expected
        )  # checksum verified
        where = "downloaded to" if source.startswith("hf://") else "already local (shipped with its package):"
        print(f"{args.name}: {where} {folder.path}")
        print(f"  model {folder.config['model']}, tag {folder.config.get('tag')}, sha256 {folder.sha256}")
        return EXIT_OK


@command
class PushCommand(Command):
    """Validate a weight folder (config, card, checksum) and publish it to a Hugging Face Hub repo.

    The token is huggingface_hub's (hf auth login, or HF_TOKEN); HF_ENDPOINT picks the server. Each request may
    wait at most --timeout seconds (default: ZOO_HUB_TIMEOUT, else 10) for the Hub. Any failure (an invalid
    folder, no token, no write access, an endpoint that refuses uploads, a stalled Hub) is one line saying what
    to do, and nothing is published.
    """

    name = "push"
    help = "publish a weight folder to the Hugging Face Hub"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("folder", metavar="FOLDER")
        parser.add_argument("repo_id", metavar="REPO_ID", help="owner/name on the Hub")
        parser.add_argument("--revision", default=None, help="branch to commit to (default: main)")
        parser.add_argument("--private", action="store_true")
        parser.add_argument("--message", default=None, help="commit message")
        parser.add_argument(
            "--timeout", type=float, default=None, metavar="SECONDS", help="longest wait for the Hub"
        )

    def run(self, args: argparse.Namespace) -> int:
        from ..api import push_to_hub  # lazy: zoo --help stays torch-free
        from ..errors import ZooError  # as above

        try:
            info = push_to_hub(
                args.folder,
                args.repo_id,
                revision=args.revision,
                private=args.private,
                commit_message=args.message,
                timeout=args.timeout,
            )
        except ZooError:
            raise  # already one line that says what is wrong
        except Exception as exc:  # anything else (Hub client, file system): one line, no traceback
            why = f"{type(exc).__name__}: {exc}"
            raise CLIError(f"push {args.folder} to {args.repo_id} failed: {why}") from exc
        print(f"pushed {args.folder} to {args.repo_id}: {getattr(info, 'commit_url', None) or info}")
        return EXIT_OK


@command
class BenchNeuronCommand(Command):
    """Train spiking_cnn on digits with a neuron for a fixed budget, next to LIF: accuracy, firing rate, time.

    The one-command way to show a new neuron works: same data, seed, budget and optimiser for both neurons.
    """

    name = "bench-neuron"
    help = "train spiking_cnn with NEURON on digits next to LIF and compare"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("neuron", metavar="NEURON", help="registered neuron name (zoo neurons)")
        parser.add_argument(
            "--neuron-kwargs", type=json_object, default={}, help="JSON arguments of the neuron"
        )
        parser.add_argument("--baseline", default="lif", help="neuron to compare with (default: lif)")
        parser.add_argument("--epochs", type=int, default=3)
        parser.add_argument("--T", type=int, default=4)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true")

    def run(self, args: argparse.Namespace) -> int:
        from ..tasks.benchmark import bench_neuron  # lazy: zoo --help stays torch-free

        rows = [
            bench_neuron(n, kw, epochs=args.epochs, T=args.T, seed=args.seed)
            for n, kw in ((args.neuron, args.neuron_kwargs), (args.baseline, {}))
        ]
        if args.json:
            print(json.dumps(rows, indent=2))
            return EXIT_OK
        print(f"spiking_cnn on digits, T={args.T}, {args.epochs} epochs, seed {args.seed}")
        print(f"  {'neuron':<16}{'accuracy':>10}{'firing rate':>13}{'ms / step':>11}{'params':>9}")
        for r in rows:
            print(
                f"  {r['neuron']:<16}{r['accuracy']:>10.4f}{r['mean_firing_rate']:>13.4f}"
                f"{r['ms_per_step']:>11.2f}{r['neuron_params']:>9}"
            )
        return EXIT_OK


@command
class ConvertCommand(Command):
    """Turn an official checkpoint into a zoo weight folder (config.json, model.safetensors, card).

    The checkpoint's state dict goes through zoo.from_official(MODEL, ...) and is checked against the model
    (keys, shapes, dtypes, finite values) before anything is written. Pickled .pth files can execute code when
    loaded: they are refused unless --allow-pickle is given, and then read with torch.load(weights_only=True).
    """

    name = "convert"
    help = "convert an official checkpoint into a weight folder"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--official", required=True, metavar="FILE", help="official checkpoint (.pth, .safetensors)"
        )
        parser.add_argument("--model", required=True, metavar="NAME", help="registered model name")
        parser.add_argument("--out", required=True, metavar="FOLDER", help="weight folder to write")
        parser.add_argument("--tag", default=None, help="weight tag recorded in the folder, e.g. imagenet_t4")
        parser.add_argument(
            "--model-kwargs",
            type=json_object,
            default={},
            help="JSON constructor overrides (num_classes is inferred when the plugin can)",
        )
        parser.add_argument(
            "--allow-pickle",
            action="store_true",
            help="accept a pickled checkpoint (read with torch.load(weights_only=True))",
        )
        parser.add_argument(
            "--dataset", default=None, help="data set the weights were trained on (for the card)"
        )

    def run(self, args: argparse.Namespace) -> int:
        from ..api import (  # lazy: zoo --help stays torch-free
            create_model,
            from_official,
            official_config,
            save_pretrained,
        )
        from ..hub import (  # lazy: zoo --help stays torch-free
            load_official,
            load_state_dict_checked,
            sha256_file,
        )

        state = from_official(args.model, load_official(args.official, allow_pickle=args.allow_pickle))
        kwargs = {**official_config(args.model, state), **args.model_kwargs}
        model = create_model(args.model, **kwargs)
        load_state_dict_checked(model, state, args.official)
        source = {"official_file": Path(args.official).name, "official_sha256": sha256_file(args.official)}
        training = {
            "notes": f"converted from the official checkpoint {source['official_file']} "
            f"(sha256 {source['official_sha256']}) with zoo convert",
            "command": "zoo convert " + " ".join(sys.argv[2:]),
        }
        if args.dataset:
            training["dataset"] = args.dataset
        folder = save_pretrained(
            model.eval(), args.out, tag=args.tag, extra_config={"official": source, "training": training}
        )
        print(f"wrote {folder} ({sum(p.numel() for p in model.parameters()):,} parameters)")
        return EXIT_OK
