"""Resuming a run directory: which of its files a resume may use, read with one clear line for each
one that is missing or damaged (a ConfigError naming the file and what to do, never a traceback).

A run finished under the same budget is returned as it is; otherwise the newest checkpoint that loads
is the point to continue from (a damaged last one is named on stderr and the previous one used).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Callable, TypeVar

from ..runs import records
from ..runs.config import ConfigError, RunConfig, to_dict
from ..runs.records import read_config

__all__ = ["resume_point", "restored_rows"]

_T = TypeVar("_T")
# Fields that may differ between a run and its resumption (the budget and stopping rule).
_RESUMABLE_FIELDS = ("steps", "budget", "early_stop", "patience", "threads")  # of the train section
_RESUMABLE_SECTION = "diag"  # diagnostics observe the run; changing them changes no step
_CHECKPOINT_KEYS = {"step", "model", "opt", "sched", "rng", "tracker", "elapsed"}  # what a resume restores


def _check_resume(cfg: RunConfig, saved: RunConfig) -> None:
    # read_config gives a field missing from an older run's config.json its default:
    # the run behaved as that default does, so the default is what it is compared with.
    new, old = to_dict(cfg), to_dict(saved)
    diff = [f"{sec}.{k}" for sec in new for k in new[sec]
            if old[sec][k] != new[sec][k] and sec != _RESUMABLE_SECTION
            and not (sec == "train" and k in _RESUMABLE_FIELDS)]
    if diff:
        raise ConfigError(f"resume: config differs from the run's config.json in {diff}; "
                          f"only {', '.join(_RESUMABLE_FIELDS)} and the {_RESUMABLE_SECTION} section may change")


def _reason(e: BaseException) -> str:
    """An exception as a short clause for a one-line message (torch's own run to a paragraph)."""
    text = (str(e).strip().splitlines() or [""])[0].split(". ")[0]
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


_REDO = "restore it, or start the run again without --resume in another --out"


def _read_record(path: Path, read: Callable[[Path], _T]) -> _T:
    """A run file a resume needs, read by ``read``; missing or unreadable is one ConfigError line naming it."""
    if not path.is_file():
        raise ConfigError(f"resume: {path} is missing; {_REDO}")
    try:
        return read(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ConfigError(f"resume: {path} is damaged ({_reason(e)}); {_REDO}") from None


def _read_summary(path: Path) -> dict:
    s = records.read_json(path)
    if not (isinstance(s, dict) and isinstance(s.get("status"), str)
            and isinstance(s.get("budget"), int) and isinstance(s.get("steps_done"), int)):
        raise ValueError("not a run summary (no status, budget or steps_done)")
    return s


def _metrics_until(step: int) -> Callable[[Path], list[dict]]:
    """A reader of metrics.jsonl's rows up to ``step``, which must include that step's own row:
    the checkpoint was taken at an evaluation, after its row was written."""
    def read(path: Path) -> list[dict]:
        rows = records.read_jsonl(path)
        if not all(isinstance(r, dict) and isinstance(r.get("step"), int) for r in rows):
            raise ValueError("a row without a step")
        rows = [r for r in rows if r["step"] <= step]
        if not rows or rows[-1]["step"] != step:
            raise ValueError(f"no row for step {step}, the checkpoint's")
        return rows
    return read


def _load_resume_checkpoint(out: Path) -> dict:
    """The newest checkpoint of ``out`` that loads. A damaged last one is named on stderr and
    replaced by the previous one; if none loads, a ConfigError naming them says what to do."""
    failed: list[tuple[Path, str]] = []
    for name in (records.CHECKPOINT, records.PREV_CHECKPOINT):
        path = out / name
        if not path.exists():
            continue  # a kill between save_checkpoint's two renames leaves only the previous one
        try:
            ckpt = records.load_checkpoint(path)
            if not isinstance(ckpt, dict) or not _CHECKPOINT_KEYS <= ckpt.keys():
                raise ValueError("not a radgrok checkpoint")
        except Exception as e:  # noqa: BLE001 - torch.load fails in many ways; any of them means unusable
            failed.append((path, _reason(e)))
            continue
        if failed:
            print(f"radgrok: warning: {failed[0][0]} does not load ({failed[0][1]}); resuming from {path} "
                  f"(step {ckpt['step']})", file=sys.stderr)
            # The damaged file goes, so the next save does not rotate it into the fallback slot.
            os.replace(path, out / records.CHECKPOINT)
        return ckpt
    raise ConfigError(f"resume: no checkpoint of {out} loads ({'; '.join(f'{p}: {r}' for p, r in failed)}); "
                      f"start the run again without --resume in another --out (or delete {out})")


def resume_point(cfg: RunConfig, out: Path) -> tuple[dict | None, dict | None]:
    """(summary, None) for a run finished under this budget, (None, checkpoint) to continue from,
    (None, None) for a run with nothing to continue (new, or killed before its first checkpoint)."""
    ckpts = [out / records.CHECKPOINT, out / records.PREV_CHECKPOINT]
    if not any(p.exists() for p in ckpts):
        # Nothing to continue if killed before checkpoint 0 (by then at most the step-0 row and a
        # step-0 summary are written); records of later steps mean the checkpoints were lost.
        done = _read_record(out / records.SUMMARY, _read_summary) if (out / records.SUMMARY).exists() else {}
        rows = _read_record(out / records.METRICS, records.read_jsonl) if (out / records.METRICS).exists() else []
        steps = max([done.get("steps_done", 0)]
                    + [r["step"] for r in rows if isinstance(r, dict) and isinstance(r.get("step"), int)])
        if steps > 0:
            raise ConfigError(f"resume: no checkpoint of {out} loads ({ckpts[0]} and {ckpts[1]} are missing, "
                              f"although its records reach step {steps}); start the run again without --resume "
                              f"in another --out (or delete {out})")
        return None, None
    _check_resume(cfg, _read_record(out / records.CONFIG, lambda p: read_config(p.parent)))
    done = _read_record(out / records.SUMMARY, _read_summary)
    if done["status"] in records.FINISHED and done.get("cap", done["budget"]) == cfg.train.steps:
        return done, None  # finished under this budget: resuming has nothing to add
    return None, _load_resume_checkpoint(out)


def restored_rows(out: Path, step: int, split_record: dict) -> list[dict]:
    """The metric rows up to the checkpoint at ``step`` that a resume continues from, once ``split.json`` is
    found to be the split this config makes (compared as JSON stores it)."""
    if _read_record(out / records.SPLIT, records.read_json) != json.loads(json.dumps(split_record)):
        raise ConfigError(f"resume: {out / records.SPLIT} does not match the split this config makes; {_REDO}")
    return _read_record(out / records.METRICS, _metrics_until(step))
