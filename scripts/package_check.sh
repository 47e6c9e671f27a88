#!/usr/bin/env bash
# `make package-check`: build the sdist and wheel into dist/, install the wheel into a clean venv
# (torch pinned to constraints.txt's 2.13.0, which pip takes from the local wheel directory its
# config names, never a bare `torch`), then run the installed CLI outside the checkout:
# `radgrok --help` and a one-step `radgrok train`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-python3}
BIN=${BIN:-.venv/bin}

rm -rf dist
"$BIN/python" -m build --no-isolation --outdir dist . > /dev/null
ls -l dist

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" -m venv "$WORK/venv"
V="$WORK/venv/bin"
start=$(date +%s)
"$V/pip" install -c constraints.txt torch==2.13.0 dist/radgrok-*.whl > "$WORK/pip.log" 2>&1 \
    || { tail -30 "$WORK/pip.log"; exit 1; }
grep -iE "^(Processing|Downloading) \S*torch-" "$WORK/pip.log" || true
if grep -qiE "^Downloading .*torch-" "$WORK/pip.log"; then
    echo "package-check: torch was downloaded, not taken from local disk" >&2
    exit 1
fi
echo "clean venv install: $(( $(date +%s) - start )) s, $(du -sm "$WORK/venv" | cut -f1) MiB"

cd "$WORK"   # away from the checkout: everything below must come from the installed wheel
"$V/python" -c "import radgrok, torch; print('radgrok', radgrok.__version__, 'from', radgrok.__file__); print('torch', torch.__version__)"
"$V/python" - <<'PY'
import radgrok
assert "site-packages" in radgrok.__file__, radgrok.__file__
PY
"$V/radgrok" --help
"$V/radgrok" train --preset cpu-mlp --steps 1 --eval-every 1 --quiet --out "$WORK/run"
ls "$WORK/run"
"$V/python" -c "import json,sys; s=json.load(open(sys.argv[1])); print('summary:', s['status'], s['steps_done'], 'step')" "$WORK/run/summary.json"
echo "package-check: OK ($ROOT/dist)"
