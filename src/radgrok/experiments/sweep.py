"""Sweeps: a grid or list of config overrides x seeds, each trial one run directory.

Backends: ``local`` (a process pool, one torch thread per worker, sized to the
cores by default) and ``ray`` (the same trials as Ray tasks; ``pip install
radgrok[ray]``). Both call ``run_unit``, so a trial gives the same record
wherever it ran. A trial that raises is recorded in ``<trial>/error.json`` and the
others go on; re-running a sweep skips trials whose summary says they finished.

Batching: trials that differ only in per-seed values (seed, lam, lr, weight
decay, ...: ``training.multiseed.PER_SEED_FIELDS``) can run as one vmapped step
through ``train_many``, one unit of work instead of S. ``batch="auto"`` does so on
CUDA only, where stacking pays (benchmarks/results); on CPU it does not, so CPU trials run one by one.
An interrupted batch loses nothing: each seed's checkpoint is in train()'s format and the
re-run resumes those trials one by one.
"""

from __future__ import annotations

import csv
import io
import itertools
import os
import sys
import traceback
from contextlib import suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

from ..runs import records
from ..runs.config import ConfigError, validate
from ..runs.records import Status
from ..runs.steps import run_step
from .presets import get_preset

__all__ = ["Trial", "combos", "grid", "run_trial", "run_unit", "units", "check_devices", "run_sweep", "results_table",
           "finished_summary", "FINISHED", "BATCH_MODES"]

FINISHED = records.FINISHED
ERROR = "error.json"
BATCH_MODES = ("auto", "on", "off")
MAX_BATCH = 64  # seeds per stacked model: bounds memory, and a long tail of one slow seed


@dataclass(frozen=True)
class Trial:
    """One run of a sweep: a preset, flat overrides and a seed."""

    preset: str
    overrides: tuple  # ((field, value), ...) -- hashable, ordered
    seed: int
    label: str = ""  # the arm's name; default: the overrides written out
    device: str = ""  # where it trains ("" = the preset's); not part of the name, so runs are reused across devices

    @property
    def arm(self) -> str:
        return self.label or ",".join(f"{k}={v}" for k, v in self.overrides) or self.preset

    @property
    def name(self) -> str:
        return records.run_name(self.arm, self.seed)

    def config(self):
        extra = {"device": self.device} if self.device else {}
        return validate(get_preset(self.preset).replace(**dict(self.overrides), seed=self.seed, **extra))


def combos(fields: dict[str, list] | None) -> list[dict]:
    """Every combination of ``fields``' values (field -> values), one dict each; ``[{}]`` for no fields."""
    fields = fields or {}
    return [dict(zip(fields, vals)) for vals in itertools.product(*fields.values())]


def grid(preset: str, fields: dict[str, list] | None = None, seeds: Sequence[int] = (0,),
         arms: dict[str, dict] | None = None, device: str = "") -> list[Trial]:
    """Trials for the cartesian product of ``fields``, or for the named ``arms``
    (label -> overrides), times ``seeds``; ``device`` ("" = the preset's) for all."""
    if arms is None:
        arms = {",".join(f"{k}={v}" for k, v in c.items()): c for c in combos(fields)}
    trials = [Trial(preset, tuple(ov.items()), s, label, device) for label, ov in arms.items() for s in seeds]
    for t in trials:  # every config is checked before any trial starts
        t.config()
    return trials


def finished_summary(run_dir: Path) -> dict | None:
    """The summary of a run that finished (grokked, DNG, cut at a cap, or diverged); None if absent or
    still running."""
    if (run_dir / records.SUMMARY).exists():
        s = records.read_json(run_dir / records.SUMMARY)
        if s["status"] in FINISHED:
            return s
    return None


def _failed(run_dir: Path, e: Exception) -> dict:
    run_dir.mkdir(parents=True, exist_ok=True)
    err = {"status": Status.FAILED, "error": repr(e), "traceback": traceback.format_exc()}
    records.write_json(run_dir / ERROR, err)
    return err


def run_trial(trial: Trial, out: str, threads: int = 1) -> dict:
    """Run (or resume, or reuse) one trial; never raises: errors become ``{"status": Status.FAILED}``."""
    run_dir = Path(out) / trial.name
    try:
        import torch

        from ..training.loop import train

        torch.set_num_threads(threads)
        done = finished_summary(run_dir)
        if done is not None and done["status"] == Status.CUT and done["steps_done"] < trial.config().train.steps:
            done = None  # cut at a smaller cap: resume it to this trial's steps
        # anything else that finished is kept as it is: a run cut at a larger cap than this trial's (a
        # longer stage ran before) is a bound at its own step, never re-entered to rewrite its cap
        if done is not None:
            if (run_dir / records.LOCK).exists():
                # a writer killed after it finished this run (e.g. mid-way through a stacked batch) left
                # its lock: claiming takes a stale lock over and releases it; a live holder keeps it
                with suppress(ConfigError), records.claim(run_dir):
                    pass
            return done
        s = train(trial.config(), out_dir=run_dir, resume=True, progress=False)
        (run_dir / ERROR).unlink(missing_ok=True)
        return s
    except Exception as e:  # noqa: BLE001 - one failed trial must not stop the sweep
        return _failed(run_dir, e)


