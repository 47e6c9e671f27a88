"""``radgrok bench``: what the penalty costs a training step on this machine, per reading of ||h||.

``penalty_overhead`` is (step time with lam 0.05 - with lam 0) / with lam 0, for every reading
(per example with mean or sum, one norm of the batch, activation L2) on each preset asked for
(``paper-mlp`` and ``cpu-mlp`` by default). Every arm steps one and the same model, optimizer and
batches with the loop's own ``train_step``; an arm only sets the penalty's strength and reading
before its step (separate models would also time four working sets competing for the caches).
The arms alternate within each repetition (``alternate``); each reading's figure is the median of its
per-repetition ratios, and the key's are those of the first preset's worst reading.

The project's own speed figures (GEMM roofline, the loop against a plain PyTorch loop, the
diagnostics' cost, stacked seeds, seconds to grok) are developer benchmarks: ``benchmarks/bench.py``,
built on the timing here.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence, cast

import torch

from ..penalty import NormOver, Reduce
from ..runs import records
from ..runs.config import ConfigError, RunConfig
from ..training.loop import build, make_feed, train_step
from .presets import get_preset

__all__ = ["Log", "Sizes", "FULL", "QUICK", "READINGS", "bench_penalty", "bench_penalty_presets", "run_bench",
           "format_table", "run_and_print", "spread", "write_result", "default_json_path", "device_name", "timer",
           "warm", "alternate", "check_device", "header"]

Log = Callable[[str], None]


@dataclass(frozen=True)
class Sizes:
    """How much work one bench run does."""

    reps: int = 7             # repetitions (each gives one ratio per reading)
    warmup: int = 2           # untimed steps after build (AdamW allocates its state at step 1)
    penalty_steps: int = 48   # the overhead is a few percent; a CPU's step-to-step noise is ±5% at 8 steps


FULL = Sizes()
QUICK = Sizes(reps=5, penalty_steps=24)  # about a minute per preset on 2 cores

# The readings of ||h|| the overhead is measured under (radgrok.penalty.readings): name -> overrides.
READINGS: dict[str, dict] = {"example-mean": dict(norm_over="example", reduce="mean"),
                              "example-sum": dict(norm_over="example", reduce="sum"),
                              "batch": dict(norm_over="batch", reduce="mean"),
                              "activation-l2": dict(norm_over="example", reduce="mean", radius=0.0)}

DEFAULT_PRESETS = ("paper-mlp", "cpu-mlp")


# -- timing --------------------------------------------------------------------------

def device_name(device: str) -> str:
    """"cpu", or the GPU's name ("NVIDIA H100 80GB HBM3"): what a result records as its machine."""
    return torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else "cpu"


def timer(device: torch.device | str) -> Callable[[Callable[[], object]], float]:
    """``timed(fn)`` -> seconds fn took. On CUDA: CUDA events around the call, after a
    synchronize, so the time covers the queued kernels and not only their launch."""
    if torch.device(device).type != "cuda":
        def timed(fn: Callable[[], object]) -> float:
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
        return timed

    def timed_cuda(fn: Callable[[], object]) -> float:
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    return timed_cuda


def warm(step: Callable[[], None], n: int) -> Callable[[], None]:
    for _ in range(n):
        step()
    return step


def alternate(arms: dict[str, tuple[Callable[[], object], int]], reps: int, log: Log,
              key: str, device: torch.device | str = "cpu") -> dict[str, list[float]]:
    """Per repetition, each arm's n calls interleaved with the others' (A B B A A B ...), so
    that drift on a shared machine hits every arm alike; an arm's time in a repetition is
    the median of its calls, which also shrugs off the odd call a noisy neighbour slows."""
    names, timed = list(arms), timer(device)
    out: dict[str, list[float]] = {k: [] for k in arms}
    for rep in range(reps):
        times: dict[str, list[float]] = {k: [] for k in arms}
        for i in range(max(n for _, n in arms.values())):
            for name in names if (rep + i) % 2 == 0 else names[::-1]:
                fn, n = arms[name]
                if i < n:
                    times[name].append(timed(fn))
        for k, v in times.items():
            out[k].append(statistics.median(v))
        log(f"{key}: rep {rep + 1}/{reps} " + ", ".join(f"{k} {v[-1]:.4g}" for k, v in out.items()))
    return out


