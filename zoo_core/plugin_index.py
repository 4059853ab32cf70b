"""Static plugin tables: what each plugin registers, readable without importing it (and so without torch).

Importing a plugin imports torch (seconds), but browsing the zoo (``zoo list``, ``zoo info``, ``zoo plugins``,
``zoo neurons``) needs only the registries' metadata. Each plugin package, and the core, ships a generated
``zoo_index.json`` beside its ``__init__.py``::

    {"format": 1, "plugin": "empf", "module": "zoo_empf.plugin", "api_version": "1.3",
     "core_version": "0.2.0", "source_sha256": "...", "entries": {"model": {"empf_digits": {...}}, ...}}

``entries`` holds every registry entry the plugin owns as its metadata (:mod:`zoo_core.info`) in JSON.
:func:`load_catalog` locates each installed plugin's package with :func:`importlib.util.find_spec` (which does
not run it) and fills fresh registries from the tables. A table is used only when it is current: same format,
entry-point name and module, the zoo-core version it was made with, an API version this core serves, and
``source_sha256`` equal to the SHA-256 of the package's ``.py`` and ``.json`` files (an edited plugin, an
editable install included, is never described by an old table), and every unconditional requirement of its
distribution installed. If any plugin has no current table, misses a requirement, or two tables clash,
:func:`load_catalog` returns ``None`` and the caller loads the plugins for real: the tables make browsing fast,
not different. What a table cannot know is whether the plugin's import would fail for another reason (a
broken dependency); ``ZOO_STATIC_INDEX=0`` turns the tables off, so ``ZOO_STATIC_INDEX=0 zoo plugins`` imports
every plugin and reports each failure.

``python -m zoo_core.plugin_index`` (or ``tools/make_index.py`` in the checkout) regenerates the tables from the
live registry (:func:`write_tables`; ``--check`` only compares); the test suite checks each shipped table equals
:func:`make_table` of the live registry. A plugin ships its table as package data (``zoo_index.json`` in its
``[tool.setuptools.package-data]``).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from . import plugins
from .errors import PluginError, ZooError
from .info import PluginInfo
from .registry import KINDS, Registries
from .version import __version__

INDEX_FILE = "zoo_index.json"
#: version of the table layout; a table of another format is ignored
INDEX_FORMAT = 1
#: the files whose content the tables depend on (registration code and the metadata files it may read)
HASHED_SUFFIXES = (".py", ".json")


def _off() -> bool:
    return os.environ.get("ZOO_STATIC_INDEX", "").strip().lower() in ("0", "false", "no", "off")


def package_dir(module: str) -> Path | None:
    """The folder of the top-level package of ``module`` (``"zoo_empf.plugin"`` -> ``.../zoo_empf``), found
    without importing it (:func:`importlib.util.find_spec` of a top-level name runs no package code)."""
    top = module.split(":")[0].split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]) if len(locations) == 1 else None


def source_digest(folder: Path) -> str:
    """SHA-256 over the relative paths and bytes of every ``.py`` and ``.json`` file under ``folder`` (sorted;
    ``__pycache__`` and the table itself left out)."""
    h = hashlib.sha256()
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.endswith(".egg-info")]
        files += [Path(root, n) for n in names if n.endswith(HASHED_SUFFIXES) and n != INDEX_FILE]
    for path in sorted(files, key=lambda p: p.relative_to(folder).as_posix()):
        h.update(path.relative_to(folder).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


# ------------------------------------------------------------------------------------------------ writing
def _plain(value: Any) -> Any:
    """Tuples as lists: what JSON keeps of a value (the CLI prints both alike)."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def make_table(rt: plugins.Runtime, name: str) -> dict[str, Any]:
    """The table of plugin ``name`` (``"zoo_core"``: the built-ins) as the loaded runtime ``rt`` sees it.

    Raises :class:`PluginError` if the plugin is not loaded, or if an entry's metadata does not survive JSON
    (e.g. a default that is a class): such a plugin ships no table and is imported to be browsed.
    """
    info = rt.plugins.get(name)
    if info is None or not info.ok:
        raise PluginError(f"plugin {name!r} is not loaded ({info.status if info else 'not installed'})")
    folder = package_dir(info.module or "")
    if folder is None:
        raise PluginError(f"plugin {name!r}: cannot locate the package of {info.module!r}")
    entries: dict[str, dict[str, Any]] = {}
    for kind in KINDS:
        for entry_name in info.registered.get(kind, []):
            meta = rt.registries[kind].get(entry_name).info
            try:
                dumped = meta.model_dump(mode="json")
                back = type(meta).model_validate(json.loads(json.dumps(dumped)))
                exact = _plain(back.model_dump()) == _plain(meta.model_dump())
            except (TypeError, ValueError):  # pydantic's serialisation and validation errors are ValueErrors
                exact = False
            if not exact:
                raise PluginError(
                    f"plugin {name!r}: the metadata of {kind} {entry_name!r} does not survive JSON (a default "
                    "that is not a number, string, list or dict?); it cannot have a static table"
                )
            entries.setdefault(kind, {})[entry_name] = dumped
    return {
        "format": INDEX_FORMAT,
        "plugin": name,
        "module": info.module,
        "api_version": info.api_version,
        "core_version": __version__,
        "source_sha256": source_digest(folder),
        "entries": entries,
    }


