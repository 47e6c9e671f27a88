import math

import pytest

from forecast_cases import config
from radgrok.forecast.core import (
    Forecast,
    ForecastError,
    decay_slope,
    hyper_of,
    index_at,
    log_v,
    memorised_index,
)
from radgrok.runs.config import RunConfig


def test_hyper_reads_a_runconfig_and_its_json_alike():
    cfg = RunConfig().replace(width=128, lr=0.01, weight_decay=0.3, eval_every=20)
    h = hyper_of(cfg)
    assert (h.lr, h.weight_decay, h.lam, h.eval_every) == (0.01, 0.3, 0.0, 20)
    assert h == hyper_of(config(lr=0.01, wd=0.3, eval_every=20)["config"]) == hyper_of(config(lr=0.01, wd=0.3,
                                                                                             eval_every=20))
    assert h.decay == pytest.approx(0.003)


def test_setting_separates_what_a_calibration_cannot_carry_but_not_lr_wd_or_seed():
    base = hyper_of(config()).setting
    assert hyper_of(config(lr=0.01, wd=3.0, seed=7)).setting == base
    for other in (config(width=256), config(lam=0.05), config(grokfast="ema"), config(batch_size=256),
                  config(lam=0.05, norm_over="batch", radius_scale=0.0), config(loss="stablemax")):
        assert hyper_of(other).setting != base
    assert "act-l2" in hyper_of(config(lam=0.05, norm_over="batch", radius_scale=0.0)).setting
    assert "batch" in hyper_of(config(lam=0.05, norm_over="batch")).setting


def test_effective_decay_adds_lam_only_for_a_shrinking_penalty():
    assert hyper_of(config(lr=0.003, wd=0.001, lam=0.05, norm_over="batch", radius_scale=0.0)).decay == \
        pytest.approx(0.003 * 0.051)
    assert hyper_of(config(lr=0.003, wd=0.001, lam=0.05)).decay == pytest.approx(0.003 * 0.001)  # sqrt(d) sphere


def test_hyper_names_a_missing_field():
    with pytest.raises(ForecastError, match="optim.lr"):
        hyper_of({"config": {"optim": {}}})


def test_memorisation_and_index_at():
    rows = [{"step": s, "train_acc": a} for s, a in [(0, 0.1), (10, 0.98), (20, 0.99), (30, 1.0)]]
    assert memorised_index(rows) == 2
    assert memorised_index(rows[:2]) is None
    assert index_at(rows, None) == 3 and index_at(rows, 25) == 2 and index_at(rows, 20) == 2
    with pytest.raises(ForecastError, match="--at"):
        index_at(rows[1:], 5)


def test_log_v_and_decay_slope_on_an_exponential():
    rows = [{"step": 10 * i, "weight_norm": math.exp(-0.001 * 10 * i)} for i in range(10)]
    assert log_v(rows[0]) == 0.0 and log_v({"weight_norm": None}) is None and log_v({"weight_norm": 0}) is None
    assert decay_slope(rows, 9, 5) == pytest.approx(0.002)  # log V = 2 log ||theta||
    assert decay_slope(rows, 0, 5) is None  # one point


def test_forecast_row_fields_are_whole_steps():
    f = Forecast("m", at=100, memorised=80, step=250.4, low=200.6, high=399.5)
    assert f.delay == pytest.approx(170.4)
    assert f.as_row() == {"forecast_step": 250, "forecast_low": 201, "forecast_high": 400}
