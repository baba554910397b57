#!/bin/bash
# Put the LLM task's committed records (docs/results/llm/v2-records/, written by collect.sh)
# back under runs/llm/ where they are missing, before the LLM lane starts on a machine that lost
# runs/ (scripts/start_queues.sh runs it). The v2 data come back whole, so the queue's data step
# finds every chunk and remakes nothing; finished units come back with their eval.json, so the
# benches skip them. Never overwrites a file that exists.
set -e
cd /work/main
D=docs/results/llm/v2-records R=runs/llm
[ -d $D ] || { echo "restore: no $D"; exit 0; }
restored=0
while IFS= read -r f; do
  dest=$R/${f#$D/}
  [ -e "$dest" ] && continue
  mkdir -p "$(dirname "$dest")" && cp "$f" "$dest" && restored=$((restored + 1))
done < <(find $D -type f)
echo "restore: $restored files put back under $R"
