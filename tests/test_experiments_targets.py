import pytest

from radgrok.experiments import plans, targets
from radgrok.experiments.targets import TARGETS, est_seconds, plan
from radgrok.runs.config import ConfigError


@pytest.mark.parametrize("target", [t for t in TARGETS if t != "table10"])
def test_cpu_plans_have_unique_trials_on_cpu_presets(target):
    p = plan(target, "cpu")
    trials = p.trials()
    assert len({t.name for t in trials}) == len(trials) > 0
    assert all(not t.preset.startswith("paper-") for t in trials)


@pytest.mark.parametrize("target", [t for t in TARGETS if t not in ("table10", "mechanism")])
def test_cpu_plans_fit_an_hour_on_two_workers_without_the_reading_twins(target):
    """The reading twins multiply a plan's trials; its printed-reading part keeps the one-hour bound."""
    p = plan(target, "cpu")
    trials = [t for t in p.trials() if "@" not in t.name]
    assert sum(est_seconds(t) for t in trials) / 2 < 3600


@pytest.mark.parametrize("target", [t for t in TARGETS if t != "table10"])
def test_paper_plans_use_paper_presets_and_five_seeds(target):
    p = plan(target, "paper")
    assert p.seeds == [0, 1, 2, 3, 4]
    assert all(t.preset.startswith("paper-") for t in p.trials())


def test_table2_arms_and_budgets():
    cpu = {t.name: t.config() for t in plan("table2", "cpu").trials() if "@" not in t.name}
    assert len(cpu) == 15 and cpu["weak-wd-s0"].optim.weight_decay == 1e-3
    assert cpu["penalty-s2"].penalty.lam == 0.05 and cpu["penalty-s2"].penalty.radius_scale == 1.0
    assert {c.train.steps for c in cpu.values()} == {4000}
    paper = {t.name: t.config() for t in plan("table2", "paper").trials()}
    assert paper["strong-wd-s4"].optim.weight_decay == 0.1 and paper["penalty-s0"].model.width == 512
    assert {c.train.steps for c in paper.values()} == {100_000}


def test_table7_and_table6_grids():
    lams = sorted({t.config().penalty.lam for t in plan("table7", "paper").trials()})
    assert lams == [0.001, 0.01, 0.05, 0.1, 0.5, 1.0]
    t6 = plan("table6", "paper").trials()
    assert {(t.config().task.p, t.config().task.train_frac) for t in t6} == {
        (p, f) for p in (97, 137) for f in (0.6, 0.5, 0.4, 0.3)}
    assert len(plan("choices", "cpu").trials()) == 36 + 48  # the penalty cells under the two other readings


@pytest.mark.parametrize("scale", targets.SCALES)
def test_every_arm_of_every_target_names_a_preset_that_exists(scale):
    from radgrok.experiments.presets import PRESETS

    for target in targets.TARGETS:
        missing = {a.preset for a in plan(target, scale).arms} - set(PRESETS)
        assert not missing, f"{target} at {scale} scale names unknown presets {missing}"
    assert {a.name for a in plan("table3", scale).arms} >= {"nanogpt-strong-wd", "nanogpt-penalty"}


def test_bad_arguments():
    with pytest.raises(ConfigError, match="target must be one of"):
        plan("table99")
    with pytest.raises(ConfigError, match="--scale must be one of"):
        plan("table2", "gpu")
    with pytest.raises(ConfigError, match="--seeds"):
        plan("table2", "cpu", 0)


def test_every_printed_penalty_arm_gets_a_twin_per_reading_and_a_verdict_alias():
    p = plan("table2", "paper")
    cfgs = {t.name: t.config() for t in p.trials()}
    for reading, (want_over, want_reduce) in {"sum": ("example", "sum"), "batch": ("batch", "mean")}.items():
        c = cfgs[f"penalty@{reading}-s4"]
        assert (c.penalty.norm_over, c.penalty.reduce, c.penalty.lam) == (want_over, want_reduce, 0.05)
    assert cfgs["penalty-s0"].penalty.norm_over == "example" and cfgs["penalty-s0"].penalty.reduce == "mean"
    assert not any(n.startswith(("weak-wd@", "strong-wd@", "dropout@")) for n in cfgs)  # no penalty, no twin
    labels = dict(p.aliases)
    assert labels["reading: one Frobenius norm of the batch matrix (torch.norm(h))"] == {"penalty": "penalty@batch"}
    # the calibrated cpu arm (r = 0.1 sqrt(d)) is not the printed penalty: no twin
    assert not any(a.name.startswith("penalty-small-r@") for a in plan("table2", "cpu").arms)
    t6 = plan("table6", "cpu")  # pooled by the first field: the alias maps that too
    alias = dict(t6.aliases)["reading: one norm per example, summed over the batch"]
    assert alias["penalty"] == "penalty@sum" and "penalty@sum,p=59,f=0.6" in {a.name for a in t6.arms}
    ch = {a.name: a.config().penalty for a in plan("choices", "cpu").arms}  # 24 penalty cells, twinned twice
    assert len(ch) == 36 + 48 and ch["penalty@batch,embed,depth=2,init=0.5,site=post"].norm_over == "batch"
    assert ch["penalty@sum,onehot,depth=1,init=3.0,site=pre"].reduce == "sum"
    assert not any(n.startswith("strong-wd@") for n in ch)


