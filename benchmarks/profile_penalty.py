"""Where the penalty's cost goes on this CPU, and its floor: the profile behind ``penalty_overhead``.

Both arms run the loop's own ``paper-mlp`` step (``timing.loop_stepper``; hooks attached in both,
lam 0 vs 0.05) under torch.profiler; the operators whose self time grows with the penalty are
the penalty's. The floor is the memory traffic the fused penalty cannot avoid, per hooked
site of N x d activations: the forward row norms read h once, and the backward's single
``addcmul`` reads the incoming gradient and h and writes the result, so 4 * N * d * 4 bytes
in float32, divided by the copy bandwidth measured in the same run.

The floor above is a model (bytes / copy bandwidth). ``bounds`` measures instead, on one shared
model, optimizer and batch order (as ``radgrok bench`` does), with the arms alternating, against
lam 0:

* ``shipped`` -- the penalty as the library runs it (example reading, mean). In this MLP every
  gated output feeds one layer, so each gate finds the incoming gradient its own and adds its term
  in place: the fewest bytes any gate that adds the penalty's gradient as an operator of its own
  can move;
* ``buffer`` -- the gate as it was before 2026-12-03: the sum always written into its site's buffer
  (what the library still does where the gradient is shared, e.g. a residual ``x + f(x)``);
* ``no_add`` -- the forward norms, hooks and gate bookkeeping, with the gate's add skipped (the
  gradient is wrong: a timing bound only).

    python benchmarks/profile_penalty.py [--steps 20] [--reps 3] [--bound-steps 30] [--json PATH]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from typing import Callable

import torch
from torch.profiler import ProfilerActivity, profile

from radgrok.experiments.bench import write_result
from radgrok.experiments.presets import get_preset
from radgrok.experiments.timing import alternate, loop_stepper
from radgrok.penalty import gate
from radgrok.tasks.sizes import train_count
from radgrok.training.loop import build, make_feed, train_step


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


def bounds(lam: float, steps: int, reps: int) -> dict:
    """Overheads of the shipped gate, the always-buffered one and no add, against lam 0, one shared model."""
    cfg = get_preset("paper-mlp").replace(lam=lam)
    b = build(cfg)
    feed, rs, state = make_feed(b, cfg), b.rs, {"step": 0}
    b.model.train()
    shipped, alone = gate.add_term, gate._GRAD_ALONE
    # what each arm sets before its step: lam, where the gate's sum goes, the in-place switch
    variants = {"no_penalty": (0.0, shipped, alone), "shipped": (lam, shipped, alone),
                "buffer": (lam, shipped, None),  # the gate's own switch: never write in place
                "no_add": (lam, lambda grad, h, coef, st: grad, alone)}

    def arm(strength: float, add_term, grad_alone) -> Callable[[], None]:
        def step() -> None:
            rs.lam = strength
            gate.add_term, gate._GRAD_ALONE = add_term, grad_alone
            try:
                train_step(b, *feed.train_batch(state["step"]), rs.active)
            finally:
                gate.add_term, gate._GRAD_ALONE = shipped, alone
            state["step"] += 1
        return step

    arms = {k: arm(*v) for k, v in variants.items()}
    for fn in arms.values():
        for _ in range(2):
            fn()
    t = alternate({k: (fn, steps) for k, fn in arms.items()}, reps, lambda msg: None, "bounds")
    over = {k: [a / z - 1 for a, z in zip(t[k], t["no_penalty"])] for k in variants if k != "no_penalty"}
    return {"steps_per_arm_and_rep": steps, "reps": reps, "reading": "example, mean",
            "step_ms_no_penalty": [x * 1e3 for x in t["no_penalty"]],
            "overhead": {k: {"median": statistics.median(v), "values": v} for k, v in over.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--lam", type=float, default=0.05)
    ap.add_argument("--bound-steps", type=int, default=30, help="steps per arm and repetition of the bounds")
    ap.add_argument("--json", default=None, help="default benchmarks/results/<host>-<date>-penalty-profile.json")
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
    extra = {op: ops["penalty"].get(op, 0.0) - ops["no_penalty"].get(op, 0.0)
             for op in set(ops["penalty"]) | set(ops["no_penalty"])}
    grown = dict(sorted(((op, d) for op, d in extra.items() if d > 1e-5), key=lambda kv: -kv[1])[:10])

    n = train_count(base.task.op, base.task.p, base.task.train_frac)  # full batch: every training pair
    sites, width = base.model.depth, base.model.width
    floor_bytes = sites * 4 * n * width * 4
    bw = copy_bandwidth(64 * 2 ** 20)
    measured = bounds(args.lam, args.bound_steps, args.reps)
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
        "bounds": measured,
    }
    out = write_result(res, args.json, "penalty-profile")
    print(f"paper-mlp step: {step['no_penalty'] * 1e3:.1f} ms without the penalty, {step['penalty'] * 1e3:.1f} ms with "
          f"({res['overhead_under_profiler']:+.1%} under the profiler)")
    for op, d in grown.items():
        print(f"  {op:<40} +{d * 1e3:.2f} ms")
    f = res["floor"]
    print(f"floor: {f['bytes_per_step'] / 1e6:.0f} MB per step at {f['copy_bandwidth_gb_s']:.1f} GB/s = "
          f"{f['ms_per_step']:.2f} ms, {f['fraction_of_step']:.1%} of the step")
    print("measured on one shared model (median over repetitions, vs lam 0): " + ", ".join(
        f"{k} {v['median']:+.1%}" for k, v in measured["overhead"].items()) + f" -> {out}")


if __name__ == "__main__":
    main()
