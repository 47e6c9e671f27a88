import pytest

from radgrok.runs.steps import ArmResult, run_step, seed_step, seed_steps, steps_text


def test_steps_text_never_calls_a_cut_off_run_a_dng():
    assert steps_text(None) == "not run" and steps_text(ArmResult("a", [], 10)) == "not run"
    assert steps_text(ArmResult("a", [400, 600], 1000)) == "500 ± 141"
    assert steps_text(ArmResult("a", [None, 300], 1000)) == "300 (1/2 DNG, budget 1,000)"
    assert steps_text(ArmResult("a", [None, None], 1000)) == "DNG (2/2, budget 1,000)"
    cut = ArmResult("a", [None, None], 700, planned=2500, reached=[700, 900])
    assert steps_text(cut) == "no grok by step 700–900 (2/2 cut off before the budget 2,500)"
    assert seed_steps(cut) == "none by 700 (cut), none by 900 (cut)"
    # a seed cut off after it grokked is a grok step; one cut off before is a bound; one that ran out is a DNG
    mixed = ArmResult("a", [300, None, None], 700, planned=2500, reached=[700, 800, None])
    assert steps_text(mixed) == ("300 (1/3 DNG, budget 2,500; "
                                 "1/3 no grok by step 800: cut off before the budget 2,500)")
    assert seed_steps(mixed) == "300, none by 800 (cut), DNG"
    assert mixed.cut == 2 and mixed.bound_steps == [800]
    assert "DNG" not in steps_text(ArmResult("a", [None], 700, planned=2500, reached=[700]))


@pytest.mark.parametrize("summary, last_step, want", [
    ({"status": "grokked", "grok_step": 400, "steps_done": 1400}, None, "400"),
    ({"status": "dng", "grok_step": None, "steps_done": 300, "budget": 300}, None, "DNG"),
    # a cap below the budget: a bound at the step it stopped, never DNG
    ({"status": "cut", "grok_step": None, "steps_done": 300, "budget": 2500, "cap": 300}, None, "none by 300 (cut)"),
    # stopped from outside: the summary still says running (steps_done 0); its metrics reach step 700
    ({"status": "running", "grok_step": None, "steps_done": 0}, 700, "none by 700 (cut)"),
    ({"status": "diverged", "grok_step": None, "steps_done": 90}, None, "diverged"),
])
def test_run_step_is_the_seed_phrase_of_one_summary(summary, last_step, want):
    assert run_step(summary, last_step) == want


def test_one_seed_is_a_step_a_dng_or_a_bound():
    assert (seed_step(12_500), seed_step(None), seed_step(None, 700)) == ("12,500", "DNG", "none by 700 (cut)")


def test_an_arm_counts_its_seeds_from_their_summaries():
    """ArmResult.add: a DNG ran its budget; a CUT or still-running seed stopped where it did (a
    bound); a seed that crossed the threshold only at its cap's last evaluation is unconfirmed."""
    a = ArmResult("a", [], 0)
    a.add({"status": "grokked", "grok_step": 400, "steps_done": 1400, "budget": 2500})
    a.add({"status": "dng", "grok_step": None, "steps_done": 2500, "budget": 2500})
    a.add({"status": "cut", "grok_step": None, "steps_done": 900, "budget": 2500, "cap": 900})
    a.add({"status": "grokked", "grok_step": 900, "steps_done": 900, "budget": 2500, "cap": 900})
    assert a.reached == [None, None, 900, 900] and a.bound_steps == [900] and a.unconfirmed == 1
    assert (a.cut, a.planned, a.budget, a.full_budget) == (2, 2500, 900, 2500)
    assert seed_steps(a) == "400, DNG, none by 900 (cut), 900"
