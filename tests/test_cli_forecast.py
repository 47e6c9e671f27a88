"""``radgrok forecast RUN_DIR... [--at STEP]``: what a user sees, and one line with exit 2 on bad input."""

import json
import re

import pytest

from forecast_cases import config, law_run
from radgrok.cli import main
from radgrok.forecast import CalRun, fit_calibration, hyper_of, save_calibrations


@pytest.fixture
def setup(tmp_path):
    runs = []
    for k in (0.08, 0.1, 0.12):
        rows, grok = law_run(kappa=k)
        runs.append(CalRun(rows, hyper_of(config(width=64)), grok))
    save_calibrations(tmp_path / "cal.json", [fit_calibration(runs)])
    rows, grok = law_run(kappa=0.1)
    d = tmp_path / "run"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(config(width=64)))
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path, d, grok


def test_prints_each_method_and_the_actual(setup, capsys):
    tmp, d, grok = setup
    assert main(["forecast", str(d), "--at", "200", "--calibration", str(tmp / "cal.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{d}: lr 0.003, wd 1; memorised at step 100; forecast from step 200:"
    assert len(out) == 6 and out[-1].strip() == "actual         no summary yet"


@pytest.mark.parametrize("args, match", [
    (["forecast", "{tmp}/nowhere"], "RUN_DIR: .*/nowhere is not a directory"),
    (["forecast", "{tmp}"], "RUN_DIR: .* has no config.json"),
    (["forecast", "{run}", "--at", "40", "--calibration", "{tmp}/cal.json"], "--at: step 40 is before"),
    (["forecast", "{run}", "--at", "x"], "--at must be an integer"),
    (["forecast", "{run}"], "no calibration for its setting"),
    (["forecast", "{run}", "--method", "magic", "--calibration", "{tmp}/cal.json"], "--method must be one of"),
    (["forecast", "{run}", "--calibration", "{tmp}/run/config.json"], "--calibration: calibration: .* is not a "),
])
def test_bad_input_is_one_line_and_exit_2(setup, capsys, args, match):
    tmp, d, _ = setup
    code = main([a.format(tmp=tmp, run=d) for a in args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and err.startswith("radgrok: error: ")
    assert re.search(match, err), err