def test_mechanism_arms_and_the_cap():
    p = plan("mechanism", "paper", seeds=3, cap=2000)
    c = {t.name: t.config() for t in p.trials()}
    a = c["penalty@sum,r=0.0146-s0"].penalty
    assert (a.norm_over, a.reduce) == ("example", "sum") and abs(a.radius_scale - 4704 ** -0.5) < 1e-6
    assert c["act-l2@batch-s1"].penalty.radius_scale == 0.0 and c["act-l2@batch-s1"].penalty.norm_over == "batch"
    assert c["penalty@batch,bs=256-s2"].optim.batch_size == 256
    assert {c[f"penalty@batch,r={r}-s0"].penalty.radius_scale for r in (0.5, 2)} == {0.5, 2.0}
    assert c["wd=3.0,val-s0"].task.val_frac == 0.1 and c["wd=3.0,val-s0"].penalty.lam == 0.0
    assert {x.train.steps for x in c.values()} == {2000}  # capped from the presets' 100,000
    assert p.budget(p.arms[0]) == 100_000
    with pytest.raises(ConfigError, match="--steps must be >= 1"):
        plan("table2", "cpu", cap=0)


def test_every_target_is_an_object_whose_report_parts_exist():
    from radgrok.experiments.sections import FIGURES, SECTIONS

    for name, spec in targets.TARGETS.items():
        assert set(spec.sections) <= set(SECTIONS) and set(spec.figures) <= set(FIGURES), name
    # the parts a report adds are the target's, not switches on its name
    assert targets.TARGETS["fig4"].figures == ("spectra",) and "table1_layout" in targets.TARGETS["table1"].sections
    assert not targets.TARGETS["mechanism"].readings and targets.TARGETS["choices"].readings


def test_table6_at_paper_size_runs_the_batch_reading_against_strong_and_tuned_wd():
    p = plan("table6", "paper", seeds=3, cap=30_000)
    c = {t.name: t.config() for t in p.trials()}
    assert len(c) == 2 * 4 * 11 * 3  # P x f x arms x seeds
    pen, l2 = c["penalty@batch,p=97,f=0.3-s2"], c["act-l2@batch,p=137,f=0.6-s0"]
    assert (pen.penalty.norm_over, pen.penalty.lam, pen.penalty.radius_scale, pen.optim.weight_decay) == \
        ("batch", 0.05, 1.0, 1e-3)
    assert (pen.task.p, pen.task.train_frac, pen.model.width, pen.task.val_frac) == (97, 0.3, 512, 0.0)
    assert c["lam=0.01@batch,p=97,f=0.4-s1"].penalty.lam == targets.T7_BATCH_LAM
    assert (l2.penalty.norm_over, l2.penalty.radius_scale, l2.penalty.lam) == ("batch", 0.0, 0.05)
    strong = c["strong-wd,p=97,f=0.5-s0"]
    assert (strong.penalty.lam, strong.optim.weight_decay, strong.task.val_frac) == (0.0, 0.1, 0.0)
    grid = {x.optim.weight_decay for n, x in c.items() if n.startswith("wd=") and n.endswith(",p=97,f=0.3-s0")}
    assert grid == set(plans.WD_GRID) and c["wd=3.0,val,p=97,f=0.3-s0"].task.val_frac == plans.VAL_FRAC
    assert c["wd=3.0,val,p=97,f=0.3-s0"].penalty.lam == 0.0
    pv = c["penalty@batch,val,p=137,f=0.3-s1"]
    assert (pv.task.val_frac, pv.penalty.norm_over, pv.penalty.lam) == (plans.VAL_FRAC, "batch", 0.05)
    assert {x.train.steps for x in c.values()} == {30_000} and {x.train.budget for x in c.values()} == {100_000}
    assert {x.train.patience for x in c.values()} == {300} and not any(x.diag.diagnostics for x in c.values())
    assert not any("@sum" in n or n.startswith("penalty,") for n in c)  # the first reading is not run here
    # each reading's verdict rows judge the paper's 'penalty' as that arm; the tuned row uses the split's twin
    alias = dict(p.aliases)
    assert [a.get("penalty") for a in alias.values()] == [None, "penalty@batch", "lam=0.01@batch", "act-l2@batch"]
    assert alias[next(k for k in alias if k.endswith("λ 0.05"))]["penalty,val"] == "penalty@batch,val"


def test_table7s_lambda_is_the_minimum_of_the_committed_batch_reading_curve():
    """T7_BATCH_LAM (table6's second lambda) is where the committed table7-paper runs put the batch reading's
    minimum mean grok step, so it moves if those records do."""
    import json
    import statistics
    import tarfile
    from pathlib import Path

    tgz = Path(__file__).resolve().parents[1] / "docs/results/reproduce/table7-paper/runs.tgz"
    steps: dict[float, list] = {}
    with tarfile.open(tgz) as tf:
        for m in tf.getmembers():
            run = m.name.split("/")[-2] if m.name.endswith("/summary.json") else ""
            if run.startswith("lam=") and "@batch-s" in run:
                s = json.loads(tf.extractfile(m).read())
                steps.setdefault(float(run[4:].split("@")[0]), []).append(s["grok_step"])
    assert len(steps) == 6 and all(None not in v for v in steps.values())
    assert min(steps, key=lambda lam: statistics.mean(steps[lam])) == targets.T7_BATCH_LAM
