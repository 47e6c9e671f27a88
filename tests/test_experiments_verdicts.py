import pytest

from radgrok.experiments.paper import Claim
from radgrok.experiments.verdicts import ArmResult, judge, speedup_ratio

SPEED = Claim("penalty 6.3x", "speedup", arm="penalty", ref="strong-wd", ratio=6.3)


def arms(ref, arm, budget=4000):
    return {"strong-wd": ArmResult("strong-wd", ref, budget), "penalty": ArmResult("penalty", arm, budget)}


def test_speedup_verdicts_are_graded_by_direction_and_size():
    v = judge(SPEED, arms([15000] * 3, [2400, 2500, 2300], 100_000))
    assert (v.verdict, v.baseline) == ("reproduced", "strong-wd")
    v = judge(SPEED, arms([1000, 1000], [700, 700]))  # faster, but 1.43x is far from 6.3x
    assert (v.verdict, v.ratio) == ("direction only", "1.43×") and "outside 6.3× ×/÷ 2" in v.why
    v = judge(SPEED, arms([53_000], [1000], 100_000))  # much faster than the paper says: the size disagrees too
    assert v.verdict == "direction only"
    assert judge(SPEED, arms([12_600], [1000], 100_000)).verdict == "reproduced"  # 12.6 = 6.3 x 2: the edge
    assert judge(SPEED, arms([12_700], [1000], 100_000)).verdict == "direction only"
    assert judge(SPEED, arms([1000], [1000])).verdict == "not reproduced"
    v = judge(SPEED, arms([850, 800], [None, None]))  # the arm never groks: an upper bound below 1
    assert v.verdict == "not reproduced" and v.ratio.startswith("< ")
    v = judge(SPEED, arms([None], [500]))  # reference DNG: 8x is a bound, ours never grokked where the paper's did
    assert v.verdict == "direction only" and v.ratio == "> 8.00×" and "only a bound" in v.why
    assert judge(SPEED, arms([None], [300])).verdict == "direction only"  # > 13.3x: already too big
    assert judge(SPEED, arms([None], [None])).verdict == "not reproduced"
    v = judge(SPEED, {"strong-wd": ArmResult("strong-wd", [100], 10)})
    assert v.verdict == "not run" and v.ours == f"not run ({SPEED.arm})"  # only the arm without runs is named


def test_dng_counts_as_budget():
    assert speedup_ratio(ArmResult("a", [None], 1000), ArmResult("b", [None], 1000))[1] == "?"


def test_dng_groks_and_all_grok():
    dng = Claim("weak WD never groks", "dng", arm="weak")
    v = judge(dng, {"weak": ArmResult("weak", [None, None], 10)})
    assert (v.verdict, v.baseline) == ("reproduced", "budget 10")
    assert judge(dng, {"weak": ArmResult("weak", [None, 5], 10)}).verdict == "not reproduced"
    assert judge(dng, {"weak": ArmResult("weak", [5], 10)}).verdict == "not reproduced"
    allg = Claim("all grok", "all_grok", arms=("a", "b"))
    assert judge(allg, {"a": ArmResult("a", [1], 9), "b": ArmResult("b", [None], 9)}).verdict == "not reproduced"
    assert judge(allg, {"a": ArmResult("a", [1], 9), "b": ArmResult("b", [2], 9)}).verdict == "reproduced"
    # a seed that crossed 90% only at the evaluation where a cap stopped it has not held its grok: open
    at_cap = ArmResult("b", [1000, 900], 1000, planned=100_000, reached=[1000, 1000])
    v = judge(allg, {"a": ArmResult("a", [1], 9), "b": at_cap})
    assert v.verdict == "open" and v.ours == "2/3 runs grok, 1 cut before deciding"
    assert judge(Claim("b groks", "groks", arm="b"), {"b": at_cap}).verdict == "open"


