"""SIGKILL a run at every kind of point where it writes its records, resume it, and compare with a run
never killed: the metrics rows must be equal exactly, the summary equal but for its timing (a stacked
batch's seeds resumed alone: to float rounding), and checkpoint.pt must be of the summary's last step.

The points are ``records.fault_point``'s (``RADGROK_KILL_AT="<point>:<n>"``: SIGKILL at the n-th
arrival). Which arrivals to kill at is drawn (seeded) from a census of one uninterrupted run, so in
the single-run test every point is hit at least once, and a new point is covered without editing this file.

Cost: a fresh process spends seconds importing torch on a shared 2-core machine, so most kills run
in processes forked from one warm "zygote" (torch imported, and a run done on one thread only, so
a fork inherits no OpenMP pool). The baseline and one kill go through the real console script.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from radgrok.runs import records

# 70 steps, evaluations every 10 and checkpoints every 20: the last checkpoint (70) is off the
# checkpoint grid, so the final checkpoint-then-summary order is exercised too.
ARGS = ["--preset", "cpu-mlp", "--p", "11", "--width", "16", "--steps", "70", "--eval-every", "10",
        "--checkpoint-every", "20", "--no-early-stop", "--threads", "1", "--quiet"]
# One stacked batch (train_many) as the sweep runs it: `radgrok sweep --batch on` hands each unit of
# stackable trials to sweep.run_unit in a worker; a re-run resumes the trials one by one with train().
STACK = dict(preset="cpu-mlp", seeds=[0, 1, 2],
             arms={"tiny": dict(p=11, width=16, steps=70, eval_every=10, checkpoint_every=20, early_stop=False,
                                lam=0.05, dtype="float64")})
TIMING = {"wall_seconds", "time", "seconds", "elapsed"}  # wall-clock fields: the only ones allowed to differ
N_KILLS, N_STACKED_KILLS = 24, 8

ZYGOTE = r"""
import contextlib, json, os, sys, traceback
import torch
import radgrok.cli
from radgrok.runs import records

torch.set_num_threads(1)  # no op ever runs on more than one thread here: a fork inherits no OpenMP pool


def do(job):
    if job["what"] == "cli":
        return radgrok.cli.main(job["argv"])
    from radgrok.experiments.sweep import grid, run_unit
    res = run_unit(grid(**job["grid"]), job["out"])
    return 0 if all(r["status"] != "failed" for r in res) else 1


