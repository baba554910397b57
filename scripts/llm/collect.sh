#!/bin/bash
# Copy the LLM task's records into docs/results/llm/v2-records/ (committed; runs/ may not
# survive a session, and a new machine remaking the v2 data would sample other responses):
#   scripts/llm/collect.sh
# The v2 data (judged responses and the pair files made from them), and of the curve, the
# tuning and the test bench: config.json, tuned.json, the reference's judged samples and every
# finished unit's config.json, eval.json and training log (log.csv, for
# scripts/llm/trajectories.py; its adapter weights stay in runs/: no verdict reads them).
# restore.sh puts them back; the benches then skip the finished units. Reads only.
set -e
cd /work/main
R=runs/llm D=docs/results/llm/v2-records
mkdir -p $D
[ -d $R/v2 ] && mkdir -p $D/v2 && cp $R/v2/*.json $R/v2/*.jsonl $D/v2/
for b in curve tune test; do
  [ -d $R/$b ] || continue
  (cd $R/$b && find . \( -path './units/*/seed-*/eval.json' -o -path './units/*/seed-*/config.json' \
     -o -path './units/*/seed-*/log.csv' \
     -o -path './reference/seed-*.json' -o -path ./config.json -o -path ./tuned.json \) -print0) |
    while IFS= read -r -d '' f; do
      mkdir -p "$D/$b/$(dirname "$f")" && cp "$R/$b/$f" "$D/$b/$f"
    done
done
[ -f $R/length.txt ] && cp $R/length.txt $D/
echo "collect: $(find $D -type f | wc -l) files in $D ($(du -sh $D | cut -f1))"