def spread(values: Sequence[float | None]) -> dict:
    ok = [v for v in values if v is not None]
    return {"median": statistics.median(ok) if ok else None, "min": min(ok) if ok else None,
            "max": max(ok) if ok else None, "reps": len(values)}


# -- the measurement -----------------------------------------------------------------

def bench_penalty(cfg: RunConfig, sz: Sizes, log: Log, lam: float | None = None) -> tuple[list[float], dict]:
    """The repetitions of the reading with the largest median overhead; each reading's own overheads
    are in the details."""
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


# -- the record ----------------------------------------------------------------------

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


def check_device(device: str) -> None:
    """``device`` is ``cpu`` or an available ``cuda[:N]``; else one ConfigError line, before anything is timed."""
    if device != "cpu" and not device.startswith("cuda"):
        raise ConfigError(f"--device must be cpu or cuda[:N], got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: no CUDA device is available here")


def header(command: str, quick: bool, device: str, sizes: Sizes) -> dict:
    """What every benchmark result opens with: the command as run, the machine, the date, the sizes."""
    return {"benchmark": command + (" --quick" if quick else "") + (f" --device {device}" if device != "cpu" else ""),
            "device": device_name(device),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": {"hostname": platform.node(), "processor": platform.processor() or platform.machine(),
                        "cores": os.cpu_count(), "python": platform.python_version()},
            "torch": torch.__version__, "threads": torch.get_num_threads(), "sizes": asdict(sizes)}


def run_bench(sizes: Sizes, json_path: str | Path | None = None, presets: Sequence[str] = DEFAULT_PRESETS,
              quick: bool = False, log: Log | None = None, device: str = "cpu") -> dict:
    """Measure the penalty's overhead on each preset on ``device``, write the JSON file and return its content."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    cfgs = {name: get_preset(name).replace(device=device) for name in presets}
    t0 = time.perf_counter()
    res = header("radgrok bench", quick, device, sizes)
    values, extra = bench_penalty_presets(cfgs, sizes, log)
    res["penalty_overhead"] = {**spread(values), "target": None, "meets_target": None}
    res["details"] = {"penalty_overhead": {"values": values, **extra}}
    res["wall_seconds"] = round(time.perf_counter() - t0, 1)
    res["json_path"] = str(write_result(res, json_path, device=device))
    return res


def format_table(res: dict) -> str:
    """One line per preset and reading: the overhead's median, min and max over the repetitions."""
    lines = [f"{'penalty overhead':<30}{'median':>8}{'min':>8}{'max':>8}{'reps':>6}"]
    for preset, readings in res["details"]["penalty_overhead"]["per_preset"].items():
        for reading in READINGS:
            r = readings[reading]
            lines.append(f"{preset + ' ' + reading:<30}{r['median']:>+8.1%}{r['min']:>+8.1%}{r['max']:>+8.1%}"
                         f"{r['reps']:>6}")
    return "\n".join(lines)


def run_and_print(quick: bool, json_path: str | Path | None = None, device: str = "cpu",
                  presets: Sequence[str] | None = None) -> int:
    """What ``radgrok bench`` does: measure, write the JSON, print the table."""
    check_device(device)
    for p in presets or ():
        get_preset(p)  # an unknown name: one line naming the presets there are, before anything is timed
    res = run_bench(QUICK if quick else FULL, json_path, presets or DEFAULT_PRESETS, quick=quick, device=device)
    print(format_table(res))
    print(f"{res['wall_seconds']:.0f} s; results in {res['json_path']}")
    return 0
