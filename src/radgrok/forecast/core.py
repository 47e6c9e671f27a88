"""What a forecast reads: a run's hyperparameters and its metric rows up to a step. Pure Python.

A metrics row is one evaluation of ``metrics.jsonl`` (``step``, ``train_acc``, ``weight_norm``,
...). A forecast never reads a test-set quantity: only the step, the training accuracy (to find
memorisation) and the parameter norm. ``weight_norm`` is ‖θ‖ over every parameter; the laws are
written in V = ‖θ‖².

Memorisation: the first evaluation with ``train_acc >= 0.99`` (the trainer's milestone, and
``report.early_warning``'s). The delay of a run is its grok step minus its memorisation step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

__all__ = ["Hyper", "hyper_of", "Forecast", "MEMORISED", "memorised_index", "index_at", "log_v", "decay_slope",
           "ForecastError"]

MEMORISED = 0.99
Row = Mapping[str, Any]


class ForecastError(ValueError):
    """Records a forecast cannot use; the message is one line naming the file or field."""


@dataclass(frozen=True)
class Hyper:
    """The hyperparameters the forecasts read, and the setting a calibration belongs to.

    ``decay`` is the decay rate the laws divide by: the learning rate times the effective
    decay coefficient, ``weight_decay`` plus ``lam`` when the penalty shrinks the activations
    (the batch reading and activation L2; an assumption the evaluation tests, not a derivation).
    """

    lr: float
    weight_decay: float
    lam: float
    setting: str
    eval_every: int

    @property
    def decay(self) -> float:
        return self.lr * (self.weight_decay + self.lam)


def _sections(cfg: Any) -> dict[str, dict]:
    """A RunConfig, or a config dict as config.json stores it (with or without its "config" key),
    as {section: {field: value}}."""
    if isinstance(cfg, Mapping):
        d = cfg.get("config", cfg)
        return {k: dict(v) for k, v in d.items() if isinstance(v, Mapping)}
    return {sec: dict(vars(getattr(cfg, sec))) for sec in ("task", "model", "penalty", "optim", "methods", "train")}


def _reading(pen: Mapping[str, Any]) -> str:
    if not pen.get("lam"):
        return "plain"
    if pen.get("mode", "soft") == "project":
        return "project"
    if pen.get("norm_over", "example") == "batch":
        return "act-l2" if pen.get("radius_scale", 1.0) == 0 else "batch"
    return f"example-{pen.get('reduce', 'mean')}"


def hyper_of(cfg: Any) -> Hyper:
    """The forecast's view of a run config (a ``RunConfig`` or config.json's dict).

    ``setting``: what a calibration is valid for -- the task, the model, the batch, the loss,
    the gradient methods and the penalty's reading; not lr, weight decay, lam or the seed,
    which the laws carry themselves.
    """
    s = _sections(cfg)
    t, m, o, pen = s.get("task", {}), s.get("model", {}), s.get("optim", {}), s.get("penalty", {})
    mt, tr = s.get("methods", {}), s.get("train", {})
    try:
        lr, wd = float(o["lr"]), float(o["weight_decay"])
    except (KeyError, TypeError, ValueError):
        raise ForecastError("config: optim.lr and optim.weight_decay are needed") from None
    methods = [f"grokfast-{mt['grokfast']}"] if mt.get("grokfast", "none") != "none" else []
    methods += ["orthograd"] if mt.get("orthograd") else []
    methods += ["stablemax"] if mt.get("loss", "ce") != "ce" else []
    batch = o.get("batch_size", 0) or "full"
    setting = (f"{t.get('task', 'modular')}:{t.get('op', 'add')}:p{t.get('p')}:f{t.get('train_frac')}"
               f"/{m.get('arch', 'mlp')}:{m.get('depth')}x{m.get('width')}:{m.get('encoding', 'onehot')}"
               f":init{m.get('init_scale', 1.0)}:drop{m.get('dropout', 0.0)}"
               f"/batch:{batch}/{'+'.join(methods) or 'adamw'}/{_reading(pen)}")
    return Hyper(lr, wd, float(pen.get("lam", 0.0) or 0.0) if _reading(pen) in ("batch", "act-l2") else 0.0,
                 setting, int(tr.get("eval_every", 1) or 1))


@dataclass(frozen=True)
class Forecast:
    """A predicted grok step with its interval, made at ``at`` (a logged step) by ``method``.

    ``step`` is the point forecast, ``low``/``high`` the calibrated interval (each at least
    ``at``: a run not grokked by ``at`` groks after it). ``memorised`` is the run's memorisation
    step; ``delay`` = ``step - memorised`` is what the evaluation scores."""

    method: str
    at: int
    memorised: int
    step: float
    low: float
    high: float

    @property
    def delay(self) -> float:
        return self.step - self.memorised

    def as_row(self) -> dict[str, int]:
        """The trainer's metric-row fields (whole steps)."""
        return {"forecast_step": round(self.step), "forecast_low": round(self.low), "forecast_high": round(self.high)}


def memorised_index(rows: Sequence[Row], threshold: float = MEMORISED) -> int | None:
    """Index of the first row with ``train_acc >= threshold``; None if no row has it."""
    for i, r in enumerate(rows):
        acc = r.get("train_acc")
        if isinstance(acc, (int, float)) and acc >= threshold:
            return i
    return None


def index_at(rows: Sequence[Row], step: int | None) -> int:
    """Index of the last row logged at or before ``step`` (the last row when ``step`` is None)."""
    if step is None:
        return len(rows) - 1
    idx = [i for i, r in enumerate(rows) if r["step"] <= step]
    if not idx:
        raise ForecastError(f"--at: step {step} is before the first logged step {rows[0]['step']}")
    return idx[-1]


def log_v(row: Row) -> float | None:
    """log V = 2 log ‖θ‖ of one row; None where the norm is missing or not positive."""
    w = row.get("weight_norm")
    if not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
        return None
    return 2.0 * math.log(w)


def decay_slope(rows: Sequence[Row], i: int, window: int) -> float | None:
    """The measured contraction rate of V at row ``i``: minus the least-squares slope of log V
    against the step over rows ``i - window + 1 .. i`` (per step; > 0 while V shrinks). None with
    fewer than 2 usable rows."""
    pts = [(r["step"], lv) for r in rows[max(0, i - window + 1):i + 1] if (lv := log_v(r)) is not None]
    if len(pts) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return None
    return -sum((x - mx) * (y - my) for x, y in pts) / sxx
