"""benchmarks/forecast_eval.py: the forecasts' preregistered evaluation (developer tooling, outside the package)."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from forecast_cases import config, law_run

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "forecast_eval.py"
_SPEC = importlib.util.spec_from_file_location("forecast_eval", _PATH)
fe = sys.modules["forecast_eval"] = importlib.util.module_from_spec(_SPEC)  # dataclasses look their module up
_SPEC.loader.exec_module(fe)

PROTO = {
    "preset": "cpu-mlp", "base": {"lam": 0.0}, "forecast_points": [{"name": "memorisation", "frac": 0},
                                                                 {"name": "half-baseline", "frac": 0.5}],
    "arms": [{"name": "plain", "overrides": {}, "calibration_cells": [{"lr": 0.003, "weight_decay": 1.0}],
              "test_cells": [{"lr": 0.01, "weight_decay": 1.0}, {"lr": 0.003, "weight_decay": 0.3}],
              "calibration_seeds": [0, 1, 2], "fresh_seeds": [100], "test_seeds": [200, 201]}],
}


def test_trials_run_round_robin_over_the_seed_index():
    ts = fe.trials(PROTO)
    assert len(ts) == 3 + 1 + 2 * 2
    assert [(t.role, t.seed) for t in ts[:4]] == [("calibration", 0), ("fresh", 100), ("test", 200), ("test", 200)]
    assert ts[0].name == "plain/lr=0.003,weight_decay=1.0-s0" and ts[0].overrides == {"lr": 0.003,
                                                                                     "weight_decay": 1.0, "seed": 0}
    assert [t.seed for t in ts[4:]] == [1, 201, 201, 2]


def fake(out, t, kappa=0.1, status="grokked"):
    lr, wd = t.overrides["lr"], t.overrides["weight_decay"]
    rows, grok = law_run(lr, wd, kappa=kappa, mem=150, peak=150, v_star=math.exp(7.6))
    d = out / t.name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps(config(lr, wd, seed=t.seed)))
    if status != "grokked":
        rows = [r for r in rows if r["step"] < grok]
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "summary.json").write_text(json.dumps({"status": status, "grok_step": grok if status == "grokked" else None,
                                                "steps_done": rows[-1]["step"]}))
    return grok


def test_score_fits_on_calibration_runs_and_keeps_censored_runs_apart(tmp_path):
    ts = fe.trials(PROTO)
    for t in ts:
        if t.name.endswith("weight_decay=0.3-s201"):
            fake(tmp_path, t, status="dng")  # censored
        elif t.role == "test" and t.cell.startswith("lr=0.01"):
            fake(tmp_path, t, kappa=0.05)  # contracts at half the calibrated rate: delay 2x
        else:
            fake(tmp_path, t, status="running" if t.seed == 2 else "grokked")  # a live run is not loaded
    res = fe.score(PROTO, tmp_path)["arms"]["plain"]
    assert res["planned"] == 8 and res["finished"] == 7
    assert res["calibration"]["runs"] == 2
    censored = {c["run"] for c in res["censored"]}
    assert censored == {"plain/lr=0.003,weight_decay=0.3-s201"}
    assert all(s["run"] not in censored for s in res["scored"])
    at_mem = {(s["run"], s["method"]): s for s in res["scored"] if s["point"] == "memorisation"}
    # the laws are exact where the run obeys the calibrated kappa, 50% short where it contracts at half of it
    fresh = at_mem[("plain/lr=0.003,weight_decay=1.0-s100", "inverse-decay")]
    assert fresh["ape"] == pytest.approx(0.0, abs=0.02) and fresh["covered"]
    slow = at_mem[("plain/lr=0.01,weight_decay=1.0-s200", "first-passage")]
    assert slow["ape"] == pytest.approx(0.5, abs=0.03) and not slow["covered"]
    rows = {(r["point"], r["role"], r["method"]): r for r in res["table"]}
    assert rows[("memorisation", "test", "inverse-decay")]["n"] == 3
    md = fe.markdown({"arms": {"plain": res}})
    assert "Censored (no grok within the budget; not scored): 1 run(s): plain/lr=0.003,weight_decay=0.3-s201" in md
    assert "| memorisation | test | inverse-decay | 3 |" in md


def test_half_baseline_point_is_outcome_free_and_skips_runs_grokked_by_then(tmp_path):
    ts = fe.trials(PROTO)
    for t in ts:
        fake(tmp_path, t, kappa=0.4 if t.role == "test" else 0.1)  # test runs grok 4x sooner than calibrated
    res = fe.score(PROTO, tmp_path)["arms"]["plain"]
    assert {g["point"] for g in res["grokked_before_point"]} == {"half-baseline"}
    assert len(res["grokked_before_point"]) == 4  # every test run grokked before half the baseline's delay
    assert not any(s["point"] == "half-baseline" and s["role"] == "test" for s in res["scored"])


def test_cli_main_lists_and_scores(tmp_path, capsys):
    proto = tmp_path / "p.json"
    proto.write_text(json.dumps(PROTO))
    for t in fe.trials(PROTO):
        fake(tmp_path / "runs", t)
    assert fe.main(["list", str(proto), "--out", str(tmp_path / "runs")]) == 0
    assert capsys.readouterr().out.count("finished") == 8
    assert fe.main(["score", str(proto), "--out", str(tmp_path / "runs"), "--report", str(tmp_path / "rep")]) == 0
    assert {p.name for p in (tmp_path / "rep").iterdir()} == {
        "results.json", "results.md", "calibration.json", "predicted_vs_actual_memorisation.png",
        "predicted_vs_actual_half-baseline.png"}


ADDENDUM = {**{k: PROTO[k] for k in ("preset", "base", "forecast_points")},
            "arms": [{"name": "extra", "overrides": {}, "calibration_cells": [{"lr": 0.003, "weight_decay": 0.3}],
                      "test_cells": [], "calibration_seeds": [0, 1], "fresh_seeds": [], "test_seeds": []}]}


def test_an_addendum_adds_arms_and_nothing_else(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps(PROTO))
    (tmp_path / "a.json").write_text(json.dumps(ADDENDUM))
    merged = fe.load_protocols([tmp_path / "p.json", tmp_path / "a.json"])
    assert [a["name"] for a in merged["arms"]] == ["plain", "extra"] and PROTO["arms"][0]["name"] == "plain"
    assert len(fe.trials(merged)) == 8 + 2 and len(fe.trials(merged, ["extra"])) == 2
    (tmp_path / "b.json").write_text(json.dumps({**ADDENDUM, "base": {"lam": 0.0, "steps": 10}}))
    with pytest.raises(SystemExit, match="differs from .* in 'base'"):
        fe.load_protocols([tmp_path / "p.json", tmp_path / "b.json"])
    with pytest.raises(SystemExit, match="reuses arm 'plain'"):
        fe.load_protocols([tmp_path / "p.json", tmp_path / "p.json"])


def test_score_reads_a_protocol_with_its_addendum_and_reports_the_laws_assumptions(tmp_path, capsys):
    (tmp_path / "p.json").write_text(json.dumps(PROTO))
    (tmp_path / "a.json").write_text(json.dumps(ADDENDUM))
    for t in fe.trials(fe.load_protocols([tmp_path / "p.json", tmp_path / "a.json"])):
        fake(tmp_path / "runs", t)
    assert fe.main(["list", str(tmp_path / "p.json"), str(tmp_path / "a.json"), "--out", str(tmp_path / "runs")]) == 0
    assert capsys.readouterr().out.count("finished") == 10
    assert fe.main(["score", str(tmp_path / "p.json"), str(tmp_path / "a.json"), "--out", str(tmp_path / "runs"),
                    "--report", str(tmp_path / "rep")]) == 0
    res = json.loads((tmp_path / "rep/results.json").read_text())
    assert list(res["arms"]) == ["plain", "extra"]
    assert [c["source"] for c in json.loads((tmp_path / "rep/calibration.json").read_text())] == [
        "protocol arm plain", "protocol arm extra"]
    # the law's runs: delay x lr x wd is the same constant in every cell, and the norm falls to the grok
    law = res["arms"]["plain"]["law"]
    cs = [x["c"] for x in law]
    assert len(law) == 8 and max(cs) / min(cs) < 1.1  # equal up to the evaluation grid
    assert all(x["norm_grok"] < x["norm_mem"] for x in law)
    md = (tmp_path / "rep/results.md").read_text()
    assert "#### The laws' assumptions per cell" in md
    row = next(ln for ln in md.splitlines() if ln.startswith("| extra | calibration |"))
    assert row.endswith("| 2 of 2 |") and "| 0.0009 |" in row


def test_unpack_extracts_every_part(tmp_path):
    import tarfile

    for t in fe.trials(PROTO)[:3]:
        fake(tmp_path / "runs", t)
    recs = tmp_path / "records"
    recs.mkdir()
    for i, t in enumerate(fe.trials(PROTO)[:3]):
        with tarfile.open(recs / f"part-{i:03d}.tgz", "w:gz") as tar:
            tar.add(tmp_path / "runs" / t.name, arcname=t.name)
    assert fe.unpack(recs, tmp_path / "out") == 3
    assert fe.score(PROTO, tmp_path / "out")["arms"]["plain"]["finished"] == 3


def test_the_committed_results_are_what_the_committed_records_give(tmp_path):
    """docs/results/forecast: results.md and calibration.json are the score step's output on the committed
    records (records/part-*.tgz) under the committed protocol and its batch-reading addendum; the README
    quotes results.md's rows."""
    from pathlib import Path

    here = Path(__file__).resolve().parents[1] / "docs/results/forecast"
    assert fe.unpack(here / "records", tmp_path) == 130 + BATCH_RUNS
    proto = fe.load_protocols([here / "protocol.json", here / "protocol-batch.json"])
    result = fe.score(proto, tmp_path)
    assert [(a, e["finished"]) for a, e in result["arms"].items()] == [("plain-wd", 90), ("act-l2", 40),
                                                                        ("batch", BATCH_RUNS)]
    md, law = fe.markdown(result), fe.law_markdown(result)
    text = (here / "results.md").read_text()
    assert text.startswith(md) and law in text
    assert json.loads((here / "calibration.json").read_text()) == [e["calibration"] for e in result["arms"].values()]
    readme = (here / "README.md").read_text()
    quoted = [ln for ln in readme.splitlines() if ln.startswith(("| memorisation |", "| half-baseline |"))]
    assert len(quoted) >= 8 + 12 and all(ln in md.splitlines() for ln in quoted)
    quoted_law = [ln for ln in readme.splitlines() if ln.startswith("| batch |")]
    assert len(quoted_law) == 8 and all(ln in law.splitlines() for ln in quoted_law)


BATCH_RUNS = 80  # the addendum's runs (protocol-batch.json), all finished


def test_the_documented_forecasts_are_what_radgrok_forecast_prints(tmp_path):
    """Every `$ radgrok forecast ...` example on the results page and the docs page is what the CLI prints
    for that committed run record today (shipped calibration included)."""
    import shlex
    from pathlib import Path

    from radgrok.report.forecast import forecast_lines

    root = Path(__file__).resolve().parents[1]
    fe.unpack(root / "docs/results/forecast/records", tmp_path)
    checked = 0
    for page in (root / "docs/results/forecast/README.md", root / "docs/site-src/forecast.md"):
        blocks = page.read_text().split("$ radgrok forecast ")[1:]
        for block in blocks:
            cmd, *printed = block.split("```")[0].rstrip("\n").splitlines()
            args = shlex.split(cmd)
            run, at = args[0], int(args[args.index("--at") + 1])
            assert run.startswith("runs/forecast-eval/")
            local = str(tmp_path / run.removeprefix("runs/forecast-eval/"))
            got = [ln.replace(local, run) for ln in forecast_lines([local], at=at)]
            assert got == printed, page.name
            checked += 1
    assert checked == 5
