"""One run's record and its stop rules: what ``train`` and ``train_many`` both keep per run.

A ``Recorder`` owns the metric rows, the grok milestones (``GrokTracker``) and the run
directory's files -- the header (config.json, split.json), metrics.jsonl, summary.json and the
checkpoints -- and decides, at each evaluation, whether the run diverged (a non-finite loss or
weight norm), has grokked and held it for ``patience`` steps (early stop), or is due a
checkpoint. The trainers own only what differs between them: how a step and an evaluation
are computed, and what model / optimizer state a checkpoint holds (``state``).

Order of writes, the same for every trainer, so that a kill anywhere leaves a directory a
resume can read: the step-0 row, then a "running" summary, then checkpoint 0 (a directory
with a checkpoint always has its summary); at the end, the final checkpoint before the final
summary (a finished summary implies checkpoint.pt is of its last step). A resume cuts metrics.jsonl
back to its checkpoint's step, then writes a "running" summary of that step.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

from . import records
from .config import RunConfig, to_dict
from .grok import GrokTracker
from .records import Status

__all__ = ["Recorder", "DIVERGED", "STOP"]

# what ``check`` returns besides None (carry on): the run diverged, or a stop rule ends it (not a status)
DIVERGED, STOP = Status.DIVERGED, "stop"
_FINITE = ("train_loss", "test_loss", "weight_norm")


class Recorder:
    """The record of one run (``out`` None: kept in memory only).

    ``batch`` and ``n_train`` describe the step for the summary; ``t0`` is the clock the
    summary's ``wall_seconds`` counts from (the trainers set it when training starts;
    ``train_many``'s seeds share one); ``extra`` are fields added to every summary (``{"stacked": S}``).
    """

    def __init__(self, cfg: RunConfig, out: Path | None, batch: int, n_train: int, extra: dict | None = None) -> None:
        self.cfg, self.out, self.batch, self.n_train = cfg, out, batch, n_train
        self.tracker = GrokTracker(cfg.train.grok_threshold)
        self.rows: list[dict] = []
        self.last_ckpt = 0
        self.elapsed_before = 0.0  # training time of the attempts before a resume
        self.t0 = time.perf_counter()
        self.extra = extra or {}

    # -- the directory ------------------------------------------------------------------------
    def begin(self, split_record: Any) -> None:
        """A fresh start: the header, an empty metrics file, no checkpoint of an earlier attempt."""
        if self.out is None:
            return
        self.write_config()
        records.write_json(self.out / records.SPLIT, split_record, indent=None)  # 1 line
        records.write_jsonl(self.out / records.METRICS, [])
        for name in (records.CHECKPOINT, records.PREV_CHECKPOINT):
            (self.out / name).unlink(missing_ok=True)

    def write_config(self) -> None:
        """config.json: the resolved config with the versions (also after a resume that changed the
        steps or budget, so the record says what the run was last trained under)."""
        if self.out is None:
            return
        import torch

        import radgrok

        records.write_json(self.out / records.CONFIG, {
            "config": to_dict(self.cfg), "radgrok": radgrok.__version__, "torch": torch.__version__})

    def restore(self, ckpt: dict, rows: list[dict]) -> None:
        """Continue from a checkpoint: its milestones, clock and step, and the rows up to it (the
        metrics file is cut back to them; rows past the checkpoint are logged again)."""
        self.tracker = GrokTracker.from_state(ckpt["tracker"])
        self.last_ckpt, self.elapsed_before, self.rows = ckpt["step"], ckpt["elapsed"], list(rows)
        if self.out is not None:
            records.write_jsonl(self.out / records.METRICS, self.rows)
            # a run resumed past a cap is training again: its summary must not go on saying "cut" at the
            # old step while its metrics grow (a report built meanwhile would read the two as disagreeing)
            self.write_summary(Status.RUNNING, ckpt["step"])

    @property
    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.t0

    # -- each evaluation -----------------------------------------------------------------------
    def log(self, row: dict) -> None:
        """One evaluation's row: kept, counted by the milestones, appended to metrics.jsonl."""
        self.rows.append(row)
        self.tracker.update(row["step"], row["train_acc"], row["test_acc"])
        if self.out is not None:
            records.append_jsonl(self.out / records.METRICS, row)

    def check(self, step: int) -> str | None:
        """After the row of ``step``: DIVERGED, STOP (grokked and held for patience) or None."""
        if not all(math.isfinite(self.rows[-1][k]) for k in _FINITE):
            return DIVERGED
        return STOP if self.stopped_at(step) else None

    def stopped_at(self, step: int) -> bool:
        """Whether the early stop holds at ``step`` (grokked, and held for ``patience``): ``check``'s STOP,
        and, for a run resumed at ``step``, that it had already stopped there (its last checkpoint is the
        one taken when it stopped early: nothing is left to train)."""
        tr = self.cfg.train
        return tr.early_stop and self.tracker.held_for(step) >= tr.patience

    def checkpoint_due(self, step: int) -> bool:
        return self.out is not None and step - self.last_ckpt >= self.cfg.train.checkpoint_every

    def checkpoint(self, step: int, state: dict) -> None:
        """Save the trainer's ``state`` (model, optimizer, schedule, RNG...) with the milestones
        and the clock, in the format a resume reads."""
        assert self.out is not None  # checkpoints exist only in a run directory
        records.save_checkpoint(self.out / records.CHECKPOINT, {
            **state, "step": step, "tracker": self.tracker.state(), "elapsed": self.elapsed})
        self.last_ckpt = step

    # -- the summary --------------------------------------------------------------------------
    def summary(self, status: Status, step: int, message: str = "") -> dict:
        cfg, last = self.cfg, self.rows[-1] if self.rows else {}
        return {
            "status": status, "message": message, "task": cfg.task.task,
            "grok_step": self.tracker.candidate if status == Status.GROKKED else None,
            "memorised_step": self.tracker.memorised_at, "step_95": self.tracker.reached_95,
            "steps_done": step, "budget": max(cfg.train.budget, cfg.train.steps),
            **({"cap": cfg.train.steps} if cfg.train.budget > cfg.train.steps else {}),
            "eval_every": cfg.train.eval_every,
            "batch_size": self.batch, "n_train": self.n_train, "epochs_per_step": self.batch / self.n_train,
            "seed": cfg.train.seed, "lam": cfg.penalty.lam, "weight_decay": cfg.optim.weight_decay,
            "lr": cfg.optim.lr, "final": {k: last.get(k) for k in ("train_acc", "test_acc", "train_loss", "test_loss")},
            "wall_seconds": round(self.elapsed, 3), **self.extra,
        }

    def write_summary(self, status: Status, step: int, message: str = "") -> dict:
        s = self.summary(status, step, message)
        if self.out is not None:
            records.write_json(self.out / records.SUMMARY, s)
        return s

    def started(self, state: Callable[[], dict]) -> None:
        """After the step-0 row of a fresh start: a "running" summary, then checkpoint 0."""
        if self.out is not None:
            self.write_summary(Status.RUNNING, 0)
            self.checkpoint(0, state())

    def interrupted(self, step: int) -> dict:
        """The summary of a run stopped from outside at ``step`` (tests' ``stop_after_steps``, as a kill
        would stop it): RUNNING, as its summary.json still says; nothing is written."""
        return self.summary(Status.RUNNING, step)

    def diverged(self, step: int) -> dict:
        return self.write_summary(Status.DIVERGED, step, f"non-finite loss or weights at step {step}; stopped, "
                                                         f"the last good checkpoint (step {self.last_ckpt}) is kept")

    def finished(self, step: int, state: Callable[[], dict]) -> dict:
        """The end of the steps or an early stop: the final checkpoint, then grokked, or without a grok
        step CUT (a cap below the budget stopped it) or DNG (it ran its whole budget)."""
        if self.out is not None and step != self.last_ckpt:
            self.checkpoint(step, state())
        capped = self.cfg.train.budget > self.cfg.train.steps
        status = Status.GROKKED if self.tracker.candidate is not None else Status.CUT if capped else Status.DNG
        return self.write_summary(status, step)
