"""The judging of a plan's claims on its runs, directly (test_experiments_reproduce.py checks the same through
the report's verdict table)."""

from radgrok.experiments.judging import arm_results, pooled_text, verdict
from radgrok.experiments.paper import PAPER
from radgrok.experiments.targets import plan
from radgrok.report.report import load_runs
from test_experiments_reproduce import fake_runs

F06 = "f=0.6: penalty 6.8x sooner than strong WD"


def test_a_pooled_claim_pools_only_the_moduli_where_every_arm_it_reads_ran(tmp_path):
    """At f 0.6 strong WD ran at P 97, the penalty at P 97 and 137: the claim is measured at P 97 alone, and its
    ratio is P 97's (7,000 / 433); arm_results over both P would pool the penalty to 717."""
    fake_runs(tmp_path, "table6", 3, {"strong-wd,p=97,f=0.6": [6000, 7000, 8000],
                                      "penalty@batch,p=97,f=0.6": [400, 500, 400],
                                      "penalty@batch,p=137,f=0.6": [1000, 1000, 1000]}, scale="paper")
    p = plan("table6", "paper", 3)
    runs = {r.name: r for r in load_runs(tmp_path / "runs")}
    claim = next(c for c in PAPER["table6"].claims if c.name == F06)
    alias = next(a for label, a in p.aliases if label.endswith("λ 0.05"))
    v, measured = verdict(p, runs, arm_results(p, runs), claim, alias)
    assert measured == [97]
    assert pooled_text(p, [97], 0.6) == "pooled over P 97 (P 137: not every arm run yet)"
    both = arm_results(p, runs, {"train_frac": 0.6})["penalty@batch"]
    assert sorted(both.grok_steps) == [400, 400, 500, 1000, 1000, 1000]
    assert (v.ratio, v.verdict) == ("16.15×", "direction only")
