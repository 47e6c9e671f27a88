"""Grok steps over the seeds of an arm, and the one way of saying them (the CLI, sweeps, report
tables, verdicts, figure labels). Pure functions and data, no torch.

A seed without a grok step is a **DNG** only when it ran its whole budget; cut off before it (a
cap, a stop from outside: ``records.cut_off``) it is a bound, "no grok by step N", and never called
a DNG. Every "DNG" radgrok prints comes from this module.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

import numpy as np

from .records import Status, cut_off

__all__ = ["ArmResult", "mean_std", "capped_steps", "by_steps", "seed_step", "run_step", "seed_steps", "steps_text",
           "no_grok_label"]


@dataclass
class ArmResult:
    """What one arm measured: grok step per seed (None = no grok), the budget, final diagnostics."""

    name: str
    grok_steps: list
    budget: int  # the budget; when a seed was cut off, the fewest steps such a seed reached
    metrics: dict = field(default_factory=dict)  # metric -> list of per-seed values
    planned: int = 0  # the budget the arm was meant to run (when cut)
    reached: list = field(default_factory=list)  # per seed: last step of a run cut off before its budget, else None

    def add(self, summary: dict, key: str = "grok_step") -> None:
        """Count one seed from its ``summary.json``: its ``key`` milestone (the grok step, or e.g.
        ``step_95``), and where it stopped when a cap or a stop from outside ended it before its
        budget (a summary still "running" is such a seed: it stopped where its record ends)."""
        self.grok_steps.append(summary[key])
        # stopped: a bound if it had not grokked, an unconfirmed grok if it crossed only at its cap's last step
        cap = summary.get("cap")
        stopped = cut_off(summary) or (cap is not None and summary["steps_done"] >= cap)
        done = summary.get("steps_done", summary["budget"])
        self.reached.append(done if stopped else None)
        if stopped:
            self.planned = max(self.planned, summary["budget"])
        budgets = [done if stopped else summary["budget"]] + ([self.budget] if self.budget else [])
        self.budget = min(budgets) if self.cut else max(budgets)

    def _reached(self) -> list:
        return self.reached if len(self.reached) == len(self.grok_steps) else [None] * len(self.grok_steps)

    @property
    def cut(self) -> int:
        """Seeds cut off before their budget (grokked or not)."""
        return sum(r is not None for r in self._reached())

    @property
    def bound_steps(self) -> list[int]:
        """The last step of each seed cut off without grokking: "no grok by step N"."""
        return [r for g, r in zip(self.grok_steps, self._reached()) if g is None and r is not None]

    @property
    def unconfirmed(self) -> int:
        """Seeds cut off at the very evaluation where they crossed the threshold: a grok not yet held."""
        return sum(g is not None and r is not None and g >= r for g, r in zip(self.grok_steps, self._reached()))

    @property
    def undecided(self) -> int:
        """Seeds whose grokking the runs leave open: cut off without a grok, or crossing only at the cut."""
        return len(self.bound_steps) + self.unconfirmed

    @property
    def full_budget(self) -> int:
        """The budget a seed that did not grok ran to the end of (a DNG's): the planned one when
        some seed was cut off (``budget`` then holds the fewest steps such a seed reached)."""
        return self.planned if self.cut else self.budget

    def floors(self) -> list[int]:
        """Per seed, what its grok step is known to be at least: the step itself, the last step of
        a seed cut off without grokking, or the whole budget of a DNG. Their mean bounds the arm's
        mean grok step from below, and is the tightest such bound the runs give."""
        return [g if g is not None else r if r is not None else self.full_budget
                for g, r in zip(self.grok_steps, self._reached())]

    @property
    def n_grok(self) -> int:
        return sum(g is not None for g in self.grok_steps)

    def metric(self, key: str) -> float | None:
        vals = [v for v in self.metrics.get(key, []) if v is not None and math.isfinite(v)]
        return statistics.mean(vals) if vals else None


def mean_std(values: list) -> str:
    """Steps over seeds as "mean ± std" ("mean" for one value), thousands separated."""
    text = f"{statistics.mean(values):,.0f}"
    return text + (f" ± {statistics.stdev(values):,.0f}" if len(values) > 1 else "")


def capped_steps(steps: list, budget: int) -> tuple[float, float, int]:
    """(mean, std, n_dng) of grok steps with a DNG counted as the budget (a lower bound of the mean)."""
    vals = np.array([budget if g is None else g for g in steps], dtype=float)
    return float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0, sum(g is None for g in steps)


def by_steps(bounds: list[int]) -> str:
    """The steps seeds cut off without grokking reached: one step, or the range when they differ."""
    lo, hi = min(bounds), max(bounds)
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"


def seed_step(grok_step: int | None, reached: int | None = None) -> str:
    """One seed: its grok step, DNG (its whole budget run), or the step it was cut off at."""
    return f"{grok_step:,}" if grok_step is not None else "DNG" if reached is None else f"none by {reached:,} (cut)"


def run_step(summary: dict, last_step: int | None = None) -> str:
    """One run's grok step from its summary: the step, DNG (its whole budget run without one), "none
    by N (cut)" where it stopped before its budget, or "diverged". N is ``last_step`` (the last step
    its metrics reach: a summary still "running" is not updated as the run goes) or else the
    summary's ``steps_done``."""
    g = summary.get("grok_step")
    if g is None and summary.get("status") == Status.DIVERGED:
        return "diverged"
    return seed_step(g, (summary.get("steps_done") if last_step is None else last_step) if cut_off(summary) else None)


def seed_steps(a: ArmResult) -> str:
    """Per seed: its grok step, DNG, or the step it was cut off at ("none by N, cut")."""
    return ", ".join(seed_step(g, r) for g, r in zip(a.grok_steps, a._reached())) or "-"


def steps_text(a: ArmResult | None) -> str:
    """An arm's grok steps in one phrase: mean ± std over the seeds that grokked, then those that
    did not, DNGs (their whole budget run) and bounds (cut off before it) counted apart."""
    if a is None or not a.grok_steps:
        return "not run"
    n, got, bounds = len(a.grok_steps), [g for g in a.grok_steps if g is not None], a.bound_steps
    dng, full = n - len(got) - len(bounds), a.full_budget
    by = f"no grok by step {by_steps(bounds)}" if bounds else ""
    if not got and not bounds:
        return f"DNG ({dng}/{n}, budget {full:,})"
    if not got and not dng:
        return f"{by} ({len(bounds)}/{n} cut off before the budget {a.planned:,})"
    notes = ([f"{dng}/{n} DNG, budget {full:,}"] if dng else []) + (
        [f"{len(bounds)}/{n} {by}: cut off before the budget {a.planned:,}"] if bounds else [])
    return (mean_std(got) if got else "no grok") + (f" ({'; '.join(notes)})" if notes else "")


def no_grok_label(steps: list, *cut: int, sep: str = ", ") -> str:
    """A figure's label for the seeds without a grok step: "k/n DNG" and "j/n cut off", of which
    ``cut`` (the optional third element of a figure's (steps, budget, cut)) were cut off before
    their budget: bounds, never DNGs. "" when every seed grokked."""
    c = cut[0] if cut else 0
    n, dng = len(steps), sum(g is None for g in steps) - c
    return sep.join(([f"{dng}/{n} DNG"] if dng else []) + ([f"{c}/{n} cut off"] if c else []))
