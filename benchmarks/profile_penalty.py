"""Where the penalty's cost goes on this CPU, and its floor: the profile behind ``penalty_overhead``.

Both arms run the loop's own ``paper-mlp`` step (``timing.loop_stepper``; hooks attached in both,
lam 0 vs 0.05) under torch.profiler; the operators whose self time grows with the penalty are
the penalty's. The floor is the memory traffic the penalty cannot avoid, per hooked site of
N x d activations: since 2026-12-03 the backward adds the penalty's term inside the pass the
ReLU's backward makes anyway (``radgrok.penalty.relu_kernel``), so what is left is the forward's
row norms, one read of h: N * d * 4 bytes in float32, divided by the copy bandwidth measured in
the same run (a copy reads and writes, so this is a rough model, not a bound).

``bounds`` measures instead, on one shared model, optimizer and batch order (as ``radgrok bench``
does), with the arms alternating, against lam 0 (example reading, mean):

* ``shipped`` -- the penalty as the library runs it: each site feeds an ``nn.ReLU``, whose backward
  and the penalty's term are one compiled pass (``ReluGate``);
* ``torch_fallback`` -- the same graph with the kernel off (no C compiler, or
  ``RADGROK_RELU_KERNEL=0``): torch's threshold_backward, then an in-place addcmul;
* ``unfused_relu`` -- the path before 2026-12-03 (and still the one for a site that no ``nn.ReLU``
  takes): the gate's in-place addcmul, then torch's own ReLU backward.

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
from radgrok.penalty import relu_kernel
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


class _TorchRelu(torch.nn.Module):
    """A ReLU the penalty's hooks do not recognise: the site keeps its RadialGate."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.relu(z)


def bounds(lam: float, steps: int, reps: int) -> dict:
    """Overheads of the shipped path and of the two it replaced, against lam 0, one shared model."""
    cfg = get_preset("paper-mlp").replace(lam=lam)
    b = build(cfg)
    feed, rs, state = make_feed(b, cfg), b.rs, {"step": 0}
    b.model.train()
    layers = list(b.model.hidden)
    relus = [layer.act for layer in layers]
    lib = relu_kernel._kernel()
    # what each arm sets before its step: lam, whether the sites' ReLUs are the hooks' nn.ReLU, the kernel
    variants = {"no_penalty": (0.0, True, True), "shipped": (lam, True, True),
                "torch_fallback": (lam, True, False),  # ReluGate with torch's two passes
                "unfused_relu": (lam, False, True)}  # before 2026-12-03: RadialGate's addcmul, then torch's ReLU

    def arm(strength: float, fuse: bool, kernel: bool) -> Callable[[], None]:
        def step() -> None:
            rs.lam = strength
            for layer, relu in zip(layers, relus):
                layer.act = relu if fuse else _TorchRelu()
            relu_kernel._lib = lib if kernel else None
            try:
                train_step(b, *feed.train_batch(state["step"]), rs.active)
            finally:
                for layer, relu in zip(layers, relus):
                    layer.act = relu
                relu_kernel._lib = lib
            state["step"] += 1
        return step

    arms = {k: arm(*v) for k, v in variants.items()}
    for fn in arms.values():
        for _ in range(2):
            fn()
    t = alternate({k: (fn, steps) for k, fn in arms.items()}, reps, lambda msg: None, "bounds")
    over = {k: [a / z - 1 for a, z in zip(t[k], t["no_penalty"])] for k in variants if k != "no_penalty"}
    return {"steps_per_arm_and_rep": steps, "reps": reps, "reading": "example, mean",
            "kernel": relu_kernel.status(),
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
    floor_bytes = sites * n * width * 4  # the forward's one read of h per site
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
