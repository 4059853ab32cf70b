"""``zoo new-plugin``: write a plugin skeleton from the templates shipped in ``zoo_core/templates/plugin``."""

from __future__ import annotations

import argparse
import keyword
import os
import re
import shutil
import tempfile
from importlib import metadata
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..version import __version__
from .base import EXIT_OK, CLIError, Command, command, note


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

        problem = plugin_name_problem(args.name)
        if problem:
            raise CLIError(problem)
        if _installed_plugin(args.name):
            note(
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
    from ..plugins import API_VERSION  # lazy: zoo --help stays torch-free

    return {
        "name": name,
        "Name": "".join(part.capitalize() for part in name.split("_")),
        "api_version": API_VERSION,
        "core_version": __version__,
    }


def render_template(text: str, variables: dict[str, str]) -> str:
    """Replace every ``{{key}}`` in ``text``; an unknown key is an error (no str.format: code has braces)."""

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

    problem = plugin_name_problem(name)
    if problem:
        raise ConfigError(problem)
    parent = Path(parent)
    dest = parent / name
    if dest.exists() or dest.is_symlink():
        raise FileExistsError(
            f"{dest} already exists; refusing to overwrite it (remove it or choose another --dir)"
        )
    variables = template_variables(name)
    templates = _template_files(files("zoo_core") / "templates" / "plugin")
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

    from ..plugins import ENTRY_POINT_GROUP  # lazy: zoo --help stays torch-free

    return any(ep.name == name for ep in metadata.entry_points(group=ENTRY_POINT_GROUP))
