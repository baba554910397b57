#!/bin/bash
# Make lane B's draws beside it: the generalist's pool, then the Hopper stochastic draws (pool
# s0-s7, test s100-s109), with the same frozen tree and command as queue.sh's
# draw(); lane B skips every draw already made (card.json) and data make writes atomically,
# so the two never write a half draw. Started by scripts/start_queues.sh; exits when all exist.
#   scripts/p16/early_draws.sh
set -e
cd /work/main
T3=/work/p16-tree3 P=runs/p16/hopper-stochastic G=runs/p16/generalist
scripts/p16/trees.sh $T3  # by commit: scripts/p16/trees.txt
draw() {  # draw ENV PRESET SEED DIR
  [ -f $4/card.json ] && return 0
  echo "== $(date -u +%H:%M:%S) data make $1 $2 s$3 -> $4"
  # another lane may have made the same draw meanwhile: data make then refuses, and that is done
  PYTHONPATH=$T3/src python -c 'from mirrorpo.cli import main; main()' \
    data make --env $1 --preset $2 --seed $3 --out $4 || [ -f $4/card.json ]
}
# first the generalist's pool draws from the end of lane B's list (the two meet in the middle:
# a new machine started them all again, 2026-12-02), then the Hopper stochastic draws
for E in walker2d hopper; do for PR in mixed noisy-20 clean; do for S in 1 0; do
  draw $E $PR $S $G/pool/$E-$PR-s$S; done; done; done
for S in 0 1 2 3 4 5 6 7; do draw hopper stochastic $S $P/pool/s$S; done
for S in 100 101 102 103 104 105 106 107 108 109; do
  draw hopper stochastic $S $G/test/hopper-stochastic-s$S; done
echo "== $(date -u +%H:%M:%S) early draws: all made"
