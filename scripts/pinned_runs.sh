#!/usr/bin/env bash
# A pinned small train run (dpo, orpo, an MPO loss file; 2 seeds, 20 steps) and a 2-generation
# search through the CLI, printing every member score, final loss and fitness. Run it with two
# source trees to show a refactor kept the numbers:
#   scripts/pinned_runs.sh OLD_TREE/src /tmp/old > old.txt; scripts/pinned_runs.sh src /tmp/new > new.txt
#   diff old.txt new.txt
set -euo pipefail
SRC=$1; OUT=$2
export PYTHONPATH=$SRC
if [ -e "$OUT" ]; then echo "$OUT: exists; give a new directory" >&2; exit 2; fi
mkdir -p "$OUT"
M="python -m mirrorpo.cli"
$M data make --env hopper --preset noisy-20 --pairs 64 --horizon 50 --seed 3 --out $OUT/data > $OUT/data.log 2>&1
python - "$OUT" <<'PY'
import sys
sys.path.insert(0, __import__('os').environ['PYTHONPATH'])
from mirrorpo.losses.mpo import MPOLoss, apo_zero_point
p = apo_zero_point()
MPOLoss("mpo", p).save(sys.argv[1] + "/apo.json")
PY
$M train --data $OUT/data --loss dpo --loss orpo --loss $OUT/apo.json --seeds 2 --steps 20 --episodes 2 --out $OUT/train > $OUT/train.log 2>&1
$M search --data $OUT/data --popsize 4 --generations 2 --steps 20 --episodes 2 --threads 2 --out $OUT/search > $OUT/search.log 2>&1
python - "$OUT" <<'PY'
import json, sys
o = sys.argv[1]
run = json.load(open(o + "/train/run.json"))
for n, m in run["members"].items():
    print("train", n, repr(m.get("score_sampled")), repr(m["curves"]["loss"][-1]))
st = json.load(open(o + "/search/state.json"))
for g in st["history"]:
    print("search fitness", g["fitness"])
print("search best", st["best"]["fitness"], st["best"]["vector"][:5])
PY
