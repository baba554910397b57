#!/bin/bash
# docs/protocols/hopper-mixed-mpo.md: search, then tuning, from a frozen worktree of the
# registration commit (PYTHONPATH), run in /work/main so paths match the protocol.
set -e
TREE=/work/p16-tree
cd /work/main
export PYTHONPATH=$TREE/src
MP="python -c 'from mirrorpo.cli import main; main()'"
P=runs/p16/hopper-mixed
POOL=$(echo $P/pool/s{0..7} | tr ' ' ',')
echo "code: $(git -C $TREE rev-parse HEAD)"
date
python -c 'from mirrorpo.cli import main; main()' search --data $POOL --pool --reseed --fitness-seeds 2 \
  --popsize 16 --generations 24 --strategy openai-es --seed 0 --episodes 10 --out $P/search \
  $( [ -f $P/search/state.json ] && echo --resume )
date
python -c 'from mirrorpo.cli import main; main()' tune --losses dpo,hinge,ipo,cdpo --data $P/pool/s0,$P/pool/s1 \
  --val-seeds 2 --out $P/tune
date
echo ALLDONE
