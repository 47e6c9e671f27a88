"""Forecasts read from run directories: ``radgrok forecast RUN_DIR...`` and the report's table of
forecast beside actual grok step (``radgrok.forecast`` does the forecasting; this module reads the
records, names what it cannot read, and formats)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from ..forecast import (
    DEFAULT_METHOD,
    METHODS,
    Calibration,
    ForecastError,
    calibration_for,
    forecast,
    hyper_of,
    load_calibrations,
    memorised_index,
)
from ..runs import records
from ..runs.config import ConfigError

__all__ = ["forecast_lines", "forecast_table", "read_forecast_run"]


def _read(path: Path, what: str) -> Any:
    try:
        return records.read_jsonl(path) if path.suffix == ".jsonl" else records.read_json(path)
    except (OSError, ValueError) as e:
        raise ConfigError(f"RUN_DIR: {path} could not be read ({type(e).__name__}); {what}") from None


def read_forecast_run(run_dir: str | Path) -> tuple[dict, list[dict], dict | None]:
    """(config dict, metric rows, summary or None) of a run directory, live or finished; a missing
    or unreadable record is a ConfigError naming the file."""
    d = Path(run_dir)
    if not d.is_dir():
        raise ConfigError(f"RUN_DIR: {d} is not a directory")
    for name in (records.CONFIG, records.METRICS):
        if not (d / name).is_file():
            raise ConfigError(f"RUN_DIR: {d} has no {name} (not a run directory)")
    cfg = _read(d / records.CONFIG, "a run's config")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("config", cfg), dict):
        raise ConfigError(f"RUN_DIR: {d / records.CONFIG} is not a run config")
    rows = _read(d / records.METRICS, "a run's metrics rows")
    if not rows:
        raise ConfigError(f"RUN_DIR: {d / records.METRICS} has no rows yet")
    if not all(isinstance(r, dict) and isinstance(r.get("step"), int) for r in rows):
        raise ConfigError(f"RUN_DIR: {d / records.METRICS} has a row without a step")
    summary = _read(d / records.SUMMARY, "a run's summary") if (d / records.SUMMARY).is_file() else None
    return cfg, rows, summary if isinstance(summary, dict) else None


def _actual(summary: dict | None) -> str:
    if summary is None:
        return "no summary yet"
    status = summary.get("status")
    if status == records.Status.GROKKED:
        return f"grokked at step {summary.get('grok_step'):,}"
    if status == records.Status.RUNNING:
        return f"running (step {summary.get('steps_done', 0):,} in its summary)"
    return f"{status}: no grok by step {summary.get('steps_done', 0):,}"


def forecast_lines(run_dirs: Sequence[str], at: int | None = None, method: str = "all",
                   calibration: str | None = None) -> list[str]:
    """What ``radgrok forecast`` prints: per run, the forecast of each method at ``at`` (default: its
    last row) beside what the run did. Bad input is a ConfigError (one line, exit 2)."""
    if method != "all" and method not in METHODS:
        raise ConfigError(f"--method must be one of {[*METHODS, 'all']}, got {method!r}")
    cals: Mapping[str, Calibration] | None = None
    if calibration is not None:
        if not Path(calibration).is_file():
            raise ConfigError(f"--calibration: {calibration} does not exist")
        try:
            cals = load_calibrations(calibration)
        except ForecastError as e:
            raise ConfigError(f"--calibration: {e}") from None
    if at is not None and at < 0:
        raise ConfigError(f"--at must be a step >= 0, got {at}")
    out: list[str] = []
    for d in run_dirs:
        cfg, rows, summary = read_forecast_run(d)
        try:
            hyper = hyper_of(cfg)
        except ForecastError as e:
            raise ConfigError(f"RUN_DIR: {Path(d) / records.CONFIG}: {e}") from None
        cal = calibration_for(hyper, cals)
        if cal is None:
            raise ConfigError(f"RUN_DIR: {d}: no calibration for its setting ({hyper.setting}); fit one on "
                              "finished runs of it (radgrok.forecast.fit_calibration) and pass --calibration")
        if at is not None and at < rows[0]["step"]:
            raise ConfigError(f"--at: step {at} is before the first row of {Path(d) / records.METRICS} "
                              f"(step {rows[0]['step']})")
        upto = [r for r in rows if at is None or r["step"] <= at]
        t = upto[-1]["step"]
        m_all, m_upto = memorised_index(rows), memorised_index(upto)
        if m_upto is None:
            if at is not None and m_all is not None:
                raise ConfigError(f"--at: step {at} is before {d} memorised (step {rows[m_all]['step']:,}); "
                                  "a forecast starts at memorisation")
            best = max((r.get("train_acc") or 0.0) for r in upto)
            out.append(f"{d}: not memorised by step {t:,} (train acc {best:.3f} < 0.99): no forecast yet; "
                       f"{_actual(summary)}")
            continue
        m = upto[m_upto]["step"]
        out.append(f"{d}: lr {hyper.lr:g}, wd {hyper.weight_decay:g}"
                   + (f", lam {hyper.lam:g}" if hyper.lam else "")
                   + f"; memorised at step {m:,}; forecast from step {t:,}:")
        for name in list(METHODS) if method == "all" else [method]:
            if name not in cal.methods:
                out.append(f"  {name:<14} no fit in this calibration")
                continue
            f = forecast(upto, cfg, method=name, calibrations=cals)
            if f is None:
                out.append(f"  {name:<14} nothing to say")
                continue
            mark = "  (logged by default)" if name == DEFAULT_METHOD else ""
            out.append(f"  {name:<14} grok at step ~{f.step:,.0f}  (80% interval {f.low:,.0f}–{f.high:,.0f}){mark}")
        out.append(f"  actual         {_actual(summary)}")
        out += _track_record(cal)
    return out


def _track_record(cal: Calibration) -> list[str]:
    """How the calibration's methods did on held-out runs in the evaluation that fitted it (shipped
    calibrations only; a user's own fit carries no such note)."""
    held = cal.notes.get("held_out")
    if not held:
        return []
    parts = [f"{m} {v['median_ape']:.1%}" for m, v in held.items() if isinstance(v, dict)]
    return [f"  (median error of the delay on {cal.source}'s held-out runs, forecast at {held['point']}: "
            f"{', '.join(parts)}; docs/results/forecast)"]


