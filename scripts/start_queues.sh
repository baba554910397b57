#!/bin/bash
# Start every run queue at the beginning of a session (they resume where they stopped):
#   scripts/start_queues.sh
# The round's lanes (scripts/p16/queue.sh) with the one on the critical path at normal priority
# and the rest niced below it (a preempted thread of a two-thread job stalls the other at every
# parallel region), then the LLM lane (scripts/llm/queue.sh, nice 15) and the draw lanes.
# Refuses to start a lane that is already running.
set -e
cd /work/main
[ "$(cat /proc/sys/kernel/sched_autogroup_enabled)" = 0 ] || \
  echo 0 > /proc/sys/kernel/sched_autogroup_enabled  # else nice does not work across sessions
mkdir -p runs/p16 runs/llm
# MuJoCo data freed by the scorers stays with glibc's malloc (a tune process grew to 11 GB and
# two of them met the OOM killer, 2026-12-02); jemalloc gives it back. Frozen code trees keep
# their code, so the lanes get the allocator (apt-get install libjemalloc2) where it exists.
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
[ -e "$JEMALLOC" ] && export LD_PRELOAD=$JEMALLOC || echo "no $JEMALLOC: lanes use glibc malloc"
start() {  # start NAME NICE LOG COMMAND...
  local name=$1 nice=$2 log=$3; shift 3
  # anchored at the end: "queue.sh" is not "queue.sh --worker"
  if pgrep -f "$*$" >/dev/null; then echo "$name: already running"; return; fi
  echo "== $(date -u +%H:%M:%S) session start: $name" >> "$log"  # logs keep earlier sessions
  nohup nice -n "$nice" "$@" >> "$log" 2>&1 &
  echo "$name: started (pid $!, nice $nice, log $log)"
}
# a new machine starts without runs/: put the committed records back first (restore.sh), and
# make the frozen code trees (by commit: tags do not come with a new checkout) before the lanes,
# which would race for git's index lock
scripts/p16/restore.sh
scripts/llm/restore.sh  # the LLM task's data and finished units (scripts/llm/collect.sh)
scripts/p16/trees.sh
# lane B (the generalist's pool and search, then Hopper stochastic) is the round's critical
# path: lane A only makes HalfCheetah draws before it waits for the generalist search
start "round lane A" 10 runs/p16/queue-A.log scripts/p16/queue.sh A
start "round lane B" 0 runs/p16/queue-B.log scripts/p16/queue.sh B
start "LLM lane" 15 runs/llm/queue.log scripts/llm/queue.sh
# its second worker shares the tuning and test units (one thread each: two cores, two units)
start "LLM lane, second worker" 15 runs/llm/queue-worker.log scripts/llm/queue.sh --worker
# lane B's draws beside it: the generalist's pool from the other end, then Hopper stochastic
start "early draws" 0 runs/p16/early_draws.log scripts/p16/early_draws.sh
# after both lanes: the follow-ups (ablations, transfer rows) and the distillation rule
start "after the round" 10 runs/p16/after_round.log scripts/p16/after_round.sh
# issue 18's distilled loss: its fresh suite draws (s200-s209 of the five targets), lowest
# priority: it takes what the other lanes leave
start "distilled draws" 19 runs/p16/distilled.log scripts/p16/distilled.sh
# then its tuning and confirmation per target, from the tree that registers it (at nice 5: the
# draws it waits for come last, HalfCheetah's)
start "distilled test" 5 runs/p16/distilled_run.log scripts/p16/distilled_run.sh
# issue 17's halving searches, then their exploratory rows in the Hopper mixed confirmation
grep -qs '"exploratory"' runs/p16/hopper-mixed/confirm/config.json || { mkdir -p runs/p17; \
  start "halving lane (issue 17)" 10 runs/p17/halving.log scripts/p16/halving.sh; }
