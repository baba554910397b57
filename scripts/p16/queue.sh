#!/bin/bash
# The issue-16 round's run queue in two lanes that run side by side, every step resumable or
# skipped when done:
#   nohup scripts/p16/queue.sh A [PID to wait for] > runs/p16/queue-A.log 2>&1 &
#   nohup scripts/p16/queue.sh B > runs/p16/queue-B.log 2>&1 &
# Lane A: Hopper mixed (MPO, TA-MPO), Hopper noisy-30, then
# HalfCheetah mixed (whose confirmation waits for lane B's generalist search). Lane B:
# Walker2d mixed, the generalist's pool and search, Hopper stochastic.
# Code (docs/protocols/ amendments): Hopper mixed from the worktree frozen at ac21f36
# (/work/p16-tree); every other target's draws from the tag p16-tree3 (/work/p16-tree3) and its
# searches and bench from the tag p16-tree4 (/work/p16-tree4, amendment of 2026-12-01 22:05 UTC:
# stacked MPO losses), their tunings and confirmations from the tag p16-tree5 (/work/p16-tree5,
# amendment of 2026-12-02 01:23 UTC: each candidate's schedule tuned on validation like the
# baselines'; the same trainer). A target whose confirmation has finished (its records put back
# by restore.sh on a new machine) is skipped whole: its draws are not remade here.
# Every process runs one torch thread, so the two lanes share the two cores, except the Hopper
# mixed search and tuning, which began with torch's default two threads and keep them (the
# trees before p16-tree3 give thread-dependent last bits).
set -e
cd /work/main
LANE=$1
[ -n "$2" ] && while kill -0 "$2" 2>/dev/null; do sleep 30; done
T1=/work/p16-tree T3=/work/p16-tree3 T4=/work/p16-tree4 T5=/work/p16-tree5
scripts/p16/trees.sh $T3 $T4 $T5  # by commit: scripts/p16/trees.txt
mp() { local tree=$1; shift; PYTHONPATH=$tree/src python -c 'from mirrorpo.cli import main; main()' "$@"; }
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }
list() { local IFS=,; echo "$*"; }
one() { echo --threads 1; }  # see the header

draw() {  # draw ENV PRESET SEED DIR
  [ -f $4/card.json ] && return 0
  stamp "data make $1 $2 s$3 -> $4"
  # another lane may have made the same draw meanwhile: data make then refuses, and that is done
  mp $T3 data make --env $1 --preset $2 --seed $3 --out $4 || [ -f $4/card.json ]
}
draws() {  # draws ENV PRESET TARGETDIR: pool s0-7 and test s100-109
  for S in 0 1 2 3 4 5 6 7; do draw $1 $2 $S $3/pool/s$S; done
  for S in 100 101 102 103 104 105 106 107 108 109; do draw $1 $2 $S $3/test/s$S; done
}
finished() { [ -f $1/scores.json ]; }  # finished CONFIRMDIR
searched() { [ -f $1/best.json ] && grep -q '"generations_done": 24' $1/state.json; }  # searched OUT
search() {  # search TREE OUT POOLDIRS [extra options]
  local tree=$1 out=$2 pool=$3; shift 3
  searched $out && { stamp "finished: $out"; return 0; }
  stamp "search $out"
  mp $tree search --data $pool --pool --reseed --fitness-seeds 2 --popsize 16 --generations 24 \
    --strategy openai-es --seed 0 --episodes 10 --out $out $(one $tree) "$@" \
    $( [ -f $out/state.json ] && echo --resume )
}
tune() {  # tune TREE LOSSES DATA OUT [CANDIDATE FILES: their schedules too]
  stamp "tune $4"
  mp $1 tune --losses $2 --data $3 --val-seeds 2 --out $4 $(one $1) ${5:+--candidates $5}
}
confirm() {  # confirm TREE TARGET CANDIDATES TUNED DRAWS OUT [extra options]
  local tree=$1 target=$2 cands=$3 tuned=$4 draws=$5 out=$6; shift 6
  # a finished confirmation is not rerun: rerun without the exploratory rows that halving.sh
  # or followups.py added, it would rewrite config.json and verdicts.md without them
  [ -f $out/scores.json ] && { stamp "finished: $out"; return 0; }
  stamp "confirm $out $*"
  mp $tree confirm --target "$target" --candidates $cands --tuned $tuned --draws $draws --seeds 3 \
    --episodes 10 --candidate-steps 1000 --candidate-learning-rate 1e-3 --out $out $(one $tree) "$@"
}
G=runs/p16/generalist