for line in sys.stdin:
    job = json.loads(line)
    os.chdir(job["cwd"])
    if job.get("warm"):  # in this process: a fork then starts with every lazy import and first call done
        with open(job["log"], "a") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
            code = do(job)
        torch.set_num_threads(1)
        print(json.dumps({"returncode": code}), flush=True)
        continue
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.environ.pop(records.KILL_ENV, None)
            if job["kill"]:
                os.environ[records.KILL_ENV] = job["kill"]
            records._KILL_AT = records._read_kill_at()  # what a fresh process reads at import
            trace = []
            if job["trace"]:
                records.fault_point = trace.append  # a census of the points instead of a kill
            code = do(job)
            if job["trace"]:
                with open(job["trace"], "w") as fh:
                    json.dump(trace, fh)
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    print(json.dumps({"returncode": -sig if sig else os.WEXITSTATUS(status)}), flush=True)
"""


def _env(tmp: Path) -> dict:
    env = dict(os.environ, HOME=str(tmp / "home"), MPLCONFIGDIR=str(tmp / "mpl"), TMPDIR=str(tmp))
    env.pop(records.KILL_ENV, None)
    return env


class Zygote:
    """One warm Python process; each job runs in a fresh fork of it and reports its return code."""

    def __init__(self, tmp: Path):
        self.tmp, self.n = tmp, 0
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, cwd=tmp, env=_env(tmp))
        # The first run of a process pays for lazy imports and first calls (~1.5 s here); pay once.
        self.run("cli", argv=["train", *ARGS, "--out", str(tmp / "warm-train")], warm=True)
        self.run("unit", grid=STACK, out=str(tmp / "warm-unit"), warm=True)

    def run(self, what: str, kill: str | None = None, trace: Path | None = None, **job) -> int:
        self.n += 1
        log = self.tmp / f"job{self.n}.log"
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"what": what, "kill": kill, "trace": trace and str(trace), "log": str(log),
                                          "cwd": str(self.tmp), **job}) + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline()
        assert reply, f"the zygote died; its last job's output:\n{log.read_text() if log.exists() else ''}"
        rc = json.loads(reply)["returncode"]
        if rc not in (0, -9):
            pytest.fail(f"job {what} {job} (kill {kill}) exited {rc}:\n{log.read_text()}")
        return rc

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def zygote(tmp_path_factory):
    z = Zygote(tmp_path_factory.mktemp("zygote"))
    yield z
    z.close()


def census(trace: Path) -> Counter:
    hits = Counter(json.loads(trace.read_text()))
    # append_jsonl reaches row-half only while that point is armed (so that an unarmed append is one
    # write); it lies between row-before and row-after of every row.
    hits["metrics.jsonl:row-half"] = hits["metrics.jsonl:row-before"]
    return hits


def draw(hits: Counter, n: int, seed: int) -> list[str]:
    """``n`` distinct kill specs: each point once (at a random arrival) while n allows, then random
    arrivals of any point."""
    rng = random.Random(seed)
    picks = [f"{p}:{rng.randint(1, k)}" for p, k in sorted(hits.items())]
    rng.shuffle(picks)  # fewer kills than points: a random subset of the points
    every = [f"{p}:{i}" for p, k in sorted(hits.items()) for i in range(1, k + 1)]
    rest = [s for s in every if s not in picks]
    return picks[:n] + rng.sample(rest, max(0, n - len(picks)))


def rows(run: Path) -> list[str]:
    """metrics.jsonl's rows without wall-clock fields, as canonical JSON (NaN equals NaN)."""
    return [json.dumps({k: v for k, v in r.items() if k not in TIMING}, sort_keys=True)
            for r in records.read_jsonl(run / records.METRICS)]


def untimed(d: dict) -> dict:
    return {k: v for k, v in d.items() if k not in TIMING}


def close(a, b) -> bool:
    """Equal, floats to 1e-9 (the bound train_many keeps to train(), tests/test_training_multiseed.py)."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, dict)) and isinstance(b, type(a)) and len(a) == len(b):
        pairs = zip(a, b) if isinstance(a, list) else ((a[k], b.get(k, object())) for k in a)
        return (isinstance(a, list) or list(a) == list(b)) and all(close(x, y) for x, y in pairs)
    return a == b


def assert_like_uninterrupted(run: Path, full: Path, exact: bool = True) -> None:
    """``exact`` False: a stacked batch, whose seeds resumed alone by train() continue from a
    train_many checkpoint in train()'s kernels (equal up to float rounding, by design)."""
    got, want = records.read_json(run / records.SUMMARY), records.read_json(full / records.SUMMARY)
    if exact:
        assert rows(run) == rows(full)
        assert untimed(got) == untimed(want)
    else:
        got_rows, want_rows = records.read_jsonl(run / records.METRICS), records.read_jsonl(full / records.METRICS)
        assert [r["step"] for r in got_rows] == [r["step"] for r in want_rows]
        for g, w in zip(got_rows, want_rows):
            assert close(untimed(g), untimed(w)), (g, w)
        # "stacked" says how a seed was trained: one resumed alone by train() has none
        assert close(untimed({**got, "stacked": None}), untimed({**want, "stacked": None}))
    # the model a finished run leaves is the one its summary describes
    assert records.load_checkpoint(run / records.CHECKPOINT)["step"] == got["steps_done"]
    assert not [p.name for p in run.iterdir() if p.name.endswith(".tmp")]
    lock = run / records.LOCK
    if lock.exists():
        # Only where a seed had finished before the kill: the sweep reuses a finished run without
        # claiming it, so the killed process's lock stays, stale (the next claim takes it over).
        assert not exact and not records._pid_alive(int(lock.read_text())), lock.read_text()


