"""``radgrok bench``: how fast radgrok trains, as six numbers with a spread, in one process.

Every key is a ``{"median", "min", "max", "reps"}`` over repetitions; where two arms
are compared, the repetitions alternate which arm runs first (machine drift hits
both alike; within a repetition the arms' calls interleave), an arm's time in a
repetition is the median of its timed calls (steps, matmul passes, evaluations), and the
figure is the median of the per-repetition ratios.

* ``roofline_fraction`` -- achieved GEMM FLOP/s of one ``paper-mlp`` training step
  (the loop's own step, penalty on) over the FLOP/s ``torch.mm`` sustains on the same
  matmuls in the same repetition. FLOPs are counted from the shapes (``gemm_shapes``):
  2*N*in*out per Linear forward, and twice that backward (dX and dW). The first
  hidden layer is not a GEMM: ``MLP`` computes it as two row gathers of W^T plus adds,
  whose 4*N*width adds (forward sum, backward scatter) are memory-bound and are left
  out of both numerator and denominator; so is every other elementwise op (ReLU,
  bias, loss, penalty, AdamW): they are what separates the fraction from 1.
* ``plain_loop_ratio`` -- throughput of the loop's step (``build()`` plus ``_train``'s
  per-step operations, hooks attached, lam 0) over a plain PyTorch loop as reference
  repositories write it (``nn.Sequential`` on one-hot float inputs, F.cross_entropy,
  AdamW), both on the paper-mlp shapes.
* ``penalty_overhead`` -- (step time with lam 0.05 - with lam 0) / with lam 0 under every reading
  of ||h|| (per example with mean or sum, one norm of the batch, activation L2), on ``paper-mlp``
  and on ``cpu-mlp``, the lam-0 arm alternated with the others in one run. Reported, with no
  target: the key's repetitions are those of the paper-mlp reading whose median is the largest;
  every preset's and reading's median and spread are in ``details.penalty_overhead.per_preset``
  and printed below the table.
* ``diagnostics_overhead`` -- (E steps + one evaluation with the cheap diagnostics) /
  (E steps + one evaluation without) - 1 at the preset's cadence E = eval_every. The E
  steps are identical in both arms (diagnostics never touch parameters), so each
  repetition times the step once and the two kinds of evaluation separately.
* ``multiseed_speedup`` -- S seeds of ``cpu-mlp`` for a fixed budget (no early stop,
  the preset's evaluations and diagnostics): sequential ``train`` seconds over
  ``train_many`` seconds.
* ``seconds_to_grok`` -- ``radgrok train --preset cpu-mlp-strong-wd`` (seed 0, early stop,
  a temporary run directory) timed from the call to the ``on_eval`` callback of the
  evaluation that becomes the grok step.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence, cast

import torch

from ..penalty import NormOver, Reduce
from ..runs import records
from ..runs.config import ConfigError, RunConfig
from ..tasks.modular import ModularData
from ..training.loop import build, make_feed, train, train_step
from ..training.multiseed import train_many
from ..training.probes import cheap_diagnostics
from .presets import get_preset
from .timing import Log, alternate, device_name, gemm_pass, gemm_shapes, loop_stepper, plain_stepper, step_flops, warm

__all__ = ["Sizes", "FULL", "QUICK", "TARGETS", "READINGS", "bench_penalty", "bench_penalty_presets", "run_bench",
           "format_table", "default_configs", "run_and_print", "spread", "write_result", "default_json_path"]


@dataclass(frozen=True)
class Sizes:
    """How much work one bench run does."""

    reps: int = 7             # repetitions of every ratio key
    steps: int = 16           # timed training steps per arm and repetition
    warmup: int = 2           # untimed steps after build (AdamW allocates its state at step 1)
    gemm_passes: int = 5      # timed passes over the step's matmuls per repetition
    evals: int = 3            # timed evaluations per arm and repetition (diagnostics)
    seeds: int = 8            # multiseed: seeds per arm
    multiseed_steps: int = 100
    grok_reps: int = 5
    # penalty_overhead resolves a few percent: per arm and repetition it needs more steps than the
    # other keys, or the step-to-step noise of this CPU (±5% at 8 steps) is larger than the effect
    penalty_steps: int = 48


FULL = Sizes()
# Under 3 minutes on 2 cores: fewer steps, 5 repetitions, one timed run to the grok step.
QUICK = Sizes(reps=5, steps=8, gemm_passes=3, evals=2, seeds=4, multiseed_steps=50, grok_reps=1, penalty_steps=24)

# key -> (comparison, threshold); seconds_to_grok and penalty_overhead are reported without one (the
# penalty is plain autograd: what it costs is measured, not engineered down to a CPU figure).
TARGETS: dict[str, tuple[str, float] | None] = {
    "roofline_fraction": (">=", 0.70), "plain_loop_ratio": (">=", 0.95), "penalty_overhead": None,
    "diagnostics_overhead": ("<=", 0.10), "multiseed_speedup": (">=", 1.5), "seconds_to_grok": None}


def default_configs() -> dict[str, RunConfig]:
    """The preset behind each role (tests swap in tiny ones)."""
    return {"paper": get_preset("paper-mlp"), "cpu": get_preset("cpu-mlp"), "multiseed": get_preset("cpu-mlp"),
            "grok": get_preset("cpu-mlp-strong-wd")}


# -- the keys ------------------------------------------------------------------------

def bench_roofline(cfg: RunConfig, sz: Sizes, log: Log) -> tuple[list[float], dict]:
    m = cfg.model
    b = build(cfg)
    n = cast(ModularData, b.data).x_train.shape[0]  # the benchmarks' presets are modular-task MLPs
    shapes = gemm_shapes(n, cfg.task.p, m.width, m.depth, m.encoding, m.embed_dim)
    flops = step_flops(n, cfg.task.p, m.width, m.depth, m.encoding, m.embed_dim)
    gemm = warm(gemm_pass(shapes, b.dtype, b.device), 1)
    step = warm(loop_stepper(b, cfg), sz.warmup)
    t = alternate({"step_s": (step, sz.steps), "gemm_s": (gemm, sz.gemm_passes)}, sz.reps, log,
                   "roofline_fraction", b.device)
    # Same FLOPs in both arms, so the FLOP/s ratio is the time ratio.
    ratios = [g / s for g, s in zip(t["gemm_s"], t["step_s"])]
    return ratios, {"gemm_flops_per_step": flops["gemm"], "first_layer_adds_not_counted": flops["first_layer_adds"],
                    "n": n, "gemms": [f"{nm}: ({m}x{k}) @ ({k}x{c}) {lay}" for nm, m, k, c, lay in shapes],
                    "achieved_gflops": [flops["gemm"] / s / 1e9 for s in t["step_s"]],
                    "sustained_gflops": [flops["gemm"] / g / 1e9 for g in t["gemm_s"]],
                    "step_ms": [s * 1e3 for s in t["step_s"]]}


def bench_plain_loop(cfg: RunConfig, sz: Sizes, log: Log) -> tuple[list[float], dict]:
    cfg = cfg.replace(lam=0.0)
    ours = warm(loop_stepper(build(cfg), cfg), sz.warmup)
    plain = warm(plain_stepper(cfg), sz.warmup)
    t = alternate({"radgrok_s": (ours, sz.steps), "plain_s": (plain, sz.steps)}, sz.reps, log,
                   "plain_loop_ratio", cfg.train.device)
    return ([p / r for p, r in zip(t["plain_s"], t["radgrok_s"])],
            {"radgrok_step_ms": [x * 1e3 for x in t["radgrok_s"]], "plain_step_ms": [x * 1e3 for x in t["plain_s"]]})


# The readings of ||h|| the penalty overhead is measured under (radgrok.penalty.readings): name -> overrides.
READINGS: dict[str, dict] = {"example-mean": dict(norm_over="example", reduce="mean"),
                              "example-sum": dict(norm_over="example", reduce="sum"),
                              "batch": dict(norm_over="batch", reduce="mean"),
                              "activation-l2": dict(norm_over="example", reduce="mean", radius=0.0)}


def bench_penalty(cfg: RunConfig, sz: Sizes, log: Log, lam: float | None = None) -> tuple[list[float], dict]:
    """The repetitions of the reading with the largest median overhead; each reading's own overheads
    are in the details.

    Every arm steps one and the same model, optimizer and batches (``train_step`` on one ``Built``):
    an arm only sets the penalty's strength and reading before its step. Separate models per arm
    would also time four working sets competing for the caches, not the penalty alone."""
    lam = lam if lam is not None else (cfg.penalty.lam or 0.05)
    b = build(cfg.replace(lam=lam))
    feed, rs, state = make_feed(b, cfg), b.rs, {"step": 0}
    b.model.train()

    def arm(strength: float, norm_over: str = "example", reduce: str = "mean",
            radius: float | None = None) -> Callable[[], None]:
        def step() -> None:
            rs.lam, rs.norm_over, rs.reduce = strength, cast(NormOver, norm_over), cast(Reduce, reduce)
            rs.radius = radius
            train_step(b, *feed.train_batch(state["step"]), rs.active)
            state["step"] += 1
        return step

    arms = {"no_penalty_s": arm(0.0), **{f"{name}_s": arm(lam, **ov) for name, ov in READINGS.items()}}
    for fn in arms.values():  # warm every arm's path (the readings' norms)
        warm(fn, sz.warmup)
    t = alternate({k: (fn, sz.penalty_steps) for k, fn in arms.items()}, sz.reps, log, "penalty_overhead",
                   cfg.train.device)
    per = {name: [p / q - 1 for p, q in zip(t[f"{name}_s"], t["no_penalty_s"])] for name in READINGS}
    worst = max(per, key=lambda name: statistics.median(per[name]))
    return (per[worst], {"lam": lam, "arms": "one model, optimizer and batch order shared by every arm",
                         "worst_reading": worst,
                         "worst_per_repetition": [max(v) for v in zip(*per.values())],
                         "step_ms_no_penalty": [x * 1e3 for x in t["no_penalty_s"]],
                         **{f"step_ms_{name}": [x * 1e3 for x in t[f"{name}_s"]] for name in READINGS},
                         "overhead_per_reading": {name: {"values": v, "median": statistics.median(v)}
                                                  for name, v in per.items()}})


def bench_penalty_presets(cfgs: dict[str, RunConfig], sz: Sizes, log: Log) -> tuple[list[float], dict]:
    """``bench_penalty`` on each named preset; the key's values are the first preset's."""
    runs = {name: bench_penalty(cfg, sz, log) for name, cfg in cfgs.items()}
    first_values, first_extra = next(iter(runs.values()))
    per_preset = {name: {"lam": extra["lam"], "step_ms_no_penalty": spread(extra["step_ms_no_penalty"]),
                         **{reading: spread(v["values"]) for reading, v in extra["overhead_per_reading"].items()}}
                  for name, (_, extra) in runs.items()}
    return first_values, {**first_extra, "preset": next(iter(cfgs)), "per_preset": per_preset}


def bench_diagnostics(cfg: RunConfig, sz: Sizes, log: Log) -> tuple[list[float], dict]:
    b = build(cfg)
    dev, every, feed = b.device, cfg.train.eval_every, make_feed(b, cfg)
    probe = feed.probe(cfg.diag.probe_size)
    step = warm(loop_stepper(b, cfg), sz.warmup)

    def eval_off() -> None:  # do_eval's work with diagnostics off (nothing written: out_dir None)
        feed.evaluate(b)

    def eval_on() -> None:
        feed.evaluate(b)
        cheap_diagnostics(b.model, b.rs, *probe, b.loss_fn)

    eval_on()
    t = alternate({"step_s": (step, sz.steps), "eval_off_s": (eval_off, sz.evals), "eval_on_s": (eval_on, sz.evals)},
                   sz.reps, log, "diagnostics_overhead", dev)
    ratios = [(every * s + on) / (every * s + off) - 1
              for s, on, off in zip(t["step_s"], t["eval_on_s"], t["eval_off_s"])]
    return ratios, {"eval_every": every, "probe_size": cfg.diag.probe_size,
                    "method": "per repetition: (E*step + eval with diagnostics) / (E*step + eval without) - 1",
                    **{k.replace("_s", "_ms"): [x * 1e3 for x in v] for k, v in t.items()}}


def bench_multiseed(cfg: RunConfig, sz: Sizes, log: Log) -> tuple[list[float], dict]:
    base = cfg.replace(steps=sz.multiseed_steps, early_stop=False)
    cfgs = [base.replace(seed=s) for s in range(sz.seeds)]
    warm = [base.replace(seed=s, steps=2) for s in range(2)]  # pays one-time imports and vmap tracing
    train_many(warm, None, progress=False)
    for c in warm:
        train(c, None, progress=False)
    t = alternate({"train_many_s": (lambda: train_many(cfgs, None, progress=False), 1),
                    "sequential_s": (lambda: [train(c, None, progress=False) for c in cfgs], 1)},
                   sz.reps, log, "multiseed_speedup", cfg.train.device)
    return ([q / m for q, m in zip(t["sequential_s"], t["train_many_s"])],
            {"seeds": sz.seeds, "steps": sz.multiseed_steps, "eval_every": base.train.eval_every,
             "diagnostics": base.diag.diagnostics, **t})


def bench_grok(cfg: RunConfig, reps: int, log: Log) -> tuple[list[float | None], dict]:
    values: list[float | None] = []
    steps, totals = [], []
    for rep in range(reps):
        stamps: dict[int, float] = {}
        with tempfile.TemporaryDirectory(prefix="radgrok-bench-") as d:
            t0 = time.perf_counter()

            def stamp(row: dict, stamps: dict[int, float] = stamps, t0: float = t0) -> None:
                stamps[row["step"]] = time.perf_counter() - t0

            s = train(cfg, Path(d) / "run", progress=False, on_eval=stamp)
            totals.append(time.perf_counter() - t0)
        steps.append(s["grok_step"])
        values.append(stamps[s["grok_step"]] if s["grok_step"] is not None else None)
        log(f"seconds_to_grok: rep {rep + 1}/{reps} grok step {s['grok_step']}, "
            f"{values[-1] if values[-1] is None else round(values[-1], 2)} s")
    return values, {"grok_step": steps, "run_seconds": totals, "seed": cfg.train.seed,
                    "method": "from the train() call to the on_eval callback of the grok-step evaluation; "
                              "run directory in a temp dir, as the CLI writes one"}


# -- the run ---------------------------------------------------------------------------

def spread(values: Sequence[float | None]) -> dict:
    ok = [v for v in values if v is not None]
    return {"median": statistics.median(ok) if ok else None, "min": min(ok) if ok else None,
            "max": max(ok) if ok else None, "reps": len(values)}


def _meets(key: str, median: float | None) -> bool | None:
    target = TARGETS.get(key)
    if target is None or median is None:
        return None
    op, v = target
    return median >= v if op == ">=" else median <= v


def default_json_path(device: str = "cpu", kind: str = "") -> Path:
    """``benchmarks/results/<machine>-<date>[-<kind>].json``: the name every benchmark's result gets."""
    if device.startswith("cuda"):  # results are named after the card ("h100"), not the (ephemeral) host
        host = (device_name(device).lower().replace("nvidia", "").split() or ["cuda"])[0]
    else:
        host = platform.node() or "cpu"
    return Path("benchmarks/results") / f"{host}-{datetime.date.today().isoformat()}{'-' + kind if kind else ''}.json"


