"""The forecasting methods: each predicts a run's grok step from its rows up to a step. Pure Python.

Notation: m the memorisation step, t the step the forecast is made at (t >= m), ηλ the run's
decay rate (``Hyper.decay``: learning rate times weight decay, plus lam for a shrinking penalty),
V = ‖θ‖², X a hidden radius. Every method is *calibrated* (``fit``) on runs whose grok step is
known and then applied to runs it never saw (``predict``); ``predict`` returns the point forecast
of the grok step, or None where the method has nothing to say.

* ``inverse-decay`` -- the Omnigrok-style baseline: delay = C / (ηλ), one constant C (the median
  of delay × ηλ over the calibration runs). A forecast at t > m keeps m + C/(ηλ).
* ``first-passage`` -- the norm first-passage law (arXiv 2605.18845): the delay is the time V
  takes to contract from V_m to V* at rate 2κηλ, delay = log(V_m / V*) / (2 κ ηλ). V* is the
  median V at the grok step of the calibration runs, κ the median of log(V_m/V*) / (2 ηλ delay)
  over them. A forecast at t > m applies the law from t: t + log(V_t / V*) / (2 κ ηλ).
* ``norm-rate`` (radgrok's own) -- the same first passage, with two changes: the threshold is
  relative, V* = ρ·max V so far (ρ the median over the calibration runs of V at the grok step
  over the largest V before it: the paper notes V*/V_mem is steadier than V*), and the rate is
  the one measured on the run, the least-squares contraction rate of log V over the last
  ``WINDOW`` evaluations, instead of the assumed 2κηλ. Until V has contracted for ``WINDOW``
  evaluations since its peak (it often still grows after memorisation), and while the measured
  rate is not positive, it falls back to the baseline's step.
* ``radius-rate`` (radgrok's own) -- ``norm-rate`` on the mean hidden radius ‖h‖ of the last
  penalised site (``radius/<site>``, logged for every run, lam 0 included) instead of V: the
  activations shrink by a larger fraction than the parameters in the clean-up phase.

A forecast at t is never earlier than t (a run not grokked by t groks after it).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from .core import Hyper, Row, decay_slope, log_v, memorised_index

__all__ = ["CalRun", "METHODS", "OURS", "WINDOW", "Method", "radius_key"]

WINDOW = 5  # evaluations over which a contraction rate is measured


@dataclass(frozen=True)
class CalRun:
    """A calibration run: its rows, hyperparameters and (known) grok step."""

    rows: Sequence[Row]
    hyper: Hyper
    grok: int


@dataclass(frozen=True)
class Method:
    """A method's calibration (``fit``) and its forecast (``predict``); see the module docstring."""

    fit: Callable[[Sequence[CalRun]], dict[str, float]]
    predict: Callable[[Sequence[Row], int, Hyper, Mapping[str, float]], float | None]


def _median(xs: list[float]) -> float | None:
    xs = [x for x in xs if math.isfinite(x)]
    return statistics.median(xs) if xs else None


def _mem_step(rows: Sequence[Row]) -> int | None:
    i = memorised_index(rows)
    return None if i is None else int(rows[i]["step"])


def _row_at(rows: Sequence[Row], step: int) -> Row | None:
    return next((r for r in rows if r["step"] == step), None)


# -- inverse-decay (the baseline) ------------------------------------------------------------------
def _fit_inverse(runs: Sequence[CalRun]) -> dict[str, float]:
    xs = [(c.grok - m) * c.hyper.decay for c in runs if (m := _mem_step(c.rows)) is not None and c.hyper.decay > 0]
    med = _median(xs)
    return {} if med is None or med <= 0 else {"C": med}


def _predict_inverse(rows: Sequence[Row], i: int, h: Hyper, p: Mapping[str, float]) -> float | None:
    m = _mem_step(rows[:i + 1])
    if m is None or "C" not in p or h.decay <= 0:
        return None
    return max(m + p["C"] / h.decay, float(rows[i]["step"]))


