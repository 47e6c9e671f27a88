import json
import os
import re

import pytest

from radgrok.runs import records


def test_append_jsonl_reads_back_and_drops_only_a_cut_last_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    records.write_jsonl(path, [])
    for step in range(3):
        records.append_jsonl(path, {"step": step, "x": step / 3})
    assert [r["step"] for r in records.read_jsonl(path)] == [0, 1, 2]
    with open(path, "a") as fh:  # a crash in the middle of an append
        fh.write('{"step": 3, "x"')
    assert [r["step"] for r in records.read_jsonl(path)] == [0, 1, 2]
    # damage anywhere but the last line is not a crash artefact: it is an error
    path.write_text('{"step": 0}\n{"step": 1\n{"step": 2}\n')
    with pytest.raises(json.JSONDecodeError):
        records.read_jsonl(path)


def test_write_json_is_atomic_and_leaves_no_temp_files(tmp_path):
    records.write_json(tmp_path / "s.json", {"a": 1})
    records.write_json(tmp_path / "s.json", {"a": 2})
    assert records.read_json(tmp_path / "s.json") == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_save_checkpoint_keeps_the_previous_one(tmp_path):
    path = tmp_path / records.CHECKPOINT
    for step in range(3):
        records.save_checkpoint(path, {"step": step})
    assert records.load_checkpoint(path)["step"] == 2
    assert records.load_checkpoint(tmp_path / records.PREV_CHECKPOINT)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([records.CHECKPOINT, records.PREV_CHECKPOINT])


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # exited and reaped: its PID names no process (until the system reuses it)
    return proc.pid


def test_claim_creates_locks_and_releases_the_run_directory(tmp_path):
    import os

    from radgrok.runs.config import ConfigError

    run = tmp_path / "a" / "run"
    with records.claim(run) as d:
        assert d == run and (run / records.LOCK).read_text() == f"{os.getpid()}\n"
        with pytest.raises(ConfigError, match=f"^out: run directory {re.escape(str(run))} is in use by process "
                                              f"{os.getpid()}$"):
            with records.claim(run):
                pass
    assert run.is_dir() and list(run.iterdir()) == []
    with pytest.raises(RuntimeError):
        with records.claim(run):
            raise RuntimeError("the body failed")
    assert list(run.iterdir()) == []
    (run / records.LOCK).write_text(f"{os.getppid()}\n")  # a live process (pytest's parent)
    with pytest.raises(ConfigError, match=f"in use by process {os.getppid()}$"):
        with records.claim(run):
            pass


@pytest.mark.parametrize("content", ["dead", "", "garbage", "undecodable", "own"])
def test_claim_takes_over_a_stale_lock(tmp_path, content):
    import os

    # empty: its writer died between creating and writing it; own: a previous process had our PID
    # (e.g. in a restarted container)
    data = {"dead": str(_dead_pid()).encode(), "own": str(os.getpid()).encode(), "undecodable": b"\xff\xfe\x00"}
    (tmp_path / records.LOCK).write_bytes(data.get(content, content.encode()))
    with records.claim(tmp_path):
        assert (tmp_path / records.LOCK).read_text() == f"{os.getpid()}\n"
    assert list(tmp_path.iterdir()) == []


def test_claim_of_a_directory_that_cannot_be_created(tmp_path):
    from radgrok.runs.config import ConfigError

    (tmp_path / "f").write_text("x")
    bad = tmp_path / "f" / "x" / "y"
    with pytest.raises(ConfigError, match=f"^out: cannot create run directory {re.escape(str(bad))}: Not a directory$"):
        with records.claim(bad):
            pass
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_run_names_round_trip_and_other_names_are_their_own_arm():
    from radgrok.runs.records import arm_of, run_name

    for arm in ("penalty", "penalty@batch", "lam=0.05,p=97,f=0.5", "penalty-small-r", "wd=1e-3", "x-s"):
        assert arm_of(run_name(arm, 3)) == arm
    assert arm_of("my-run") == "my-run" and arm_of("run-s") == "run-s" and arm_of("a-sx") == "a-sx"


