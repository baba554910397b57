#!/bin/bash
# Put the round's committed records (docs/results/p16/, written by collect.sh) back under runs/p16/
# where they are missing, so that the queues skip what is done and resume what is half done on
# a machine that lost runs/ (runs/ is git-ignored and a new machine starts without it, as on
# 2026-12-02 12:07 UTC). A search resumes from its state.json alone and a tuning skips its
# finished units; draws are not records but remade from their seeds (the same code tree and
# command give the same arrays: their fingerprints are checked by every search and confirm).
# Never overwrites a file that exists. Started by scripts/start_queues.sh before the lanes:
#   scripts/p16/restore.sh
set -e
cd /work/main
D=docs/results/p16 R=runs/p16
restored=0
while IFS= read -r f; do
  rel=${f#$D/}
  case $rel in */report/*) continue ;; esac  # derived figures, not records
  dest=$R/$rel
  [ -e "$dest" ] && continue
  mkdir -p "$(dirname "$dest")" && cp "$f" "$dest" && restored=$((restored + 1))
done < <(find $D -type f \( -name '*.json' -o -name 'verdicts.md' \))
echo "restore: $restored files put back under $R"
