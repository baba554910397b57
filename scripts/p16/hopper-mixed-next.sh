#!/bin/bash
# docs/protocols/hopper-mixed-{mpo,ta-mpo}.md after the MPO search and the tuning
# (hopper-mixed-run.sh): the TA-MPO search, then one confirmation of both candidates on the
# 10 fresh draws x 3 seeds of the 14:53 amendment. Frozen worktree, resumable.
#   scripts/p16/hopper-mixed-next.sh [PID to wait for]
set -e
TREE=/work/p16-tree
cd /work/main
export PYTHONPATH=$TREE/src
P=runs/p16/hopper-mixed
mp() { python -c 'from mirrorpo.cli import main; main()' "$@"; }
[ -n "$1" ] && while kill -0 "$1" 2>/dev/null; do sleep 30; done
[ -f $P/tune/tuned.json ] || { echo "no tuned.json yet: run hopper-mixed-run.sh first"; exit 1; }
echo "code: $(git -C $TREE rev-parse HEAD)"; date
POOL=$(echo $P/pool/s{0..7} | tr ' ' ',')
mp search --family ta-mpo --start dpo --data $POOL --pool --reseed --fitness-seeds 2 \
  --popsize 16 --generations 24 --strategy openai-es --seed 0 --episodes 10 --out $P/search-ta \
  $( [ -f $P/search-ta/state.json ] && echo --resume )
date
for S in 100 101 102 103 104 105 106 107 108 109; do
  [ -f $P/test/s$S/card.json ] || { echo "test draw s$S missing: scripts/p16/draws.sh hopper mixed"; exit 1; }
done
TEST=$(echo $P/test/s{100..109} | tr ' ' ',')
mp confirm --target "hopper mixed" --candidates $P/search/best.json,$P/search-ta/best.json \
  --tuned $P/tune/tuned.json --draws $TEST --seeds 3 --episodes 10 --candidate-steps 1000 \
  --candidate-learning-rate 1e-3 --out $P/confirm
date
echo ALLDONE
