"""The shape of the code, checked from the source: imports run one way (no cycle inside ``zoo_core``, no layer
importing a layer above it), imports inside functions say why, no core code outside ``zoo_core/tasks`` branches on
a task name, and plugins import only ``zoo_core`` and ``zoo_core.sdk``.

The import graph holds every ``import``/``from ... import`` in the source (module level, inside functions, under
``if TYPE_CHECKING``); ``from package import name`` is an edge to ``package.name`` when that is a module. The
layers are the README's architecture section.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import zoo_core as zoo

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "zoo_core"

#: bottom to top; a module may import its own layer or lower ones (cycles inside a layer are caught apart)
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("zoo_core.version", "zoo_core.errors", "zoo_core.info", "zoo_core.registry")),
    ("plugin runtime", ("zoo_core.plugins", "zoo_core.plugin_index")),
    ("validators", ("zoo_core.checks",)),
    ("kernels", ("zoo_core.kernels",)),
    ("neurons", ("zoo_core.neurons",)),
    ("layers", ("zoo_core.layers",)),
    (
        "models, learning rules, profiling",
        ("zoo_core.models", "zoo_core.learning", "zoo_core.profiling", "zoo_core.memory"),
    ),
    ("data", ("zoo_core.data",)),
    ("hub", ("zoo_core.hub",)),
    ("tasks", ("zoo_core.tasks",)),
    ("core registrations", ("zoo_core.builtins",)),
    ("public API", ("zoo_core.api",)),
    (
        "on the API",
        (
            "zoo_core.sdk",
            "zoo_core.testing",
            "zoo_core.testing_parity",
            "zoo_core.timm_interop",
            "zoo_core.viz",
            "zoo_core",
        ),
    ),
    ("command line", ("zoo_core.cli",)),
]


@dataclass(frozen=True)
class Import:
    source: str
    target: str
    line: int
    in_function: bool
    reason: bool


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str, root: Path) -> bool:
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def _resolve(path: Path, node: ast.ImportFrom, root: Path) -> str:
    if not node.level:
        return node.module or ""
    package = module_name(path, root).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join([*package, *([node.module] if node.module else [])])


def imports_of(path: Path, root: Path = ROOT, prefix: str = "zoo_core") -> Iterator[Import]:
    """Every import in ``path`` of a module under ``prefix`` (targets resolved to modules)."""
    text = path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    source = module_name(path, root)
    functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    inside = {id(n) for f in functions for n in ast.walk(f) if n is not f}

    def reason(line: int) -> bool:
        here = lines[line - 1]
        above = lines[line - 2].strip() if line >= 2 else ""
        return "#" in here or above.startswith("#")

    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(path, node, root)
            for a in node.names:
                sub = f"{base}.{a.name}" if base else a.name
                targets.append(sub if _is_module(sub, root) else base)
        for t in targets:
            if t == prefix or t.startswith(prefix + "."):
                yield Import(source, t, node.lineno, id(node) in inside, reason(node.lineno))


def core_imports() -> list[Import]:
    return [i for p in sorted(CORE.rglob("*.py")) for i in imports_of(p)]


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(edges.get(n, ())):
            if state.get(m) == 1:
                return [*stack[stack.index(m) :], m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def layer_of(module: str) -> int:
    best, rank = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    if rank < 0:
        raise AssertionError(
            f"{module} belongs to no layer; add it to LAYERS (and the README's architecture)"
        )
    return rank


def test_no_import_cycle_inside_zoo_core() -> None:
    edges: dict[str, set[str]] = {}
    for i in core_imports():
        if i.source != i.target:
            edges.setdefault(i.source, set()).add(i.target)
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_find_cycle_names_a_cycle() -> None:  # the detector itself
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_imports_run_down_the_layers() -> None:
    upward = [
        f"{i.source} ({LAYERS[layer_of(i.source)][0]}) imports {i.target} ({LAYERS[layer_of(i.target)][0]}), "
        f"line {i.line}"
        for i in core_imports()
        if layer_of(i.target) > layer_of(i.source)
    ]
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def _has_reason(lines: list[str], line: int) -> bool:
    """A comment on the import's line, or above the run of import lines it belongs to."""
    i = line - 1
    while True:
        if "#" in lines[i]:
            return True
        above = lines[i - 1].strip() if i >= 1 else ""
        if above.startswith("#"):
            return True
        if not above.startswith(("import ", "from ")):
            return False
        i -= 1


