import pytest

from radgrok.experiments.paper import PAPER, paper_target
from radgrok.experiments.targets import TARGETS


def test_every_target_but_choices_has_published_numbers_and_claims():
    assert set(PAPER) == set(TARGETS) - {"choices"}
    for name, t in PAPER.items():
        # mechanism is radgrok's question, not a table of the paper: numbers to compare with, no claims
        assert t.setting and t.numbers and (t.claims or name == "mechanism"), name
        for c in t.claims:
            assert c.kind in {"speedup", "dng", "groks", "all_grok", "u_shape", "direction", "below", "above",
                              "no_speedup"}


def test_headline_numbers_match_the_spec():
    t2 = {n.arm: n for n in paper_target("table2").numbers}
    assert t2["weak-wd"].value is None and t2["strong-wd"].value == 15540
    assert (t2["penalty"].value, t2["penalty"].std) == (2460, 136)
    speed = next(c for c in PAPER["table2"].claims if c.kind == "speedup")
    assert round(speed.ratio, 1) == 6.3
    lam = [n.value for n in PAPER["table7"].numbers]
    assert lam == [8200, 4100, 2460, 3800, 6400, 9900]
    assert round(next(c.ratio for c in PAPER["table3"].claims if "nanoGPT" in c.name), 1) == 2.3


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(KeyError, match="table2"):
        paper_target("table99")
