#!/usr/bin/env bash
# What a lent GPU machine runs (no install there: its python3 has torch, numpy,
# matplotlib, tqdm and pyyaml; radgrok comes from src/ on PYTHONPATH).
#   bash benchmarks/cuda.sh bench                      -> $OUT/bench.json, $OUT/multiseed-paper.json
#   bash benchmarks/cuda.sh reproduce TARGET SEEDS SECS -> $OUT/TARGET.tgz (run records, no checkpoints)
# Results come back through $OUT; run dirs without checkpoint.pt keep the transfer small.
set -u
export PYTHONPATH=$PWD/src PYTHONUNBUFFERED=1 MPLCONFIGDIR=/tmp/mpl HOME=/tmp/home
OUT=${OUT:-/tmp/radgrok-out}
mkdir -p "$OUT" /tmp/mpl /tmp/home
case "$1" in
  bench)
    nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu,utilization.gpu --format=csv
    python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(), 'tf32', torch.backends.cuda.matmul.allow_tf32)"
    python3 benchmarks/bench.py --quick --device cuda --json "$OUT/bench.json"
    python3 benchmarks/bench_multiseed.py --preset paper-mlp --device cuda --seeds "${2:-10}" --steps "${3:-300}" \
      --reps 2 --json "$OUT/multiseed-paper.json"
    ;;
  reproduce)
    target=$2 seeds=$3 secs=$4
    timeout "$secs" python3 -m radgrok reproduce "$target" --scale paper --seeds "$seeds" --device cuda \
      --workers "${5:-4}" --out "runs/reproduce/$target-paper"
    echo "exit $?"
    # a timed-out invocation leaves finished runs; write the report over whatever finished
    timeout 90 python3 -m radgrok reproduce "$target" --scale paper --seeds "$seeds" --device cuda --report-only \
      --out "runs/reproduce/$target-paper" | head -40
    tar czf "$OUT/$target.tgz" --exclude=checkpoint.pt -C runs/reproduce "$target-paper"
    ls -la "$OUT"
    ;;
esac
