#!/usr/bin/env bash
# The GPU checks of issue 17 item 6, in one run on a machine with a CUDA GPU (this project's CI has none):
#   1. the Triton kernels compiled for the GPU (no TRITON_INTERPRET) against the CPU reference,
#   2. tools/bench_neurons.py --device cuda (zoo's LIF kernels against SpikingJelly's where installed),
#   3. tools/bench_models.py --device cuda (every plugin's main model, each kernel path).
# Everything it prints goes to stdout and, with OUT set, into $OUT/*.txt (and bench JSON where the tools write it).
#   OUT=/tmp/gpu bash tools/gpu_check.sh
# On a lent device machine (python3 with torch and triton, no network): run tools/gpu_prepare.sh here first, then
#   run(command="bash tools/gpu_check.sh", carry=[".gpu"], timeout_s=590)
# (limits per step: TESTS_S=240, NEURONS_S=120, MODELS_S=180 seconds by default)
# which installs .gpu/whl (zoo-core, the plugins, pydantic, SpikingJelly...) into a folder on PYTHONPATH.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PY:-}" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
OUT=${OUT:-/tmp/zoo-gpu}
mkdir -p "$OUT"
unset TRITON_INTERPRET
if [ -d .gpu/whl ]; then
  SITE=${ZOO_GPU_SITE:-/tmp/zoo-gpu-site}
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .gpu/whl/*.whl \
    || { echo "gpu_check: installing .gpu/whl failed" >&2; exit 1; }
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
  $PY -c "import zoo_core as zoo; print('zoo-core', zoo.__version__, 'models', len(zoo.list_models()), \
'plugins', len(zoo.list_plugins()))" || exit 1
fi
{
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
  $PY -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'triton', triton.__version__, torch.cuda.get_device_name(0))"
} 2>&1 | tee "$OUT/device.txt"
# each step under its own time limit (seconds; the device tool allows 600 per call), so that one slow step leaves
# the others' results; what a step printed before its limit is kept in $OUT
export PYTHONUNBUFFERED=1
timeout "${TESTS_S:-240}" $PY -m pytest -q -p no:cacheprovider tests/test_kernels_cuda.py 2>&1 | tail -20 \
  | tee "$OUT/kernels_cuda.txt"
timeout "${NEURONS_S:-120}" $PY tools/bench_neurons.py --device cuda --json "$OUT/bench_neurons.json" 2>&1 \
  | tee "$OUT/bench_neurons.txt"
timeout "${MODELS_S:-180}" $PY tools/bench_models.py --device cuda 2>&1 | tee "$OUT/bench_models.txt"
