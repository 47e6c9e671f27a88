"""Where the penalty's cost goes on this CPU, and its floor: the profile behind ``penalty_overhead``.

Both arms run the loop's own ``paper-mlp`` step (``bench.loop_stepper``; hooks attached in both,
lam 0 vs 0.05) under torch.profiler; the operators whose self time grows with the penalty are
the penalty's. The floor is the memory traffic the fused penalty cannot avoid, per hooked
site of N x d activations: the forward row norms read h once, and the backward's single
``addcmul`` reads the incoming gradient and h and writes the result, so 4 * N * d * 4 bytes
in float32, divided by the copy bandwidth measured in the same run.

    python benchmarks/profile_penalty.py [--steps 20] [--reps 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from radgrok.experiments.bench import loop_stepper
from radgrok.experiments.presets import get_preset
from radgrok.training.loop import build


def profiled_ops(step, n: int) -> tuple[float, dict[str, float]]:
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        wall = time.perf_counter() - t0
    return wall / n, {e.key: e.self_cpu_time_total / 1e6 / n for e in prof.key_averages()}


def copy_bandwidth(nbytes: int, reps: int = 20) -> float:
    """Bytes per second of a large float32 copy (read + write counted)."""
    a = torch.randn(nbytes // 4)
    b = torch.empty_like(a)
    b.copy_(a)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        b.copy_(a)
        times.append(time.perf_counter() - t0)
    return 2 * nbytes / statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--lam", type=float, default=0.05)
    ap.add_argument("--json", default=None, help="output (default benchmarks/results/<host>-<date>-penalty-profile.json)")
    args = ap.parse_args()

    base = get_preset("paper-mlp")
    steppers = {}
    for name, lam in (("no_penalty", 0.0), ("penalty", args.lam)):
        cfg = base.replace(lam=lam)
        steppers[name] = loop_stepper(build(cfg), cfg)
        for _ in range(2):
            steppers[name]()
    runs: dict[str, list] = {k: [] for k in steppers}
    for rep in range(args.reps):
        for name in (list(steppers) if rep % 2 == 0 else list(steppers)[::-1]):
            runs[name].append(profiled_ops(steppers[name], args.steps))
    step = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    ops = {k: {op: statistics.median(o.get(op, 0.0) for _, o in v) for op in {op for _, o in v for op in o}}
           for k, v in runs.items()}
    extra = {op: ops["penalty"].get(op, 0.0) - ops["no_penalty"].get(op, 0.0) for op in set(ops["penalty"]) | set(ops["no_penalty"])}
    grown = dict(sorted(((op, d) for op, d in extra.items() if d > 1e-5), key=lambda kv: -kv[1])[:10])

    n = int(base.task.p ** 2 * base.task.train_frac)  # full batch: every training pair
    sites, width = base.model.depth, base.model.width
    floor_bytes = sites * 4 * n * width * 4
    bw = copy_bandwidth(64 * 2 ** 20)
    res = {
        "benchmark": "penalty_profile", "command": "python " + " ".join(sys.argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"node": platform.node(), "processor": platform.processor() or platform.machine(),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
        "preset": "paper-mlp", "lam": args.lam, "steps": args.steps, "reps": args.reps,
        "step_ms": {k: v * 1e3 for k, v in step.items()},
        "overhead_under_profiler": step["penalty"] / step["no_penalty"] - 1,
        "self_ms_added_by_penalty": {op: d * 1e3 for op, d in grown.items()},
        "floor": {"bytes_per_step": floor_bytes, "copy_bandwidth_gb_s": bw / 1e9,
                  "ms_per_step": floor_bytes / bw * 1e3,
                  "fraction_of_step": floor_bytes / bw / step["no_penalty"]},
    }
    out = Path(args.json or f"benchmarks/results/{platform.node() or 'cpu'}-{datetime.date.today()}-penalty-profile.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(f"paper-mlp step: {step['no_penalty'] * 1e3:.1f} ms without the penalty, {step['penalty'] * 1e3:.1f} ms with "
          f"({res['overhead_under_profiler']:+.1%} under the profiler)")
    for op, d in grown.items():
        print(f"  {op:<40} +{d * 1e3:.2f} ms")
    f = res["floor"]
    print(f"floor: {f['bytes_per_step'] / 1e6:.0f} MB per step at {f['copy_bandwidth_gb_s']:.1f} GB/s = "
          f"{f['ms_per_step']:.2f} ms, {f['fraction_of_step']:.1%} of the step -> {out}")


if __name__ == "__main__":
    main()
