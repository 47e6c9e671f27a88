import json

import pytest

from radgrok.cli import main
from radgrok.report.early_warning import (
    early_warning_table,
    evaluate_dirs,
    fire_index,
    forecast_run,
    grok_index,
    memorised_index,
    move_index,
)
from radgrok.runs import records
from radgrok.runs.config import RunConfig, to_dict


def _rows(train, test, wnorm, phi=None):
    phi = phi or [1.0] * len(train)
    return [{"step": 50 * i, "train_acc": a, "test_acc": t, "weight_norm": w, "phi_task/hidden.0.pre": p}
            for i, (a, t, w, p) in enumerate(zip(train, test, wnorm, phi))]


GROKS = _rows(train=[0.1, 0.6, 1, 1, 1, 1, 1, 1, 1],
              test=[0.0, 0.0, 0.01, 0.01, 0.015, 0.05, 0.3, 0.95, 0.97],
              wnorm=[10, 40, 60, 61, 59, 55, 50, 45, 44],
              phi=[1.0, 0.5, 0.3, 0.35, 0.5, 0.7, 1.5, 2.0, 2.0])
NEVER = _rows(train=[0.1, 0.6, 1, 1, 1, 1, 1, 1],
              test=[0.0, 0.0, 0.01, 0.01, 0.01, 0.01, 0.02, 0.02],
              wnorm=[10, 40, 60, 61, 62, 63, 64, 65])


def test_milestones():
    assert memorised_index(GROKS) == 2
    assert move_index(GROKS) == 6  # 0.3 > max(0.1, 2 * 0.01); 0.05 is not
    assert grok_index(GROKS) == 7
    # a crossing that falls back is not a grok
    assert grok_index(_rows([1] * 3, [0.95, 0.5, 0.2], [1] * 3)) is None


def test_rules_fire_on_norm_drop_and_phi_rise():
    assert fire_index(GROKS, "wnorm") == 4  # 59 <= 0.98 * 61
    assert fire_index(GROKS, "phi") == 5  # 0.7 >= 2 * 0.3 (minimum since memorisation)
    assert fire_index(GROKS, "both") == 5
    assert fire_index(GROKS, "memorised") == 2
    assert fire_index(NEVER, "wnorm") is None and fire_index(NEVER, "phi") is None


def test_outcomes():
    r = forecast_run(GROKS, "wnorm")
    assert r["outcome"] == "hit" and r["lead_grok"] == 3 and r["lead_move"] == 2 and r["fire_step"] == 200
    assert forecast_run(GROKS, "wnorm", horizon=2)["outcome"] == "false"  # grok too far after the alarm
    assert forecast_run(NEVER, "wnorm")["outcome"] == "quiet"
    assert forecast_run(NEVER, "memorised")["outcome"] == "false"
    flat = _rows([0.1, 1, 1, 1], [0.0, 0.5, 0.95, 0.96], [10, 20, 30, 40])
    assert forecast_run(flat, "wnorm")["outcome"] == "miss"


def _write_runs(root):
    for name, rows in (("a-s0", GROKS), ("b-s0", NEVER)):
        d = root / "runs" / name
        d.mkdir(parents=True)
        records.write_json(d / "config.json", {"config": to_dict(RunConfig())})
        (d / "summary.json").write_text("{}")
        (d / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_directories_table_and_cli(tmp_path, capsys):
    _write_runs(tmp_path)
    recs = evaluate_dirs([tmp_path], rules=["wnorm"])
    assert {r["arm"]: r["outcome"] for r in recs} == {"runs/a": "hit", "runs/b": "quiet"}
    table = early_warning_table(recs)
    assert "| wnorm | runs/a | 1 | 1 | 1 | 0 | 0 | 0 | 0 | 3.0 [3..3] | 2.0 [2..2] | 1/1 |" in table
    out = tmp_path / "ew.md"
    assert main(["early-warning", str(tmp_path), "--out", str(out)]) == 0
    assert "**memorised** | **all** | 2 | 1 | 1 | 0 | 0 | 1 | 0" in out.read_text()
    assert out.read_text().strip() in capsys.readouterr().out


def test_a_run_is_judged_by_its_own_grok_threshold(tmp_path):
    d = tmp_path / "runs" / "a-s0"
    d.mkdir(parents=True)  # GROKS ends at 0.95, 0.97: above 0.9, not above 0.96 throughout
    records.write_json(d / "config.json", {"config": to_dict(RunConfig().replace(grok_threshold=0.96))})
    (d / "summary.json").write_text("{}")
    (d / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in GROKS) + "\n")
    (rec,) = evaluate_dirs([tmp_path], rules=["wnorm"])
    assert rec["grok_step"] == 400 and forecast_run(GROKS, "wnorm")["grok_step"] == 350


def test_the_rules_count_grok_steps_as_the_trainer_does():
    """grok_index is runs.grok.grok_step's step, located among the rows."""
    from radgrok.runs.grok import grok_step

    for rows in (GROKS, NEVER):
        g = grok_index(rows)
        assert (None if g is None else rows[g]["step"]) == grok_step([r["step"] for r in rows],
                                                                    [r["test_acc"] for r in rows])


@pytest.mark.parametrize("argv, says", [
    (["{missing}"], "is not a directory"),
    (["{empty}"], "no finished run"),
    (["{runs}", "--horizon", "0"], "--horizon must be"),
    (["{runs}", "--horizon", "x"], "--horizon must be an integer"),
    (["{runs}", "--out", "{missing}/t.md"], "--out"),
    (["{damaged}"], "could not be read"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, says):
    _write_runs(tmp_path / "ok")
    (tmp_path / "empty").mkdir()
    _write_runs(tmp_path / "bad")
    (tmp_path / "bad" / "runs" / "a-s0" / "config.json").write_text("{not json")
    paths = {"missing": tmp_path / "nope", "empty": tmp_path / "empty", "runs": tmp_path / "ok",
             "damaged": tmp_path / "bad"}
    assert main(["early-warning", *[a.format(**paths) for a in argv]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and "Traceback" not in err


def test_module_has_no_torch_import():
    import radgrok.report.early_warning as ew

    assert "import torch" not in open(ew.__file__).read()
