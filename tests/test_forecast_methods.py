import math

import pytest

from forecast_cases import config, law_run
from radgrok.forecast.core import hyper_of
from radgrok.forecast.methods import METHODS, WINDOW, CalRun, radius_key


def cal(lr, wd, **kw):
    rows, grok = law_run(lr, wd, **kw)
    return CalRun(rows, hyper_of(config(lr, wd)), grok), rows, grok


def test_inverse_decay_fits_the_median_dose_and_predicts_from_memorisation():
    runs = [cal(3e-3, 1.0, mem=100, log_drop=d)[0] for d in (0.2, 0.3, 0.4)]
    p = METHODS["inverse-decay"].fit(runs)
    assert p["C"] == pytest.approx(statistics_median([(c.grok - 100) * 3e-3 for c in runs]))
    _, rows, _ = cal(1e-2, 0.3)
    h = hyper_of(config(1e-2, 0.3))
    assert METHODS["inverse-decay"].predict(rows, 10, h, p) == pytest.approx(100 + p["C"] / 3e-3)  # at memorisation
    assert METHODS["inverse-decay"].predict(rows, 9, h, p) is None  # before it


def statistics_median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def test_first_passage_recovers_a_run_that_obeys_it_in_another_cell():
    """Fitted on one cell, the law predicts a cell with 10x the decay exactly (to an evaluation)."""
    kw = dict(mem=150, peak=150, kappa=0.1, v_star=math.exp(7.6))  # memorised at the peak: V_m = V_peak
    p = METHODS["first-passage"].fit([cal(3e-3, 1.0, **kw)[0]])
    assert p["kappa"] == pytest.approx(0.1, rel=0.03) and p["log_v_star"] == pytest.approx(7.6, abs=0.01)
    _, rows, grok = cal(1e-2, 3.0, **kw)
    i = next(i for i, r in enumerate(rows) if r["step"] == 150)
    g = METHODS["first-passage"].predict(rows, i, hyper_of(config(1e-2, 3.0)), p)
    assert g == pytest.approx(grok, abs=10)
    # the baseline, fitted on the same run, is exact too here (delay * decay is the same in both cells)
    b = METHODS["inverse-decay"].fit([cal(3e-3, 1.0, **kw)[0]])
    assert METHODS["inverse-decay"].predict(rows, i, hyper_of(config(1e-2, 3.0)), b) == pytest.approx(grok, abs=10)


def test_first_passage_differs_from_the_baseline_when_v_at_memorisation_differs():
    p = METHODS["first-passage"].fit([cal(3e-3, 1.0, mem=150, v_star=math.exp(7.6))[0]])
    # same cell, a run whose norm peaks higher: the law predicts a longer delay, as the run does
    _, rows, grok = cal(3e-3, 1.0, mem=150, log_v_peak=8.2, v_star=math.exp(7.6))
    g = METHODS["first-passage"].predict(rows, 15, hyper_of(config()), p)
    assert g == pytest.approx(grok, abs=10)


def test_norm_rate_uses_the_measured_rate_once_past_the_peak():
    """Calibrated where kappa = 0.1, applied to a run contracting twice as fast (kappa 0.2): the
    baseline is 2x late, norm-rate is right once WINDOW evaluations have passed the peak."""
    fitted = METHODS["norm-rate"].fit([cal(3e-3, 1.0, kappa=0.1)[0]])
    assert fitted["log_drop"] == pytest.approx(0.3, abs=0.01)
    _, rows, grok = cal(3e-3, 1.0, kappa=0.2)
    h = hyper_of(config())
    peak_i = 15  # step 150
    at_peak = METHODS["norm-rate"].predict(rows, peak_i, h, fitted)
    assert at_peak == METHODS["inverse-decay"].predict(rows, peak_i, h, fitted)  # falls back at the peak
    base = METHODS["inverse-decay"].predict(rows, peak_i + WINDOW + 2, h, fitted)
    g = METHODS["norm-rate"].predict(rows, peak_i + WINDOW + 2, h, fitted)
    assert g == pytest.approx(grok, abs=10)
    assert abs(base - grok) > 100


def test_radius_rate_reads_the_last_site():
    _, rows, grok = cal(3e-3, 1.0, kappa=0.1, r_drop=0.5)
    assert radius_key(rows[0]) == "radius/hidden.1.pre"
    p = METHODS["radius-rate"].fit([CalRun(rows, hyper_of(config()), grok)])
    assert p["log_drop"] == pytest.approx(0.5, abs=0.02)
    _, fast, g2 = cal(3e-3, 1.0, kappa=0.2, r_drop=0.5)
    assert METHODS["radius-rate"].predict(fast, 25, hyper_of(config()), p) == pytest.approx(g2, abs=10)


def test_a_forecast_is_never_before_its_step_and_says_now_past_the_threshold():
    _, rows, grok = cal(3e-3, 1.0)
    h = hyper_of(config())
    p = {**METHODS["norm-rate"].fit([CalRun(rows, h, grok)]), "C": 0.001}  # a baseline far too early
    last = len(rows) - 1
    for name in METHODS:
        q = METHODS[name].fit([CalRun(rows, h, grok)])
        g = METHODS[name].predict(rows, 12, h, q)
        assert g is not None and g >= rows[12]["step"]
    assert METHODS["norm-rate"].predict(rows, last, h, p) == rows[last]["step"]  # past the threshold: now
    assert METHODS["inverse-decay"].predict(rows, 20, h, p) == rows[20]["step"]


def test_fits_are_empty_without_usable_runs():
    for name in METHODS:
        assert METHODS[name].fit([]) == {}
