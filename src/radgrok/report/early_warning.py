"""Forecast grokking from training-side signals, before test accuracy moves (beyond the paper).

Pure Python over metrics rows (the dicts of a run's ``metrics.jsonl``); no torch, no
test-set quantity is ever read by a rule. Definitions (all in evaluations, the unit
the records have):

* memorisation: the first evaluation with ``train_acc >= 0.99``;
* baseline: ``test_acc`` at memorisation; test accuracy *moves* at the first
  evaluation at or after memorisation with ``test_acc > max(0.10, 2 * baseline)``
  (both: twice a 0.2% baseline is noise, and a 10% crossing alone ignores runs that
  memorise and generalise at once);
* grok step: the paper's (first evaluation > 90% that stays above), recomputed here;
* a rule *fires* at the first evaluation at or after memorisation where its condition
  holds. Rules (``RULES``):
    - ``wnorm``: the parameter norm has fallen by ``WNORM_DROP`` (2%) below its running
      maximum: the weight-decay-driven "cleanup" phase has started;
    - ``phi``: the first penalised site's Phi_rad of the task gradient has risen to
      ``PHI_RISE`` (2x) its minimum since memorisation: the task gradient turns radial,
      i.e. it starts shrinking the memorising activations;
    - ``both``: fires once both of the above have fired (fewer false alarms, later);
    - ``memorised``: fires at memorisation itself -- the null baseline: a signal is only
      worth logging if it beats "grokking follows memorisation" on false alarms.
* outcome of a run: ``hit`` (fires before the grok step, and the grok step is within
  ``horizon`` evaluations of firing), ``late`` (fires at or after the grok step),
  ``miss`` (grokks, never fires), ``false`` (fires, no grok within ``horizon``
  evaluations: a false alarm), ``quiet`` (never grokks, never fires: correct rejection).

``radgrok early-warning DIR... [--horizon N] [--out FILE]`` prints (and writes) the
per-arm table for every run directory under the given directories. Runs are read by
``report.load_runs`` (the one reader of run directories) and the grok step is
``runs.grok.grok_step`` (the one definition the trainer and every report use).
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Callable, Sequence

from ..forecast.core import Row, memorised_index  # the one definition (first row with train_acc >= 0.99)
from ..runs.grok import grok_step
from .report import load_runs

__all__ = ["RULES", "memorised_index", "move_index", "grok_index", "fire_index", "forecast_run",
           "evaluate_dirs", "early_warning_table"]

WNORM_DROP = 0.02
PHI_RISE = 2.0


def move_index(rows: Sequence[Row], floor: float = 0.10, factor: float = 2.0) -> int | None:
    """Index where test accuracy first exceeds ``max(floor, factor * baseline)`` after memorisation."""
    m = memorised_index(rows)
    if m is None:
        return None
    bar = max(floor, factor * rows[m]["test_acc"])
    return next((i for i in range(m, len(rows)) if rows[i]["test_acc"] > bar), None)


def grok_index(rows: Sequence[Row], threshold: float = 0.9) -> int | None:
    """Index of the paper's grok step: first evaluation above threshold that stays above (the rules count
    in evaluations, not steps)."""
    g = grok_step([r["step"] for r in rows], [r["test_acc"] for r in rows], threshold)
    return None if g is None else next(i for i, r in enumerate(rows) if r["step"] == g)


def _wnorm(rows: Sequence[Row], start: int) -> int | None:
    peak = float("-inf")
    for i, r in enumerate(rows):
        w = r.get("weight_norm")
        if w is None:
            continue
        peak = max(peak, w)
        if i >= start and w <= (1.0 - WNORM_DROP) * peak:
            return i
    return None


def _phi(rows: Sequence[Row], start: int) -> int | None:
    key = min((k for r in rows[:1] for k in r if k.startswith("phi_task/")), default=None)  # the first site by name
    if key is None:
        return None
    low = float("inf")
    for i in range(start, len(rows)):
        v = rows[i].get(key)
        if v is None:
            continue
        low = min(low, v)
        if v >= PHI_RISE * low:
            return i
    return None


def _both(rows: Sequence[Row], start: int) -> int | None:
    a, b = _wnorm(rows, start), _phi(rows, start)
    return None if a is None or b is None else max(a, b)


RULES: dict[str, Callable[[Sequence[Row], int], int | None]] = {
    "wnorm": _wnorm, "phi": _phi, "both": _both, "memorised": lambda rows, start: start}


def fire_index(rows: Sequence[Row], rule: str = "wnorm") -> int | None:
    """Index at which ``rule`` fires (searching from memorisation on); None if it never does."""
    m = memorised_index(rows)
    return None if m is None else RULES[rule](rows, m)


def forecast_run(rows: Sequence[Row], rule: str = "wnorm", horizon: int = 20, threshold: float = 0.9) -> dict:
    """Outcome of one run under one rule; leads are in evaluations (positive = before).
    ``threshold``: the run's grok threshold (its config's ``grok_threshold``)."""
    g, mv, f = grok_index(rows, threshold), move_index(rows), fire_index(rows, rule)
    if f is None:
        outcome = "quiet" if g is None else "miss"
    elif g is not None and f < g:
        outcome = "hit" if g - f <= horizon else "false"
    elif g is not None:
        outcome = "late"
    else:
        outcome = "false"
    step = lambda i: None if i is None else rows[i]["step"]  # noqa: E731
    return {"outcome": outcome, "fire_step": step(f), "grok_step": step(g), "move_step": step(mv),
            "memorised_step": step(memorised_index(rows)),
            "lead_grok": None if f is None or g is None else g - f,
            "lead_move": None if f is None or mv is None else mv - f}


def evaluate_dirs(paths: Sequence[str | Path], rules: Sequence[str] = tuple(RULES),
                  horizon: int = 20) -> list[dict]:
    """One record per (run, rule): the run's arm (``<parent dir>/<arm>``) and directory plus
    ``forecast_run``'s outcome, for every run directory at or below each path."""
    return [{"arm": f"{run.dir.parent.name}/{run.arm}", "run": str(run.dir), "rule": rule,
             **forecast_run(run.rows, rule, horizon, run.config["train"]["grok_threshold"])}
            for p in paths for run in load_runs(p) for rule in rules]


