#!/bin/bash
# How the paper-scale reports of docs/results/reproduce/*-paper were assembled: the H100 run records
# committed earlier (runs.tgz) beside the runs trained on the 2-core CPU with the readings of ||h||
# (runs/reproduce/*-paper-cpu, from the commands in docs/results/readings/README.md), then one report
# over both with --report-only. Checkpoints are not committed.
set -euo pipefail
cd "$(dirname "$0")/../../.."
R=".venv/bin/radgrok reproduce"
assemble() {  # target, committed report dir, cpu runs dir, seeds, note
  local target=$1 dst=$2 cpu=$3 seeds=$4 note=$5 tmp
  tmp=$(mktemp -d)
  [ -f "$dst/runs.tgz" ] && tar xzf "$dst/runs.tgz" -C "$tmp"
  mkdir -p "$tmp/runs"
  for d in "$cpu"/runs/*/; do
    [ -f "$d/summary.json" ] || continue
    n=$(basename "$d"); mkdir -p "$tmp/runs/$n"
    cp "$d"/{config.json,split.json,metrics.jsonl,summary.json} "$tmp/runs/$n/"
  done
  if [ -f "$dst/timing.json" ]; then cp "$dst/timing.json" "$tmp/"; else cp "$cpu/timing.json" "$tmp/"; fi
  python3 - "$tmp/timing.json" "$note" <<'PY'
import json, sys
t = json.load(open(sys.argv[1])); t["note"] = sys.argv[2]; json.dump(t, open(sys.argv[1], "w"), indent=2)
PY
  $R "$target" --scale paper --seeds "$seeds" --out "$tmp" --report-only > /dev/null
  mkdir -p "$dst"
  cp "$tmp"/report.md "$tmp"/report.html "$tmp"/timing.json "$dst/"
  cp "$tmp"/*.png "$dst/" 2>/dev/null || true
  (cd "$tmp" && tar czf runs.tgz --exclude='*.pt' --exclude='*.lock' runs) && cp "$tmp/runs.tgz" "$dst/"
  rm -rf "$tmp"
}
TARGETS=" $* "
want() { [ "$TARGETS" = "  " ] || [[ "$TARGETS" == *" $1 "* ]]; }  # no arguments: every target
CPU_NOTE="on this project's 2-core CPU (torch 2.13.0+cpu, float32, one thread per run, 2 workers)"
want table2 && assemble table2 docs/results/reproduce/table2-paper runs/reproduce/table2-paper-cpu 5 \
  "weak-wd, strong-wd, dropout and penalty seeds 0-2 on the H100 (command above, cut off at step 39,700); penalty seeds 3-4 and every penalty@sum / penalty@batch run ${CPU_NOTE}: \`radgrok reproduce table2 --scale paper --seeds 5 --steps 1500 --only 'penalty@batch-s*'\` and \`... --steps 1000 --only 'penalty@sum-s*' penalty-s3 penalty-s4\` (--out runs/reproduce/table2-paper-cpu); runs that end at a --steps cap without grokking are bounds"
want table7 && assemble table7 docs/results/reproduce/table7-paper runs/reproduce/table7-paper-cpu 3 \
  "lam=X (one norm per example, mean) seed 0 on the H100 (command above, all six lambdas stacked, cut off at step 76,200); every lam=X@batch run ${CPU_NOTE}: \`radgrok reproduce table7 --scale paper --seeds 3 --steps 1000 --only 'lam=*@batch-s0'\`, then 'lam=*@batch-s1' and 'lam=*@batch-s2' (lam=0.05@batch-s0..1 are table2's penalty@batch runs, the same config at --steps 1500; s2 was trained again with the others of seed 2: 400 both times); runs that end at a --steps cap without grokking are bounds"
want mechanism && assemble mechanism docs/results/reproduce/mechanism-paper runs/reproduce/mechanism-paper 3 \
  "${CPU_NOTE}; penalty@batch-s0..2 are table2's penalty@batch runs (same config, patience 1,000 instead of 300: the same steps up to the grok step); the other arms by \`radgrok reproduce mechanism --scale paper --seeds 3 --steps 2000 --only ...\` (--out runs/reproduce/mechanism-paper; penalty@batch,bs=256 with --steps 8000); the weight-decay arms with no grok on seed 0 were not run on seeds 1-2; runs that end at the cap without grokking are bounds"
want table1 && assemble table1 docs/results/reproduce/table1-paper runs/reproduce/table1-paper-cpu 3 \
  "${CPU_NOTE}: \`radgrok reproduce table1 --scale paper --seeds 3 --steps 1000 --only 'penalty@batch-s0'\`, then --only penalty@batch-s1 penalty@batch-s2 (one worker); the other arms were not run at paper size (weak WD does not grok in 100k steps; its Table-1 values at CPU size are in docs/results/table1-cpu)"
