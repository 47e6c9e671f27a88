"""Synthetic run records for the forecast tests: curves whose grok step a law fixes exactly.

``law_run``: the parameter norm V = ‖θ‖² rises until ``peak``, then contracts as
exp(-2 κ ηλ (t - peak)); the run memorises at ``mem`` and groks when V has fallen to ``v_star``
(absolute) or by ``log_drop`` below its peak (relative). The last hidden radius follows V's shape
and falls by ``r_drop`` (in log) at the grok. Steps are multiples of ``eval_every``.
"""

from __future__ import annotations

import math

from radgrok.runs.config import RunConfig, to_dict


def config(lr: float = 3e-3, wd: float = 1.0, lam: float = 0.0, eval_every: int = 10, **extra) -> dict:
    cfg = RunConfig().replace(**{"p": 97, "width": 128, "depth": 2, "lr": lr, "weight_decay": wd, "lam": lam,
                                 "eval_every": eval_every, **extra})
    return {"config": to_dict(cfg)}


def law_run(lr: float = 3e-3, wd: float = 1.0, *, mem: int = 100, peak: int = 150, kappa: float = 0.1,
            log_v_peak: float = 8.0, v_star: float | None = None, log_drop: float | None = 0.3,
            r_drop: float = 0.5, eval_every: int = 10, tail: int = 50) -> tuple[list[dict], int]:
    """(rows, grok step) of a run that obeys the first-passage law exactly."""
    rate = 2 * kappa * lr * wd
    drop = log_v_peak - math.log(v_star) if v_star is not None else log_drop
    assert drop is not None and drop > 0
    grok = peak + math.ceil(drop / rate / eval_every) * eval_every
    rows = []
    for t in range(0, grok + tail + 1, eval_every):
        lv = log_v_peak - 0.5 * (peak - t) / peak if t <= peak else log_v_peak - rate * (t - peak)
        frac = (log_v_peak - lv) / drop if t > peak else 0.0
        rows.append({"step": t, "train_acc": 1.0 if t >= mem else t / mem * 0.9,
                     "test_acc": 0.95 if t >= grok else 0.01, "weight_norm": math.exp(lv / 2),
                     "radius/hidden.0.pre": 10.0, "radius/hidden.1.pre": 20.0 * math.exp(-r_drop * frac)})
    return rows, grok
