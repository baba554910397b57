#!/bin/bash
# Issue 17's successive-halving measurement (exploratory, not part of the round), a lane of
# its own beside queue.sh: two 12-generation searches on Hopper mixed pool draw s0, identical
# but for --halving-rungs 250,500; then, once lane A's Hopper mixed confirmation has finished,
# their best files and both protocol searches' mean.json join it as exploratory rows.
#   nohup nice -n 10 scripts/p16/halving.sh [PID ...] >> runs/p17/halving.log 2>&1 &
# (waits for each PID first: a search of a restarted lane must not run beside its own resume)
set -e
cd /work/main
for pid in "$@"; do while kill -0 "$pid" 2>/dev/null; do sleep 30; done; done
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
until [ -f $P/confirm/scores.json ] && ! pgrep -f "confirm --target hopper mixed" >/dev/null; do
  sleep 60  # lane A's confirmation (queue.sh) has not finished
done
echo "== $(date -u +%H:%M:%S) confirm $P/confirm: exploratory rows"
# the confirmation's own command, rebuilt from its config.json, run from its code tree (p17-tree)
python scripts/p16/followups.py --extend $P/confirm \
  --rows $P/search/mean.json,$P/search-ta/mean.json,$H/plain-best.json,$H/halving-best.json
echo "== $(date -u +%H:%M:%S) done"
