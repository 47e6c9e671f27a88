from pathlib import Path

import numpy as np

from radgrok.report.plots import align_curves, plot_grok_bars
from radgrok.report.report import Run, grok_table, group_runs, report_dir, steps_budget
from radgrok.runs.config import RunConfig, to_dict
from radgrok.runs.steps import no_grok_label
from radgrok.training.loop import train


def test_align_curves_forward_fills_runs_that_stopped_early():
    a = [{"step": 0, "test_acc": 0.1}, {"step": 10, "test_acc": 0.95}]
    b = [{"step": 0, "test_acc": 0.2}, {"step": 10, "test_acc": 0.5}, {"step": 20, "test_acc": 0.7}]
    steps, vals = align_curves([a, b])
    assert steps.tolist() == [0, 10, 20]
    np.testing.assert_allclose(vals, [[0.1, 0.95, 0.95], [0.2, 0.5, 0.7]])


def test_grok_table_says_dng_only_for_a_seed_that_ran_its_budget():
    """The table's phrase is the verdicts' (runs.steps): a seed cut off before its budget is a
    bound, "none by N (cut)", never a DNG."""
    def run(seed, grok, status, steps_done, step_95=None):
        s = {"grok_step": grok, "step_95": step_95, "status": status, "budget": 1000, "steps_done": steps_done,
             "batch_size": 8, "n_train": 60, "eval_every": 10, "final": {"test_acc": 0.5}}
        return Run(dir=Path("a"), name=f"a-s{seed}", arm="a", seed=seed, summary=s, rows=[],
                   config=to_dict(RunConfig().replace(seed=seed)))

    row = grok_table({"a": [run(0, 100, "grokked", 1000, 150), run(1, 300, "grokked", 1000, 350),
                            run(2, None, "dng", 1000)]}).splitlines()[2]
    assert "| s0: 100, s1: 300, s2: DNG | 200 ± 141 (1/3 DNG, budget 1,000) | 250 ± 141 (1/3 DNG, budget 1,000) |" \
        in row
    cut = grok_table({"a": [run(0, 500, "grokked", 1000, 600), run(1, None, "cut", 700)]}).splitlines()[2]
    assert "s1: none by 700 (cut)" in cut and "1/2 no grok by step 700: cut off before the budget 1,000" in cut
    assert "DNG" not in cut
    assert "DNG (1/1, budget 1,000)" in grok_table({"a": [run(0, None, "dng", 1000)]})


def test_report_dir_from_run_records(tmp_path):
    cfg = RunConfig().replace(p=11, width=16, steps=20, eval_every=10)
    for arm, lam in (("base", 0.0), ("radial", 0.05)):
        for seed in (0, 1):
            train(cfg.replace(lam=lam, seed=seed), tmp_path / f"{arm}-s{seed}", progress=False)
    from radgrok.report.report import load_runs

    groups = group_runs(load_runs(tmp_path))
    assert sorted(groups) == ["base", "radial"] and all(len(v) == 2 for v in groups.values())
    # arm and seed are fields of the record: the seed from the recorded config, the arm from the name
    assert [(r.arm, r.seed) for r in groups["radial"]] == [("radial", 0), ("radial", 1)]
    assert groups["radial"][0].config["penalty"]["lam"] == 0.05 and groups["radial"][1].rows[-1]["step"] == 20
    md = report_dir(tmp_path)
    assert "| radial | 2 | 0.05 |" in md and "| base | 2 | 0.0 |" in md
    for png in ("accuracy.png", "radius.png", "phi_task.png"):
        assert (tmp_path / png).stat().st_size > 5000
    assert (tmp_path / "report.md").read_text() == md


def _fake_run(name, grok, budget=100, **fields):
    from pathlib import Path

    from radgrok.report.report import Run
    from radgrok.runs.config import to_dict
    from radgrok.runs.records import arm_of

    return Run(dir=Path(name), name=name, arm=arm_of(name), seed=fields.get("seed", 0),
               config=to_dict(RunConfig().replace(**fields)),
               summary={"grok_step": grok, "budget": budget, "seed": fields.get("seed", 0)},
               rows=[{"step": 0, "test_acc": 0.0}, {"step": budget, "test_acc": 0.95 if grok else 0.1}])


def test_sweep_figures_bars_lambda_curve_and_heatmap(tmp_path):
    from radgrok.report.report import sweep_figures, varying_fields

    runs = [_fake_run(f"lam={lam},weight_decay={wd}-s{s}", g, lam=lam, weight_decay=wd, seed=s)
            for lam, wd, g in ((0.0, 1.0, 80), (0.01, 1.0, 60), (0.1, 1.0, 40), (1.0, 1.0, None),
                               (0.01, 0.1, None), (0.1, 0.1, 90))
            for s in (0, 1)]
    assert varying_fields(runs) == ["lam", "weight_decay"]
    names = sorted(f.name for f in sweep_figures(runs, tmp_path))
    assert names == ["grok_heatmap.png", "grok_steps.png", "lambda_curve.png"]
    assert all((tmp_path / n).stat().st_size > 5000 for n in names)
    one = [_fake_run("a-s0", 10), _fake_run("a-s1", None)]  # nothing swept: bars only
    assert [f.name for f in sweep_figures(one, tmp_path / "..", prefix="x_")] == ["x_grok_steps.png"]


def test_figures_tell_a_cut_off_seed_from_a_dng(tmp_path):
    def run(seed, grok, status, budget):
        return Run(dir=tmp_path, name=f"a-s{seed}", arm="a", seed=seed, config={}, rows=[],
                   summary={"grok_step": grok, "status": status, "budget": budget, "steps_done": min(budget, 700)})
    runs = [run(0, 300, "grokked", 1000), run(1, None, "dng", 1000), run(2, None, "cut", 5000)]
    steps, budget, cut = steps_budget(runs)
    assert steps == [300, None, None] and budget == 1000 and cut == 1
    assert no_grok_label(steps, cut) == "1/3 DNG, 1/3 cut off"
    assert no_grok_label([None, None], 2) == "2/2 cut off" and no_grok_label([None, 5]) == "1/2 DNG"
    assert no_grok_label([1, 2]) == ""
    assert plot_grok_bars({"a": (steps, budget, cut), "b": ([200], 1000)}, tmp_path / "g.png").stat().st_size > 0


def test_no_lambda_curve_past_the_lines_a_legend_can_show(tmp_path):
    from radgrok.report.report import MAX_CURVE_LINES, sweep_figures

    def runs(cells):  # lam 0.01 and 0.1 in each of ``cells`` train fractions: one curve per fraction
        return [_fake_run(f"lam={lam},f={f}-s0", 50, lam=lam, train_frac=f)
                for lam in (0.01, 0.1) for f in (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)[:cells]]

    assert "lambda_curve.png" in [f.name for f in sweep_figures(runs(MAX_CURVE_LINES), tmp_path)]
    assert "lambda_curve.png" not in [f.name for f in sweep_figures(runs(MAX_CURVE_LINES + 1), tmp_path)]
