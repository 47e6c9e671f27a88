import json

import pytest

from radgrok.runs import records
from radgrok.runs.config import RunConfig
from radgrok.runs.recorder import DIVERGED, STOP, Recorder
from radgrok.runs.records import Status


def _row(step: int, test_acc: float, loss: float = 1.0) -> dict:
    return {"step": step, "train_acc": 1.0, "test_acc": test_acc, "train_loss": loss, "test_loss": loss,
            "weight_norm": 1.0}


def _recorder(out=None, **flat) -> Recorder:
    return Recorder(RunConfig().replace(**{"p": 11, "eval_every": 10, "patience": 20, **flat}), out, batch=8,
                    n_train=60)


@pytest.mark.parametrize("steps, budget, accs, want", [
    (30, 0, [0.1, 0.2, 0.3], Status.DNG),       # ran its whole budget without a grok step
    (30, 100, [0.1, 0.2, 0.3], Status.CUT),     # a cap below the budget stopped it: no grok *by* step 30
    (30, 100, [0.1, 0.95, 0.97], Status.GROKKED),
])
def test_finished_writes_grokked_cut_or_dng(tmp_path, steps, budget, accs, want):
    rec = _recorder(tmp_path, steps=steps, budget=budget)
    for i, acc in enumerate(accs, start=1):
        rec.log(_row(10 * i, acc))
    s = rec.finished(steps, lambda: {})
    assert s["status"] is want
    on_disk = records.read_json(tmp_path / records.SUMMARY)
    assert on_disk["status"] == want.value and on_disk["steps_done"] == steps
    assert on_disk["budget"] == max(steps, budget) and on_disk.get("cap") == (steps if budget > steps else None)
    assert on_disk["grok_step"] == (20 if want is Status.GROKKED else None)
    assert (tmp_path / records.CHECKPOINT).exists()  # the final checkpoint precedes the final summary


def test_check_says_diverged_or_stop_and_the_summaries_say_so():
    rec = _recorder(steps=100)
    rec.log(_row(10, 0.95))
    assert rec.check(10) is None
    rec.log(_row(30, 0.96))
    assert rec.check(30) == STOP  # above the threshold since step 10, for the patience of 20 steps
    rec.log(_row(40, 0.5, loss=float("nan")))
    assert rec.check(40) == DIVERGED == Status.DIVERGED
    assert rec.diverged(40)["status"] is Status.DIVERGED and rec.interrupted(40)["status"] is Status.RUNNING


def test_started_writes_a_running_summary_then_checkpoint_zero(tmp_path):
    rec = _recorder(tmp_path, steps=100)
    rec.begin({"train": [0, 1]})
    rec.log(_row(0, 0.0))
    rec.started(lambda: {"model": {}})
    assert json.loads((tmp_path / records.SUMMARY).read_text())["status"] == "running"
    assert records.load_checkpoint(tmp_path / records.CHECKPOINT)["step"] == 0


def test_a_resume_past_a_cap_says_running_until_it_finishes(tmp_path):
    """A run cut at step 30 and resumed under a larger cap: while it trains again its summary says running at
    the checkpoint's step (not "cut" beside a metrics file that grows past it); the end writes the new status."""
    rec = _recorder(tmp_path, steps=30, budget=100)
    rec.begin({"train": [0, 1]})
    for step in (0, 10, 20, 30):
        rec.log(_row(step, 0.1))
    rec.finished(30, lambda: {"model": {}})
    assert records.read_json(tmp_path / records.SUMMARY)["status"] == "cut"
    ckpt = records.load_checkpoint(tmp_path / records.CHECKPOINT)
    again = _recorder(tmp_path, steps=60, budget=100)
    again.restore(ckpt, records.read_jsonl(tmp_path / records.METRICS))
    s = records.read_json(tmp_path / records.SUMMARY)
    assert (s["status"], s["steps_done"]) == ("running", 30)
    for step in (40, 50, 60):
        again.log(_row(step, 0.1))
    assert again.finished(60, lambda: {"model": {}})["status"] is Status.CUT
    s = records.read_json(tmp_path / records.SUMMARY)
    assert (s["status"], s["steps_done"], s["cap"]) == ("cut", 60, 60)
