#!/bin/bash
# Copy the round's small results into docs/results/p16/ (committed; runs/ may not survive a
# session) and write the round's table, corrected for the whole family (m = 36):
#   scripts/p16/collect.sh
# Per target: the search's state/best/mean, its report (figures of f and g over the inputs of
# its first pool draw), tuned.json and the tuning units, and the confirmation's verdicts,
# scores, config and units (a confirmation's units let exploratory rows join it without
# retraining it). Runs during a search or tuning too: what it copies is what restore.sh puts
# back on a new machine. Reads only; trains nothing but the reports' one run per loss.
set -e
cd /work/main
R=runs/p16 D=docs/results/p16
copy() { [ -e "$1" ] && mkdir -p "$2" && cp -r "$1" "$2/" || true; }
target() {  # target NAME RUNDIR [SEARCH...]
  local name=$1 run=$2; shift 2
  local s
  for s in "$@"; do
    if [ -f $run/$s/state.json ]; then
      # the report trains each loss once: redone only when the search has moved on
      if ! cmp -s $run/$s/state.json $D/$name/$s/state.json || [ ! -d $D/$name/$s/report ]; then
        for f in state.json best.json mean.json; do copy $run/$s/$f $D/$name/$s; done
        mirrorpo report $run/$s --data $run/pool/s0 --out $D/$name/$s/report >/dev/null 2>&1 || \
          mirrorpo report $run/$s --out $D/$name/$s/report >/dev/null
      fi
    fi
  done
  # a tuning's units, as records (restore.sh puts back a finished tuning's only: the units name
  # their draw by index, and a new machine's remade draws differ)
  copy $run/tune/tuned.json $D/$name/tune; copy $run/tune/config.json $D/$name/tune
  copy $run/tune/units $D/$name/tune
  local c
  for c in confirm confirm-replicate; do
    for f in verdicts.md verdicts.json scores.json config.json units; do copy $run/$c/$f $D/$name/$c; done
  done
}
target hopper-mixed $R/hopper-mixed search search-ta
target walker2d-mixed $R/walker2d-mixed search
target hopper-noisy-30 $R/hopper-noisy-30 search search-ta
target hopper-stochastic $R/hopper-stochastic search
target halfcheetah-mixed $R/halfcheetah-mixed search
G=$R/generalist
if [ -f $G/search/state.json ]; then
  for f in state.json best.json mean.json; do copy $G/search/$f $D/generalist/search; done
fi
for t in hopper halfcheetah; do
  copy $G/tune-$t/tuned.json $D/generalist/tune-$t; copy $G/tune-$t/config.json $D/generalist/tune-$t
  copy $G/tune-$t/units $D/generalist/tune-$t
  for f in verdicts.md verdicts.json scores.json config.json units; do copy $G/confirm-$t/$f $D/generalist/confirm-$t; done
done
# the follow-ups (scripts/p16/followups.py): knock-out variants and transfer rows, as loss files
# (restore.sh puts them back, so the confirmations' configs resolve on a new machine)
for d in transfer ablate; do [ -d $R/$d ] && mkdir -p $D/$d && cp -r $R/$d/. $D/$d/; done
for f in distilled.json rule.md verdicts.md; do copy $R/distilled/$f $D/distilled; done
# the distilled loss's test (docs/protocols/distilled-suite.md): per target its tuning, the
# loss file at the tuned β, and the confirmation
for t in hopper-mixed walker2d-mixed hopper-noisy-30 hopper-stochastic halfcheetah-mixed; do
  copy $R/distilled/$t.json $D/distilled
  for f in tuned.json units; do copy $R/distilled/tune-$t/$f $D/distilled/tune-$t; done
  for f in verdicts.md verdicts.json scores.json config.json units; do
    copy $R/distilled/confirm-$t/$f $D/distilled/confirm-$t; done
done
RUNS=$(ls -d $R/*/confirm $G/confirm-* 2>/dev/null | while read d; do [ -f $d/scores.json ] && echo $d; done)
if [ -n "$RUNS" ]; then
  mirrorpo verdicts $RUNS --family-size 36 --out $D/round.md --plot $D/round.png >/dev/null
else
  echo "no confirmation has finished yet"
fi
# the follow-ups' runs: each replicated confirmation's replicate in its place (the transfer
# rows and knock-outs trained there), the round's comparisons re-judged on them at m = 36
# (exploratory), the transfer matrix and the knock-out costs
FOLLOW=$(for d in $R/hopper-mixed $R/walker2d-mixed $R/hopper-noisy-30; do
  [ -f $d/confirm-replicate/scores.json ] && echo $d/confirm-replicate; done)
if [ "$(echo $FOLLOW | wc -w)" = 3 ]; then
  mirrorpo verdicts $FOLLOW $G/confirm-hopper $G/confirm-halfcheetah --family-size 36 \
    --out $D/replicate.md --matrix $D/transfer.md --matrix-plot $D/transfer.png >/dev/null
  python scripts/p16/distill.py --figure $D/knockouts.png
fi
