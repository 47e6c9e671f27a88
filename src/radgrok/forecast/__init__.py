"""Forecast the grok step of a memorised run from its training-side records (beyond the paper).

Pure Python over a run's metric rows (``metrics.jsonl``) and its config; no test-set quantity is
read, no torch. Four methods (``methods``): the ``inverse-decay`` baseline (delay ∝ 1/(lr·wd)),
the published ``first-passage`` law of the parameter norm, and radgrok's own ``norm-rate`` and
``radius-rate`` (a relative threshold reached at the contraction rate measured on the run). Each
is calibrated on runs with known grok steps (``calibration``); how well they do on runs they
never saw is measured by the preregistered evaluation in docs/results/forecast. The entry points
are ``forecast`` (a ``Forecast``) and ``forecast_row`` (the trainer's metric-row fields).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from .calibration import DEFAULT_CALIBRATIONS, Calibration, fit_calibration, load_calibrations, save_calibrations
from .core import Forecast, ForecastError, Hyper, hyper_of, index_at, memorised_index
from .methods import METHODS, OURS, CalRun

__all__ = ["forecast", "forecast_row", "Forecast", "ForecastError", "Hyper", "hyper_of", "Calibration", "CalRun",
           "fit_calibration", "load_calibrations", "save_calibrations", "METHODS", "OURS", "DEFAULT_METHOD",
           "DEFAULT_CALIBRATIONS", "memorised_index", "calibration_for"]

DEFAULT_METHOD = "radius-rate"  # the method the trainer logs: the evaluation protocol's primary own method


def calibration_for(hyper: Hyper, calibrations: Mapping[str, Calibration] | None = None) -> Calibration | None:
    """The calibration of ``hyper``'s setting among ``calibrations`` (default: radgrok's own)."""
    return (DEFAULT_CALIBRATIONS if calibrations is None else calibrations).get(hyper.setting)


def forecast(rows: Sequence[Mapping[str, Any]], cfg: Any, at: int | None = None, method: str = DEFAULT_METHOD,
             calibrations: Mapping[str, Calibration] | None = None) -> Forecast | None:
    """The forecast of ``method`` from the rows logged at or before step ``at`` (default: all).

    None before memorisation. ``ForecastError`` (one line) where the setting has no calibration,
    the method none for it, or ``at`` precedes the first row.
    """
    if method not in METHODS:
        raise ForecastError(f"method must be one of {list(METHODS)}, got {method!r}")
    if not rows:
        raise ForecastError("rows: no metrics rows")
    hyper = hyper_of(cfg)
    cal = calibration_for(hyper, calibrations)
    if cal is None:
        raise ForecastError(f"calibration: none for this setting ({hyper.setting}); fit one on finished runs "
                            "of it (radgrok.forecast.fit_calibration) and pass it with --calibration")
    params = cal.methods.get(method)
    if params is None:
        raise ForecastError(f"calibration: method {method} has no fit for setting {hyper.setting}")
    i = index_at(rows, at)
    upto = rows[:i + 1]
    m = memorised_index(upto)
    if m is None:
        return None
    g = METHODS[method].predict(upto, i, hyper, params)
    if g is None:
        return None
    t = float(upto[i]["step"])
    remaining = max(g - t, float(hyper.eval_every))
    lo, hi = params.get("q_lo", 0.0), params.get("q_hi", 0.0)
    # the interval always holds its point (a method that says "now" has g = t < t + eval_every)
    return Forecast(method, int(t), int(upto[m]["step"]), g, min(g, t + remaining * math.exp(lo)),
                    max(g, t + remaining * math.exp(hi)))


def forecast_row(rows: list[dict], cfg: Any) -> dict:
    """The trainer's hook: ``forecast_step``, ``forecast_low``, ``forecast_high`` (whole steps) of
    ``DEFAULT_METHOD`` from ``rows`` (the rows logged so far, the current one last); ``{}`` before
    memorisation, where radgrok has no calibration for the run's setting, or where the method has
    nothing to say. Never raises on a row it cannot use."""
    try:
        f = forecast(rows, cfg)  # a ForecastError where there are no rows or no calibration
    except (ForecastError, KeyError, TypeError, ValueError, OverflowError):
        return {}
    return {} if f is None else f.as_row()
