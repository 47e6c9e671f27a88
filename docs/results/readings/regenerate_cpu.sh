#!/bin/bash
# How the committed CPU reports of docs/results/reproduce/*-cpu were regenerated with the readings'
# twin arms (2026-12-02), one target at a time, one worker:
#
#   docs/results/readings/regenerate_cpu.sh twins TARGET [reproduce options...]
#       the committed runs.tgz is extracted into runs/reproduce/TARGET-cpu-twins and reused as it
#       is (same configs); only the runs it lacks (the @sum / @batch twins) train
#   docs/results/readings/regenerate_cpu.sh fresh TARGET [reproduce options...]
#       every run trains again in runs/reproduce/TARGET-cpu-fresh (fig4, fig5: their reports
#       read final checkpoints, which runs.tgz does not keep)
#
# then the report is rebuilt (--report-only, with a note on how the runs were trained) and
# copied with its figures and a new runs.tgz (no checkpoints) over the committed one.
# Used: twins table2, table7, fig3, table1, table10, fig1 (each with the earlier report's --seeds, if any);
# fresh fig4 fig5; twins table3; twins table6 --seeds 3 --only '*@sum*-s0' '*@batch*-s0';
# twins table9 --seeds 3 --only '*@batch-s0'; later the same day (all seeds, the choices twins):
# twins table3 --seeds 3; twins table6 --seeds 3; twins table9 --seeds 3; twins choices.
set -euo pipefail
cd "$(dirname "$0")/../../.."
mode=$1 t=$2; shift 2
R=.venv/bin/radgrok
dst=docs/results/reproduce/$t-cpu out=runs/reproduce/$t-cpu-$mode
old=$(python3 -c "import json; print(json.load(open('$dst/timing.json')).get('command', ''))")
mkdir -p "$out"
if [ "$mode" = twins ] && [ ! -d "$out/runs" ]; then tar xzf "$dst/runs.tgz" -C "$out"; fi
$R reproduce "$t" --scale cpu --workers 1 --out "$out" "$@"
python3 - "$out/timing.json" "$mode" "$old" <<'PY'
import json, sys
path, mode, old = sys.argv[1:]
t = json.load(open(path))
t["note"] = (f"the readings' twin arms trained by this command on 2026-12-02 (2-core CPU, one worker, other heavy jobs "
             f"on the machine); the other {t.get('reused')} runs reused unchanged from the earlier report: {old}"
             if mode == "twins" else
             "every run trained again from empty directories by this command on 2026-12-02 (2-core CPU, one worker, "
             "other heavy jobs on the machine): this report reads final checkpoints, which runs.tgz does not keep")
json.dump(t, open(path, "w"), indent=2)
PY
# the report covers the same seeds as the training command (its --seeds, if given)
seeds=$(python3 -c "import sys; a = sys.argv[1:]; print(' '.join(a[i:i + 2]) if '--seeds' in a and (i := a.index('--seeds')) >= 0 else '')" "$@")
$R reproduce "$t" --scale cpu --out "$out" --report-only $seeds > /dev/null
[ "$mode" = fresh ] && rm -f "$dst"/*.png
cp "$out"/report.md "$out"/report.html "$out"/timing.json "$dst/"
cp "$out"/*.png "$dst/" 2>/dev/null || true
(cd "$out" && tar czf runs.tgz --exclude='*.pt' --exclude='*.lock' runs) && cp "$out/runs.tgz" "$dst/"