lane_a() {
  # 1. Hopper mixed, MPO and TA-MPO (hopper-mixed-mpo.md, hopper-mixed-ta-mpo.md)
  local P=runs/p16/hopper-mixed
  if ! finished $P/confirm; then
  scripts/p16/trees.sh $T1
  for S in 0 1 2 3 4 5 6 7; do draw hopper mixed $S $P/pool/s$S; done
  for S in 100 101 102 103 104 105 106 107 108 109; do draw hopper mixed $S $P/test/s$S; done
  local POOL; POOL=$(list $P/pool/s{0..7})
  stamp "search and tuning (two threads, as they began; finished by hopper-mixed-run.sh)"
  mp $T1 search --data $POOL --pool --reseed --fitness-seeds 2 --popsize 16 --generations 24 \
    --strategy openai-es --seed 0 --episodes 10 --out $P/search --resume
  mp $T1 tune --losses dpo,hinge,ipo,cdpo --data $(list $P/pool/s{0..1}) --val-seeds 2 --out $P/tune
  search $T1 $P/search-ta $POOL --family ta-mpo --start dpo
  confirm $T1 "hopper mixed" $P/search/best.json,$P/search-ta/best.json $P/tune/tuned.json \
    $(list $P/test/s{100..109}) $P/confirm
  fi

  # 1b. Issue 17's successive-halving measurement (exploratory, not part of the round) runs
  # in its own lane, scripts/p16/halving.sh: two 12-generation searches on pool draw s0, then
  # their best files and both protocol searches' mean.json join this confirmation as
  # exploratory rows (code tree p17-tree), once this confirmation has finished.

  # 2. Hopper noisy-30, MPO and TA-MPO (hopper-noisy30-mpo.md, hopper-noisy30-ta-mpo.md)
  P=runs/p16/hopper-noisy-30
  if ! finished $P/confirm; then
  draws hopper noisy-30 $P
  search $T4 $P/search $(list $P/pool/s{0..7})
  search $T4 $P/search-ta $(list $P/pool/s{0..7}) --family ta-mpo --start dpo
  tune $T5 dpo,apo_zero,rdpo,discopop $(list $P/pool/s{0..1}) $P/tune \
    $P/search/best.json,$P/search-ta/best.json
  confirm $T5 "hopper noisy-30" $P/search/best.json,$P/search-ta/best.json $P/tune/tuned.json \
    $(list $P/test/s{100..109}) $P/confirm --candidate-schedule tuned
  fi

  # 3. HalfCheetah mixed, suite v2: specialist (halfcheetah-mixed-mpo.md), generalist target B
  P=runs/p16/halfcheetah-mixed
  local BASES
  BASES=$(grep -o 'baselines named: [a-z_,]*' docs/protocols/halfcheetah-mixed-mpo.md | cut -d' ' -f3 || true)
  # after the search only pool s0-1 (the tuning's data) are read again
  for S in 0 1 2 3 4 5 6 7; do
    { searched $P/search && [ $S -gt 1 ]; } || draw halfcheetah mixed $S $P/pool/s$S; done
  for S in 100 101 102 103 104 105 106 107 108 109; do
    draw halfcheetah mixed $S $G/test/halfcheetah-mixed-s$S; done
  if [ -z "$BASES" ]; then  # the bench chooses the baselines; once named, it is not rerun
    stamp "bench halfcheetah mixed (baseline choice)"
    mp $T4 bench --env halfcheetah --presets mixed --data-root runs/suite --out $P/bench --threads 1
  fi
  search $T4 $P/search $(list $P/pool/s{0..7})
  if [ -z "$BASES" ]; then
    stamp "STOP: amend halfcheetah-mixed-mpo.md and generalist-mpo.md with 'baselines named: dpo,B1,B2,B3' from $P/bench/summary.md, commit, rerun lane A"
    return 0
  fi
  for S in 0 1; do [ -f $G/tune-data/halfcheetah-mixed-s$S/card.json ] || \
    { mkdir -p $G/tune-data; cp -r $P/pool/s$S $G/tune-data/halfcheetah-mixed-s$S; }; done
  while [ ! -f $G/search/state.json ] || ! grep -q '"generations_done": 24' $G/search/state.json; do
    stamp "waiting for lane B's generalist search"; sleep 600; done
  tune $T5 $BASES $(list $G/tune-data/halfcheetah-mixed-s{0..1}) $G/tune-halfcheetah \
    $P/search/best.json,$G/search/mean.json
  confirm $T5 "halfcheetah mixed" $P/search/best.json,$G/search/mean.json \
    $G/tune-halfcheetah/tuned.json $(list $G/test/halfcheetah-mixed-s{100..109}) $G/confirm-halfcheetah \
    --candidate-schedule tuned
}

