#!/bin/bash
# After both lanes of the round: the follow-ups (knock-out ablations and transfer rows,
# followups.py; first, while the round runs, the test draws of the confirmations they
# replicate), then the distillation rule (distill.py). Polls every 30 min until the round's
# confirmations and searches are all in; started by scripts/start_queues.sh.
set -e
cd /work/main
stamp() { echo "== $(date -u +%H:%M:%S) $*"; }
# the replicated confirmations' test draws (lost with the old machine), at the lane's priority:
# once the round's lanes are done they are its critical path
stamp "follow-up draws"
python scripts/p16/followups.py --draws
while python scripts/p16/followups.py | grep -q "^waiting for the round"; do
  stamp "waiting for the round"; sleep 1800; done
stamp "follow-ups: ablations and transfer rows"
python scripts/p16/followups.py --run --jobs 2  # both cores: the lanes are done
stamp "distillation rule"
python scripts/p16/distill.py
stamp "done: register the rule's loss as \`distilled\`, then scripts/p16/distilled_test.py"
