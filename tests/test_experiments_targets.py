import pytest

from radgrok.experiments import targets
from radgrok.experiments.targets import TARGETS, est_seconds, plan
from radgrok.training.config import ConfigError


@pytest.mark.parametrize("target", [t for t in TARGETS if t != "table10"])
def test_cpu_plans_fit_an_hour_on_two_workers(target):
    p = plan(target, "cpu")
    trials = p.trials()
    assert len({t.name for t in trials}) == len(trials) > 0
    assert sum(est_seconds(t) for t in trials) / 2 < 3600
    assert all(not t.preset.startswith("paper-") for t in trials)


@pytest.mark.parametrize("target", [t for t in TARGETS if t != "table10"])
def test_paper_plans_use_paper_presets_and_five_seeds(target):
    p = plan(target, "paper")
    assert p.seeds == [0, 1, 2, 3, 4]
    assert all(t.preset.startswith("paper-") for t in p.trials())


def test_table2_arms_and_budgets():
    cpu = {t.name: t.config() for t in plan("table2", "cpu").trials()}
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
        (p, f) for p in (97, 137, 211) for f in (0.6, 0.5, 0.4, 0.3)}
    assert len(plan("choices", "cpu").trials()) == 36


def test_missing_trainers_give_one_line_errors(monkeypatch):
    presets = {k: v for k, v in targets.PRESETS.items() if "charlm" not in k and "gpt" not in k}
    monkeypatch.setattr(targets, "PRESETS", presets)
    with pytest.raises(ConfigError, match=r"^reproduce table10: needs the char-LM trainer \(issue #4\)"):
        plan("table10", "cpu")
    assert any("nanoGPT row not run" in n for n in plan("table3", "cpu").notes)


def test_bad_arguments():
    with pytest.raises(ConfigError, match="target must be one of"):
        plan("table99")
    with pytest.raises(ConfigError, match="--scale must be one of"):
        plan("table2", "gpu")
    with pytest.raises(ConfigError, match="--seeds"):
        plan("table2", "cpu", 0)