def write_result(res: dict, json_path: str | Path | None, kind: str = "", device: str = "cpu") -> Path:
    """Write a benchmark's result atomically to ``json_path`` (default ``default_json_path``); the path."""
    out = Path(json_path) if json_path is not None else default_json_path(device, kind)
    out.parent.mkdir(parents=True, exist_ok=True)
    records.write_json(out, res)
    return out


def run_bench(sizes: Sizes, json_path: str | Path | None = None, configs: dict[str, RunConfig] | None = None,
              quick: bool = False, log: Log | None = None, device: str = "cpu") -> dict:
    """Measure every key on ``device``, write the JSON file and return its content."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    cfgs = {k: c.replace(device=device) for k, c in (configs or default_configs()).items()}
    t_start = time.perf_counter()
    res: dict = {
        "benchmark": "radgrok bench" + (" --quick" if quick else "")
                     + (f" --device {device}" if device != "cpu" else ""),
        "device": device_name(device),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"hostname": platform.node(), "processor": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "python": platform.python_version()},
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "sizes": asdict(sizes),
    }
    details: dict = {}
    jobs: list[tuple[str, Callable[[], tuple[Sequence[float | None], dict]]]] = [
        ("roofline_fraction", lambda: bench_roofline(cfgs["paper"], sizes, log)),
        ("plain_loop_ratio", lambda: bench_plain_loop(cfgs["paper"], sizes, log)),
        ("penalty_overhead", lambda: bench_penalty_presets({"paper-mlp": cfgs["paper"], "cpu-mlp": cfgs["cpu"]},
                                                           sizes, log)),
        ("diagnostics_overhead", lambda: bench_diagnostics(cfgs["paper"], sizes, log)),
        ("multiseed_speedup", lambda: bench_multiseed(cfgs["multiseed"], sizes, log)),
        ("seconds_to_grok", lambda: bench_grok(cfgs["grok"], sizes.grok_reps, log))]
    for key, job in jobs:
        t0 = time.perf_counter()
        values, extra = job()
        res[key] = spread(values)
        target = TARGETS[key]
        res[key]["target"] = f"{target[0]} {target[1]}" if target else None
        res[key]["meets_target"] = _meets(key, res[key]["median"])
        details[key] = {"values": values, "seconds": round(time.perf_counter() - t0, 2), **extra}
    if sizes.grok_reps < 5:
        res["seconds_to_grok"]["note"] = f"{sizes.grok_reps} repetition(s) under --quick (one run to the grok step)"
    res["details"] = details
    res["wall_seconds"] = round(time.perf_counter() - t_start, 1)
    out = write_result(res, json_path, device=device)
    res["json_path"] = str(out)
    return res


def format_table(res: dict) -> str:
    """One line per key: median, min, max, repetitions, target, whether the median meets it."""
    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    lines = [f"{'key':<22}{'median':>9}{'min':>9}{'max':>9}{'reps':>6}  {'target':<9}met"]
    for key in TARGETS:
        r = res[key]
        met = {True: "yes", False: "NO", None: "-"}[r["meets_target"]]
        lines.append(f"{key:<22}{num(r['median']):>9}{num(r['min']):>9}{num(r['max']):>9}"
                     f"{r['reps']:>6}  {r['target'] or '-':<9}{met}")
    per_preset = res.get("details", {}).get("penalty_overhead", {}).get("per_preset", {})
    if per_preset:
        lines.append("penalty overhead per reading (median, min, max over repetitions):")
    for preset, readings in per_preset.items():
        for reading in READINGS:
            r = readings[reading]
            lines.append(f"  {preset + ' ' + reading:<30}{r['median']:>+8.1%}{r['min']:>+8.1%}{r['max']:>+8.1%}"
                         f"{r['reps']:>6}")
    return "\n".join(lines)


def run_and_print(quick: bool, json_path: str | Path | None = None, device: str = "cpu") -> int:
    """What ``radgrok bench`` does: measure, write the JSON, print the table."""
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"--device must be cpu or cuda[:N], got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA device is available here")
    res = run_bench(QUICK if quick else FULL, json_path, quick=quick, device=device)
    print(format_table(res))
    print(f"{res['wall_seconds']:.0f} s; results in {res['json_path']}")
    return 0

