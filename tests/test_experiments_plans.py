import doctest

from radgrok.experiments import plans
from radgrok.experiments.plans import Arm, Plan, arm_head, cell_name, matches, reading_name


def test_doctests():
    result = doctest.testmod(plans)
    assert result.failed == 0 and result.attempted >= 1


def test_a_pooled_arm_name_drops_only_its_cell():
    assert arm_head("wd=3.0,val,p=97,f=0.3") == "wd=3.0,val"
    assert arm_head("penalty@sum,p=59,f=0.6") == "penalty@sum"
    assert arm_head("penalty@batch,bs=256") == "penalty@batch,bs=256"
    assert arm_head(cell_name("act-l2@batch", 137, 0.4)) == "act-l2@batch"
    assert reading_name("penalty,p=59,f=0.6", "batch") == "penalty@batch,p=59,f=0.6"


def test_matches_takes_a_value_or_a_tuple_of_values():
    assert matches({"p": 97}, {"p": (59, 97)}) and not matches({"p": 137}, {"p": (59, 97)})
    assert matches({"p": 97, "train_frac": 0.6}, {"train_frac": 0.6})
    assert not matches({"p": 97}, {"train_frac": 0.6})


def test_a_cap_lowers_only_the_budgets_above_it_and_keeps_the_arms_own():
    arms = [Arm("short", "cpu-mlp", {"steps": 200}), Arm("long", "cpu-mlp")]
    p = Plan("x", "cpu", arms, [0, 1], cap=1000)
    assert p.capped(arms[0]) == {"steps": 200}
    assert p.capped(arms[1]) == {"steps": 1000, "budget": p.budget(arms[1])} and p.budget(arms[1]) > 1000
    assert [t.name for t in p.trials()] == ["short-s0", "short-s1", "long-s0", "long-s1"]
    assert not p.tuned and Plan("y", "cpu", [Arm("wd=1.0,val,p=97,f=0.6", "cpu-mlp")], [0]).tuned
