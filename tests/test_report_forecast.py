import json
from pathlib import Path

import pytest

import radgrok.forecast as fc
from forecast_cases import config, law_run
from radgrok.forecast import CalRun, fit_calibration, hyper_of, save_calibrations
from radgrok.report.forecast import forecast_lines, forecast_table, read_forecast_run
from radgrok.report.report import load_run
from radgrok.runs.config import ConfigError


def write_run(d, rows, grok=None, cfg=None, summary=True):
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(cfg or config(width=64)))
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if summary:
        s = {"status": "grokked" if grok else "running", "grok_step": grok, "steps_done": rows[-1]["step"],
             "memorised_step": 100, "budget": 5000, "final": {"test_acc": rows[-1]["test_acc"]}}
        (d / "summary.json").write_text(json.dumps(s))
    return d


@pytest.fixture
def cal_file(tmp_path):
    runs = []
    for k in (0.08, 0.1, 0.12):
        rows, grok = law_run(kappa=k)
        runs.append(CalRun(rows, hyper_of(config(width=64)), grok))
    save_calibrations(tmp_path / "cal.json", [fit_calibration(runs)])
    return str(tmp_path / "cal.json")


def test_lines_per_method_beside_the_actual(tmp_path, cal_file):
    rows, grok = law_run(kappa=0.1)
    d = write_run(tmp_path / "r", rows, grok)
    out = forecast_lines([str(d)], at=200, calibration=cal_file)
    assert out[0].startswith(f"{d}: lr 0.003, wd 1; memorised at step 100; forecast from step 200:")
    assert [ln.split()[0] for ln in out[1:]] == ["inverse-decay", "first-passage", "norm-rate", "radius-rate", "actual"]
    assert out[-1].strip() == f"actual         grokked at step {grok:,}"
    one = forecast_lines([str(d)], method="norm-rate", calibration=cal_file)
    assert len(one) == 3 and "norm-rate" in one[1]


def test_a_shipped_calibration_says_how_its_methods_did_on_held_out_runs(tmp_path, cal_file):
    """A calibration that carries the evaluation's held-out errors (the shipped ones do) prints them under the
    forecast, so a user reads a forecast beside its track record; a user's own fit prints none."""
    cal = json.loads(Path(cal_file).read_text())
    cal[0]["notes"]["held_out"] = {"point": "memorisation", "runs": "test",
                                   "inverse-decay": {"n": 70, "median_ape": 0.158, "coverage": 0.86},
                                   "norm-rate": {"n": 70, "median_ape": 1.0, "coverage": 0.5}}
    (tmp_path / "shipped.json").write_text(json.dumps(cal))
    rows, grok = law_run(kappa=0.1)
    d = write_run(tmp_path / "r", rows, grok)
    out = forecast_lines([str(d)], at=200, calibration=str(tmp_path / "shipped.json"))
    assert out[-1].endswith("forecast at memorisation: inverse-decay 15.8%, norm-rate 100.0%; docs/results/forecast)")
    assert out[-2].strip().startswith("actual")
    assert not forecast_lines([str(d)], at=200, calibration=cal_file)[-1].endswith("docs/results/forecast)")


def test_a_live_run_not_yet_memorised_says_so(tmp_path, cal_file):
    rows, _ = law_run(kappa=0.1)
    d = write_run(tmp_path / "live", rows[:5], summary=False)
    (line,) = forecast_lines([str(d)], calibration=cal_file)
    assert "not memorised by step 40" in line and "no summary yet" in line


@pytest.mark.parametrize("case, match", [
    ("nodir", "is not a directory"), ("nometrics", "has no metrics.jsonl"),
    ("badjson", "config.json could not be read"),
    ("norows", "has no rows yet"), ("early", "--at: step 50 is before"), ("first", "before the first row"),
    ("uncal", "no calibration for its setting"), ("method", "--method must be one of"),
    ("calfile", "--calibration: .* does not exist"),
])
def test_bad_input_is_one_config_error_naming_it(tmp_path, cal_file, case, match):
    rows, grok = law_run(kappa=0.1)
    d = tmp_path / "r"
    args = dict(at=None, method="all", calibration=cal_file)
    if case == "nometrics":
        d.mkdir()
        (d / "config.json").write_text(json.dumps(config(width=64)))
    elif case == "badjson":
        write_run(d, rows, grok)
        (d / "config.json").write_text("{")
    elif case == "norows":
        write_run(d, rows, grok)
        (d / "metrics.jsonl").write_text("")
    elif case != "nodir":
        write_run(d, rows[3:], grok, cfg=config(width=256) if case == "uncal" else config(width=64))
    args["at"] = {"early": 50, "first": 10}.get(case)
    args["method"] = "nope" if case == "method" else "all"
    args["calibration"] = str(tmp_path / "missing.json") if case == "calfile" else cal_file
    with pytest.raises(ConfigError, match=match) as e:
        forecast_lines([str(d)], **args)
    assert "\n" not in str(e.value)


def test_read_forecast_run_keeps_a_cut_last_line(tmp_path):
    rows, grok = law_run(kappa=0.1)
    d = write_run(tmp_path / "r", rows, grok)
    with open(d / "metrics.jsonl", "a") as fh:
        fh.write('{"step": 99')
    cfg, got, summary = read_forecast_run(d)
    assert got == rows and summary["grok_step"] == grok


def test_report_table_only_for_calibrated_settings(tmp_path, cal_file, monkeypatch):
    rows, grok = law_run(kappa=0.1)
    run = load_run(write_run(tmp_path / "a-s0", rows, grok))
    assert forecast_table([run]) == ""  # radgrok ships no calibration for this synthetic setting
    cal = next(iter(fc.load_calibrations(cal_file).values()))
    monkeypatch.setitem(fc.DEFAULT_CALIBRATIONS, cal.setting, cal)
    table = forecast_table([run])
    assert "| a-s0 | 100 |" in table and f"grokked at step {grok:,}" in table
    assert table.count("\n| a-s0") == 1
