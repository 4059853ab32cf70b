"""``zoo``: the command line of zoo-core.

::

    zoo list [PATTERN] [--pretrained]    registered models (or their published weight sets, NAME.TAG)
    zoo info NAME [--json]               metadata of a model, or of any other registered name
    zoo neurons [PATTERN]                registered neurons: owner, paper, defaults
    zoo plugins                          installed plugins and how their loading went
    zoo new-plugin NAME [--dir DIR]      write a plugin skeleton that passes the conformance kit
    zoo eval [NAME[.TAG]] [--pretrained] accuracy, firing rate, SOPs, energy, throughput (cli_jobs)
    zoo robust-eval NAME.TAG --attack A  clean and FGSM/PGD robust accuracy (cli_robust)
    zoo train MODEL [...]                train with a learning rule, write a weight folder
    zoo card NAME.TAG                    print a weight set's model card
    zoo push FOLDER REPO_ID              validate and publish a weight folder to the Hub
    zoo bench-neuron NEURON              train spiking_cnn with NEURON next to LIF on digits

Errors (an unknown name, a bad argument) print one line ``zoo: error: ...`` on stderr and exit with status 2.

Adding a command: subclass :class:`Command` (``name``, ``help``, a docstring for ``zoo NAME --help``,
``configure`` to add arguments, ``run`` returning the exit status) and decorate it with :func:`command`; the order
of definition is the order in ``zoo --help``. This module imports only the standard library at its top: zoo-core
(and torch, and the plugins) load inside ``run``, so ``zoo --help`` stays fast.
"""

from __future__ import annotations

import argparse
import inspect
import sys
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

PROG = "zoo"
EXIT_OK = 0
EXIT_ERROR = 2

#: registry kinds in the order ``zoo info`` searches them
INFO_KINDS = ("model", "neuron", "surrogate", "learning_rule", "dataset", "kernel")


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
        from . import __version__
        from .plugins import API_VERSION

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