# -- first-passage (the published law) -------------------------------------------------------------
def _fit_first_passage(runs: Sequence[CalRun]) -> dict[str, float]:
    at_grok = [lv for c in runs if (r := _row_at(c.rows, c.grok)) is not None and (lv := log_v(r)) is not None]
    log_vstar = _median(at_grok)
    if log_vstar is None:
        return {}
    kappas = []
    for c in runs:
        m = _mem_step(c.rows)
        r = _row_at(c.rows, m) if m is not None else None
        lv = log_v(r) if r is not None else None
        if m is None or lv is None or c.grok <= m or c.hyper.decay <= 0:
            continue
        kappas.append((lv - log_vstar) / (2 * c.hyper.decay * (c.grok - m)))
    kappa = _median(kappas)
    return {} if kappa is None or kappa <= 0 else {"kappa": kappa, "log_v_star": log_vstar}


def _predict_first_passage(rows: Sequence[Row], i: int, h: Hyper, p: Mapping[str, float]) -> float | None:
    lv = log_v(rows[i])
    if "kappa" not in p or lv is None or h.decay <= 0 or memorised_index(rows[:i + 1]) is None:
        return None
    t = float(rows[i]["step"])
    return t + max(lv - p["log_v_star"], 0.0) / (2 * p["kappa"] * h.decay)


# -- norm-rate and radius-rate (ours) ---------------------------------------------------------------
def radius_key(row: Row) -> str | None:
    """The ``radius/<site>`` key of the last site a row logs (the deepest hidden layer)."""
    keys = [k for k in row if k.startswith("radius/")]
    return keys[-1] if keys else None


def _log_radius(row: Row, key: str | None) -> float | None:
    x = row.get(key) if key else None
    return math.log(x) if isinstance(x, (int, float)) and math.isfinite(x) and x > 0 else None


def _series(rows: Sequence[Row], signal: str) -> list[tuple[int, float | None]]:
    """(step, log X) per row: X = V for ``norm``, the last site's radius for ``radius``."""
    if signal == "norm":
        return [(int(r["step"]), log_v(r)) for r in rows]
    key = radius_key(rows[-1]) if rows else None
    return [(int(r["step"]), _log_radius(r, key)) for r in rows]


def _rate(series: list[tuple[int, float | None]], i: int) -> float | None:
    """Minus the least-squares slope of log X over the last WINDOW points up to i (per step)."""
    rows = [{"step": s, "weight_norm": math.exp(lx / 2)} for s, lx in series[max(0, i - WINDOW + 1):i + 1]
            if lx is not None]
    return decay_slope(rows, len(rows) - 1, WINDOW) if rows else None


def _fit_relative(signal: str) -> Callable[[Sequence[CalRun]], dict[str, float]]:
    def fit(runs: Sequence[CalRun]) -> dict[str, float]:
        drops = []
        for c in runs:
            s = _series(c.rows, signal)
            upto = [lx for step, lx in s if step <= c.grok and lx is not None]
            at = next((lx for step, lx in s if step == c.grok), None)
            if upto and at is not None:
                drops.append(max(upto) - at)  # log(peak / value at grok) >= 0
        base = _fit_inverse(runs)
        drop = _median(drops)
        return {} if drop is None or not base else {"log_drop": drop, **base}
    return fit


def _predict_relative(signal: str) -> Callable[[Sequence[Row], int, Hyper, Mapping[str, float]], float | None]:
    def predict(rows: Sequence[Row], i: int, h: Hyper, p: Mapping[str, float]) -> float | None:
        if "log_drop" not in p or memorised_index(rows[:i + 1]) is None:
            return None
        s = _series(rows[:i + 1], signal)
        lx = s[i][1]
        if lx is None:
            return None
        top = max(v for _, v in s if v is not None)
        t = float(rows[i]["step"])
        left = lx - (top - p["log_drop"])  # log(X_t / X*), X* = rho * peak so far
        if left <= 0:
            return t
        peak = [v for _, v in s].index(top)  # the first row at the peak
        r = _rate(s, i) if i - peak >= WINDOW else None  # a rate only from a window wholly past the peak
        if r is None or r <= 0:  # not contracting yet: the baseline's clock
            return _predict_inverse(rows, i, h, p)
        return t + left / r
    return predict


METHODS: dict[str, Method] = {
    "inverse-decay": Method(_fit_inverse, _predict_inverse),
    "first-passage": Method(_fit_first_passage, _predict_first_passage),
    "norm-rate": Method(_fit_relative("norm"), _predict_relative("norm")),
    "radius-rate": Method(_fit_relative("radius"), _predict_relative("radius")),
}
OURS = ("norm-rate", "radius-rate")
