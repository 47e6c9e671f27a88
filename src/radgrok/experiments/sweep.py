"""Sweeps: a grid or list of config overrides x seeds, each trial one run directory.

Backends: ``local`` (a process pool, one torch thread per worker, sized to the
cores by default) and ``ray`` (the same trials as Ray tasks; ``pip install
radgrok[ray]``). Both call ``run_trial``, so a trial gives the same record
wherever it ran. A trial that raises is recorded in ``<trial>/error.json`` and the
others go on; re-running a sweep skips trials whose summary says they finished.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import traceback
from dataclasses import dataclass
from pathlib import Path

from ..training import records
from ..training.config import ConfigError, validate
from .presets import get_preset

__all__ = ["Trial", "grid", "run_trial", "run_sweep", "results_table", "FINISHED"]

FINISHED = ("grokked", "dng", "diverged")
ERROR = "error.json"


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: a preset, flat overrides and a seed."""

    preset: str
    overrides: tuple  # ((field, value), ...) -- hashable, ordered
    seed: int
    label: str = ""  # the arm's name; default: the overrides written out

    @property
    def arm(self) -> str:
        return self.label or ",".join(f"{k}={v}" for k, v in self.overrides) or self.preset

    @property
    def name(self) -> str:
        return f"{self.arm}-s{self.seed}"

    def config(self):
        return validate(get_preset(self.preset).replace(**dict(self.overrides), seed=self.seed))


def grid(preset: str, fields: dict[str, list] | None = None, seeds: list[int] = (0,),
         arms: dict[str, dict] | None = None) -> list[Trial]:
    """Trials for the cartesian product of ``fields``, or for the named ``arms``
    (label -> overrides), times ``seeds``."""
    if arms is None:
        keys = list(fields or {})
        combos = [dict(zip(keys, vals)) for vals in itertools.product(*(fields[k] for k in keys))]
        arms = {",".join(f"{k}={v}" for k, v in c.items()): c for c in combos}
    trials = [Trial(preset, tuple(ov.items()), s, label) for label, ov in arms.items() for s in seeds]
    for t in trials:  # every config is checked before any trial starts
        t.config()
    return trials


def run_trial(trial: Trial, out: str, threads: int = 1) -> dict:
    """Run (or resume, or reuse) one trial; never raises: errors become ``{"status": "failed"}``."""
    run_dir = Path(out) / trial.name
    try:
        import torch

        from ..training.loop import train

        torch.set_num_threads(threads)
        if (run_dir / records.SUMMARY).exists():
            s = records.read_json(run_dir / records.SUMMARY)
            if s["status"] in FINISHED:
                return s
        s = train(trial.config(), out_dir=run_dir, resume=True, progress=False)
        (run_dir / ERROR).unlink(missing_ok=True)
        return s
    except Exception as e:  # noqa: BLE001 - one failed trial must not stop the sweep
        run_dir.mkdir(parents=True, exist_ok=True)
        err = {"status": "failed", "error": repr(e), "traceback": traceback.format_exc()}
        records.write_json(run_dir / ERROR, err)
        return err


def _local(trials: list[Trial], out: str, workers: int, on_done) -> list[dict]:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    results: list[dict | None] = [None] * len(trials)
    # spawn, not fork: a forked child of a process that already ran torch can deadlock in OpenMP
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(run_trial, t, out): i for i, t in enumerate(trials)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                results[i] = fut.result()
            except Exception as e:  # the worker process itself died
                results[i] = {"status": "failed", "error": repr(e)}
            on_done(trials[i], results[i])
    return results


def _ray(trials: list[Trial], out: str, workers: int, on_done) -> list[dict]:
    try:
        import ray
    except ImportError:
        raise ConfigError("backend 'ray' needs Ray: pip install 'radgrok[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1)(run_trial)
        refs = {remote.remote(t, str(Path(out).resolve())): i for i, t in enumerate(trials)}
        results: list[dict | None] = [None] * len(trials)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            i = refs[done[0]]
            try:
                results[i] = ray.get(done[0])
            except Exception as e:  # a Ray worker was killed
                results[i] = {"status": "failed", "error": repr(e)}
            on_done(trials[i], results[i])
        return results
    finally:
        if started_here:
            ray.shutdown()


def run_sweep(trials: list[Trial], out: str | Path, backend: str = "local", workers: int | None = None,
              verbose: bool = True) -> list[dict]:
    """Run every trial and write ``results.csv`` (and ``results.parquet`` when pyarrow is there)."""
    if backend not in ("local", "ray"):
        raise ConfigError(f"backend must be one of ['local', 'ray'], got {backend!r}")
    workers = workers or max(1, min(len(trials), os.cpu_count() or 1))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    def on_done(trial: Trial, res: dict) -> None:
        if verbose:
            grok = res.get("grok_step") if res.get("grok_step") is not None else "DNG"
            what = f"grok step {grok}" if res["status"] != "failed" else f"FAILED {res['error']}"
            print(f"  {trial.name}: {what}", flush=True)

    results = (_local if backend == "local" else _ray)(trials, str(out), workers, on_done)
    rows = results_table(trials, results)
    records.atomic_write_text(out / "results.csv", _to_csv(rows))
    try:
        import pandas as pd  # parquet needs pandas + pyarrow; optional

        pd.DataFrame(rows).to_parquet(out / "results.parquet")
    except Exception:  # noqa: BLE001 - parquet is a convenience, CSV is the record
        pass
    return results


def results_table(trials: list[Trial], results: list[dict]) -> list[dict]:
    """One flat row per trial: its overrides, seed, status and milestones."""
    rows = []
    for t, r in zip(trials, results):
        row = {"trial": t.name, "arm": t.arm, "preset": t.preset, **dict(t.overrides), "seed": t.seed,
               "status": r.get("status"), "grok_step": r.get("grok_step"),
               "memorised_step": r.get("memorised_step"), "step_95": r.get("step_95"),
               "final_test_acc": (r.get("final") or {}).get("test_acc"), "error": r.get("error", "")}
        rows.append(row)
    return rows


def _to_csv(rows: list[dict]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
