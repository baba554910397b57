#!/bin/bash
# The distilled loss's suite test (docs/protocols/distilled-suite.md), stage 1: its fresh draws,
# seeds 200-209 of each of the round's five targets, made with the round's draw code (p16-tree3)
# under runs/p16/distilled/test/<env>-<preset>-sS. Resumable (a made draw is skipped):
#   nohup nice -n 10 scripts/p16/distilled.sh >> runs/p16/distilled.log 2>&1 &
# Later stages, after `python scripts/p16/followups.py --run` and `python scripts/p16/distill.py`,
# once the rule's loss is registered as `distilled`: `python scripts/p16/distilled_test.py --tree
# DIR --run` (per target: tune its β like DPO's, then confirm it on these draws, 3 seeds).
set -e
cd /work/main
T3=/work/p16-tree3
scripts/p16/trees.sh $T3  # by commit: scripts/p16/trees.txt
D=runs/p16/distilled/test
for target in "hopper mixed" "walker2d mixed" "hopper noisy-30" "hopper stochastic" \
              "halfcheetah mixed"; do
  set -- $target
  for S in 200 201 202 203 204 205 206 207 208 209; do
    out=$D/$1-$2-s$S
    [ -f $out/card.json ] && continue
    echo "== $(date -u +%H:%M:%S) data make $1 $2 s$S -> $out"
    PYTHONPATH=$T3/src python -c 'from mirrorpo.cli import main; main()' data make --env $1 \
      --preset $2 --seed $S --out $out
  done
done
echo "== $(date -u +%H:%M:%S) distilled draws done"
