#!/bin/bash
# How the committed reproduce reports were regenerated for the graded verdicts (issue 26): each
# report rebuilt with --report-only from its committed runs.tgz (after readings/repair_records.py),
# with the seeds its training command used; nothing trains. fig4 and fig5 are not in the list: their
# reports read final checkpoints, which runs.tgz does not keep.
#   docs/results/readings/regrade.sh [TARGET-SCALE ...]    (no argument: every report below)
set -euo pipefail
cd "$(dirname "$0")/../../.."
declare -A SEEDS=([table2-paper]=5 [table7-paper]=3 [mechanism-paper]=3 [table1-paper]=3
                  [table3-cpu]=3 [table6-cpu]=3 [table9-cpu]=3)
ALL="choices-cpu fig1-cpu fig3-cpu table1-cpu table10-cpu table2-cpu table3-cpu table6-cpu table7-cpu table9-cpu
     table2-paper table7-paper mechanism-paper table1-paper"
for name in ${*:-$ALL}; do
  dst=docs/results/reproduce/$name tmp=$(mktemp -d)
  target=${name%-*} scale=${name##*-}
  tar xzf "$dst/runs.tgz" -C "$tmp" && cp "$dst/timing.json" "$tmp/"
  seeds=${SEEDS[$name]:+--seeds ${SEEDS[$name]}}
  .venv/bin/radgrok reproduce "$target" --scale "$scale" $seeds --out "$tmp" --report-only > /dev/null
  cp "$tmp"/report.md "$tmp"/report.html "$dst/" && cp "$tmp"/*.png "$dst/"
  rm -rf "$tmp"
  echo "$name regenerated"
done
