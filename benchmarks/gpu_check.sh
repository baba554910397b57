#!/usr/bin/env bash
# GPU check (issue 17, item 5): population training and policy evaluation on CUDA against
# the CPU; what it measures is in benchmarks/gpu_check.py's docstring and docs/scaling.md.
#
#   bash benchmarks/gpu_check.sh               # one GPU, a bare machine: <= 8 minutes
#   bash benchmarks/gpu_check.sh --cpu-smoke   # every code path on the CPU, tiny sizes
#
# Prints everything to stdout; with $OUT set, the figures go to $OUT/gpu_check.json.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import mirrorpo" 2>/dev/null || export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
if [[ " $* " != *" --cpu-smoke "* ]]; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
fi
# the script budgets 420 s of its own; the hard cap keeps the whole check under 8 minutes
exec timeout 470 python benchmarks/gpu_check.py "$@"