def test_imports_inside_functions_give_a_reason() -> None:
    silent = []
    for p in sorted(CORE.rglob("*.py")):
        tree = ast.parse(p.read_text())
        lines = p.read_text().splitlines()
        for f in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            for node in ast.walk(f):
                if isinstance(node, ast.Import | ast.ImportFrom) and not _has_reason(lines, node.lineno):
                    silent.append(f"{p.relative_to(ROOT)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    assert not silent, "imports inside functions without a one-line reason:\n" + "\n".join(silent)


def test_the_hub_never_builds_a_model_by_name() -> None:
    builds = []
    for p in sorted((CORE / "hub").rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Call):
                fn = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                first = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else None
                if fn in ("create_model", "load_pretrained") or (fn == "create" and first == "model"):
                    builds.append(f"{p.relative_to(ROOT)}:{node.lineno}")
    assert not builds, builds


def test_the_cli_is_imported_only_by_itself() -> None:
    outside = [
        i
        for i in core_imports()
        if i.target.startswith("zoo_core.cli") and not i.source.startswith("zoo_core.cli")
    ]
    assert not outside, outside


#: a comparison with a task: `.task == "..."`, `task != ...`, `"video-prediction" in ...`, ...
#: any registered task name, quoted
_TASK_NAME = "[\"'](?:" + "|".join(re.escape(t) for t in zoo.list_tasks()) + ")[\"']"
TASK_BRANCH = re.compile(
    rf"""\.task\s*(==|!=|\bin\b|\bnot\s+in\b)|\btask(_name)?\s*(==|!=)|(==|!=)\s*{_TASK_NAME}|"""
    rf"""{_TASK_NAME}\s*(==|!=|\bin\b|\bnot\s+in\b)"""
)


def task_branches(paths: list[Path]) -> list[str]:
    found = []
    for p in paths:
        for n, line in enumerate(p.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if TASK_BRANCH.search(code):
                found.append(f"{p}:{n}: {line.strip()}")
    return found


def test_no_task_branch_outside_the_tasks_package() -> None:
    paths = [p for p in sorted(CORE.rglob("*.py")) if "tasks" not in p.relative_to(CORE).parts]
    assert not task_branches(paths), "\n".join(task_branches(paths))


def test_the_task_branch_detector_detects(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text(
        'if info.task == "video-prediction":\n    pass\nok = info.task\nif "image-classification" in tasks:\n'
        '    register(name, task="video-prediction")  # a keyword, not a branch\n'
    )
    assert [int(f.split(":")[1]) for f in task_branches([tmp_path / "x.py"])] == [1, 4]


PLUGIN_CODE_MAY_IMPORT = {"zoo_core", "zoo_core.sdk"}
PLUGIN_TESTS_MAY_IMPORT = PLUGIN_CODE_MAY_IMPORT | {
    "zoo_core.testing",
    "zoo_core.cli",
    "zoo_core.testing_parity",
}


def plugin_files() -> list[tuple[str, Path, bool]]:
    out = []
    for plugin in sorted(p for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file()):
        for f in sorted(plugin.rglob("*.py")):
            # scripts/ (official-parity and other developer scripts) may import what tests may
            out.append((plugin.name, f, bool({"tests", "scripts"} & set(f.relative_to(plugin).parts))))
    return out


@pytest.mark.parametrize(
    "plugin", sorted(p.name for p in (ROOT / "plugins").iterdir() if (p / "pyproject.toml").is_file())
)
def test_plugins_import_only_zoo_core_and_the_sdk(plugin: str) -> None:
    bad = []
    others = {f"zoo_{p.name}" for p in (ROOT / "plugins").iterdir()} - {f"zoo_{plugin}"}
    for name, f, is_test in plugin_files():
        if name != plugin:
            continue
        allowed = PLUGIN_TESTS_MAY_IMPORT if is_test else PLUGIN_CODE_MAY_IMPORT
        for node in ast.walk(ast.parse(f.read_text())):
            mods = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            for m in mods:
                top = m.split(".")[0]
                if (m.startswith("zoo_core") and m not in allowed) or top in others:
                    bad.append(f"{f.relative_to(ROOT)}:{node.lineno}: imports {m}")
    assert not bad, "\n".join(bad)
