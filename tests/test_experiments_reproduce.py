from pathlib import Path

import pytest

from radgrok.experiments import reproduce as rep
from radgrok.experiments.sweep import run_trial
from radgrok.experiments.targets import Arm, plan

TINY = dict(p=11, width=16, steps=40, eval_every=10, patience=10)


def tiny_plan(target, scale="cpu", seeds=None, cap=None):
    """The target's plan on a tiny task; table2/table7 keep a few arms and skip the probe diagnostics."""
    p = plan(target, scale, seeds, cap)
    keep = {"table2": lambda n: n in ("weak-wd", "strong-wd", "penalty", "penalty@sum", "penalty@batch"),
            "table7": lambda n: n.endswith(("lam=0.01", "lam=0.05", "lam=1.0")) or n == "strong-wd",
            "fig4": lambda n: n in ("weak-wd", "penalty"), "fig5": lambda n: n in ("weak-wd", "penalty")}
    extra = dict(diagnostics=False) if target in ("table2", "table7") else {}
    p.arms[:] = [Arm(a.name, a.preset, {**a.overrides, **TINY, **extra}, a.seeds) for a in p.arms
                 if keep.get(target, lambda n: True)(a.name)]
    return p


def in_process(trials, out, **kw):  # the sweep engine minus its process pool: fast in tests
    return [run_trial(t, str(out)) for t in trials]


def test_dry_run_lists_trials_without_training(tmp_path, capsys):
    text = rep.reproduce("table2", "paper", dry=True, out=tmp_path / "x")
    assert "30 trials" in text and "penalty-s4" in text and "penalty@batch-s4" in text
    assert "estimated count 30" in text
    assert not (tmp_path / "x").exists()
    only = rep.reproduce("table2", "paper", dry=True, out=tmp_path / "x", only=["penalty@*-s0"])
    assert "estimated count 2 trials" in only and "penalty@sum-s0" in only and "penalty-s0" not in only
    from radgrok.training.config import ConfigError

    with pytest.raises(ConfigError, match="--only: no trial of table2 matches"):
        rep.reproduce("table2", "paper", dry=True, only=["nosuch*"])


def test_tiny_table2_end_to_end_through_the_sweep_engine(tmp_path, monkeypatch):
    monkeypatch.setattr(rep, "plan", tiny_plan)
    out = tmp_path / "t2"
    md = rep.reproduce("table2", "cpu", seeds=1, out=out, workers=2)
    assert "## Verdicts" in md and "penalty 6.3x sooner than strong WD" in md
    assert "cpu calibration" in md and "15,540" in md and "Unstated choices" in md
    assert "Grading rule (one for every target)" in md
    for png in ("accuracy.png", "grok_steps.png", "radius.png"):  # radii are logged at every evaluation
        assert (out / png).stat().st_size > 3000
    html = (out / "report.html").read_text()
    assert "base64" not in html and 'src="accuracy.png"' in html  # the PNGs beside it, not copies
    assert (out / "runs" / "results.csv").exists() and (out / "timing.json").exists()
    wall = rep.records.read_json(out / "timing.json")["wall_seconds"]
    monkeypatch.setattr(rep, "run_sweep", in_process)
    monkeypatch.setattr(rep, "_report", lambda *a: "")  # the figures were checked above
    rep.reproduce("table2", "cpu", seeds=1, out=out, workers=1)  # all reused: the timing is kept
    assert rep.records.read_json(out / "timing.json")["wall_seconds"] == wall


def test_tiny_table7_draws_the_lambda_curve(tmp_path, monkeypatch):
    monkeypatch.setattr(rep, "plan", tiny_plan)
    monkeypatch.setattr(rep, "run_sweep", in_process)
    md = rep.reproduce("table7", "cpu", seeds=1, out=tmp_path)
    assert "U-shaped" in md and (tmp_path / "lambda_curve.png").stat().st_size > 3000


@pytest.mark.parametrize("target", ["fig5", "table1", "fig4"])
def test_tiny_diagnostic_targets(tmp_path, monkeypatch, target):
    monkeypatch.setattr(rep, "plan", tiny_plan)
    monkeypatch.setattr(rep, "run_sweep", in_process)
    md = rep.reproduce(target, "cpu", seeds=1, out=tmp_path)
    assert "Diagnostics at each arm's last evaluation" in md
    if target == "fig5":
        assert "selectivity" in md and Path(tmp_path / "neuron_selectivity.png").exists()
    elif target == "fig4":
        assert (tmp_path / "fourier_over_training.png").exists() and (tmp_path / "fourier_power_final.png").exists()
        for arm in ("weak-wd", "penalty"):  # the paper's figure: frequency x step, per arm
            assert (tmp_path / f"fourier_chronology_{arm}.png").stat().st_size > 3000
            assert f"fourier_chronology_{arm}.png" in md
    else:
        assert "hessian_trace" in md and "stable_rank" in md and "Table 1 layout" in md


