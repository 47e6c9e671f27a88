"""Judging a plan's claims on its runs: each arm's results (pooled over P for table6, on the moduli where every
arm a claim reads has runs), the tuned weight decay where the plan has its grid, and one verdict per claim
(verdicts.py grades it). What ``reproduce``'s report and its verdict table are built from. No torch import.
"""

from __future__ import annotations

import dataclasses
import statistics

from ..report.report import Run, last_value
from ..report.table1 import coherence_step
from ..runs.steps import ArmResult
from ..training.kinds import kind_of
from .paper import Claim
from .plans import TUNED, Plan, arm_head, matches
from .sections import tuned_result
from .sweep import FINISHED
from .verdicts import DIRECTION, OPEN, REPRODUCED, Verdict, combine, judge

__all__ = ["arm_results", "verdict", "pooled_text", "involved", "in_plan"]

_SITE_METRICS = ("stable_rank", "sigma_max", "phi_task", "phi_total", "eff_rank")
_GLOBAL_METRICS = ("hessian_trace", "hessian_top", "sharpness_norm", "fourier_coherence", "fourier_fmax",
                   "val_loss", "test_loss")


def _run_metrics(run: Run) -> dict:
    """Per-run diagnostics at the last evaluation that logged them (site metrics: mean over sites)."""
    rows, out = run.rows, {}
    for fam in _SITE_METRICS:
        keys = sorted({k for r in rows[-1:] for k in r if k.startswith(fam + "/")})
        per_site = {k: v for k in keys if (v := last_value(rows, k)) is not None}
        if per_site:
            out[fam] = statistics.mean(per_site.values())
        # Φ̃_rad is also kept per site: the paper's figure is per layer, and a mean over layers
        # can hide one layer below the floor and another far above it (fig3's per-site claim)
        if fam == "phi_task":
            out.update(per_site)
    out.update({k: v for k in _GLOBAL_METRICS if (v := last_value(rows, k)) is not None})
    if kind_of(run.config["task"].get("task")).held_out_is_validation:
        # A text's held-out split is its validation set. The best evaluation, not the
        # last: an LM is kept at its best validation loss (nanoGPT checkpoints on it), and
        # a small text over-fits before the budget ends, so the last value mostly measures
        # how far past its best each run went.
        vals = [r["test_loss"] for r in rows if r.get("test_loss") is not None]
        if vals:
            out["val_loss"] = min(vals)
    if any("fourier_coherence" in r for r in rows):
        out["fourier_epoch"] = coherence_step(rows)
    return out


def arm_results(p: Plan, runs: dict[str, Run], where: dict | None = None) -> dict[str, ArmResult]:
    """ArmResult per arm from the loaded runs; ``where`` keeps only runs whose config matches
    (table6 pools arms over P at one train fraction: arm 'penalty,p=59,f=0.6' -> 'penalty')."""
    out: dict[str, ArmResult] = {}
    for arm in p.arms:
        if where and not matches(arm.overrides, where):
            continue
        key = arm_head(arm.name) if where else arm.name
        res = out.setdefault(key, ArmResult(key, [], 0))
        for run in p.runs_of(arm, runs):
            s = run.summary
            if s["status"] not in FINISHED:
                continue
            res.add(s)
            for k, v in {**_run_metrics(run), **run.extra}.items():
                res.metrics.setdefault(k, []).append(v)
    return out


def _pooled_p(p: Plan, value) -> list:
    """The moduli a pooled (table6) claim at ``p.pool_by`` = ``value`` pools over."""
    return sorted({a.overrides["p"] for a in p.arms if a.overrides.get(p.pool_by) == value and "p" in a.overrides})


def pooled_text(p: Plan, measured: list, value) -> str:
    """"pooled over P ..." naming the moduli the plan pools at ``value`` at which the claim is measured (every
    arm it reads has runs there), and those where it is not yet."""
    qs = _pooled_p(p, value)
    unrun = [q for q in qs if q not in measured]
    text = f"pooled over P {', '.join(map(str, measured or qs))}"
    return text + (f" (P {', '.join(map(str, unrun))}: not every arm run yet)" if measured and unrun else "")


def _each_p(p: Plan, runs: dict[str, Run], c: Claim, alias: dict) -> list[tuple[int, Verdict]]:
    """A pooled claim judged at each P of its fraction alone."""
    pools = {q: _pool(p, runs, {p.pool_by: c.value, "p": q}) for q in _pooled_p(p, c.value)}
    return [(q, _tuning_open(judge(c, pool, alias), c, undecided)) for q, (pool, undecided) in pools.items()]


def _pool(p: Plan, runs: dict[str, Run], where: dict) -> tuple[dict[str, ArmResult], str]:
    """arm_results, plus the tuned weight decay (``TUNED``: the grid arm chosen on validation per cell)
    where the plan has the grid; and why that choice is undecided ("" = decided)."""
    arms = arm_results(p, runs, where)
    if not p.tuned:
        return arms, ""
    tuned, why = tuned_result(p, runs, where)
    if tuned is not None:
        arms[TUNED] = tuned
    return arms, why


def involved(c: Claim) -> set[str]:
    """The arm names (the paper's) a claim reads, its parts' included."""
    return {n for n in (c.arm, c.ref, *c.arms) if n} | {n for part in c.parts for n in involved(part)}


def verdict(p: Plan, runs: dict[str, Run], arms: dict[str, ArmResult], c: Claim,
            alias: dict) -> tuple[Verdict, list]:
    """One claim judged, and the moduli it is measured at ([] unless pooled). A pooled target judges each claim
    (each part of an ``all`` claim) on the runs at its own ``value`` (table6: a train fraction), pooled over the
    P where every arm it reads has finished runs (so both arms of a ratio stand on the same moduli), and names
    each P's own measurement."""
    if c.kind == "all":
        judged = [verdict(p, runs, arms, part, alias) for part in c.parts]
        return combine(c, [v for v, _ in judged]), sorted({q for _, qs in judged for q in qs})
    if not (p.pool_by and c.value is not None):
        return judge(c, arms, alias), []
    each = _each_p(p, runs, c, alias)  # once: it gives the moduli to pool and each P's own ratio
    qs = [q for q, v in each if not v.ours.startswith("not run")]
    pool, undecided = _pool(p, runs, {p.pool_by: c.value, **({"p": tuple(qs)} if qs else {})})
    v = _tuning_open(judge(c, pool, alias), c, undecided)
    # one P with runs: the pool is that P; two or more: each P's own measurement beside the pool
    if len(qs) > 1:
        v.ours += f"; per P: {', '.join(f'P {q}: {w.ratio}' for q, w in each)}"
    return v, qs


def _tuning_open(v: Verdict, c: Claim, undecided: str) -> Verdict:
    """A verdict against the tuned weight decay is open while the tuning is: a grid value cut off before
    its validation grok (or not run yet) could still be chosen. Only 'not reproduced' stands: a better
    tuned value can only make the penalty's case weaker."""
    if TUNED not in involved(c) or not undecided:
        return v
    if v.verdict in (REPRODUCED, DIRECTION) or v.ours.startswith("not run"):
        return dataclasses.replace(v, verdict=OPEN, why=f"tuning undecided: {undecided}")
    return v


def in_plan(p: Plan, c: Claim, alias: dict) -> bool:
    """Whether the plan has every arm the claim reads (through ``alias``; the tuned weight decay where the
    plan has its grid): a claim about arms this scale does not run is not a row of the paper's setting."""
    heads = {arm_head(a.name) for a in p.arms} | ({TUNED} if p.tuned else set())
    return all(alias.get(n, n) in heads for n in involved(c))
