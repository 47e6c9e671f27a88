"""Penalty overhead: training-step time of the paper MLP with and without radial suppression.

Both arms are built from the ``paper-mlp`` preset (full batch, 4,704 examples,
MLP 2x512) and differ only in lam (0.05 vs 0, the hooks attached in both, as the
trainer does). Repetitions alternate the arms so that machine drift hits both
alike; the figure is the median over repetitions of the per-repetition ratio.

    python benchmarks/bench_penalty.py [--reps 7] [--steps 10] [--threads N] [--preset paper-mlp]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from radgrok.experiments.presets import get_preset
from radgrok.training.loop import build


def step_time(lam: float, preset: str, steps: int, warmup: int = 3) -> float:
    """Mean seconds per training step (forward, loss [+ penalty], backward, AdamW)."""
    cfg = get_preset(preset).replace(lam=lam)
    b = build(cfg)
    x, y = b.data.x_train, b.data.y_train
    soft = lam > 0

    def one():
        loss = F.cross_entropy(b.model(x), y)
        if soft:
            loss = loss + b.rs.penalty()
        b.opt.zero_grad(set_to_none=True)
        loss.backward()
        b.opt.step()

    for _ in range(warmup):
        one()
    t0 = time.perf_counter()
    for _ in range(steps):
        one()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=0, help="0 = torch default")
    ap.add_argument("--preset", default="paper-mlp")
    ap.add_argument("--json", default=None, help="output file (default benchmarks/results/<machine>-<date>-penalty.json)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    base, pen, ratios = [], [], []
    for rep in range(args.reps):
        order = (0.0, 0.05) if rep % 2 == 0 else (0.05, 0.0)
        times = {lam: step_time(lam, args.preset, args.steps) for lam in order}
        base.append(times[0.0])
        pen.append(times[0.05])
        ratios.append(times[0.05] / times[0.0] - 1)
        print(f"rep {rep}: no penalty {times[0.0] * 1e3:.1f} ms, penalty {times[0.05] * 1e3:.1f} ms, "
              f"overhead {ratios[-1]:+.2%}", flush=True)
    res = {
        "benchmark": "penalty_overhead",
        "preset": args.preset,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"node": platform.node(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "reps": args.reps, "steps_per_rep": args.steps,
        "step_ms_no_penalty": {"median": statistics.median(base) * 1e3, "min": min(base) * 1e3, "max": max(base) * 1e3},
        "step_ms_penalty": {"median": statistics.median(pen) * 1e3, "min": min(pen) * 1e3, "max": max(pen) * 1e3},
        "penalty_overhead": {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)},
        "command": "python benchmarks/bench_penalty.py " + " ".join(
            f"--{k} {v}" for k, v in vars(args).items() if v is not None and k != "json"),
    }
    out = Path(args.json or f"benchmarks/results/{platform.node() or 'cpu'}-{datetime.date.today()}-penalty.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"median overhead {res['penalty_overhead']['median']:+.2%} "
          f"(min {res['penalty_overhead']['min']:+.2%}, max {res['penalty_overhead']['max']:+.2%}) -> {out}")


if __name__ == "__main__":
    main()
