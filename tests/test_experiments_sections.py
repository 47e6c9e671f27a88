from radgrok.experiments.sections import choices_grid
from radgrok.experiments.targets import plan
from radgrok.experiments.verdicts import ArmResult


def test_choices_grid_has_a_column_per_site_and_reading():
    p = plan("choices", "cpu")
    arms = {a.name: ArmResult(a.name, [None], 2500) for a in p.arms}
    arms["penalty@batch,embed,depth=2,init=0.5,site=post"] = ArmResult("x", [1200], 2500)
    del arms["penalty@sum,onehot,depth=1,init=1.0,site=pre"]
    lines = choices_grid(p, {}, arms)
    header = lines[3].split(" | ")
    assert header[1:7] == ["penalty@mean, site pre", "penalty@mean, site post", "penalty@sum, site pre",
                           "penalty@sum, site post", "penalty@batch, site pre", "penalty@batch, site post"]
    rows = {r.split(" | ")[0].lstrip("| "): r.split(" | ") for r in lines[5:]}
    assert len(rows) == 12 and all(len(r) == 8 for r in rows.values())
    assert rows["embed,depth=2,init=0.5"][6] == "1,200"
    assert rows["onehot,depth=1,init=1.0"][3] == "not run"
    assert rows["onehot,depth=1,init=1.0"][7] == "DNG (1/1, budget 2,500) |"