def table_text(table: dict[str, Any]) -> str:
    """A table as written to disk (stable: the same registry gives the same bytes)."""
    return json.dumps(table, indent=1, ensure_ascii=False) + "\n"


def write_tables(
    rt: plugins.Runtime, names: Iterable[str] | None = None, check: bool = False
) -> dict[str, str]:
    """Write (or with ``check``, only compare) the table of each plugin in ``names`` (default: every loaded
    one). Returns plugin -> ``"written"``, ``"current"``, ``"stale"`` (check mode) or ``"skipped: why"``."""
    out: dict[str, str] = {}
    for name in names if names is not None else sorted(rt.plugins):
        try:
            table = make_table(rt, name)
        except PluginError as exc:
            out[name] = f"skipped: {exc}"
            continue
        path = package_dir(str(table["module"])) / INDEX_FILE  # type: ignore[operator]
        text = table_text(table)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            out[name] = "current"
        elif check:
            out[name] = "stale"
        else:
            path.write_text(text, encoding="utf-8")
            out[name] = "written"
    return out


# ------------------------------------------------------------------------------------------------ reading
def read_table(name: str, module: str) -> dict[str, Any] | None:
    """The current table of plugin ``name`` whose entry point is ``module``, or ``None`` (none, stale, or
    unreadable)."""
    folder = package_dir(module)
    if folder is None:
        return None
    try:
        table = json.loads((folder / INDEX_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(table, dict):
        return None
    if (
        table.get("format") != INDEX_FORMAT
        or table.get("plugin") != name
        or table.get("module") != module
        or table.get("core_version") != __version__
        or not isinstance(table.get("entries"), dict)
    ):
        return None
    if name != plugins.CORE_OWNER:
        try:
            plugins.check_api_version(table.get("api_version"), name)
        except PluginError:
            return None  # loading it reports the refusal
    try:
        if table.get("source_sha256") != source_digest(folder):
            return None
    except OSError:
        return None
    return table


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _missing_requirements(dist: Any, installed: dict[str, bool]) -> list[str]:
    """The unconditional requirements (``Requires-Dist`` without a marker) of ``dist`` that are not installed:
    importing the plugin would fail, which only loading it reports (``installed`` caches the lookups)."""
    missing = []
    for req in getattr(dist, "requires", None) or []:
        m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", req)
        if m is None or ";" in req:
            continue
        name = _norm(m.group(0))
        if name not in installed:
            try:
                metadata.distribution(name)
                installed[name] = True
            except metadata.PackageNotFoundError:
                installed[name] = False
        if not installed[name]:
            missing.append(m.group(0))
    return missing


def _unloaded(*_: Any, **__: Any) -> Any:
    # the factory of an entry read from a table: building needs the plugin itself
    raise PluginError("this entry comes from a static plugin table; load the plugins to build it")


def _fill(regs: Registries, name: str, table: dict[str, Any]) -> None:
    for kind, entries in table["entries"].items():
        for entry_name, meta in entries.items():
            if kind == "model" and meta.get("task") not in regs["task"]:
                # loading would refuse the model (its task comes from a plugin that is missing or disabled)
                raise PluginError(f"model {entry_name!r} names an unregistered task")
            meta = {k: v for k, v in meta.items() if k not in ("name", "plugin")}
            regs[kind].add(entry_name, _unloaded, name, **meta)


@dataclass
class Catalog:
    """Registries and plugins read from static tables: the metadata of everything, no factory that builds."""

    registries: Registries
    plugins: dict[str, PluginInfo] = field(default_factory=dict)


def load_catalog(
    entry_points: Callable[[], Iterable[metadata.EntryPoint]] | None = None,
) -> Catalog | None:
    """The registries as loading every plugin would fill them, read from the static tables; ``None`` when a
    plugin has no current table, two tables clash, or ``ZOO_STATIC_INDEX=0`` (then load the plugins)."""
    if _off():
        return None
    regs = Registries()
    found: dict[str, PluginInfo] = {}
    core = read_table(plugins.CORE_OWNER, plugins.BUILTINS_MODULE)
    if core is None:
        return None
    eps = (entry_points or (lambda: metadata.entry_points(group=plugins.ENTRY_POINT_GROUP)))()
    installed: dict[str, bool] = {}
    disabled = plugins._env_list("ZOO_DISABLE_PLUGINS")
    try:
        _fill(regs, plugins.CORE_OWNER, core)
        found[plugins.CORE_OWNER] = PluginInfo(
            name=plugins.CORE_OWNER,
            distribution="zoo-core",
            version=__version__,
            module=plugins.BUILTINS_MODULE,
            api_version=plugins.API_VERSION,
            registered=regs.owned_by(plugins.CORE_OWNER),
        )
        for ep in sorted(eps, key=lambda e: e.name):
            info = plugins.entry_point_info(ep)
            if ep.name in disabled:
                info.status = "disabled (ZOO_DISABLE_PLUGINS)"
                found[ep.name] = info
                continue
            table = None if ep.name in found else read_table(ep.name, ep.value)
            if table is None or _missing_requirements(getattr(ep, "dist", None), installed):
                return None
            _fill(regs, ep.name, table)
            info.api_version = table["api_version"]
            info.registered = regs.owned_by(ep.name)
            found[ep.name] = info
    except (ZooError, TypeError, ValueError):  # a clash, a malformed entry: loading for real tells
        return None
    return Catalog(regs, found)


def catalog() -> plugins.Runtime | Catalog:
    """What browsing commands read: the global runtime once it exists (it may hold in-process registrations),
    else the static tables when all are current, else the runtime (loading every plugin)."""
    if plugins._RUNTIME is None:
        static = load_catalog()
        if static is not None:
            return static
    return plugins.runtime()


def main(argv: list[str] | None = None) -> int:
    """``python -m zoo_core.plugin_index [--check] [PLUGIN ...]``: write (or check) the static tables of the core
    and every installed plugin (or only those named) in their package folders; exit 1 if one is stale."""
    parser = argparse.ArgumentParser(
        prog="python -m zoo_core.plugin_index",
        description="Write the static tables (zoo_index.json) of the core and the installed plugins, read by "
        "zoo list/info/plugins/neurons instead of importing the plugins.",
    )
    parser.add_argument("plugins", nargs="*", help="plugin names (default: the core and every installed one)")
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 if a table is stale")
    args = parser.parse_args(argv)
    rt = plugins.Runtime().ensure_loaded()
    unknown = sorted(set(args.plugins) - set(rt.plugins))
    if unknown:
        parser.error(f"not installed: {', '.join(unknown)}; installed: {', '.join(sorted(rt.plugins))}")
    result = write_tables(rt, args.plugins or None, check=args.check)
    for name, state in result.items():
        print(f"{name:24s} {state}")
    bad = [n for n, s in result.items() if s == "stale" or (args.check and s.startswith("skipped"))]
    if bad:
        print(f"stale or missing: {', '.join(bad)} (run python -m zoo_core.plugin_index)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
