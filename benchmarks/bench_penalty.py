"""Penalty overhead alone: training-step time of the paper MLP with and without radial suppression.

The measurement is ``radgrok.experiments.bench.bench_penalty`` (the ``penalty_overhead``
key of ``radgrok bench``): both arms run the loop's own step on the ``paper-mlp``
preset, hooks attached in both, differing only in lam; repetitions alternate the
arms and the figure is the median of the per-repetition ratios.

    python benchmarks/bench_penalty.py [--reps 7] [--steps 10] [--threads N] [--preset paper-mlp] [--lam 0.05]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

import torch

from radgrok.experiments.bench import Sizes, spread, bench_penalty
from radgrok.experiments.presets import get_preset


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="0 = torch default")
    ap.add_argument("--preset", default="paper-mlp")
    ap.add_argument("--lam", type=float, default=0.05)
    ap.add_argument("--json", default=None,
                    help="output file (default benchmarks/results/<machine>-<date>-penalty.json)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ratios, extra = bench_penalty(get_preset(args.preset), Sizes(reps=args.reps, steps=args.steps), print,
                                  lam=args.lam)
    res = {
        "benchmark": "penalty_overhead", "preset": args.preset,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"hostname": platform.node(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "steps_per_rep": args.steps,
        "step_ms_no_penalty": spread(extra["step_ms_no_penalty"]),
        "step_ms_penalty": spread(extra["step_ms_penalty"]),
        "penalty_overhead": spread(ratios),
        "command": "python " + " ".join(sys.argv),
    }
    out = Path(args.json or f"benchmarks/results/{platform.node() or 'cpu'}-{datetime.date.today()}-penalty.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    o = res["penalty_overhead"]
    print(f"median overhead {o['median']:+.2%} (min {o['min']:+.2%}, max {o['max']:+.2%}) -> {out}")


if __name__ == "__main__":
    main()
