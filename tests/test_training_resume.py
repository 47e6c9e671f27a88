"""training/resume.py, through train(..., resume=True): what a resume accepts, refuses and falls back to."""

import pytest
import torch

from radgrok.runs import records
from radgrok.runs.config import ConfigError, RunConfig
from radgrok.training.loop import train


def tiny(**kw) -> RunConfig:  # test_training_loop's tiny run
    return RunConfig().replace(**{**dict(p=11, train_frac=0.6, width=16, depth=2, steps=60, eval_every=10,
                                         checkpoint_every=10, weight_decay=0.1, lam=0.05, early_stop=False), **kw})


def test_resume_refuses_a_different_config(tmp_path):
    train(tiny(), tmp_path / "r", progress=False, stop_after_steps=20)
    with pytest.raises(ConfigError, match="lam"):
        train(tiny(lam=0.5), tmp_path / "r", resume=True, progress=False)
    # a longer budget is allowed
    s = train(tiny(steps=80), tmp_path / "r", resume=True, progress=False)
    assert s["steps_done"] == 80
    # resuming a finished run changes nothing
    before = (tmp_path / "r" / records.METRICS).read_text()
    assert train(tiny(steps=80), tmp_path / "r", resume=True, progress=False) == s
    assert (tmp_path / "r" / records.METRICS).read_text() == before


def test_the_refusal_names_what_a_resume_may_change_and_those_changes_are_accepted(tmp_path):
    train(tiny(), tmp_path / "r", progress=False, stop_after_steps=20)
    with pytest.raises(ConfigError) as e:
        train(tiny(lr=0.5), tmp_path / "r", resume=True, progress=False)
    assert "'optim.lr'" in str(e.value)
    for name in ("steps", "budget", "early_stop", "patience", "threads", "diag"):
        assert name in str(e.value).split(";")[1]  # the message's list of what may change
    s = train(tiny(steps=40, budget=80, early_stop=True, patience=20, threads=1, diagnostics=False),
              tmp_path / "r", resume=True, progress=False)
    assert s["steps_done"] == 40


def test_resume_accepts_a_run_recorded_before_newer_config_fields(tmp_path):
    cfg = tiny()
    train(cfg, tmp_path / "r", progress=False, stop_after_steps=20)
    saved = records.read_json(tmp_path / "r" / records.CONFIG)
    del saved["config"]["methods"]  # as written by a version without this section
    del saved["config"]["task"]["val_frac"]
    records.write_json(tmp_path / "r" / records.CONFIG, saved)
    assert train(cfg, tmp_path / "r", resume=True, progress=False)["steps_done"] == 60
    with pytest.raises(ConfigError, match="grokfast"):  # a non-default value still differs
        train(tiny(grokfast="ema", steps=80), tmp_path / "r", resume=True, progress=False)


@pytest.mark.parametrize("damage", ["truncated", "killed between renames"])
def test_resume_falls_back_to_the_previous_checkpoint(tmp_path, capsys, damage):
    from radgrok.training.loop import load_final_model

    cfg = tiny(steps=40)
    train(cfg, tmp_path / "full", progress=False)
    cut = tmp_path / "cut"
    train(cfg, cut, progress=False, stop_after_steps=30)
    ckpt, prev = cut / records.CHECKPOINT, cut / records.PREV_CHECKPOINT
    assert records.load_checkpoint(ckpt)["step"] == 30 and records.load_checkpoint(prev)["step"] == 20
    if damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[:1000])
    else:  # save_checkpoint renamed checkpoint.pt aside and died before renaming the new one in
        prev.unlink()
        ckpt.rename(prev)
    capsys.readouterr()
    train(cfg, cut, resume=True, progress=False)
    err = capsys.readouterr().err.strip()
    if damage == "truncated":
        assert len(err.splitlines()) == 1 and str(ckpt) in err and str(prev) in err and "step 20" in err
    else:
        assert err == ""
    # the fallback truncated the rows past step 20 and redid them
    assert records.read_jsonl(cut / records.METRICS) == records.read_jsonl(tmp_path / "full" / records.METRICS)
    assert records.load_checkpoint(ckpt)["step"] == 40
    want = load_final_model(tmp_path / "full").state_dict()
    got = load_final_model(cut).state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_resume_with_no_loadable_checkpoint_is_one_config_error(tmp_path):
    cut = tmp_path / "cut"
    train(tiny(steps=40), cut, progress=False, stop_after_steps=30)
    for name in (records.CHECKPOINT, records.PREV_CHECKPOINT):
        (cut / name).write_bytes(b"not a checkpoint")
    before = (cut / records.METRICS).read_text()
    with pytest.raises(ConfigError, match="no checkpoint") as e:
        train(tiny(steps=40), cut, resume=True, progress=False)
    msg = str(e.value)
    assert "\n" not in msg and str(cut / records.CHECKPOINT) in msg and str(cut / records.PREV_CHECKPOINT) in msg
    assert "another --out" in msg
    assert (cut / records.METRICS).read_text() == before  # nothing was touched
    assert not (cut / records.LOCK).exists()
