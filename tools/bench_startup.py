#!/usr/bin/env python
"""Start-up time of the ``zoo`` command line and of ``import zoo_core``, each as a whole new process.

Every command runs as a fresh process (a cold interpreter; the OS file cache is warm after the first run) with
one thread; the commands are interleaved (each repeat runs all of them once, in a rotated order) and the median
wall time of the repeats is reported, with each command's ratio to ``python -c "import torch"`` measured in the
same interleaving. ``zoo list`` is measured twice: as shipped (the plugins' static tables, no torch) and with
``ZOO_STATIC_INDEX=0`` (importing every plugin, as before the tables). The last column says whether the
process imported torch.

Examples::

    python tools/bench_startup.py               # 5 repeats
    python tools/bench_startup.py --repeats 9 --json startup.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: run the CLI and report on stderr whether torch was imported
CLI = (
    "import sys; from zoo_core.cli import main; rc = main(sys.argv[1:]); "
    "sys.stderr.write('\\nTORCH=%d\\n' % ('torch' in sys.modules)); raise SystemExit(rc)"
)
PY = "import sys, {m}; sys.stderr.write('\\nTORCH=%d\\n' % ('torch' in sys.modules))"


def cases() -> list[tuple[str, list[str], dict[str, str]]]:
    """(label, argv, extra environment) of every measured command."""
    py = sys.executable
    return [
        ('python -c "pass"', [py, "-c", PY.format(m="os")], {}),
        ('python -c "import torch"', [py, "-c", PY.format(m="torch")], {}),
        ('python -c "import zoo_core"', [py, "-c", PY.format(m="zoo_core")], {}),
        ("zoo --help", [py, "-c", CLI, "--help"], {}),
        ("zoo list", [py, "-c", CLI, "list"], {}),
        ("zoo info spiking_cnn", [py, "-c", CLI, "info", "spiking_cnn"], {}),
        ("zoo plugins", [py, "-c", CLI, "plugins"], {}),
        ("zoo list (ZOO_STATIC_INDEX=0)", [py, "-c", CLI, "list"], {"ZOO_STATIC_INDEX": "0"}),
    ]


def run_once(argv: list[str], extra: dict[str, str]) -> tuple[float, bool]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZOO_")}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", **extra)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{argv[2:]} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return dt, proc.stderr.rstrip().endswith("TORCH=1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="processes per command (default 5)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    todo = cases()
    times: dict[str, list[float]] = {label: [] for label, _, _ in todo}
    torch_loaded: dict[str, bool] = {}
    for _label, cmd, extra in todo:  # one warm-up each: the file cache, .pyc files
        run_once(cmd, extra)
    for r in range(args.repeats):
        order = todo[r % len(todo) :] + todo[: r % len(todo)]
        for label, cmd, extra in order:
            dt, loaded = run_once(cmd, extra)
            times[label].append(dt)
            torch_loaded[label] = loaded
    torch_s = statistics.median(times['python -c "import torch"'])
    rows = []
    for label, _, _ in todo:
        med = statistics.median(times[label])
        rows.append(
            {
                "command": label,
                "median_s": med,
                "vs_import_torch": med / torch_s,
                "torch": torch_loaded[label],
            }
        )
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, 1 thread, median of {args.repeats} interleaved fresh processes"
    )
    width = max(len(r["command"]) for r in rows)
    print(f"{'command'.ljust(width)}  median s  x import torch  torch imported")
    for r in rows:
        print(
            f"{r['command'].ljust(width)}  {r['median_s']:8.3f}  {r['vs_import_torch']:13.2f}  "
            f"{'yes' if r['torch'] else 'no'}"
        )
    zoo_core_extra = statistics.median(times['python -c "import zoo_core"']) - statistics.median(
        times['python -c "pass"']
    )
    print(f"import zoo_core costs {zoo_core_extra:.3f} s over a bare interpreter (it does not import torch)")
    if args.json:
        args.json.write_text(
            json.dumps({"repeats": args.repeats, "rows": rows, "zoo": shutil.which("zoo")}, indent=1)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
