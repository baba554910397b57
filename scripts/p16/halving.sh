#!/bin/bash
# Issue 17's successive-halving measurement (queue.sh lane A, step 1b), run ahead of lane A:
# the same two 12-generation searches, same commands and tree, so lane A skips them once their
# best files exist. The confirmation rows that score them still wait for the Hopper mixed
# confirmation in lane A.
#   nohup nice -n 10 scripts/p16/halving.sh > runs/p17/halving.log 2>&1 &
set -e
cd /work/main
T3=/work/p16-tree3 P=runs/p16/hopper-mixed H=runs/p17/halving
for KIND in plain halving; do
  if [ ! -f $H/$KIND-best.json ]; then
    echo "== $(date -u +%H:%M:%S) search $H/$KIND"
    PYTHONPATH=$T3/src python -c 'from mirrorpo.cli import main; main()' search \
      --data $P/pool/s0 --reseed --fitness-seeds 2 --popsize 16 --generations 12 \
      --strategy openai-es --seed 0 --episodes 10 --out $H/$KIND --threads 1 \
      $( [ $KIND = halving ] && echo --halving-rungs 250,500 --halving-episodes 5 ) \
      $( [ -f $H/$KIND/state.json ] && echo --resume )
    cp $H/$KIND/best.json $H/$KIND-best.json
  fi
done
echo "== $(date -u +%H:%M:%S) done"
