"""Penalty overhead alone: training-step time of the paper MLP with and without radial suppression.

The measurement is ``radgrok.experiments.bench.bench_penalty`` (the ``penalty_overhead``
key of ``radgrok bench`` and benchmarks/bench.py): every arm runs the loop's own step on one ``paper-mlp`` model,
hooks attached in all, differing only in lam and the reading of ||h||; repetitions
alternate the arms; each reading's ratios, and the figure: the reading with the largest median.

    python benchmarks/bench_penalty.py [--reps 7] [--steps 24] [--threads N] [--preset paper-mlp] [--lam 0.05]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys

import torch

from radgrok.experiments.bench import Sizes, bench_penalty, spread, write_result
from radgrok.experiments.presets import get_preset


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--steps", type=int, default=24, help="steps per arm and repetition")
    ap.add_argument("--threads", type=int, default=0, help="0 = torch default")
    ap.add_argument("--preset", default="paper-mlp")
    ap.add_argument("--lam", type=float, default=0.05)
    ap.add_argument("--json", default=None,
                    help="output file (default benchmarks/results/<machine>-<date>-penalty.json)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ratios, extra = bench_penalty(get_preset(args.preset), Sizes(reps=args.reps, penalty_steps=args.steps), print,
                                  lam=args.lam)
    res = {
        "benchmark": "penalty_overhead", "preset": args.preset,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"hostname": platform.node(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "steps_per_rep": args.steps,
        "step_ms_no_penalty": spread(extra["step_ms_no_penalty"]),
        **{k: spread(v) for k, v in extra.items() if k.startswith("step_ms_") and k != "step_ms_no_penalty"},
        "penalty_overhead": spread(ratios), "worst_reading": extra["worst_reading"],
        "worst_per_repetition": spread(extra["worst_per_repetition"]),
        "overhead_per_reading": {k: spread(v["values"]) for k, v in extra["overhead_per_reading"].items()},
        "command": "python " + " ".join(sys.argv),
    }
    out = write_result(res, args.json, "penalty")
    o = res["penalty_overhead"]
    per = ", ".join(f"{k} {v['median']:+.2%}" for k, v in res["overhead_per_reading"].items())
    print(f"overhead of the worst reading ({extra['worst_reading']}) {o['median']:+.2%} (min {o['min']:+.2%}, "
          f"max {o['max']:+.2%}); per reading {per} -> {out}")


if __name__ == "__main__":
    main()
