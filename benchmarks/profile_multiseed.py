"""Why stacking seeds does not pay on this CPU: a profile of both arms of ``multiseed_speedup``.

``benchmarks/bench.py`` measures S seeds of ``cpu-mlp`` trained at once (``train_many``) against
one after another (``train``) and finds the stacked arm slower on the 2-core CPU. This
script says where the time goes, in three measurements made in one process:

1. **Amdahl bound.** torch.profiler over the sequential arm: the share of its time spent
   in matrix products (aten::mm/addmm/bmm/baddbmm). Stacking S seeds does the same
   arithmetic in S-times larger batched kernels; if it removed *all* other cost (Python,
   dispatch, small element-wise kernels) and the batched GEMMs ran no slower, the arm
   would speed up by at most 1 / (GEMM share).
2. **Batched GEMMs.** The step's own matmul shapes (``timing.gemm_shapes``), run as S
   separate ``torch.mm`` calls and as one ``torch.bmm`` over S stacked operands: whether
   batching the arithmetic itself is faster or slower here.
3. **Where each arm spends its time**, by operator family (self CPU time from the
   profiler; the profiler's own overhead inflates small operators in both arms alike).

Each arm is profiled ``--reps`` times, alternating which goes first; every figure is the
median over repetitions (a one-off stall, such as a library's first call, stays out).

    python benchmarks/profile_multiseed.py [--seeds 4] [--steps 50] [--reps 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time

import torch
from bench import gemm_shapes  # benchmarks/bench.py, beside this script
from torch.profiler import ProfilerActivity, profile

from radgrok.experiments.bench import write_result
from radgrok.experiments.presets import get_preset
from radgrok.runs.sizes import train_count
from radgrok.training.loop import train
from radgrok.training.multiseed import train_many

FAMILIES = {
    "gemm": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"),
    "gather/scatter": ("aten::index_select", "aten::index_add_", "aten::index", "aten::index_put_",
                       "aten::gather", "aten::scatter_add_", "aten::embedding", "aten::embedding_dense_backward"),
    "linalg (diagnostics)": ("aten::linalg_svd", "aten::_linalg_svd", "aten::linalg_eigh", "aten::_linalg_eigh",
                             "aten::linalg_svdvals", "aten::linalg_matrix_norm"),
}


def family(name: str) -> str:
    for fam, names in FAMILIES.items():
        if name in names:
            return fam
    return "other aten (element-wise, reductions, copies)" if name.startswith("aten::") else "other"


def profiled(fn) -> tuple[float, dict[str, float]]:
    """Wall seconds of fn under the profiler, and self CPU seconds per operator family."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
    fams: dict[str, float] = {}
    for ev in prof.key_averages():
        # self time only: nested operators (aten::linear -> aten::addmm) are not counted twice
        fams[family(ev.key)] = fams.get(family(ev.key), 0.0) + ev.self_cpu_time_total / 1e6
    fams["unattributed (Python, autograd engine, profiler)"] = max(0.0, wall - sum(fams.values()))
    return wall, fams


