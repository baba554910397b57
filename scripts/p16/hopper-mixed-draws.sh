#!/bin/bash
# Pool draws (protocol docs/protocols/hopper-mixed-mpo.md) then fresh test draws.
set -e
cd /work/main
for S in 0 1 2 3 4 5 6 7; do
  [ -f runs/p16/hopper-mixed/pool/s$S/card.json ] || /usr/bin/time -f "s$S %e s" mirrorpo data make --env hopper --preset mixed --seed $S --out runs/p16/hopper-mixed/pool/s$S
done
for S in 100 101 102 103 104 105 106 107 108 109; do
  [ -f runs/p16/hopper-mixed/test/s$S/card.json ] || /usr/bin/time -f "s$S %e s" mirrorpo data make --env hopper --preset mixed --seed $S --out runs/p16/hopper-mixed/test/s$S
done
echo ALLDONE
