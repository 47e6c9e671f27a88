"""``radgrok demo``: strong weight decay vs radial suppression on the CPU MLP preset.

Each (arm, seed) is one run directory under ``out/runs``; runs go to a small
process pool (one torch thread each) and a run that fails is reported without
stopping the others. Finished runs are reused when the demo is re-run.
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from ..training import records
from .presets import get_preset

__all__ = ["DEMO_ARMS", "run_demo"]

# arm name -> preset; both arms share task, model, optimiser, budget and cadence.
DEMO_ARMS = {"strong-wd": "cpu-mlp-strong-wd", "radial": "cpu-mlp"}


def _run_one(preset: str, seed: int, out_dir: str) -> dict:
    import torch

    from ..training.loop import train

    torch.set_num_threads(1)
    done = Path(out_dir) / records.SUMMARY
    if done.exists():
        s = records.read_json(done)
        if s["status"] in ("grokked", "dng"):
            return s
    cfg = get_preset(preset).replace(seed=seed)
    return train(cfg, out_dir=out_dir, resume=True, progress=False)


def run_demo(out: str | Path, seeds: int = 3, workers: int = 2) -> dict:
    """Run the demo, print a table, write ``report.md`` and ``accuracy.png``; return the summaries."""
    from ..report.report import report_dir

    out = Path(out)
    runs_dir = out / "runs"
    runs_dir.mkdir(parents=True, exist_ok=True)
    jobs = {(arm, seed): (preset, seed, str(runs_dir / f"{arm}-s{seed}"))
            for arm, preset in DEMO_ARMS.items() for seed in range(seeds)}
    print(f"radgrok demo: {len(DEMO_ARMS)} arms x {seeds} seeds on preset cpu-mlp, {workers} worker(s)")
    t0 = time.perf_counter()
    results: dict = {}
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_run_one, *job): key for key, job in jobs.items()}
        for fut in as_completed(futures):
            arm, seed = futures[fut]
            try:
                s = fut.result()
                results[(arm, seed)] = s
                grok = s["grok_step"] if s["grok_step"] is not None else "DNG"
                print(f"  {arm:<10} seed {seed}: grok step {grok} ({s['wall_seconds']:.0f} s)", flush=True)
            except Exception as e:  # one failed run must not take the others down
                results[(arm, seed)] = {"status": "failed", "error": repr(e)}
                print(f"  {arm:<10} seed {seed}: FAILED {e!r}", flush=True)
    wall = time.perf_counter() - t0
    md = report_dir(runs_dir, title="radgrok demo: strong weight decay vs radial suppression")
    md += f"\nWall time of the demo: {wall:.0f} s with {workers} worker(s).\n"
    records.atomic_write_text(out / "report.md", md)
    (runs_dir / "report.md").unlink(missing_ok=True)
    (runs_dir / "accuracy.png").replace(out / "accuracy.png")
    print(md)
    print(f"wrote {out / 'report.md'} and {out / 'accuracy.png'} ({wall:.0f} s)")
    return results
