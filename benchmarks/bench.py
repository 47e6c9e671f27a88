"""The project's speed benchmark: how fast radgrok trains, as six numbers with a spread, in one process.

    python benchmarks/bench.py [--quick] [--json FILE] [--device cpu|cuda[:N]]

Developer tooling: the figures behind the README's and the docs' speed claims. ``radgrok bench``, the
user command, measures the ``penalty_overhead`` key alone (``radgrok.experiments.bench``, whose
timing and record writing this script shares).

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

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence, cast

import torch
from torch import nn
from torch.nn import functional as F

from radgrok.experiments import bench
from radgrok.experiments.bench import Log, alternate, bench_penalty_presets, spread, warm, write_result
from radgrok.experiments.presets import get_preset
from radgrok.models.mlp import one_hot_concat
from radgrok.runs.config import ConfigError, RunConfig
from radgrok.tasks.modular import ModularData, make_modular
from radgrok.training.loop import Built, build, make_feed, train, train_step
from radgrok.training.multiseed import train_many
from radgrok.training.probes import cheap_diagnostics


@dataclass(frozen=True)
class Sizes(bench.Sizes):
    """How much work one run of this benchmark does (the penalty's sizes are ``radgrok bench``'s)."""

    steps: int = 16           # timed training steps per arm and repetition
    gemm_passes: int = 5      # timed passes over the step's matmuls per repetition
    evals: int = 3            # timed evaluations per arm and repetition (diagnostics)
    seeds: int = 8            # multiseed: seeds per arm
    multiseed_steps: int = 100
    grok_reps: int = 5


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


# -- FLOP counting -------------------------------------------------------------------

def gemm_shapes(n: int, p: int, width: int, depth: int, encoding: str = "onehot",
                embed_dim: int = 128) -> list[tuple[str, int, int, int, str]]:
    """The matmuls of one MLP training step on n examples: (name, M, K, N, layout), C = A(MxK) @ B(KxN).

    Layouts follow autograd's F.linear (y = x @ W^T): forward "nt" (B is W^T, a transposed
    view), dX = dY @ W "nn", dW = dY^T @ x "tn" (A a transposed view). Every layer needs
    dX because something upstream has weights. One-hot: the first layer is gathers, no GEMM.
    """
    layers = [("hidden.0", 2 * embed_dim, width)] if encoding == "embed" else []
    layers += [(f"hidden.{i}", width, width) for i in range(1, depth)] + [("out", width, p)]
    shapes = []
    for name, d_in, d_out in layers:
        shapes += [(f"{name} fwd", n, d_in, d_out, "nt"), (f"{name} dX", n, d_out, d_in, "nn"),
                   (f"{name} dW", d_out, n, d_in, "tn")]
    return shapes


def step_flops(n: int, p: int, width: int, depth: int, encoding: str = "onehot", embed_dim: int = 128) -> dict:
    """GEMM FLOPs of one training step (2*M*K*N per matmul) and, apart, the one-hot first layer's adds."""
    gemm = sum(2 * m * k * c for _, m, k, c, _ in gemm_shapes(n, p, width, depth, encoding, embed_dim))
    # forward: W^T[a] + W^T[p + b] + bias (2 adds per output); backward: two scatter-adds of dZ into dW
    gather_adds = 4 * n * width if encoding == "onehot" else 0
    return {"gemm": gemm, "first_layer_adds": gather_adds}


def gemm_pass(shapes: list[tuple[str, int, int, int, str]], dtype: torch.dtype,
               device: torch.device | str = "cpu") -> Callable[[], None]:
    """One call runs every matmul of the step once with torch.mm, in the step's layouts."""
    g = torch.Generator().manual_seed(0)

    def rand(rows: int, cols: int, transposed: bool) -> torch.Tensor:
        if transposed:  # a transposed view, as W.t() and dY.t() are in autograd's linear
            return torch.randn(cols, rows, generator=g, dtype=dtype).to(device).t()
        return torch.randn(rows, cols, generator=g, dtype=dtype).to(device)

    pairs = [(rand(m, k, layout == "tn"), rand(k, c, layout == "nt")) for _, m, k, c, layout in shapes]

    def run() -> None:
        for a, b in pairs:
            torch.mm(a, b)

    return run


# -- the steps being timed -----------------------------------------------------------

def loop_stepper(b: Built, cfg: RunConfig) -> Callable[[], None]:
    """``training.loop._train``'s step itself: the task's feed gives the batch of each step and
    ``train_step`` takes it, minus the progress bar and the evaluation check
    (tests/test_experiments_bench.py checks it against ``train``)."""
    feed = make_feed(b, cfg)
    soft = b.rs.active
    state = {"step": 0}
    b.model.train()

    def step() -> None:
        train_step(b, *feed.train_batch(state["step"]), soft)
        state["step"] += 1

    return step


def plain_stepper(cfg: RunConfig) -> Callable[[], None]:
    """A step as reference grokking repositories write it: nn.Sequential on one-hot float inputs."""
    t, m, o = cfg.task, cfg.model, cfg.optim
    dev = torch.device(cfg.train.device)
    data = make_modular(t.op, t.p, t.train_frac, cfg.train.seed)
    x = one_hot_concat(data.x_train, t.p).to(dev)
    y = data.y_train.to(dev)
    torch.manual_seed(cfg.train.seed)
    layers: list[nn.Module] = [nn.Linear(2 * t.p, m.width), nn.ReLU()]
    for _ in range(m.depth - 1):
        layers += [nn.Linear(m.width, m.width), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(m.width, t.p)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


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


def _meets(key: str, median: float | None) -> bool | None:
    target = TARGETS.get(key)
    if target is None or median is None:
        return None
    op, v = target
    return median >= v if op == ">=" else median <= v


def run_bench(sizes: Sizes, json_path: str | Path | None = None, configs: dict[str, RunConfig] | None = None,
              quick: bool = False, log: Log | None = None, device: str = "cpu") -> dict:
    """Measure every key on ``device``, write the JSON file and return its content."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    cfgs = {k: c.replace(device=device) for k, c in (configs or default_configs()).items()}
    t_start = time.perf_counter()
    res = bench.header("benchmarks/bench.py", quick, device, sizes)
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
    return "\n".join(lines) + "\n" + bench.format_table(res)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks/bench.py", description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps per repetition (under 3 minutes on 2 cores)")
    ap.add_argument("--json", default=None, metavar="FILE",
                    help="output file (default benchmarks/results/<hostname>-<YYYY-MM-DD>.json)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]; on CUDA every time is taken with CUDA events")
    ns = ap.parse_args(argv)
    try:
        bench.check_device(ns.device)
    except ConfigError as e:  # one line and exit 2 before anything is timed, as `radgrok bench`
        print(f"benchmarks/bench.py: error: {e}", file=sys.stderr)
        return 2
    res = run_bench(QUICK if ns.quick else FULL, ns.json, quick=ns.quick, device=ns.device)
    print(format_table(res))
    print(f"{res['wall_seconds']:.0f} s; results in {res['json_path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


