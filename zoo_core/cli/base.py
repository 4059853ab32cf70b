"""The ``zoo`` command framework: :class:`Command`, the :func:`command` registry, the parser, ``main`` and the
table/formatting helpers every command uses.

Errors (an unknown name, a bad argument) print one line ``zoo: error: ...`` on stderr and exit with status 2.

Adding a command: subclass :class:`Command` (``name``, ``help``, a docstring for ``zoo NAME --help``,
``configure`` to add arguments, ``run`` returning the exit status) and decorate it with :func:`command`; the order
of definition is the order in ``zoo --help``. The CLI imports only the standard library at the top of its modules:
zoo-core (and torch, and the plugins) load inside ``run``, so ``zoo --help`` stays fast.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, NoReturn

from ..version import __version__

PROG = "zoo"
EXIT_OK = 0
EXIT_ERROR = 2

#: registry kinds in the order ``zoo info`` searches them
INFO_KINDS = (
    "model",
    "neuron",
    "surrogate",
    "learning_rule",
    "dataset",
    "task",
    "recipe",
    "energy_convention",
    "kernel",
)


class CLIError(Exception):
    """A user error: reported as one line on stderr, exit status 2."""


# ------------------------------------------------------------------------------------------------ framework
class Command:
    """One ``zoo`` subcommand. The class docstring is the description shown by ``zoo NAME --help``."""

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""
    epilog: ClassVar[str | None] = None

    def configure(self, parser: argparse.ArgumentParser) -> None:
        """Add this command's arguments."""

    def run(self, args: argparse.Namespace) -> int:
        """Do the work; return the exit status."""
        raise NotImplementedError


COMMANDS: dict[str, Command] = {}


def command(cls: type[Command]) -> type[Command]:
    """Class decorator: add a :class:`Command` to the ``zoo`` parser."""
    if not cls.name or cls.name in COMMANDS:
        raise ValueError(f"command name {cls.name!r} is empty or already taken")
    COMMANDS[cls.name] = cls()
    return cls


class _VersionAction(argparse.Action):
    """``--version``, computed only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        kw.setdefault("help", "show the zoo-core version and the plugin API version, then exit")
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, **kw)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from ..plugins import API_VERSION  # the plugin runtime loads only for --version

        py = ".".join(str(v) for v in sys.version_info[:3])
        print(f"zoo-core {__version__} (plugin API {API_VERSION}, Python {py})")
        parser.exit(EXIT_OK)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        # argparse measures subcommand names one indent short, which wraps the longest ('new-plugin')
        if isinstance(action, argparse._SubParsersAction):
            for sub in action._get_subactions():
                need = len(sub.dest) + self._current_indent + 2 * self._indent_increment
                self._action_max_length = max(self._action_max_length, need)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``zoo: error: ...``, exit 2) pointing at ``--help``."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_ERROR, f"{PROG}: error: {self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``zoo`` argument parser with every registered :class:`Command`."""
    parser = _Parser(
        prog=PROG,
        description="zoo-core: a model zoo for spiking neural networks. Models, neurons and learning rules "
        "come from the core and from installed plugins.",
        epilog=f"Run '{PROG} COMMAND --help' for the options of a command.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command", parser_class=_Parser)
    for cmd in COMMANDS.values():
        p = sub.add_parser(
            cmd.name,
            help=cmd.help,
            description=inspect.cleandoc(type(cmd).__doc__ or cmd.help),
            epilog=cmd.epilog,
            formatter_class=_Formatter,
        )
        cmd.configure(p)
        p.set_defaults(_command=cmd)
    return parser


def _error(message: str) -> None:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)


