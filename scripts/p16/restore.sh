#!/bin/bash
# Put the round's committed records (docs/results/p16/, written by collect.sh) back under runs/p16/
# where they are missing, so that the queues skip what is done and resume what is half done on
# a machine that lost runs/ (runs/ is git-ignored and a new machine starts without it, as on
# 2026-12-02 12:07 UTC). Draws are not records: they are remade from their seeds, and on another
# CPU they come out different (their fingerprints tell). So a search resumes from its state.json
# only if its fitness draws' fingerprints match (else it refuses), a confirmation's units are
# named by their draw's fingerprint, and an unfinished tuning's units (named by draw index) are
# not put back.
# Never overwrites a file that exists. Started by scripts/start_queues.sh before the lanes:
#   scripts/p16/restore.sh
set -e
cd /work/main
D=docs/results/p16 R=runs/p16
restored=0
while IFS= read -r f; do
  rel=${f#$D/}
  case $rel in */report/*) continue ;; esac  # derived figures, not records
  # a tuning's units name their draw by index, not by content: those of an unfinished tuning
  # would mix the lost draws' scores with the remade draws' (a finished one's are records)
  case $rel in */tune*/units/*) [ -f "$D/${rel%%/units/*}/tuned.json" ] || continue ;; esac
  dest=$R/$rel
  [ -e "$dest" ] && continue
  mkdir -p "$(dirname "$dest")" && cp "$f" "$dest" && restored=$((restored + 1))
done < <(find $D -type f \( -name '*.json' -o -name 'verdicts.md' \))
echo "restore: $restored files put back under $R"
