from radgrok.runs.grok import GrokTracker, grok_step

STEPS = list(range(0, 1000, 100))


def test_clean_grok():
    accs = [0.0, 0.0, 0.1, 0.5, 0.91, 0.95, 0.99, 1.0, 1.0, 1.0]
    assert grok_step(STEPS, accs) == 400


def test_crossing_then_falling_back_resets():
    accs = [0.0, 0.95, 0.97, 0.5, 0.92, 0.93, 0.9, 0.95, 0.96, 0.99]
    # 0.9 is not > 0.9: the candidate at 400 is reset, the kept run starts at 700
    assert grok_step(STEPS, accs) == 700


def test_never_or_fell_at_end():
    assert grok_step(STEPS, [0.1] * 10) is None
    assert grok_step(STEPS, [0.95] * 9 + [0.2]) is None


def test_tracker_matches_offline_definition_and_round_trips():
    accs = [0.0, 0.95, 0.97, 0.5, 0.92, 0.93, 0.9, 0.95, 0.96, 0.99]
    t = GrokTracker()
    for i, (s, a) in enumerate(zip(STEPS, accs)):
        t.update(s, train_acc=1.0 if i >= 2 else 0.5, test_acc=a)
        if i == 5:
            t = GrokTracker.from_state(t.state())
    assert t.candidate == grok_step(STEPS, accs) == 700
    assert t.memorised_at == 200
    assert t.reached_95 == 100
    assert t.held_for(900) == 200