def build_parser() -> argparse.ArgumentParser:
    """The ``zoo`` argument parser with every registered :class:`Command`."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="zoo-core: a model zoo for spiking neural networks. Models, neurons and learning rules "
        "come from the core and from installed plugins.",
        epilog=f"Run '{PROG} COMMAND --help' for the options of a command.",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="command")
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


def _note(message: str) -> None:
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

    from .errors import ZooError

    with warnings.catch_warnings():
        warnings.showwarning = _show_warning  # one line per warning, restored on exit
        try:
            return cmd.run(args)
        except (CLIError, ZooError) as exc:
            _error(str(exc))
            return EXIT_ERROR
        except BrokenPipeError:  # `zoo list | head`
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_OK
        except KeyboardInterrupt:
            return 130


# ------------------------------------------------------------------------------------------------ formatting
def _pattern(p: str) -> str:
    """An fnmatch pattern; a plain word matches as a substring."""
    return p if any(c in p for c in "*?[") else f"*{p}*"


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt_scalar(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value) or "-"
    if value is None or value == "":
        return "-"
    return str(value)


def _fmt_scalar(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_fmt_scalar(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt_scalar(v)}" for k, v in value.items()) + "}"
    return repr(value) if isinstance(value, str) else str(value)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    """Left-aligned columns; the last column is not padded (it may be long)."""
    rows = [list(r) for r in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths)) + "  " + cells[-1]

    return [line(headers).rstrip(), *(line(r).rstrip() for r in rows)]


def _short_paper(paper: Any) -> str:
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


def _kind_label(kind: str) -> str:
    return kind.replace("_", " ")


def _json(obj: Any) -> str:
    import json

    return json.dumps(obj, indent=2, default=repr)


def _dump(info: Any) -> Any:
    return info.model_dump(mode="json", fallback=repr)


# ------------------------------------------------------------------------------------------------ commands
@command
class ListCommand(Command):
    """List registered models, one name per line.

    PATTERN is an fnmatch pattern ('spiking*', '*_ti'); a plain word matches anywhere in the name
    ('cnn' is '*cnn*'). With --pretrained, list the published weight sets as NAME.TAG instead, which
    `zoo_core.create_model("NAME.TAG", pretrained=True)` loads.
    """

    name = "list"
    help = "list models (--pretrained: their published weight sets)"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "pattern", nargs="?", default="*", metavar="PATTERN", help="filter (default: all)"
        )
        parser.add_argument(
            "--pretrained", action="store_true", help="list published weight sets as NAME.TAG"
        )
        parser.add_argument("--json", action="store_true", help="print a JSON array")

    def run(self, args: argparse.Namespace) -> int:
        from .api import list_models

        names = list_models(_pattern(args.pattern), pretrained=args.pretrained)
        if args.json:
            print(_json(names))
        elif names:
            print("\n".join(names))
        else:
            what = "published weight sets" if args.pretrained else "models"
            _note(f"no {what}" + (f" match {args.pattern!r}" if args.pattern != "*" else " are registered"))
        return EXIT_OK


@command
class InfoCommand(Command):
    """Show what the zoo knows about a name.

    For a model: its owner (plugin), paper, task, input and output tensors, default arguments and published
    weight tags (NAME may carry a tag: spiking_cnn.digits_t4). A name that is not a model is looked up among
    neurons, surrogates, learning rules, datasets and kernels, in that order (--kind picks one registry).
    """

    name = "info"
    help = "describe a model (or neuron, ...): paper, I/O, defaults"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", metavar="NAME", help="a registered name, e.g. spiking_cnn or lif")
        parser.add_argument(
            "--kind",
            choices=INFO_KINDS,
            metavar="KIND",
            help=f"look only in one registry: {', '.join(INFO_KINDS)}",
        )
        parser.add_argument("--json", action="store_true", help="print the metadata as JSON")

    def run(self, args: argparse.Namespace) -> int:
        kind, info, also = _lookup(args.name, args.kind)
        if also:
            _note(
                f"{info.name!r} is also a {', '.join(_kind_label(k) for k in also)}; "
                "use --kind to show another"
            )
        if args.json:
            print(_json(_dump(info)))
        else:
            print("\n".join(_describe(kind, info)))
        return EXIT_OK


def _lookup(name: str, only: str | None) -> tuple[str, Any, list[str]]:
    """(kind, info, other kinds holding the name) for ``name``; raise a helpful error if nothing has it."""
    import difflib

    from .api import split_tag
    from .errors import UnknownNameError
    from .plugins import runtime

    regs = runtime().registries
    kinds = (only,) if only else INFO_KINDS
    base, tag = split_tag(name)
    found = [k for k in kinds if (base if k == "model" else name) in regs[k]]
    if not found:
        if only:
            raise UnknownNameError(_kind_label(only), base if only == "model" else name, regs[only].names())
        owner_of = {n: k for k in reversed(INFO_KINDS) for n in regs[k].names()}
        close = difflib.get_close_matches(base, list(owner_of), n=5, cutoff=0.6)
        hint = (
            "; closest: " + ", ".join(f"{c} ({_kind_label(owner_of[c])})" for c in close)
            if close
            else "; `zoo list` and `zoo neurons` show what is registered"
        )
        raise CLIError(
            f"no model, neuron, surrogate, learning rule, dataset or kernel is named {name!r}{hint}"
        )
    kind = found[0]
    info = regs[kind].get(base if kind == "model" else name).info
    if kind == "model" and tag is not None and tag not in info.weights:
        published = ", ".join(f"{base}.{t}" for t in info.weight_tags) or "none"
        raise CLIError(f"model {base!r} has no weight tag {tag!r}; published weights: {published}")
    return kind, info, found[1:]


def _owner(owner: str) -> str:
    from .plugins import runtime

    p = runtime().plugins.get(owner)
    if p is None:
        return f"{owner} (registered in-process)"
    dist = " ".join(x for x in (p.distribution, p.version) if x)
    return f"{owner} ({dist})" if dist else owner


def _dims(spec: Any, defaults: dict[str, Any]) -> str:
    out = []
    for d in spec.shape:
        if isinstance(d, str) and d in defaults:
            v = defaults[d]
            out.append(f"{d}={v[0] if isinstance(v, list | tuple) else v}")
        else:
            out.append(str(d))
    return f"{spec.name} [{', '.join(out)}] ({spec.kind})"


def _describe(kind: str, info: Any) -> list[str]:
    """Human-readable lines for one registry entry."""
    rows: list[tuple[str, str]] = [("plugin", _owner(info.plugin))]
    p = info.paper
    rows += [
        ("paper", p.title),
        ("authors", "; ".join(p.authors) or "-"),
        ("venue", " ".join(str(x) for x in (p.venue, p.year) if x) or "-"),
    ]
    if p.url:
        rows.append(("url", p.url))
    handled = {"name", "kind", "plugin", "paper", "defaults", "description", "io", "weights"}
    for field in type(info).model_fields:
        if field not in handled:
            value = getattr(info, field)
            if value not in ({}, [], (), None, ""):
                rows.append((field.replace("_", " "), _fmt(value)))
    if kind == "model":
        io = info.io
        for spec in io.inputs:
            rows.append(("input", _dims(spec, info.defaults)))
        rows.append(("output", _dims(io.output, info.defaults)))
        if io.description:
            rows.append(("", io.description))
    rows.append(("defaults", _fmt(info.defaults)))
    if kind == "model":
        if not info.weights:
            rows.append(("weights", "none published"))
        for i, tag in enumerate(info.weight_tags):
            w = info.weights[tag]
            bits = [f"{info.name}.{tag}"]
            if w.dataset:
                bits.append(f"dataset={w.dataset}")
            bits += [f"{k}={v:g}" for k, v in w.metrics.items()]
            bits.append(f"source={w.source}" + (f"@{w.revision}" if w.revision else ""))
            rows.append(("weights" if i == 0 else "", "  ".join(bits)))
    width = max(len(k) for k, _ in rows)
    head = [f"{info.name} ({_kind_label(kind)})"]
    if info.description:
        head.append(f"  {info.description}")
    return [*head, *(f"  {k.ljust(width)}  {v}".rstrip() for k, v in rows)]


@command
class NeuronsCommand(Command):
    """List registered neurons with their owner, paper and defaults.

    PATTERN is an fnmatch pattern; a plain word matches anywhere in the name.
    """

    name = "neurons"
    help = "list registered neurons: name, plugin, paper, defaults"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "pattern", nargs="?", default="*", metavar="PATTERN", help="filter (default: all)"
        )
        parser.add_argument("--json", action="store_true", help="print the neurons' metadata as JSON")

    def run(self, args: argparse.Namespace) -> int:
        from .api import list_neurons, neuron_info

        infos = [neuron_info(n) for n in list_neurons(_pattern(args.pattern))]
        if args.json:
            print(_json([_dump(i) for i in infos]))
        elif infos:
            rows = [(i.name, i.plugin, _short_paper(i.paper), _fmt(i.defaults)) for i in infos]
            print("\n".join(_table(("NAME", "PLUGIN", "PAPER", "DEFAULTS"), rows)))
        else:
            _note(f"no neurons match {args.pattern!r}")
        return EXIT_OK


@command
class PluginsCommand(Command):
    """List the installed zoo-core plugins and how their loading went.

    A plugin that failed (import error, incompatible ZOO_API_VERSION, a name clash, an error while
    registering) is shown with its error and left out; the core and the other plugins work without it, so the
    exit status is 0. ZOO_DISABLE_PLUGINS=a,b skips plugins by name; ZOO_PLUGINS_STRICT=1 makes a failure an
    error.
    """

    name = "plugins"
    help = "list installed plugins, their status and registrations"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-v", "--verbose", action="store_true", help="list every registered name")
        parser.add_argument("--json", action="store_true", help="print the plugins as JSON")

    def run(self, args: argparse.Namespace) -> int:
        from .api import list_plugins
        from .plugins import ZooPluginWarning

        warnings.simplefilter("ignore", ZooPluginWarning)  # the table reports every failure already
        plugins = list_plugins()
        if args.json:
            print(_json([_dump(p) for p in plugins]))
            return EXIT_OK
        rows, details = [], {}
        for p in plugins:
            state, detail = _split_status(p.status)
            if detail:
                details[p.name] = f"{'error' if state == 'failed' else 'why'}: {detail}"
            rows.append(
                (
                    p.name,
                    p.distribution or "-",
                    p.version or "-",
                    p.api_version or "-",
                    state,
                    _registered(p.registered, args.verbose),
                )
            )
        lines = _table(("NAME", "DISTRIBUTION", "VERSION", "API", "STATUS", "REGISTERED"), rows)
        out = [lines[0]]
        for p, line in zip(plugins, lines[1:]):
            out.append(line)
            if p.name in details:
                out.append(f"    {details[p.name]}")
        states = [_split_status(p.status)[0] for p in plugins]
        summary = ", ".join(f"{states.count(s)} {s}" for s in dict.fromkeys(states))
        out.append(
            f"\n{len(plugins)} plugin{'s' if len(plugins) != 1 else ''} (the core included): {summary}"
        )
        if "failed" in states:
            out.append(
                "A failed plugin is left out; the rest of the zoo works without it. "
                "ZOO_PLUGINS_STRICT=1 makes such a failure an error."
            )
        print("\n".join(out))
        return EXIT_OK


def _split_status(status: str) -> tuple[str, str]:
    """``"failed: import failed: ..."`` -> ``("failed", "import failed: ...")``."""
    if status == "ok":
        return "ok", ""
    head, sep, rest = status.partition(":")
    if sep:
        return head.strip(), rest.strip()
    word, _, rest = status.partition(" ")
    return word, rest.strip().strip("()")


def _registered(registered: dict[str, list[str]], verbose: bool) -> str:
    parts = []
    for kind, names in registered.items():
        shown = names if verbose or len(names) <= 4 else [*names[:3], f"+{len(names) - 3} more"]
        parts.append(f"{_kind_label(kind)}: {', '.join(shown)}")
    return "; ".join(parts) or "-"


@command
class NewPluginCommand(Command):
    """Write a plugin skeleton into DIR/NAME/.

    The skeleton is an installable distribution zoo-NAME (import package zoo_NAME) whose entry point NAME in the
    group zoo_core registers an example neuron NAME_lif and an example model NAME_net, with paper placeholders to
    fill, conformance tests (tests/test_conformance.py) and a README on how to develop it. It passes ruff and
    the conformance kit as generated:

        pip install -e DIR/NAME && python -m pytest DIR/NAME/tests

    NAME is lower_snake_case (letters, digits, underscores; starts with a letter). An existing folder is never
    overwritten.
    """

    name = "new-plugin"
    help = "write a plugin skeleton: example neuron, model and tests"

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("name", metavar="NAME", help="plugin name, lower_snake_case, e.g. my_paper")
        parser.add_argument(
            "--dir", default="plugins", metavar="DIR", help="parent folder (default: ./plugins)"
        )

    def run(self, args: argparse.Namespace) -> int:
        from pathlib import Path

        problem = plugin_name_problem(args.name)
        if problem:
            raise CLIError(problem)
        if _installed_plugin(args.name):
            _note(
                f"warning: an installed distribution already provides a plugin named {args.name!r}; "
                "two plugins with one name cannot both load"
            )
        try:
            dest, files = render_plugin(args.name, Path(args.dir))
        except FileExistsError as exc:
            raise CLIError(str(exc)) from None
        print(f"created {dest}/ (distribution zoo-{args.name}, import package zoo_{args.name}):")
        for f in files:
            print(f"  {f}")
        print(
            "\nnext steps:\n"
            f"  1. fill the TODOs (paper, neuron, model, defaults) in {dest / f'zoo_{args.name}'}/\n"
            f"  2. pip install -e {dest}\n"
            f"  3. python -m pytest {dest / 'tests'}\n"
            f"  4. zoo plugins    # shows {args.name} as ok"
        )
        return EXIT_OK


#: a plugin name: lower_snake_case, starting with a letter
_PLUGIN_NAME = r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*"
_PLACEHOLDER = r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}"
TEMPLATE_SUFFIX = ".tmpl"


def plugin_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a plugin, or ``None`` if it can."""
    import keyword
    import re

    if not re.fullmatch(_PLUGIN_NAME, name):
        return (
            f"invalid plugin name {name!r}: use lower_snake_case, a lowercase letter followed by lowercase "
            "letters, digits and single underscores (e.g. my_paper)"
        )
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"invalid plugin name {name!r}: it is a Python keyword; choose a more specific name"
    if name == "core":
        return "invalid plugin name 'core': zoo_core is the core's own package; choose another name"
    if len(name) > 40:
        return f"invalid plugin name {name!r}: use at most 40 characters"
    return None


