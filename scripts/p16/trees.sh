#!/bin/bash
# Make the round's frozen code trees that are missing (the table: scripts/p16/trees.txt):
#   scripts/p16/trees.sh                  every tree
#   scripts/p16/trees.sh /work/p16-tree3  only the ones named
# Run before the lanes start (scripts/start_queues.sh): two lanes adding worktrees at once race
# for git's index lock.
set -e
cd /work/main
while read -r dir commit _; do
  case $dir in ''|'#'*) continue ;; esac
  if [ $# -gt 0 ] && [[ " $* " != *" $dir "* ]]; then continue; fi
  [ -d "$dir" ] || git worktree add --detach "$dir" "$commit" >/dev/null
done < scripts/p16/trees.txt