def test_u_shape_and_alias():
    u = Claim("U", "u_shape", ref="lam=0.05", arms=("lam=0.01", "lam=0.05", "lam=1"))
    res = {"x0.01": ArmResult("x0.01", [800], 2000), "x0.05": ArmResult("x0.05", [300], 2000),
           "x1": ArmResult("x1", [None], 2000)}
    alias = {"lam=0.01": "x0.01", "lam=0.05": "x0.05", "lam=1": "x1"}
    assert judge(u, res, alias).verdict == "reproduced"
    # the minimum one evaluation away from the paper's lambda: U-shaped, but not where the paper puts it
    u4 = Claim("U", "u_shape", ref="lam=0.05", arms=("lam=0.001", "lam=0.01", "lam=0.05", "lam=1"))
    res4 = dict(res, x0001=ArmResult("x0001", [900], 2000), **{"x0.01": ArmResult("x0.01", [300, 400], 2000),
                                                             "x0.05": ArmResult("x0.05", [400], 2000)})
    v = judge(u4, res4, dict(alias, **{"lam=0.001": "x0001"}))
    assert (v.verdict, v.ratio) == ("direction only", "min at x0.01") and "min at x0.01 (350), not x0.05 (400)" in v.why
    res["x0.05"] = ArmResult("x0.05", [900], 2000)
    assert judge(u, res, alias).verdict == "not reproduced"  # monotone: the minimum is at an end
    none = {k: ArmResult(k, [None], 2000) for k in res}
    assert judge(u, none, alias).verdict == "not reproduced"
    cut = {k: ArmResult(k, [None], 700, planned=2000, reached=[700]) for k in res}
    assert judge(u, cut, alias).verdict == "open"


def test_direction_below_and_no_speedup():
    up = Claim("rank rises", "direction", arm="pen", ref="weak", metric="stable_rank", ratio=3.3)
    res = lambda a, b: {"weak": ArmResult("weak", [1], 1, {"stable_rank": [a]}),  # noqa: E731
                        "pen": ArmResult("pen", [1], 1, {"stable_rank": [b]})}
    assert judge(up, res(100, 400)).verdict == "reproduced"
    assert judge(up, res(100, 120)).verdict == "direction only"
    assert judge(up, res(100, 50)).verdict == "not reproduced"
    below = Claim("phi below floor", "below", arm="pen", metric="stable_rank", value=1.0, size=0.15)
    v = judge(below, res(1, 0.2))
    assert (v.verdict, v.baseline) == ("reproduced", "threshold 1")
    assert judge(below, res(1, 0.03)).verdict == "direction only"  # below the floor, 5x below the paper's 0.15
    assert judge(below, res(1, 1.2)).verdict == "not reproduced"
    lm = Claim("no gain", "no_speedup", arm="pen", ref="weak", metric="stable_rank", ratio=1.608 / 1.585, factor=1.05)
    assert judge(lm, res(1.585, 1.608)).verdict == "reproduced"
    v = judge(lm, res(2.25, 3.08))  # no gain, but 37% worse where the paper is 1.5% worse: the size disagrees
    assert (v.verdict, v.ratio) == ("direction only", "1.369×")
    assert judge(lm, res(1.6, 1.4)).verdict == "not reproduced"


def test_a_site_claim_is_judged_in_every_layer():
    per_site = Claim("phi below floor in every layer", "below", arm="pen", metric="phi_task/*", value=1.0)
    arm = lambda a, b: {"pen": ArmResult("pen", [1, 1], 1, {  # noqa: E731
        "phi_task": [(a + b) / 2] * 2, "phi_task/hidden.0.pre": [a, a], "phi_task/hidden.1.pre": [b, b]})}
    v = judge(per_site, arm(0.16, 2.5))  # fig3-cpu's penalty arm: one layer below, one above
    assert (v.verdict, v.ratio) == ("not reproduced", "1/2 layers") and "hidden.0.pre 0.16" in v.ours
    assert judge(per_site, arm(0.16, 0.3)).verdict == "reproduced"
    assert judge(per_site, arm(1.3, 2.5)).verdict == "not reproduced"
    assert judge(per_site, {"pen": ArmResult("pen", [1], 1, {"stable_rank": [1.0]})}).verdict == "not run"
    # the same runs' mean over layers (1.33) hides the layer that is below
    mean = Claim("phi below floor", "below", arm="pen", metric="phi_task", value=1.0)
    assert judge(mean, arm(0.16, 2.5)).verdict == "not reproduced"