def template_variables(name: str) -> dict[str, str]:
    """The values of the ``{{...}}`` placeholders in the plugin templates."""
    from . import __version__
    from .plugins import API_VERSION

    return {
        "name": name,
        "Name": "".join(part.capitalize() for part in name.split("_")),
        "api_version": API_VERSION,
        "core_version": __version__,
    }


def render_template(text: str, variables: dict[str, str]) -> str:
    """Replace every ``{{key}}`` in ``text``; an unknown key is an error (no str.format: code has braces)."""
    import re

    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in variables:
            raise KeyError(f"unknown template placeholder {m.group(0)!r}; known: {sorted(variables)}")
        return variables[m.group(1)]

    return re.sub(_PLACEHOLDER, sub, text)


def _template_files(root: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(relative path, traversable) of every template file under ``root``, sorted."""
    out = []
    for item in root.iterdir():
        if item.name.startswith(".") or item.name == "__pycache__":
            continue
        rel = f"{prefix}{item.name}"
        if item.is_dir():
            out += _template_files(item, rel + "/")
        else:
            out.append((rel, item))
    return sorted(out, key=lambda t: t[0])


def render_plugin(name: str, parent: Any) -> tuple[Any, list[Any]]:
    """Write the plugin skeleton ``parent/name/``; return (folder, files written).

    Files are rendered into a hidden temporary folder next to the target and moved into place at the end, so a
    failure leaves nothing behind. Raises :class:`FileExistsError` if ``parent/name`` exists.
    """
    import os
    import shutil
    import tempfile
    from importlib.resources import files
    from pathlib import Path

    problem = plugin_name_problem(name)
    if problem:
        raise ValueError(problem)
    parent = Path(parent)
    dest = parent / name
    if dest.exists() or dest.is_symlink():
        raise FileExistsError(
            f"{dest} already exists; refusing to overwrite it (remove it or choose another --dir)"
        )
    variables = template_variables(name)
    templates = _template_files(files(__package__) / "templates" / "plugin")
    if not templates:
        raise CLIError("the plugin templates are missing from this zoo-core installation")
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".partial", dir=parent))
    written = []
    try:
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        for rel, src in templates:
            out_rel = render_template(rel, variables).removesuffix(TEMPLATE_SUFFIX)
            target = tmp / out_rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(render_template(src.read_text(encoding="utf-8"), variables), encoding="utf-8")
            written.append(dest / out_rel)
        if dest.exists():
            raise FileExistsError(f"{dest} appeared while the skeleton was written; refusing to overwrite it")
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest, written


def _installed_plugin(name: str) -> bool:
    from importlib import metadata

    from .plugins import ENTRY_POINT_GROUP

    return any(ep.name == name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))


from . import cli_jobs  # noqa: E402, F401  (registers eval, train, card, push, bench-neuron)
from . import cli_robust as _cli_robust  # noqa: E402, F401  (registers robust-eval)

if __name__ == "__main__":  # `python -m zoo_core.cli`: the commands registered on the imported module
    from zoo_core.cli import main as _main

    raise SystemExit(_main())