lane_b() {
  # 1. Walker2d mixed, MPO (walker2d-mixed-mpo.md): a second environment family
  local P=runs/p16/walker2d-mixed
  if ! finished $P/confirm; then
  draws walker2d mixed $P
  search $T4 $P/search $(list $P/pool/s{0..7})
  tune $T5 dpo,discopop,cdpo,ipo $(list $P/pool/s{0..1}) $P/tune $P/search/best.json
  confirm $T5 "walker2d mixed" $P/search/best.json $P/tune/tuned.json $(list $P/test/s{100..109}) \
    $P/confirm --candidate-schedule tuned
  fi

  # 2. Generalist pool and search (generalist-mpo.md); Hopper/Walker2d mixed s0-1 are copies
  local E PR S D
  for E in hopper walker2d; do for PR in clean noisy-20 mixed; do for S in 0 1; do
    D=$G/pool/$E-$PR-s$S
    if [ ! -f $D/card.json ] && [ $PR = mixed ] && [ -f runs/p16/$E-mixed/pool/s$S/card.json ]; then
      mkdir -p $G/pool && cp -r runs/p16/$E-mixed/pool/s$S $D
    fi
    draw $E $PR $S $D
  done; done; done
  local GPOOL
  GPOOL=$(for E in hopper walker2d; do for S in 0 1; do for PR in clean noisy-20 mixed; do
    echo -n "$G/pool/$E-$PR-s$S,"; done; done; done | sed 's/,$//')
  search $T4 $G/search "$GPOOL"

  # 3. Hopper stochastic: specialist (hopper-stochastic-mpo.md) and generalist target A
  P=runs/p16/hopper-stochastic
  for S in 0 1 2 3 4 5 6 7; do draw hopper stochastic $S $P/pool/s$S; done
  for S in 100 101 102 103 104 105 106 107 108 109; do
    draw hopper stochastic $S $G/test/hopper-stochastic-s$S; done
  search $T4 $P/search $(list $P/pool/s{0..7})
  for S in 0 1; do [ -f $G/tune-data/hopper-stochastic-s$S/card.json ] || \
    { mkdir -p $G/tune-data; cp -r $P/pool/s$S $G/tune-data/hopper-stochastic-s$S; }; done
  tune $T5 dpo,cdpo,discopop,nca_pair $(list $G/tune-data/hopper-stochastic-s{0..1}) $G/tune-hopper \
    $P/search/best.json,$G/search/mean.json
  confirm $T5 "hopper stochastic" $P/search/best.json,$G/search/mean.json $G/tune-hopper/tuned.json \
    $(list $G/test/hopper-stochastic-s{100..109}) $G/confirm-hopper --candidate-schedule tuned
}

case $LANE in
  A) lane_a ;;
  B) lane_b ;;
  *) echo "usage: queue.sh A|B [PID to wait for]"; exit 2 ;;
esac
stamp "lane $LANE done"
