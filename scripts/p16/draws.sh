#!/bin/bash
# Pool draws (seeds 0-7) and fresh test draws (seeds 100-109) of one protocol target:
#   scripts/p16/draws.sh hopper mixed      -> runs/p16/hopper-mixed/{pool,test}/sS
# Existing draws are skipped; the same seed gives the same bytes.
set -e
ENV=$1 PRESET=$2
cd /work/main
OUT=runs/p16/$ENV-$PRESET
for S in 0 1 2 3 4 5 6 7 100 101 102 103 104 105 106 107 108 109; do
  DIR=$OUT/$([ $S -ge 100 ] && echo test || echo pool)/s$S
  [ -f $DIR/card.json ] || /usr/bin/time -f "s$S %e s" mirrorpo data make --env $ENV --preset $PRESET --seed $S --out $DIR
done
echo ALLDONE