def test_report_only_counts_a_cut_off_run_at_the_step_it_reached(tmp_path, monkeypatch):
    monkeypatch.setattr(rep, "plan", tiny_plan)
    monkeypatch.setattr(rep, "run_sweep", in_process)
    out = tmp_path / "t2"
    from radgrok.training.config import ConfigError

    with pytest.raises(ConfigError, match="no runs"):
        rep.reproduce("table2", "cpu", seeds=1, out=out, report_only=True)
    rep.reproduce("table2", "cpu", seeds=1, out=out)
    d = out / "runs" / "weak-wd-s0"  # as if its invocation had been stopped after two evaluations
    rows = rep.records.read_jsonl(d / "metrics.jsonl")[:2]
    rep.records.write_jsonl(d / "metrics.jsonl", rows)
    rep.records.write_json(d / "summary.json", dict(rep.records.read_json(d / "summary.json"), status="running"))
    t = rep.records.read_json(out / "timing.json")  # what a stopped invocation leaves: no wall time
    rep.records.write_json(out / "timing.json", dict(t, wall_seconds=None, command="radgrok reproduce table2 --out x"))
    md = rep.reproduce("table2", "cpu", seeds=1, out=out, report_only=True,
                       command="radgrok reproduce table2 --out x --report-only")
    assert "## Runs cut off before their budget" in md and f"| weak-wd-s0 | {rows[-1]['step']:,} | 40 |" in md
    assert "wall time not recorded" in md and "radgrok reproduce table2 --out x`" in md  # the training command
    assert "1 cut off" in md and "no grok by step 10" in md
    line = next(x for x in md.splitlines() if x.startswith("| weak WD never groks"))
    assert line.startswith("| weak WD never groks | as in the paper | budget 40 | DNG |")
    assert "**open**" in line  # a cut-off "never groks" is undecided


def test_a_run_stopped_by_the_steps_cap_is_a_bound_and_each_reading_gets_its_verdict(tmp_path, monkeypatch):
    monkeypatch.setattr(rep, "plan", tiny_plan)
    monkeypatch.setattr(rep, "run_sweep", in_process)
    md = rep.reproduce("table2", "cpu", seeds=1, out=tmp_path, steps=20, only=["weak-wd-s0", "penalty*-s0"])
    assert not (tmp_path / "runs" / "strong-wd-s0").exists()  # --only: not trained, reported as not run
    assert rep.records.read_json(tmp_path / "runs" / "weak-wd-s0" / "config.json")["config"]["train"]["steps"] == 20
    s = rep.records.read_json(tmp_path / "runs" / "weak-wd-s0" / "summary.json")  # cut at the cap, both recorded
    assert (s["status"], s["cap"], s["budget"], s["steps_done"]) == ("cut", 20, 40, 20)
    # the tiny weak-wd run does not grok in 20 steps: a bound against its budget of 40, never a DNG
    assert "| weak-wd-s0 | 20 | 40 |" in md and "no grok by step 20 (1/1 cut off before the budget 40)" in md
    for label in ("as in the paper; reading: one norm per example, mean over the batch",
                  "reading: one norm per example, summed over the batch",
                  "reading: one Frobenius norm of the batch matrix (torch.norm(h))"):
        assert f"| penalty 6.3x sooner than strong WD | {label} |" in md
    # the settings table names each penalty arm's reading; arms without the penalty have none
    rows = {r.split(" | ")[0].strip("| "): r.split(" | ") for r in md.splitlines() if r.startswith("| penalty")
            or r.startswith("| weak-wd ")}
    assert rows["penalty@batch"][4] == "batch, mean" and rows["penalty@sum"][4] == "example, sum"
    assert rows["penalty"][4] == "example, mean" and rows["weak-wd"][4] == "-"


def test_a_cut_off_run_groks_only_above_its_own_threshold():
    from radgrok.report.report import Run
    from radgrok.training.config import RunConfig, to_dict

    rows = [{"step": 10 * i, "test_acc": a, "train_acc": 1.0, "train_loss": 0.1, "test_loss": 0.2}
            for i, a in enumerate([0.1, 0.92, 0.93])]
    summary = {"status": "running", "budget": 100, "grok_step": None}

    def cut(threshold: float) -> dict:
        cfg = to_dict(RunConfig().replace(grok_threshold=threshold))
        return rep._as_cut_off(Run(Path("x"), "a-s0", "a", 0, cfg, summary, rows)).summary

    assert cut(0.9)["grok_step"] == 10 and cut(0.95)["grok_step"] is None
    assert cut(0.95)["status"] == rep.CUT and (cut(0.95)["steps_done"], cut(0.95)["budget"]) == (20, 100)
