#!/bin/bash
# The distilled loss's suite test (docs/protocols/distilled-suite.md), stages 2-3: per target,
# tune its β and confirm it on the fresh draws s200-s209 (scripts/p16/distilled_test.py), from
# the frozen tree of the commit that registers `distilled` (p16-tree6). A target whose draws
# are still being made (distilled.sh) waits; polls every 30 min until every target is done:
#   nohup nice -n 5 scripts/p16/distilled_run.sh >> runs/p16/distilled_run.log 2>&1 &
set -e
cd /work/main
T6=/work/p16-tree6
scripts/p16/trees.sh $T6
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }
# the tuning draws (pool s0, s1) of three targets were lost with the old machine: remade with the
# tree and command that made them (amendment of 2026-12-02 22:29 UTC)
scripts/p16/trees.sh /work/p16-tree /work/p16-tree3
for t in "hopper mixed /work/p16-tree" "walker2d mixed /work/p16-tree3" \
         "hopper noisy-30 /work/p16-tree3"; do
  set -- $t
  for S in 0 1; do
    out=runs/p16/$1-$2/pool/s$S
    [ -f $out/card.json ] && continue
    stamp "data make $1 $2 s$S -> $out"
    PYTHONPATH=$3/src python -c 'from mirrorpo.cli import main; main()' data make --env $1 \
      --preset $2 --seed $S --out $out
  done
done
until [ -f runs/p16/distilled/verdicts.md ]; do
  stamp "distilled_test.py --run"
  python scripts/p16/distilled_test.py --tree $T6 --run
  [ -f runs/p16/distilled/verdicts.md ] || { stamp "waiting for draws"; sleep 1800; }
done
stamp "done: runs/p16/distilled/verdicts.md"
