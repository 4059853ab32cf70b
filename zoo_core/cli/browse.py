"""Browsing the registries: ``zoo list``, ``zoo info``, ``zoo neurons``, ``zoo plugins``."""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import warnings
from typing import Any

from .base import (
    EXIT_OK,
    INFO_KINDS,
    CLIError,
    Command,
    as_json,
    command,
    dump_info,
    fmt_value,
    is_source_name,
    kind_label,
    note,
    pattern_arg,
    short_paper,
    table,
)


@command
class ListCommand(Command):
    """List registered models, one name per line.

    PATTERN is an fnmatch pattern ('spiking*', '*_ti'); a plain word matches anywhere in the name
    ('cnn' is '*cnn*'). With --pretrained, list the published weight sets as NAME.TAG instead, which
    `zoo_core.create_model("NAME.TAG", pretrained=True)` loads. With --recipes, list the registered training
    recipes (zoo train MODEL --recipe NAME) with the models they are for; with --energy, the SOP / energy
    conventions (zoo eval MODEL --energy NAME: the default zoo and the papers' own).
    """

    name = "list"
    help = (
        "list models (--pretrained: their published weight sets; --recipes: training recipes; --energy: energy "
        "conventions)"
    )

    def configure(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "pattern", nargs="?", default="*", metavar="PATTERN", help="filter (default: all)"
        )
        parser.add_argument(
            "--pretrained", action="store_true", help="list published weight sets as NAME.TAG"
        )
        parser.add_argument(
            "--recipes", action="store_true", help="list training recipes (zoo train MODEL --recipe NAME)"
        )
        parser.add_argument(
            "--energy",
            action="store_true",
            help="list SOP / energy conventions (zoo eval MODEL --energy NAME) with the models they are for",
        )
        parser.add_argument("--json", action="store_true", help="print a JSON array")

    def run(self, args: argparse.Namespace) -> int:
        if args.recipes and args.energy:
            raise CLIError("--recipes and --energy list different things; give one")
        regs = _catalog().registries
        if args.recipes or args.energy:
            kind, what = (
                ("recipe", "recipes") if args.recipes else ("energy_convention", "energy conventions")
            )
            names = regs[kind].names(pattern_arg(args.pattern))
            if args.json:
                print(as_json(names))
            for name in [] if args.json else names:
                info = regs[kind].get(name).info
                print(f"{name}  [{', '.join(info.models) or 'any model'}]  {info.description}".rstrip())
            if not names:
                note(
                    f"no {what}" + (f" match {args.pattern!r}" if args.pattern != "*" else " are registered")
                )
            return EXIT_OK
        names = _model_names(regs["model"], pattern_arg(args.pattern), args.pretrained)
        if args.json:
            print(as_json(names))
        elif names:
            print("\n".join(names))
        else:
            what = "published weight sets" if args.pretrained else "models"
            note(f"no {what}" + (f" match {args.pattern!r}" if args.pattern != "*" else " are registered"))
        return EXIT_OK


def _catalog() -> Any:
    """The registries to browse: from the plugins' static tables when current (no torch), else loaded."""
    from ..plugin_index import catalog  # lazy: zoo --help stays torch-free

    return catalog()


def _model_names(reg: Any, pattern: str, pretrained: bool) -> list[str]:
    """``zoo.list_models(pattern, pretrained)`` on the registry ``reg``."""
    if not pretrained:
        return reg.names(pattern)  # type: ignore[no-any-return]
    full = [f"{n}.{tag}" for n in reg.names() for tag in reg.get(n).info.weights]
    return sorted(
        f for f in full if fnmatch.fnmatchcase(f, pattern) or fnmatch.fnmatchcase(f.split(".")[0], pattern)
    )


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
        if is_source_name(args.name):
            return _describe_source(args.name, args.json)
        cat = _catalog()
        kind, info, also = _lookup(cat, args.name, args.kind)
        if also:
            note(
                f"{info.name!r} is also a {', '.join(kind_label(k) for k in also)}; "
                "use --kind to show another"
            )
        if args.json:
            print(as_json(dump_info(info)))
        else:
            print("\n".join(_describe(kind, info, cat)))
        return EXIT_OK


def _describe_source(source: str, as_json_: bool) -> int:
    """``zoo info hf://owner/repo``: the weight folder's model (as ``zoo info MODEL``) and what its config records."""
    from ..api import model_info  # lazy: zoo --help stays torch-free
    from ..hub import read_config, resolve_source  # lazy: zoo --help stays torch-free
    from ..plugins import runtime  # lazy: zoo --help stays torch-free

    folder = resolve_source(source)
    cfg = read_config(folder)
    info = model_info(cfg["model"])
    if as_json_:
        print(as_json({"source": source, "folder": str(folder), "config": cfg, "model": dump_info(info)}))
        return EXIT_OK
    print(f"{source}: weights of {cfg['model']}" + (f" (tag {cfg['tag']})" if cfg.get("tag") else ""))
    print(f"  folder      {folder}")
    metrics = cfg.get("metrics") or {}
    if metrics:
        print(
            "  metrics     "
            + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())
        )
    print(f"  arguments   {fmt_value(cfg.get('args', {}))}")
    print("\n".join(_describe("model", info, runtime())))
    return EXIT_OK