def test_fault_point_kills_at_the_nth_arrival_only_when_armed(monkeypatch):
    import signal

    kills = []
    monkeypatch.setattr(records.os, "kill", lambda pid, sig: kills.append((pid, sig)))
    monkeypatch.setattr(records, "_hits", {})
    monkeypatch.setattr(records, "_KILL_AT", None)
    for _ in range(3):
        records.fault_point("summary.json:temp")
    assert kills == [] and records._hits == {}  # unarmed: not even counted
    monkeypatch.setattr(records, "_KILL_AT", ("summary.json:temp", 2))
    for name in ("summary.json:temp", "summary.json:after", "summary.json:temp", "summary.json:temp"):
        records.fault_point(name)
    import os

    assert kills == [(os.getpid(), signal.SIGKILL)]


@pytest.mark.parametrize("text,want", [("", None), ("checkpoint.pt:rotated:3", ("checkpoint.pt:rotated", 3)),
                                       ("x:0", ValueError), ("x", ValueError), (":2", ValueError)])
def test_kill_at_is_point_colon_n(monkeypatch, text, want):
    monkeypatch.setenv(records.KILL_ENV, text)
    if want is ValueError:
        with pytest.raises(ValueError, match=records.KILL_ENV):
            records._read_kill_at()
    else:
        assert records._read_kill_at() == want


def test_a_row_cut_in_half_by_a_kill_is_dropped(tmp_path, monkeypatch):
    class Killed(BaseException):
        pass

    def kill(pid, sig):
        raise Killed

    path = tmp_path / records.METRICS
    records.append_jsonl(path, {"step": 0})
    monkeypatch.setattr(records.os, "kill", kill)
    monkeypatch.setattr(records, "_hits", {})
    monkeypatch.setattr(records, "_KILL_AT", ("metrics.jsonl:row-half", 1))
    with pytest.raises(Killed):
        records.append_jsonl(path, {"step": 10, "train_acc": 0.5})
    text = path.read_text()
    assert text.startswith('{"step": 0}\n{"step": 10') and not text.endswith("\n")
    assert records.read_jsonl(path) == [{"step": 0}]
    records.append_jsonl(path, {"step": 20})  # not armed for a 2nd arrival: a whole line, in two writes
    assert path.read_text().endswith('{"step": 20}\n')


def test_claim_deletes_the_temp_files_a_killed_writer_left(tmp_path):
    keep = [".notes.tmp", "checkpoint.pt", ".run.lock.1.stale"]
    for name in [".checkpoint.pt.abc123.tmp", ".summary.json.x.tmp", ".metrics.jsonl.y.tmp", *keep]:
        (tmp_path / name).write_text("x")
    with records.claim(tmp_path):
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*keep, records.LOCK])


def test_records_get_the_mode_an_ordinary_write_gives(tmp_path):
    # mkstemp creates its file 0o600; a run record shared with colleagues must follow the umask
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    rec = tmp_path / "rec.json"
    records.write_json(rec, {"a": 1})
    assert rec.stat().st_mode & 0o777 == plain.stat().st_mode & 0o777
    old = os.umask(0o077)
    try:
        records.write_json(rec, {"a": 2})
        assert rec.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_status_members_are_the_strings_a_summary_holds():
    """Status is one enum whose members compare, hash, print and serialise as the words written in
    summary.json, so a summary read back from disk and one train() returns are alike."""
    S = records.Status
    assert [s.value for s in S] == ["running", "grokked", "dng", "cut", "diverged", "failed"]
    assert S.DNG == "dng" and "dng" in {S.DNG} and {"dng": 1}[S.DNG] == 1 and S("cut") is S.CUT
    assert json.dumps({"status": S.CUT}) == '{"status": "cut"}'
    assert f"{S.GROKKED}" == str(S.GROKKED) == "grokked" and f"{S.DNG:>5}" == "  dng"
    assert S.RUNNING not in records.FINISHED and S.FAILED not in records.FINISHED


@pytest.mark.parametrize("summary, cut", [
    ({"status": "cut"}, True), ({"status": "running"}, True), ({"status": "dng"}, False),
    ({"status": "grokked"}, False), ({"status": "diverged"}, False), ({}, False)])
def test_cut_off_is_a_run_stopped_before_its_budget(summary, cut):
    """A cap (CUT) or a stop from outside (still RUNNING) cut a run off; a summary written before
    statuses existed is finished."""
    assert records.cut_off(summary) is cut
