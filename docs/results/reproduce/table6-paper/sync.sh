#!/bin/bash
# Pack the finished table6 paper-size runs (records only: config, metrics, summary; no checkpoints, no run
# still training) into runs.tgz here and rebuild the report from them with --report-only.
#   docs/results/reproduce/table6-paper/sync.sh        (OUT=runs/reproduce/table6-paper by default)
set -euo pipefail
cd "$(dirname "$0")/../../../.."
OUT=${OUT:-runs/reproduce/table6-paper}
RADGROK=${RADGROK:-.venv/bin/radgrok}
dst=docs/results/reproduce/table6-paper tmp=$(mktemp -d)
mkdir -p "$tmp/runs"
for d in "$OUT"/runs/*/; do
  [ -f "$d/summary.json" ] || continue
  grep -qE '"status": "(grokked|dng|cut|diverged)"' "$d/summary.json" || continue  # running: left out
  # resumed past its cap and training again (a summary of the old cap beside metrics that have grown): left out
  python3 -c 'import json,sys; d=sys.argv[1]; s=json.load(open(d+"/summary.json")); last=json.loads(open(d+"/metrics.jsonl").read().strip().splitlines()[-1]); sys.exit(last["step"] != s["steps_done"])' "$d" || continue
  n=$(basename "$d"); mkdir -p "$tmp/runs/$n"
  cp "$d"/{config.json,metrics.jsonl,summary.json} "$tmp/runs/$n/"
done
cp "$OUT/timing.json" "$tmp/"
python3 - "$tmp/timing.json" <<'PY'
import json, os, sys
t = json.load(open(sys.argv[1]))
t["command"] = t["command"].replace(os.getcwd() + "/", "")  # an --out under this checkout, relative
t["wall_seconds"] = None  # many invocations trained these: each run's own wall time is in the tables
t["note"] = ("on this project's 2-core CPU, shared with other jobs (torch CPU, float32, one thread, one worker, "
             "nice 19), by docs/results/reproduce/table6-paper/run.sh: stages of `radgrok reproduce table6 --scale "
             "paper --seeds 3 --workers 1 --steps CAP --only ...` in the order that decides the verdicts first (the "
             "command above is the last stage that trained); a run cut at a stage's cap is a bound, and a later "
             "cap resumes it from its checkpoint; runs still training when this report was built are left out "
             "(not run)")
json.dump(t, open(sys.argv[1], "w"), indent=2)
PY
$RADGROK reproduce table6 --scale paper --seeds 3 --out "$tmp" --report-only > /dev/null
cp "$tmp"/report.md "$tmp"/report.html "$tmp"/timing.json "$dst/"
cp "$tmp"/*.png "$dst/" 2>/dev/null || true
(cd "$tmp" && tar czf runs.tgz runs) && cp "$tmp/runs.tgz" "$dst/"
echo "$(ls "$tmp/runs" | wc -l) finished runs packed into $dst/runs.tgz; report rebuilt"
rm -rf "$tmp"