def test_cut_off_runs_are_lower_bounds():
    from radgrok.experiments.paper import Claim
    from radgrok.experiments.verdicts import ArmResult, judge

    weak = ArmResult("weak-wd", [None, None], 39_700, planned=100_000, reached=[39_700, 39_700])
    v = judge(Claim("weak WD never groks", "dng", arm="weak-wd"), {"weak-wd": weak})
    assert v.verdict == "open" and "no grok by step 39,700 (2/2 cut off before the budget 100,000)" in v.ours
    assert "DNG" not in v.ours
    strong = ArmResult("strong-wd", [16_100, 23_100, 24_700], 100_000)
    pen = ArmResult("penalty", [None, None, None], 39_700, planned=100_000, reached=[39_700] * 3)
    v = judge(Claim("penalty 6.3x sooner", "speedup", arm="penalty", ref="strong-wd", ratio=6.3),
              {"strong-wd": strong, "penalty": pen})
    assert v.verdict == "not reproduced" and v.ratio == "< 0.54×"
    # cut off where the ratio could still exceed 1.1: open, not a verdict either way
    strong = ArmResult("strong-wd", [21_300] * 3, 100_000)
    pen = ArmResult("penalty", [None] * 3, 6_000, planned=100_000, reached=[6_000] * 3)
    v = judge(Claim("penalty 6.3x sooner", "speedup", arm="penalty", ref="strong-wd", ratio=6.3),
              {"strong-wd": strong, "penalty": pen})
    assert (v.verdict, v.ratio) == ("open", "< 3.55×")
    # the reference cut at exactly the edge (no grok by 10,000 against 1,000 = 5.0x x 2): its grok step is
    # above 10,000, so the ratio is already past the edge; one evaluation earlier it could still agree
    claim = Claim("penalty 5.0x sooner", "speedup", arm="penalty", ref="strong-wd", ratio=5.0)
    pen = ArmResult("penalty", [900, 1_000, 1_100], 100_000)
    for cut, want in ((10_000, "direction only"), (9_900, "open")):
        strong = ArmResult("strong-wd", [None] * 3, cut, planned=100_000, reached=[cut] * 3)
        assert judge(claim, {"strong-wd": strong, "penalty": pen}).verdict == want


def test_each_cut_off_seed_bounds_the_mean_at_its_own_step():
    from radgrok.experiments.paper import Claim

    # seeds cut at 39,700 (x3) and 3,000 (x2): the mean grok step is at least 25,020, not 3,000
    pen = ArmResult("penalty", [None] * 5, 3_000, planned=100_000, reached=[39_700] * 3 + [3_000] * 2)
    assert pen.floors() == [39_700] * 3 + [3_000] * 2
    strong = ArmResult("strong-wd", [16_100, 23_100, 24_700], 100_000)
    r, bound = speedup_ratio(strong, pen)
    assert bound == "<" and r == pytest.approx(21_300 / 25_020)
    v = judge(Claim("penalty 6.3x sooner", "speedup", arm="penalty", ref="strong-wd", ratio=6.3),
              {"strong-wd": strong, "penalty": pen})
    assert v.ratio == "< 0.85×" and "no grok by step 3,000–39,700 (5/5 cut off" in v.ours
    # a DNG seed counts its whole budget, a grokked seed its step, a cut one the step it reached
    mixed = ArmResult("a", [300, None, None], 700, planned=2500, reached=[700, 800, None])
    assert mixed.floors() == [300, 800, 2500]
