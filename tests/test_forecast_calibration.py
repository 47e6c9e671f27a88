import json

import pytest

from forecast_cases import config, law_run
from radgrok.forecast.calibration import (
    Calibration,
    fit_calibration,
    interval_residuals,
    load_calibrations,
    save_calibrations,
    weighted_quantile,
)
from radgrok.forecast.core import ForecastError, hyper_of
from radgrok.forecast.methods import METHODS, CalRun


def runs(kappas=(0.08, 0.1, 0.12), **kw):
    out = []
    for k in kappas:
        rows, grok = law_run(kappa=k, **kw)
        out.append(CalRun(rows, hyper_of(config()), grok))
    return out


def test_weighted_quantile():
    assert weighted_quantile([3, 1, 2], [1, 1, 1], 0.5) == 2
    assert weighted_quantile([1, 2, 3], [10, 1, 1], 0.5) == 1
    assert weighted_quantile([1, 2, 3], [1, 1, 1], 1.0) == 3


def test_every_method_is_fitted_with_an_interval_that_holds_its_calibration_runs():
    cal = fit_calibration(runs(), source="synthetic")
    assert set(cal.methods) == set(METHODS) and cal.runs == 3
    for name, p in cal.methods.items():
        assert p["q_lo"] <= p["q_hi"], name
        vals, wts = interval_residuals(name, runs(), p)
        inside = sum(w for v, w in zip(vals, wts) if p["q_lo"] <= v <= p["q_hi"]) / sum(wts)
        assert inside >= 0.7, name  # nominal 80% on the data it was fitted on


def test_residuals_weight_each_run_equally():
    short, long = runs((0.2,))[0], runs((0.05,))[0]
    p = METHODS["inverse-decay"].fit([short, long])
    vals, wts = interval_residuals("inverse-decay", [short, long], p)
    assert len(vals) > 20 and sum(wts) == pytest.approx(2.0)


def test_one_setting_at_a_time_and_not_from_nothing():
    mixed = runs() + [CalRun(runs()[0].rows, hyper_of(config(width=256)), runs()[0].grok)]
    with pytest.raises(ForecastError, match="settings"):
        fit_calibration(mixed)
    with pytest.raises(ForecastError, match="no grokked run"):
        fit_calibration([])


def test_json_round_trip_and_a_bad_file(tmp_path):
    cal = fit_calibration(runs())
    save_calibrations(tmp_path / "c.json", [cal])
    back = load_calibrations(tmp_path / "c.json")
    assert back[cal.setting].methods == cal.methods
    (tmp_path / "one.json").write_text(json.dumps(cal.as_dict()))  # a single object loads too
    assert Calibration.from_dict(json.loads((tmp_path / "one.json").read_text())).setting == cal.setting
    assert set(load_calibrations(tmp_path / "one.json")) == {cal.setting}
    (tmp_path / "bad.json").write_text("{\"setting\": 1}")
    with pytest.raises(ForecastError, match="bad.json"):
        load_calibrations(tmp_path / "bad.json")


def test_the_shipped_calibrations_are_the_evaluations():
    """DEFAULT_CALIBRATIONS is docs/results/forecast/calibration.json, which the evaluation's score step
    writes from the committed records (test_benchmarks_forecast_eval checks that part)."""
    from pathlib import Path

    from radgrok.forecast import DEFAULT_CALIBRATIONS

    path = Path(__file__).resolve().parents[1] / "docs/results/forecast/calibration.json"
    committed = [Calibration.from_dict(d) for d in json.loads(path.read_text())]
    assert {c.setting: c.as_dict() for c in committed} == {k: c.as_dict() for k, c in DEFAULT_CALIBRATIONS.items()}
    assert sorted(s.rsplit("/", 1)[1] for s in DEFAULT_CALIBRATIONS) == ["act-l2", "batch", "plain"]
