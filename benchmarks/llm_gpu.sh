#!/usr/bin/env bash
# GPU recipe (issue 18, item 4): the SmolLM2 LLM bench at a scale the CPU cannot reach (full
# fine-tuning in bf16, a few hundred steps per unit, 5 seeds, v2 prompts; dpo, ipo, orpo,
# simpo on `mixed`); what it runs and how it budgets is in benchmarks/llm_gpu.py's docstring
# and docs/scaling.md ("The LLM recipe on a GPU").
#
#   bash benchmarks/llm_gpu.sh                  # one GPU: <= 8 minutes (hard cap 470 s)
#   bash benchmarks/llm_gpu.sh --cpu-smoke      # every code path on the CPU, tiny sizes
#   bash benchmarks/llm_gpu.sh --dry-run        # the plan and its commands; runs nothing
#   bash benchmarks/llm_gpu.sh --prepare-carry  # here, before a device session: .llm_gpu/
#   bash benchmarks/llm_gpu.sh --stage          # device call 1 of 2 (wheels, GGUF part 1)
#
# Prints everything; with $OUT set, the results go there (llm_gpu.json, llm_gpu.log,
# summary.md/.csv, the two plots, units.csv, cards.json).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3 || command -v python)}
"$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('mirrorpo') is None)" \
    || export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
# MuJoCo is imported (mirrorpo's package) but never renders here: no GL libraries needed
export MUJOCO_GL=${MUJOCO_GL:-disable} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TQDM_DISABLE=1
case " $* " in
    *" --prepare-carry "*|*" --dry-run "*) exec "$PY" benchmarks/llm_gpu.py "$@" ;;
    *" --stage "*) nvidia-smi || true; exec timeout 280 "$PY" benchmarks/llm_gpu.py "$@" ;;
    *" --cpu-smoke "*) ;;
    *) nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true ;;
esac
# the script budgets 430 s of its own; the hard cap keeps the whole run under 8 minutes
if [[ -n "${OUT:-}" ]]; then
    mkdir -p "$OUT"
    set -o pipefail
    timeout 470 "$PY" benchmarks/llm_gpu.py "$@" 2>&1 | tee "$OUT/llm_gpu.log"
else
    exec timeout 470 "$PY" benchmarks/llm_gpu.py "$@"
fi