def forecast_table(runs: Sequence[Any], method: str = DEFAULT_METHOD) -> str:
    """Forecast beside actual, one row per run (a ``report.Run``: name, config, rows, summary) whose
    setting radgrok has a calibration for: the forecast at memorisation and halfway from memorisation
    to the grok, and the grok step. Empty when no run is covered."""
    lines = []
    for r in runs:
        hyper = hyper_of(r.config)
        if calibration_for(hyper) is None or not r.rows:
            continue
        m = memorised_index(r.rows)
        if m is None:
            lines.append(f"| {r.name} | – | – | – | {_actual(r.summary)} |")
            continue
        ms = r.rows[m]["step"]
        grok = r.summary.get("grok_step") if r.summary.get("status") == records.Status.GROKKED else None
        fs = [None if at is None else forecast(r.rows, r.config, at=at, method=method)
              for at in (ms, None if grok is None else (ms + grok) // 2)]
        cells = ["–" if f is None else f"{f.step:,.0f} ({f.low:,.0f}–{f.high:,.0f})" for f in fs]
        lines.append(f"| {r.name} | {ms:,} | {cells[0]} | {cells[1]} | {_actual(r.summary)} |")
    if not lines:
        return ""
    return "\n".join([f"Forecast of the grok step ({method}, 80% interval; `radgrok forecast RUN_DIR` for every "
                      "method):", "",
                      "| run | memorised | forecast at memorisation | forecast halfway to the grok | actual |",
                      "|---|---|---|---|---|", *lines])