def note(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _show_warning(message: Any, category: type[Warning], *_: Any, **__: Any) -> None:
    print(f"{PROG}: warning: {category.__name__}: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run ``zoo`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors (argparse exits with 2)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    cmd: Command | None = getattr(args, "_command", None)
    if cmd is None:
        parser.print_help(sys.stderr)
        _error(f"choose a command: {', '.join(COMMANDS)}")
        return EXIT_ERROR

    from ..errors import ZooError  # zoo-core loads only once a command runs

    with warnings.catch_warnings():
        warnings.showwarning = _show_warning  # one line per warning, restored on exit
        try:
            return cmd.run(args)
        except (CLIError, ZooError) as exc:
            _error(str(exc))
            return EXIT_ERROR
        except BrokenPipeError:  # `zoo list | head`
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_OK
        except KeyboardInterrupt:
            return 130


# ------------------------------------------------------------------------------------------------ formatting
def pattern_arg(p: str) -> str:
    """An fnmatch pattern; a plain word matches as a substring."""
    return p if any(c in p for c in "*?[") else f"*{p}*"


def fmt_value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={fmt_scalar(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(fmt_value(v) for v in value) or "-"
    if value is None or value == "":
        return "-"
    return str(value)


def fmt_scalar(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(fmt_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {fmt_scalar(v)}" for k, v in value.items()) + "}"
    return repr(value) if isinstance(value, str) else str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Left-aligned columns; the last column is not padded (it may be long)."""
    rows = [list(r) for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths)) + "  " + cells[-1]

    return [line(headers).rstrip(), *(line(r).rstrip() for r in rows)]


def short_paper(paper: Any) -> str:
    """``SpikingJelly (Fang et al., 2023)``: a short title, the first author and the year."""
    title = paper.title
    head = title.split(":")[0]
    if ":" in title and len(head) >= 6:
        title = head
    if len(title) > 48:
        title = title[:45].rsplit(" ", 1)[0].rstrip(" ,;:") + "..."
    who = paper.authors[0].split(",")[0].strip() if paper.authors else ""
    if who and len(paper.authors) > 1:
        who += " et al."
    when = ", ".join(str(p) for p in (who, paper.year) if p)
    return f"{title} ({when})" if when else title


def kind_label(kind: str) -> str:
    return kind.replace("_", " ")


def as_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=repr)


def dump_info(info: Any) -> Any:
    return info.model_dump(mode="json", fallback=repr)


def json_object(text: str) -> dict[str, Any]:
    """An argument holding a JSON object (``'{"T": 4}'``); anything else is a one-line usage error."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(
            f"not valid JSON ({exc.msg}): {text!r}; expected e.g. '{{\"T\": 4}}'"
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object like '{{\"T\": 4}}', got {text!r}")
    return value


# ------------------------------------------------------------------------------------------------ weights
def add_dtype_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--dtype float32|float64|card`` (default ``card``: the precision the weights' card was measured in)."""
    parser.add_argument(
        "--dtype",
        choices=("float32", "float64", "card"),
        default="card",
        help=f"{what} precision (default: the one the weights' card records, else float32)",
    )


def weights_card(folder: str | None, weights: Any) -> dict[str, Any]:
    """The ``config.json`` of the weights a command runs: a ``--weights`` folder, else a registry weight set
    (a :class:`~zoo_core.info.WeightInfo`), else ``{}`` (fresh weights)."""
    from ..hub import read_config, resolve_source  # lazy: zoo --help stays torch-free

    if folder:
        return read_config(folder)
    if weights is not None:
        return read_config(resolve_source(weights.source, weights.revision))
    return {}


#: a NAME with one of these prefixes is a weight source (a Hub repo, a folder inside a package), not a model name
SOURCE_PREFIXES = ("hf://", "package://")


def is_source_name(name: str) -> bool:
    """Whether a command's NAME argument is a weight source rather than a registered name."""
    return name.startswith(SOURCE_PREFIXES)


def precision(choice: str, card: dict[str, Any]) -> str | None:
    """The dtype a ``--dtype`` choice means for weights with this card (``None``: the model's own)."""
    return (card.get("evaluation") or {}).get("dtype") if choice == "card" else choice
