"""Calibrations: each method's constants and interval, fitted on runs with known grok steps.

A calibration belongs to one *setting* (``Hyper.setting``: task, model, batch, loss, gradient
methods, penalty reading); lr, weight decay and lam vary within it. ``fit_calibration`` fits
every method on the calibration runs and, per method, the interval: the ``INTERVAL`` quantiles of
log(actual remaining steps / predicted remaining steps) over every evaluation from memorisation to
the grok of each calibration run (each run weighted equally), so the nominal coverage is 80%.

``DEFAULT_CALIBRATIONS`` holds the one calibration radgrok ships, fitted by the preregistered
evaluation (docs/results/forecast, ``calibration.json`` there; the package carries a copy beside this
module); a user calibrates another setting with ``fit_calibration`` on their own finished runs and
saves it as JSON (``radgrok forecast --calibration FILE``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

from .core import ForecastError, memorised_index
from .methods import METHODS, CalRun

__all__ = ["Calibration", "fit_calibration", "interval_residuals", "weighted_quantile", "INTERVAL",
           "DEFAULT_CALIBRATIONS", "load_calibrations", "save_calibrations"]

INTERVAL = (0.1, 0.9)


@dataclass
class Calibration:
    """Fitted constants per method (with ``q_lo``/``q_hi``, the interval's log-ratio quantiles)."""

    setting: str
    methods: dict[str, dict[str, float]]
    runs: int = 0
    source: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"setting": self.setting, "runs": self.runs, "source": self.source, "methods": self.methods,
                "notes": self.notes}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Calibration":
        return cls(str(d["setting"]), {k: {kk: float(vv) for kk, vv in v.items()} for k, v in d["methods"].items()},
                   int(d.get("runs", 0)), str(d.get("source", "")), dict(d.get("notes", {})))


def weighted_quantile(values: Sequence[float], weights: Sequence[float], q: float) -> float:
    """The smallest value whose cumulative weight reaches q of the total."""
    pairs = sorted(zip(values, weights))
    total = sum(w for _, w in pairs)
    acc = 0.0
    for v, w in pairs:
        acc += w
        if acc >= q * total - 1e-12:
            return v
    return pairs[-1][0]


def interval_residuals(name: str, runs: Sequence[CalRun], params: Mapping[str, float]) -> tuple[list, list]:
    """log(actual remaining / predicted remaining) at every evaluation from memorisation to the grok
    of each run, and a weight per value (1 / the run's count)."""
    method = METHODS[name]
    vals: list[float] = []
    wts: list[float] = []
    for c in runs:
        i0 = memorised_index(c.rows)
        if i0 is None:
            continue
        own = []
        for i in range(i0, len(c.rows)):
            t = c.rows[i]["step"]
            if t >= c.grok:
                break
            g = method.predict(c.rows, i, c.hyper, params)
            if g is None:
                continue
            own.append(math.log((c.grok - t) / max(g - t, c.hyper.eval_every)))
        vals += own
        wts += [1.0 / len(own)] * len(own)
    return vals, wts


def fit_calibration(runs: Sequence[CalRun], source: str = "", methods: Sequence[str] | None = None) -> Calibration:
    """Fit every method (or ``methods``) and its interval on ``runs`` (all of one setting)."""
    if not runs:
        raise ForecastError("calibration: no grokked run to fit on")
    settings = {c.hyper.setting for c in runs}
    if len(settings) > 1:
        raise ForecastError(f"calibration: runs of {len(settings)} settings given; fit one setting at a time")
    out: dict[str, dict[str, float]] = {}
    for name in methods or METHODS:
        params = METHODS[name].fit(runs)
        if not params:
            continue
        vals, wts = interval_residuals(name, runs, params)
        if vals:
            params = {**params, "q_lo": weighted_quantile(vals, wts, INTERVAL[0]),
                      "q_hi": weighted_quantile(vals, wts, INTERVAL[1])}
        out[name] = params
    return Calibration(settings.pop(), out, len(runs), source)


def load_calibrations(path: str | Path) -> dict[str, Calibration]:
    """A JSON file of one calibration (an object) or several (a list), by setting."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
        items = data if isinstance(data, list) else [data]
        cals = [Calibration.from_dict(d) for d in items]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise ForecastError(f"calibration: {p} is not a calibration file ({type(e).__name__})") from None
    return {c.setting: c for c in cals}


def save_calibrations(path: str | Path, cals: Sequence[Calibration]) -> None:
    Path(path).write_text(json.dumps([c.as_dict() for c in cals], indent=2) + "\n")


# The evaluation's score step writes docs/results/forecast/calibration.json; tests/test_forecast_calibration.py
# keeps this copy of it equal. Loaded as every calibration file is.
_SHIPPED = json.loads(resources.files(__package__).joinpath("calibration.json").read_text())
DEFAULT_CALIBRATIONS: dict[str, Calibration] = {c.setting: c for c in map(Calibration.from_dict, _SHIPPED)}