def _lookup(cat: Any, name: str, only: str | None) -> tuple[str, Any, list[str]]:
    """(kind, info, other kinds holding the name) for ``name`` in the catalogue ``cat``; raise a helpful error
    if nothing has it."""

    from ..errors import UnknownNameError  # lazy: zoo --help stays torch-free
    from ..plugins import split_tag  # lazy: zoo --help stays torch-free

    regs = cat.registries
    kinds = (only,) if only else INFO_KINDS
    base, tag = split_tag(name)
    found = [k for k in kinds if (base if k == "model" else name) in regs[k]]
    if not found:
        if only:
            raise UnknownNameError(kind_label(only), base if only == "model" else name, regs[only].names())
        owner_of = {n: k for k in reversed(INFO_KINDS) for n in regs[k].names()}
        close = difflib.get_close_matches(base, list(owner_of), n=5, cutoff=0.6)
        hint = (
            "; closest: " + ", ".join(f"{c} ({kind_label(owner_of[c])})" for c in close)
            if close
            else "; `zoo list` and `zoo neurons` show what is registered"
        )
        raise CLIError(
            f"no model, neuron, surrogate, learning rule, dataset, task or kernel is named {name!r}{hint}"
        )
    kind = found[0]
    info = regs[kind].get(base if kind == "model" else name).info
    if kind == "model" and tag is not None and tag not in info.weights:
        published = ", ".join(f"{base}.{t}" for t in info.weight_tags) or "none"
        raise CLIError(f"model {base!r} has no weight tag {tag!r}; published weights: {published}")
    return kind, info, found[1:]


def _owner(cat: Any, owner: str) -> str:
    p = cat.plugins.get(owner)
    if p is None:
        return f"{owner} (registered in-process)"
    dist = " ".join(x for x in (p.distribution, p.version) if x)
    return f"{owner} ({dist})" if dist else owner


def _dims(spec: Any, defaults: dict[str, Any]) -> str:
    out = []
    for d in spec.shape:
        if isinstance(d, str) and d in getattr(spec, "free", {}):  # the static index may predate free=
            out.append(f"{d}=any")
        elif isinstance(d, str) and d in defaults:
            v = defaults[d]
            out.append(f"{d}={v[0] if isinstance(v, list | tuple) else v}")
        else:
            out.append(str(d))
    return f"{spec.name} [{', '.join(out)}] ({spec.kind})"


def _describe(kind: str, info: Any, cat: Any) -> list[str]:
    """Human-readable lines for one registry entry (``cat``: the runtime or catalogue that holds it)."""
    rows: list[tuple[str, str]] = [("plugin", _owner(cat, info.plugin))]
    p = info.paper
    rows += [
        ("paper", p.title),
        ("authors", "; ".join(p.authors) or "-"),
        ("venue", " ".join(str(x) for x in (p.venue, p.year) if x) or "-"),
    ]
    if p.url:
        rows.append(("url", p.url))
    handled = {"name", "kind", "plugin", "paper", "defaults", "description", "io", "weights", "metrics"}
    for field in type(info).model_fields:
        if field not in handled:
            value = getattr(info, field)
            if value not in ({}, [], (), None, ""):
                rows.append((field.replace("_", " "), fmt_value(value)))
    if kind in ("model", "task"):
        io = info.io
        for spec in io.inputs:
            rows.append(("input", _dims(spec, info.defaults)))
        rows.append(("output", _dims(io.output, info.defaults)))
        if io.description:
            rows.append(("", io.description))
    for i, m in enumerate(getattr(info, "metrics", ()) if kind == "task" else ()):
        rows.append(("metrics" if i == 0 else "", f"{m.name} ({m.direction} is better): {m.definition}"))
    rows.append(("defaults", fmt_value(info.defaults)))
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
    head = [f"{info.name} ({kind_label(kind)})"]
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
        reg = _catalog().registries["neuron"]
        infos = [reg.get(n).info for n in reg.names(pattern_arg(args.pattern))]
        if args.json:
            print(as_json([dump_info(i) for i in infos]))
        elif infos:
            rows = [(i.name, i.plugin, short_paper(i.paper), fmt_value(i.defaults)) for i in infos]
            print("\n".join(table(("NAME", "PLUGIN", "PAPER", "DEFAULTS"), rows)))
        else:
            note(f"no neurons match {args.pattern!r}")
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
        from ..plugins import ZooPluginWarning  # lazy: zoo --help stays torch-free

        warnings.simplefilter("ignore", ZooPluginWarning)  # the table reports every failure already
        found = _catalog().plugins
        plugins = sorted(
            found.values(), key=lambda p: (p.name != "zoo_core", p.name)
        )  # as zoo.list_plugins()
        if args.json:
            print(as_json([dump_info(p) for p in plugins]))
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
        lines = table(("NAME", "DISTRIBUTION", "VERSION", "API", "STATUS", "REGISTERED"), rows)
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
        parts.append(f"{kind_label(kind)}: {', '.join(shown)}")
    return "; ".join(parts) or "-"
