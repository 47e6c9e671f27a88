"""``radgrok demo``: the readings of the radial penalty beside weight decay, on the CPU MLP presets.

Every arm shares task, model, optimiser, budget and evaluation cadence; they differ
only in weight decay and the penalty (see the presets). Each (arm, seed) is one run
directory under ``out/runs``, run through the sweep engine (a process pool, one
torch thread per worker); finished runs are reused when the demo is re-run.
"""

from __future__ import annotations

import time
from pathlib import Path

from ..runs import records
from .sweep import Trial, run_sweep

__all__ = ["DEMO_ARMS", "run_demo"]

# arm name -> preset. The paper's prescription (lam 0.05 at radius sqrt(d), weak wd 1e-3)
# under each literal reading of ||h||: one norm per example with the mean ("radial") or the
# sum over the batch, and one Frobenius norm of the whole batch; activation L2 at the batch
# reading's strength tells a sphere from plain shrinkage; "wd3" (weight decay tuned at this size)
# asks whether weight decay alone does as well -- a speedup only counts against a tuned baseline.
DEMO_ARMS = {
    "wd3": "cpu-mlp-wd3",
    "radial": "cpu-mlp",
    "radial@sum": "cpu-mlp-sum",
    "radial@batch": "cpu-mlp-batch",
    "act-l2@batch": "cpu-mlp-act-l2",
}
# not the presets' 2,500, to keep the demo short; every arm that groks does so sooner (docs/results/demo)
DEMO_STEPS = 2000


def run_demo(out: str | Path, seeds: int = 2, workers: int = 2) -> list[dict]:
    """Run the demo, print a table, write ``report.md`` and ``accuracy.png``; return the summaries."""
    from ..report.report import report_dir

    out = Path(out)
    trials = [Trial(preset, (("steps", DEMO_STEPS),), s, label=arm) for arm, preset in DEMO_ARMS.items()
              for s in range(seeds)]
    print(f"radgrok demo: {len(DEMO_ARMS)} arms x {seeds} seeds ({', '.join(DEMO_ARMS.values())}), "
          f"{workers} worker(s)", flush=True)
    t0 = time.perf_counter()
    results = run_sweep(trials, out / "runs", workers=workers)
    wall = time.perf_counter() - t0
    md = report_dir(out / "runs", title="radgrok demo: the penalty's readings beside weight decay")
    md += f"\nWall time of the demo: {wall:.0f} s with {workers} worker process(es), one torch thread each.\n"
    # the table is exact here; readers compare it with the README's from another machine
    md += ("\nGrok steps are bit-identical on the same machine, thread count and radgrok code; on another CPU, "
           "or after a change that reorders a floating-point sum, rounding can move one by an evaluation interval "
           "or more (docs: run records, Reproducibility).\n")
    records.atomic_write_text(out / "report.md", md.replace("](", "](runs/"))
    print(md)
    print(f"wrote {out / 'report.md'} and {out / 'runs' / 'accuracy.png'} ({wall:.0f} s)")
    return results
