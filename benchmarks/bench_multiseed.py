"""Multi-seed throughput: S seeds of a preset trained at once (``train_many``, vmap) vs one by one (``train``).

Both arms run the same S configs (seeds 0..S-1 of the preset, early stop off, a
fixed step budget, the preset's evaluations and diagnostics, nothing written to
disk) in this one process. Repetitions alternate which arm goes first so that
machine drift hits both alike; a short untimed warm-up of each arm pays the
one-time imports first. The figure is the median over repetitions of the
per-repetition speedup (sequential seconds / batched seconds).

    python benchmarks/bench_multiseed.py [--seeds 8] [--steps 200] [--reps 3] [--threads N]
                                         [--preset cpu-mlp] [--batch-size B] [--no-diagnostics]
                                         [--early-stop] [--dtype float64] [--json PATH]

``--early-stop`` trains every seed to its grok step (plus the preset's patience) or
the budget, as a user would, and the JSON then also records whether both arms
found the same grok step for every seed and the largest difference between their
logged metric rows (every evaluation, every seed): the equivalence the multi-seed
engine promises, measured on the very runs that are timed.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from radgrok.experiments.bench import spread, write_result
from radgrok.experiments.presets import get_preset
from radgrok.runs import records
from radgrok.runs.config import RunConfig
from radgrok.training.loop import train
from radgrok.training.multiseed import train_many


def configs(preset: str, seeds: int, steps: int, diagnostics: bool, batch_size: int | None,
            early_stop: bool = False, dtype: str | None = None, device: str | None = None) -> list[RunConfig]:
    base = get_preset(preset).replace(steps=steps, early_stop=early_stop, diagnostics=diagnostics)
    if device is not None:
        base = base.replace(device=device)
    if dtype is not None:
        base = base.replace(dtype=dtype)
    if batch_size is not None:
        base = base.replace(batch_size=batch_size)
    return [base.replace(seed=s) for s in range(seeds)]


def timed(fn) -> tuple[float, list[dict]]:
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    t0 = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - t0, out


def run_batched(cfgs: list[RunConfig], dirs: list[Path] | None = None) -> list[dict]:
    return train_many(cfgs, dirs, progress=False)


def run_sequential(cfgs: list[RunConfig], dirs: list[Path] | None = None) -> list[dict]:
    return [train(c, d, progress=False) for c, d in zip(cfgs, dirs or [None] * len(cfgs))]


def row_difference(a_dirs: list[Path], b_dirs: list[Path], atol: float = 1e-6) -> tuple[float, str, int]:
    """Largest |a - b| / (atol + |b|) over every numeric metric of the rows both runs logged (the
    same step), its metric, and rows compared.

    Early-stopped runs whose grok steps differ log different numbers of rows; the
    rows past the shorter run have nothing to be compared with. ``atol`` keeps
    metrics that sit at zero (a loss that has converged, an energy of a vanishing
    gradient) from turning rounding noise into huge ratios.
    """
    worst, where, n = 0.0, "", 0
    for da, db in zip(a_dirs, b_dirs):
        ra = {r["step"]: r for r in records.read_jsonl(da / records.METRICS)}
        for y in records.read_jsonl(db / records.METRICS):
            x = ra.get(y["step"])
            if x is None:
                continue
            n += 1
            for k, v in y.items():
                if isinstance(v, (int, float)) and isinstance(x.get(k), (int, float)):
                    d = abs(x[k] - v) / (atol + abs(v))
                    if d > worst:
                        worst, where = d, f"{k} at step {y['step']}"
    return worst, where, n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="0 = torch default")
    ap.add_argument("--preset", default="cpu-mlp")
    ap.add_argument("--batch-size", type=int, default=None, help="override the preset's batch size (0 = full batch)")
    ap.add_argument("--no-diagnostics", action="store_true", help="turn off the per-evaluation diagnostics")
    ap.add_argument("--early-stop", action="store_true",
                    help="train each seed to its grok step (+ patience) and compare grok steps and metric rows")
    ap.add_argument("--dtype", default=None, help="override the preset's dtype (float32 or float64)")
    ap.add_argument("--device", default=None, help="override the preset's device (e.g. cuda)")
    ap.add_argument("--json", default=None,
                    help="output file (default benchmarks/results/<machine>-<date>-multiseed.json)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    cfgs = configs(args.preset, args.seeds, args.steps, not args.no_diagnostics, args.batch_size,
                   args.early_stop, args.dtype, args.device)
    warm = configs(args.preset, 2, 2, not args.no_diagnostics, args.batch_size, device=args.device)
    run_batched(warm), run_sequential(warm)

    t_many, t_seq, speedup = [], [], []
    tmp = tempfile.TemporaryDirectory(prefix="bench-multiseed-")
    for rep in range(args.reps):
        arms = [("batched", run_batched), ("sequential", run_sequential)]
        times, results, dirs = {}, {}, {}
        for name, fn in arms if rep % 2 == 0 else arms[::-1]:
            # Both arms write their run records (as a user's runs would), to compare them after.
            dirs[name] = [Path(tmp.name) / f"r{rep}-{name}-s{i}" for i in range(len(cfgs))]
            times[name], results[name] = timed(lambda fn=fn, out=dirs[name]: fn(cfgs, out))
        t_many.append(times["batched"])
        t_seq.append(times["sequential"])
        speedup.append(times["sequential"] / times["batched"])
        print(f"rep {rep}: batched {times['batched']:.2f} s, sequential {times['sequential']:.2f} s, "
              f"speedup {speedup[-1]:.2f}x", flush=True)
    # Same runs in both arms: their final losses should agree to float rounding.
    agree = max(abs(a["final"]["train_loss"] - b["final"]["train_loss"]) / max(abs(b["final"]["train_loss"]), 1e-12)
                for a, b in zip(results["batched"], results["sequential"]))
    rows_diff, rows_where, rows_n = row_difference(dirs["batched"], dirs["sequential"])
    grok = {name: [r["grok_step"] for r in results[name]] for name in results}
    steps_done = {name: [r["steps_done"] for r in results[name]] for name in results}
    tmp.cleanup()
    work = sum(steps_done["sequential"])  # seed-steps actually trained (early stop ends seeds sooner)
    res = {
        "benchmark": "multiseed_throughput",
        "preset": args.preset, "seeds": args.seeds, "steps": args.steps, "reps": args.reps,
        "batch_size": cfgs[0].optim.batch_size,
        "diagnostics": not args.no_diagnostics,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"node": platform.node(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(),
                    "device": cfgs[0].train.device + (f" ({torch.cuda.get_device_name()})"
                                                      if cfgs[0].train.device.startswith("cuda") else "")},
        "seconds_batched": spread(t_many), "seconds_sequential": spread(t_seq),
        "seed_steps_per_s_batched": work / statistics.median(t_many),
        "seed_steps_per_s_sequential": work / statistics.median(t_seq),
        "speedup": spread(speedup),
        "max_rel_diff_final_train_loss": agree,
        "dtype": cfgs[0].train.dtype, "early_stop": args.early_stop,
        "grok_steps_batched": grok["batched"], "grok_steps_sequential": grok["sequential"],
        "same_grok_steps": grok["batched"] == grok["sequential"],
        "max_rel_diff_metric_rows": rows_diff, "max_rel_diff_metric": rows_where, "metric_rows_compared": rows_n,
        "command": "python " + " ".join(sys.argv),
    }
    out = write_result(res, args.json, "multiseed")
    print(f"grok steps batched {grok['batched']} / sequential {grok['sequential']}; largest relative "
          f"difference over {rows_n} metric rows {rows_diff:.2e} ({rows_where})")
    print(f"{args.seeds} seeds x {args.steps} steps: batched {res['seed_steps_per_s_batched']:.0f} seed-steps/s, "
          f"sequential {res['seed_steps_per_s_sequential']:.0f} seed-steps/s, median speedup "
          f"{res['speedup']['median']:.2f}x (min {res['speedup']['min']:.2f}, "
          f"max {res['speedup']['max']:.2f}) -> {out}")


if __name__ == "__main__":
    main()