def test_killed_train_resumes_to_the_uninterrupted_records(tmp_path, zygote):
    env, exe = _env(tmp_path), str(Path(sys.executable).parent / "radgrok")
    full = tmp_path / "full"
    subprocess.run([exe, "train", *ARGS, "--out", str(full)], env=env, cwd=tmp_path, check=True,
                   capture_output=True)
    # The census run, in the zygote: also shows that a forked job records what the console script does.
    assert zygote.run("cli", argv=["train", *ARGS, "--out", str(tmp_path / "census")], trace=tmp_path / "t") == 0
    assert rows(tmp_path / "census") == rows(full)
    hits = census(tmp_path / "t")
    assert {p.rsplit(":", 1)[1] for p in hits} == {"before", "temp", "rotated", "after", "row-before", "row-half",
                                                   "row-after"}
    assert hits["checkpoint.pt:rotated"] == 4  # checkpoints at 0, 20, 40, 60, 70: each but the first replaces one

    # A real process reads RADGROK_KILL_AT at import and dies by it.
    cut = tmp_path / "real"
    res = subprocess.run([exe, "train", *ARGS, "--out", str(cut)], env={**env, records.KILL_ENV:
                         "metrics.jsonl:row-half:4"}, cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == -9, res.stderr
    assert (cut / records.METRICS).read_text().count("\n") == 3  # and a 4th line cut in half
    assert zygote.run("cli", argv=["train", *ARGS, "--out", str(cut), "--resume"]) == 0
    assert_like_uninterrupted(cut, full)

    kills = draw(hits, N_KILLS, seed=14)
    assert len(set(kills)) == N_KILLS and {k.rsplit(":", 1)[0] for k in kills} == set(hits)
    # Two resumes that are themselves killed: while the metrics are cut back to the checkpoint, and
    # between the two renames of the resumed run's first checkpoint.
    again = {kills[3]: "metrics.jsonl:temp:1", kills[9]: "checkpoint.pt:rotated:1"}
    for i, kill in enumerate(kills):
        run = tmp_path / f"k{i}"
        argv = ["train", *ARGS, "--out", str(run)]
        assert zygote.run("cli", kill=kill, argv=argv) == -9, kill
        if kill in again:
            assert zygote.run("cli", kill=again[kill], argv=[*argv, "--resume"]) == -9, (kill, again[kill])
        assert zygote.run("cli", argv=[*argv, "--resume"]) == 0, kill
        try:
            assert_like_uninterrupted(run, full)
        except AssertionError as e:
            raise AssertionError(f"killed at {kill}: {e}") from None


def test_killed_stacked_batch_resumes_to_the_uninterrupted_records(tmp_path, zygote):
    full = tmp_path / "full"
    assert zygote.run("unit", grid=STACK, out=str(full), trace=tmp_path / "t") == 0
    names = sorted(p.name for p in full.iterdir())
    assert len(names) == 3 and all(records.read_json(full / n / records.SUMMARY)["stacked"] == 3 for n in names)
    hits = census(tmp_path / "t")
    for i, kill in enumerate(draw(hits, N_STACKED_KILLS, seed=4)):
        out = tmp_path / f"k{i}"
        assert zygote.run("unit", kill=kill, grid=STACK, out=str(out)) == -9, kill
        assert zygote.run("unit", grid=STACK, out=str(out)) == 0, kill
        for n in names:
            try:
                assert_like_uninterrupted(out / n, full / n, exact=False)
            except AssertionError as e:
                raise AssertionError(f"killed at {kill}, {n}: {e}") from None
