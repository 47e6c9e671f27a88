import pytest

import radgrok.forecast as fc
from forecast_cases import config, law_run
from radgrok.forecast import CalRun, ForecastError, fit_calibration, forecast, forecast_row, hyper_of


@pytest.fixture
def shipped(monkeypatch):
    """A calibration for the test setting, as if radgrok shipped it."""
    runs = []
    for k in (0.08, 0.1, 0.12):
        rows, grok = law_run(kappa=k)
        runs.append(CalRun(rows, hyper_of(config()), grok))
    cal = fit_calibration(runs)
    monkeypatch.setitem(fc.DEFAULT_CALIBRATIONS, cal.setting, cal)
    return cal


def test_forecast_row_is_empty_before_memorisation_and_without_a_calibration(shipped):
    rows, grok = law_run(kappa=0.1, mem=100)
    assert forecast_row(rows[:10], config()) == {}  # step 90: not memorised
    assert forecast_row(rows, config(width=256)) == {}  # no calibration for that setting
    assert forecast_row([], config()) == {}
    assert forecast_row(rows[:11], {"config": {}}) == {}  # unreadable config: nothing, never an exception
    row = forecast_row(rows[:11], config())
    assert set(row) == {"forecast_step", "forecast_low", "forecast_high"}
    assert row["forecast_low"] <= row["forecast_step"] <= row["forecast_high"]
    assert all(isinstance(v, int) for v in row.values())


def test_forecast_row_sharpens_after_the_peak(shipped):
    rows, grok = law_run(kappa=0.2)  # contracts twice as fast as anything calibrated
    early = forecast_row(rows[:11], config())["forecast_step"]  # at memorisation: the baseline
    late = forecast_row(rows[:23], config())["forecast_step"]  # well past the peak: the measured rate
    assert abs(late - grok) < abs(early - grok) and abs(late - grok) <= 20


def test_forecast_at_a_step_and_its_errors(shipped):
    rows, grok = law_run(kappa=0.1)
    f = forecast(rows, config(), at=105, method="inverse-decay")
    assert f is not None and f.at == 100 and f.memorised == 100 and f.method == "inverse-decay"
    assert f.low <= f.step <= f.high
    assert forecast(rows, config(), at=50) is None
    with pytest.raises(ForecastError, match="method"):
        forecast(rows, config(), method="nope")
    with pytest.raises(ForecastError, match="calibration: none"):
        forecast(rows, config(width=256))
    with pytest.raises(ForecastError, match="no metrics rows"):
        forecast([], config())


def test_the_trainer_logs_the_protocols_primary_method():
    assert fc.DEFAULT_METHOD == "radius-rate" and fc.DEFAULT_METHOD in fc.OURS