def run_unit(trials: list[Trial], out: str, threads: int = 1) -> list[dict]:
    """What one worker runs: a unit from ``units`` (one trial, or stackable trials). Two or more
    fresh trials train as one ``train_many`` model; a trial that already has a run directory
    (finished or interrupted), or is alone, goes through ``run_trial``. Never raises."""
    dirs = [Path(out) / t.name for t in trials]
    fresh = [i for i, d in enumerate(dirs) if not (d / records.SUMMARY).exists()]
    results: list[dict | None] = [None] * len(trials)
    if len(fresh) > 1:
        try:
            import torch

            from ..training.multiseed import train_many

            torch.set_num_threads(threads)
            for i, s in zip(fresh, train_many([trials[i].config() for i in fresh], [dirs[i] for i in fresh],
                                              progress=False)):
                results[i] = s
        except Exception as e:  # noqa: BLE001 - the batch failed as a whole; seeds it finished stay finished
            for i in fresh:
                results[i] = finished_summary(dirs[i]) or _failed(dirs[i], e)
    for i, t in enumerate(trials):
        if results[i] is None:
            results[i] = run_trial(t, out, threads)
    return results  # type: ignore[return-value]


def check_devices(trials: list[Trial]) -> None:
    """A CUDA trial on a machine without CUDA fails here, in one line, not once per trial."""
    if any(t.device.startswith("cuda") for t in trials):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device: cuda was asked for but no CUDA device is available here (use cpu)")


def units(trials: list[Trial], batch: str = "auto") -> list[list[Trial]]:
    """Group trials into units of work: stackable trials together where ``batch`` says so
    ("on": always; "auto": on CUDA only; "off": never), every other trial alone."""
    if batch not in BATCH_MODES:
        raise ConfigError(f"batch must be one of {list(BATCH_MODES)}, got {batch!r}")
    if batch == "off":
        return [[t] for t in trials]
    from ..training.multiseed import stack_key

    groups: dict[object, list[Trial]] = {}
    out: list[list[Trial]] = []
    for t in trials:
        cfg = t.config()
        key = stack_key(cfg)
        if key is None or (batch == "auto" and not cfg.train.device.startswith("cuda")):
            out.append([t])
        else:
            groups.setdefault(key, []).append(t)
    for g in groups.values():
        out += [g[i:i + MAX_BATCH] for i in range(0, len(g), MAX_BATCH)]
    return out


def _die_with(parent: int) -> None:
    """A worker's initializer (Linux): the kernel kills the worker when its parent dies, so a
    sweep or ``reproduce`` killed by its PID leaves no worker training on. The run it was in
    stops as a SIGKILL stops it, which a re-run resumes (tests/test_faults.py)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    with suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request was in place
        os._exit(1)


def _local(work: list[list[Trial]], out: str, workers: int, on_done) -> list[list[dict]]:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    results: list[list[dict] | None] = [None] * len(work)
    # spawn, not fork: a forked child of a process that already ran torch can deadlock in OpenMP
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_die_with,
                             initargs=(os.getpid(),)) as pool:
        futures = {pool.submit(run_unit, u, out): i for i, u in enumerate(work)}
        for fut in as_completed(futures):
            i = futures[fut]
            results[i] = on_done(work[i], fut.result)
    return results  # type: ignore[return-value]


def _ray(work: list[list[Trial]], out: str, workers: int, on_done) -> list[list[dict]]:
    try:
        import ray
    except ImportError:
        raise ConfigError("backend 'ray' needs Ray: pip install 'radgrok[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1)(run_unit)
        refs = {remote.remote(u, str(Path(out).resolve())): i for i, u in enumerate(work)}
        results: list[list[dict] | None] = [None] * len(work)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            i = refs[done[0]]
            results[i] = on_done(work[i], partial(ray.get, done[0]))
        return results  # type: ignore[return-value]
    finally:
        if started_here:
            ray.shutdown()


def run_sweep(trials: list[Trial], out: str | Path, backend: str = "local", workers: int | None = None,
              verbose: bool = True, batch: str = "auto") -> list[dict]:
    """Run every trial and write ``results.csv`` (and ``results.parquet`` when pyarrow is there)."""
    if backend not in ("local", "ray"):
        raise ConfigError(f"backend must be one of ['local', 'ray'], got {backend!r}")
    check_devices(trials)
    work = units(trials, batch)
    workers = workers or max(1, min(len(work), os.cpu_count() or 1))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if verbose and any(len(u) > 1 for u in work):
        print(f"  batched: {', '.join(str(len(u)) for u in work if len(u) > 1)} trial(s) per stacked model "
              f"(train_many); {sum(len(u) == 1 for u in work)} trial(s) alone", flush=True)

    def on_done(unit: list[Trial], get: Callable[[], list[dict]]) -> list[dict]:
        """A unit's results (``get()``), or one failure per trial when its worker process died."""
        try:
            res = get()
        except Exception as e:  # the worker process itself died, or a Ray worker was killed
            res = [{"status": Status.FAILED, "error": repr(e)}] * len(unit)
        for trial, r in zip(unit, res):
            if verbose:
                what = f"FAILED {r['error']}" if r["status"] == Status.FAILED else f"grok step {run_step(r)}"
                print(f"  {trial.name}: {what}", flush=True)
        return res

    done = (_local if backend == "local" else _ray)(work, str(out), workers, on_done)
    by_name = {t.name: r for u, rs in zip(work, done) for t, r in zip(u, rs)}
    results = [by_name[t.name] for t in trials]
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
    return [{"trial": t.name, "arm": t.arm, "preset": t.preset, **dict(t.overrides), "seed": t.seed,
             "status": r.get("status"), "grok_step": r.get("grok_step"), "memorised_step": r.get("memorised_step"),
             "step_95": r.get("step_95"), "final_test_acc": (r.get("final") or {}).get("test_acc"),
             "error": r.get("error", "")} for t, r in zip(trials, results)]


def _to_csv(rows: list[dict]) -> str:
    cols = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()