def gemm_batched_vs_separate(seeds: int, reps: int) -> dict:
    cfg = get_preset("cpu-mlp")
    m, n = cfg.model, train_count(cfg.task.op, cfg.task.p, cfg.task.train_frac)
    shapes = gemm_shapes(n, cfg.task.p, m.width, m.depth, m.encoding, m.embed_dim)
    g = torch.Generator().manual_seed(0)
    ops = [(torch.randn(seeds, mm, k, generator=g), torch.randn(seeds, k, c, generator=g)) for _, mm, k, c, _ in shapes]

    def separate() -> None:
        for a, b in ops:
            for s in range(seeds):
                torch.mm(a[s], b[s])

    def batched() -> None:
        for a, b in ops:
            torch.bmm(a, b)

    times: dict[str, list[float]] = {"separate_mm": [], "bmm": []}
    separate(), batched()
    for rep in range(reps):
        for name, fn in ((("separate_mm", separate), ("bmm", batched)) if rep % 2 == 0
                         else (("bmm", batched), ("separate_mm", separate))):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    flops = seeds * sum(2 * mm * k * c for _, mm, k, c, _ in shapes)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"seeds": seeds, "n": n, "shapes": [f"{nm}: ({mm}x{k}) @ ({k}x{c})" for nm, mm, k, c, _ in shapes],
            "seconds_separate_mm": med["separate_mm"], "seconds_bmm": med["bmm"],
            "gflops_separate_mm": flops / med["separate_mm"] / 1e9, "gflops_bmm": flops / med["bmm"] / 1e9,
            "bmm_speedup": med["separate_mm"] / med["bmm"], "reps": reps}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4, help="seeds per arm (benchmarks/bench.py --quick uses 4)")
    ap.add_argument("--steps", type=int, default=50, help="steps per seed (benchmarks/bench.py --quick uses 50)")
    ap.add_argument("--reps", type=int, default=3, help="profiled repetitions of each arm")
    ap.add_argument("--gemm-reps", type=int, default=9)
    ap.add_argument("--json", default=None, help="default benchmarks/results/<host>-<date>-multiseed-profile.json")
    args = ap.parse_args()

    base = get_preset("cpu-mlp").replace(steps=args.steps, early_stop=False)
    cfgs = [base.replace(seed=s) for s in range(args.seeds)]
    warm = [base.replace(seed=s, steps=2) for s in range(2)]
    train_many(warm, None, progress=False)
    for c in warm:
        train(c, None, progress=False)

    arms = {"sequential": lambda: [train(c, None, progress=False) for c in cfgs],
            "train_many": lambda: train_many(cfgs, None, progress=False)}
    runs: dict[str, list[tuple[float, dict]]] = {k: [] for k in arms}
    for rep in range(args.reps):
        for name in (list(arms) if rep % 2 == 0 else list(arms)[::-1]):
            runs[name].append(profiled(arms[name]))

    def median(name: str) -> tuple[float, dict[str, float]]:
        keys = {k for _, f in runs[name] for k in f}
        return (statistics.median(w for w, _ in runs[name]),
                {k: statistics.median(f.get(k, 0.0) for _, f in runs[name]) for k in keys})

    (seq_wall, seq), (many_wall, many) = median("sequential"), median("train_many")
    gemm = gemm_batched_vs_separate(args.seeds, args.gemm_reps)
    share = seq["gemm"] / seq_wall
    res = {
        "benchmark": "multiseed_profile", "command": "python " + " ".join(sys.argv),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"node": platform.node(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "preset": "cpu-mlp", "seeds": args.seeds, "steps": args.steps, "reps": args.reps,
        "walls_s": {k: [w for w, _ in v] for k, v in runs.items()},
        "sequential": {"wall_s": seq_wall, "self_s_by_family": seq},
        "train_many": {"wall_s": many_wall, "self_s_by_family": many},
        "speedup_under_profiler": seq_wall / many_wall,
        "gemm_share_sequential": share,
        "amdahl_bound": 1 / share,
        "gemm_batched_vs_separate": gemm,
    }
    out = write_result(res, args.json, "multiseed-profile")

    print(f"{args.seeds} seeds x {args.steps} steps of cpu-mlp, {torch.get_num_threads()} threads, under the profiler")
    print(f"{'operator family':<50}{'sequential s':>14}{'train_many s':>14}")
    for k in sorted(set(seq) | set(many), key=lambda k: -seq.get(k, 0)):
        print(f"{k:<50}{seq.get(k, 0):>14.3f}{many.get(k, 0):>14.3f}")
    print(f"{'wall':<50}{seq_wall:>14.3f}{many_wall:>14.3f}")
    print(f"GEMM share of the sequential arm {share:.2f}: stacking can gain at most {1 / share:.2f}x here")
    print(f"the step's GEMMs for {args.seeds} seeds: separate mm {gemm['gflops_separate_mm']:.1f} GFLOP/s, "
          f"bmm {gemm['gflops_bmm']:.1f} GFLOP/s ({gemm['bmm_speedup']:.2f}x) -> {out}")


if __name__ == "__main__":
    main()
