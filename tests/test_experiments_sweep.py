import csv

import pytest

from radgrok.experiments.sweep import Trial, grid, run_sweep
from radgrok.training import records
from radgrok.training.config import ConfigError

FIXED = dict(p=11, width=16, steps=30, eval_every=10)


def test_grid_expands_fields_times_seeds_and_validates_first():
    trials = grid("cpu-mlp", {"lam": [0.0, 0.05], "weight_decay": [0.1, 1.0]}, seeds=[0, 1])
    assert len(trials) == 8 and len({t.name for t in trials}) == 8
    assert trials[0].config().penalty.lam == 0.0
    with pytest.raises(ConfigError, match="lam"):
        grid("cpu-mlp", {"lam": [0.1, -1.0]})


def test_local_sweep_records_failures_and_resumes(tmp_path):
    arms = {"a": dict(FIXED, lam=0.0), "b": dict(FIXED, lam=0.05),
            "broken": dict(FIXED, device="cuda:99")}  # valid config, fails when the run starts
    trials = grid("cpu-mlp", arms=arms, seeds=[0, 1])
    results = run_sweep(trials, tmp_path, workers=2, verbose=False)
    status = {t.name: r["status"] for t, r in zip(trials, results)}
    assert status["broken-s0"] == status["broken-s1"] == "failed"
    assert all(status[f"{a}-s{s}"] in ("grokked", "dng") for a in "ab" for s in (0, 1))
    assert "cuda" in records.read_json(tmp_path / "broken-s0" / "error.json")["error"].lower()
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert len(rows) == 6 and {r["arm"] for r in rows} == {"a", "b", "broken"}

    # an interrupted trial (summary says running) is completed, finished ones are reused
    kept = (tmp_path / "a-s0" / "summary.json").stat().st_mtime_ns
    s = records.read_json(tmp_path / "b-s1" / "summary.json")
    records.write_json(tmp_path / "b-s1" / "summary.json", dict(s, status="running"))
    again = run_sweep(trials[:4], tmp_path, workers=1, verbose=False)
    assert (tmp_path / "a-s0" / "summary.json").stat().st_mtime_ns == kept
    assert again[3]["status"] in ("grokked", "dng") and again[3]["final"] == s["final"]


def test_trial_names():
    assert Trial("cpu-mlp", (("lam", 0.1),), 2).name == "lam=0.1-s2"
    assert Trial("cpu-mlp", (), 0, label="radial").name == "radial-s0"
    assert Trial("cpu-mlp", (), 0).name == "cpu-mlp-s0"