def _fmt(values: list) -> str:
    got = [v for v in values if v is not None]
    return f"{statistics.mean(got):.1f} [{min(got)}..{max(got)}]" if got else "–"


def _row(rule: str, arm: str, rs: list[dict]) -> str:
    """One table row over the records ``rs``: counts per outcome and the leads of the runs it fired on."""
    n = {o: sum(r["outcome"] == o for r in rs) for o in ("hit", "late", "miss", "false", "quiet")}
    fired = [r for r in rs if r["fire_step"] is not None]
    moved = [r for r in fired if r["lead_move"] is not None]
    before = f"{sum(r['lead_move'] > 0 for r in moved)}/{len(moved)}" if moved else "–"
    return (f"| {rule} | {arm} | {len(rs)} | {sum(r['grok_step'] is not None for r in rs)} | "
            f"{n['hit']} | {n['late']} | {n['miss']} | {n['false']} | {n['quiet']} | "
            f"{_fmt([r['lead_grok'] for r in fired])} | {_fmt([r['lead_move'] for r in fired])} | {before} |")


def early_warning_table(recs: list[dict]) -> str:
    """Markdown: per rule and arm, runs, grokked, hits/late/misses/false alarms/quiet, mean leads."""
    lines = ["| rule | arm | runs | grokked | hit | late | miss | false alarm | quiet | "
             "evals ahead of grok: mean [min..max] | evals ahead of test-acc move | fired strictly before the move |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["rule"], r["arm"]) for r in recs}, key=lambda k: (list(RULES).index(k[0]), k[1]))
    for rule, arm in keys:
        lines.append(_row(rule, arm, [r for r in recs if r["rule"] == rule and r["arm"] == arm]))
    for rule in RULES:
        rs = [r for r in recs if r["rule"] == rule]
        if rs:
            lines.append(_row(f"**{rule}**", "**all**", rs))
    return "\n".join(lines)
