from radgrok.experiments.paper import PAPER
from radgrok.experiments.targets import TARGETS

KINDS = {"speedup", "dng", "groks", "all_grok", "u_shape", "direction", "below", "above", "no_speedup"}


def test_every_target_but_choices_has_published_numbers_and_claims():
    assert set(PAPER) == set(TARGETS) - {"choices"}
    for name, t in PAPER.items():
        # mechanism is radgrok's question, not a table of the paper: numbers to compare with, no claims
        assert t.setting and t.numbers and (t.claims or name == "mechanism"), name
        for c in t.claims:
            assert c.kind in KINDS | {"all"}
            assert (c.kind == "all") == bool(c.parts) and all(x.kind in KINDS for x in c.parts), c.name


def test_headline_numbers_match_the_spec():
    t2 = {n.arm: n for n in PAPER["table2"].numbers}
    assert t2["weak-wd"].value is None and t2["strong-wd"].value == 15540
    assert (t2["penalty"].value, t2["penalty"].std) == (2460, 136)
    speed = next(c for c in PAPER["table2"].claims if c.kind == "speedup")
    assert round(speed.ratio, 1) == 6.3
    lam = [n.value for n in PAPER["table7"].numbers]
    assert lam == [8200, 4100, 2460, 3800, 6400, 9900]
    assert round(next(c.ratio for c in PAPER["table3"].claims if "nanoGPT" in c.name), 1) == 2.3


def test_table6s_per_fraction_sizes_are_the_papers():
    """Table 6's sizes at each fraction (f 0.5 from Table 2, f 0.3 a lower bound from the DNG at 100k and the
    slowest penalty, 26,980), and the tuned-WD row holds the penalty to the same sizes."""
    t6 = {c.name: c for c in PAPER["table6"].claims}
    every = t6["the penalty beats strong WD at every fraction"]
    assert [(c.value, round(c.ratio, 2), c.at_least) for c in every.parts] == [
        (0.6, 6.8, False), (0.5, 6.32, False), (0.4, 5.0, False), (0.3, 3.71, True)]
    tuned = next(c for n, c in t6.items() if n.startswith("the penalty beats WD tuned"))
    assert [(c.value, c.ratio, c.ref, c.arm) for c in tuned.parts] == [
        (c.value, c.ratio, "tuned-wd", "penalty,val") for c in every.parts]
    only = t6["f=0.3: strong WD fails and the penalty groks"]
    assert [(c.kind, c.arm, c.value) for c in only.parts] == [("dng", "strong-wd", 0.3), ("groks", "penalty", 0.3)]
