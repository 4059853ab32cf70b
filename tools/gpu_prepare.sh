#!/usr/bin/env bash
# Prepares, on this machine (PyPI reachable), what tools/gpu_check.sh installs on a lent GPU machine, whose
# python3 holds torch, triton, numpy, pluggy, safetensors, tqdm, scikit-learn, huggingface_hub and pytest but
# not pydantic, and which reaches no network. Into .gpu/whl (ignored by git; about 8 MB):
#   - zoo-core and every plugin under plugins/, as wheels built from this checkout (no dependencies),
#   - pydantic with its compiled core, annotated-types and typing-inspection, at this venv's versions,
#   - SpikingJelly 2.0.0 with loguru, and snnTorch 1.0.0: bench_neurons.py's comparison columns.
# The binary ones are fetched for the device's Python (3.12 by default: GPU_PYTHON=3.11 for another) on
# manylinux x86-64. Then, with the device tool: run(command="bash tools/gpu_check.sh", carry=[".gpu"]).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(realpath -s "$(command -v "${PY:-.venv/bin/python}")")  # absolute, the venv's link kept
GPU_PYTHON=${GPU_PYTHON:-3.12}
WHL=.gpu/whl
rm -rf "$WHL"
mkdir -p "$WHL"
version() { $PY -c "import importlib.metadata as m; print(m.version('$1'))"; }
# built from a copy of the working tree (tracked and untracked-not-ignored files), so that setuptools' build/
# folders land there and not in the checkout
SRC=$(mktemp -d)
trap 'rm -rf "$SRC"' EXIT
git ls-files -z --cached --others --exclude-standard | tar -c --null -T - --ignore-failed-read 2>/dev/null \
  | tar -x -C "$SRC"
(cd "$SRC" && "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$OLDPWD/$WHL" . plugins/*/)
platforms=()
for p in manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux_2_27_x86_64 manylinux_2_28_x86_64 \
    manylinux_2_34_x86_64; do
  platforms+=(--platform "$p")
done
$PY -m pip download -q --no-deps --only-binary=:all: --python-version "$GPU_PYTHON" --implementation cp \
  "${platforms[@]}" -d "$WHL" \
  "pydantic==$(version pydantic)" "pydantic-core==$(version pydantic-core)" \
  "annotated-types==$(version annotated-types)" "typing-inspection==$(version typing-inspection)" \
  spikingjelly==2.0.0 loguru==0.7.3 snntorch==1.0.0
ls -1 "$WHL"
du -sh "$WHL"
