import csv

import pytest

from radgrok.experiments.sweep import Trial, grid, run_sweep
from radgrok.runs import records
from radgrok.runs.config import ConfigError

FIXED = dict(p=11, width=16, steps=30, eval_every=10)


def test_grid_expands_fields_times_seeds_and_validates_first():
    trials = grid("cpu-mlp", {"lam": [0.0, 0.05], "weight_decay": [0.1, 1.0]}, seeds=[0, 1])
    assert len(trials) == 8 and len({t.name for t in trials}) == 8
    assert trials[0].config().penalty.lam == 0.0
    with pytest.raises(ConfigError, match="lam"):
        grid("cpu-mlp", {"lam": [0.1, -1.0]})


def test_local_sweep_records_failures_and_resumes(tmp_path):
    arms = {"a": dict(FIXED, lam=0.0), "b": dict(FIXED, lam=0.05),
            "broken": dict(FIXED, device="cuda:99")}  # valid config, fails when the run starts
    trials = grid("cpu-mlp", arms=arms, seeds=[0, 1])
    results = run_sweep(trials, tmp_path, workers=2, verbose=False)
    status = {t.name: r["status"] for t, r in zip(trials, results)}
    assert status["broken-s0"] == status["broken-s1"] == "failed"
    assert all(status[f"{a}-s{s}"] in ("grokked", "dng") for a in "ab" for s in (0, 1))
    assert "cuda" in records.read_json(tmp_path / "broken-s0" / "error.json")["error"].lower()
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    assert len(rows) == 6 and {r["arm"] for r in rows} == {"a", "b", "broken"}

    # an interrupted trial (summary says running) is completed, finished ones are reused
    kept = (tmp_path / "a-s0" / "summary.json").stat().st_mtime_ns
    s = records.read_json(tmp_path / "b-s1" / "summary.json")
    records.write_json(tmp_path / "b-s1" / "summary.json", dict(s, status="running"))
    again = run_sweep(trials[:4], tmp_path, workers=1, verbose=False)
    assert (tmp_path / "a-s0" / "summary.json").stat().st_mtime_ns == kept
    assert again[3]["status"] in ("grokked", "dng") and again[3]["final"] == s["final"]


def test_a_run_cut_at_a_larger_cap_is_kept_and_one_cut_at_a_smaller_cap_resumes(tmp_path):
    """A stage with a small --steps cap after a longer one must not re-enter the longer run: its
    records (the cap, the config's steps) stay as they are; a run cut below the cap is resumed to it."""
    trials = grid("cpu-mlp", arms={"a": dict(FIXED, budget=80, steps=40)}, seeds=[0])
    run_sweep(trials, tmp_path, workers=1, verbose=False)
    s = records.read_json(tmp_path / "a-s0" / "summary.json")
    assert (s["status"], s["cap"], s["steps_done"]) == ("cut", 40, 40)
    files = {n: (tmp_path / "a-s0" / n).read_bytes() for n in ("summary.json", "config.json", "metrics.jsonl")}
    shorter = grid("cpu-mlp", arms={"a": dict(FIXED, budget=80, steps=20)}, seeds=[0])
    run_sweep(shorter, tmp_path, workers=1, verbose=False)
    assert {n: (tmp_path / "a-s0" / n).read_bytes() for n in files} == files
    longer = grid("cpu-mlp", arms={"a": dict(FIXED, budget=80, steps=60)}, seeds=[0])
    run_sweep(longer, tmp_path, workers=1, verbose=False)
    assert records.read_json(tmp_path / "a-s0" / "summary.json")["steps_done"] > 40


def test_trial_names():
    assert Trial("cpu-mlp", (("lam", 0.1),), 2).name == "lam=0.1-s2"
    assert Trial("cpu-mlp", (), 0, label="radial").name == "radial-s0"
    assert Trial("cpu-mlp", (), 0).name == "cpu-mlp-s0"


def _sweep_killed_at(out, arms: dict, point: str, batch: str = "off") -> None:
    """Run a sweep of ``arms`` in a process group of its own that SIGKILLs itself whole (driver and
    worker, as ``kill -9 -PGID``) at the write ``point`` ("<file>:<where>:<n>", records.fault_point):
    the directories it leaves are the same on any machine at any load, where a kill after a sleep
    lands wherever the run happens to be."""
    import os
    import signal
    import subprocess
    import sys
    from contextlib import suppress

    code = ("import sys; from radgrok.experiments.sweep import grid, run_sweep; "
            f"run_sweep(grid('cpu-mlp', arms={arms!r}, seeds=[0]), sys.argv[1], workers=1, verbose=False, "
            f"batch={batch!r})")
    env = dict(os.environ, **{records.KILL_ENV: point, records.KILL_GROUP_ENV: "1"})
    proc = subprocess.Popen([sys.executable, "-c", code, str(out)], env=env, start_new_session=True)
    try:
        assert proc.wait(timeout=300) == -signal.SIGKILL, "the sweep ended before its kill point"
    finally:
        with suppress(ProcessLookupError):  # gone already, unless the wait timed out
            os.killpg(proc.pid, signal.SIGKILL)


def test_killed_sweep_keeps_finished_trials_and_a_rerun_completes_the_rest(tmp_path):
    """SIGKILL the whole sweep (driver and its worker) mid-trial; re-running the same sweep
    reuses the finished trials untouched and resumes the killed one from its checkpoint."""
    quick = dict(FIXED, diagnostics=False)  # checkpoint_every 1000: checkpoints at step 0 and the end only
    arms = {"a": dict(quick, lam=0.0), "b": dict(quick, lam=0.05),
            "long": dict(quick, steps=200, eval_every=20, checkpoint_every=20, early_stop=False)}
    # one worker runs a, b, long in turn: 2 checkpoints each for a and b, then long's at 0, 20, 40, 60
    _sweep_killed_at(tmp_path, arms, "checkpoint.pt:after:8")
    assert records.load_checkpoint(tmp_path / "long-s0" / "checkpoint.pt")["step"] == 60
    assert records.read_json(tmp_path / "long-s0" / "summary.json")["status"] == "running"
    assert not (tmp_path / "results.csv").exists()
    done = {n: (tmp_path / n / "summary.json").stat().st_mtime_ns for n in ("a-s0", "b-s0")}
    assert all(records.read_json(tmp_path / n / "summary.json")["status"] in ("grokked", "dng") for n in done)

    results = run_sweep(grid("cpu-mlp", arms=arms, seeds=[0]), tmp_path, workers=1, verbose=False)
    assert all(r["status"] in ("grokked", "dng") for r in results)
    assert all((tmp_path / n / "summary.json").stat().st_mtime_ns == t for n, t in done.items())
    assert results[2]["steps_done"] == 200
    rows = records.read_jsonl(tmp_path / "long-s0" / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(0, 201, 20))  # resumed, no step logged twice
    assert (tmp_path / "results.csv").exists()


def test_a_sweep_killed_by_its_pid_leaves_no_worker_training(tmp_path):
    """kill PID of the driver alone (not its group): its worker dies with it instead of
    finishing the trial in the background."""
    import os
    import signal
    import subprocess
    import sys
    import time

    arms = {"long": dict(FIXED, diagnostics=False, steps=5000, eval_every=20, checkpoint_every=20, early_stop=False)}
    code = ("import sys; from radgrok.experiments.sweep import grid, run_sweep; "
            f"run_sweep(grid('cpu-mlp', arms={arms!r}, seeds=[0]), sys.argv[1], workers=1, verbose=False)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], start_new_session=True)
    metrics = tmp_path / "long-s0" / "metrics.jsonl"
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (metrics.exists() and metrics.stat().st_size > 0):
            time.sleep(0.05)
        assert metrics.exists(), "the worker never started training"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                os.killpg(proc.pid, 0)  # anyone left in the group the driver led?
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            raise AssertionError("a worker outlived the driver")
    finally:
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    size = metrics.stat().st_size
    time.sleep(0.5)
    assert metrics.stat().st_size == size  # nothing writes the run any more


def test_ray_and_local_backends_give_the_same_results_table(tmp_path, monkeypatch):
    """The same 4 trials through a local 2-CPU Ray instance and the process pool: one table."""
    import shutil
    import tempfile

    import ray  # noqa: F401  (in the dev extra, so the test suite always runs this)
    # Ray keeps sockets under its temp dir; a short path stays within the 107-byte socket limit.
    ray_tmp = tempfile.mkdtemp(prefix="rg", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", ray_tmp)
    try:
        trials = grid("cpu-mlp", arms={"a": dict(FIXED, lam=0.0), "b": dict(FIXED, lam=0.05)}, seeds=[0, 1])
        local = run_sweep(trials, tmp_path / "local", backend="local", workers=2, verbose=False)
        ray_res = run_sweep(trials, tmp_path / "ray", backend="ray", workers=2, verbose=False)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    drop = {"wall_seconds"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in local] == \
        [{k: v for k, v in r.items() if k not in drop} for r in ray_res]
    table = [list(csv.DictReader((tmp_path / b / "results.csv").open())) for b in ("local", "ray")]
    assert len(table[0]) == 4
    assert [{k: v for k, v in r.items() if "wall" not in k} for r in table[0]] == \
        [{k: v for k, v in r.items() if "wall" not in k} for r in table[1]]
    for t in trials:  # and every logged metric row is the same
        assert records.read_jsonl(tmp_path / "local" / t.name / records.METRICS) == \
            records.read_jsonl(tmp_path / "ray" / t.name / records.METRICS)


def test_units_batch_stackable_trials_only_where_asked():
    from radgrok.experiments.sweep import units

    arms = {"a": dict(FIXED, lam=0.0), "b": dict(FIXED, lam=0.05, weight_decay=1.0),
            "wide": dict(FIXED, width=32), "tf": dict(FIXED, arch="transformer", width=16),
            "drop": dict(FIXED, dropout=0.1)}
    trials = grid("cpu-mlp", arms=arms, seeds=[0, 1])
    assert units(trials, "off") == [[t] for t in trials]
    assert units(trials, "auto") == [[t] for t in trials]  # cpu: batching is slower here, so never by default
    on = units(trials, "on")
    # a and b differ only in per-seed values: one batch of 4; width fixes shapes: its own batch;
    # the transformer's seeds stack with each other; dropout cannot be batched at all
    assert sorted(len(u) for u in on) == [1, 1, 2, 2, 4]
    assert {t.name for u in on if len(u) == 4 for t in u} == {"a-s0", "a-s1", "b-s0", "b-s1"}
    with pytest.raises(ConfigError, match="batch"):
        units(trials, "sometimes")


def test_batched_sweep_matches_one_by_one_and_resumes_interrupted_seeds(tmp_path):
    """batch='on' trains a and b as one stacked model; its records match batch='off' (float64:
    to rounding), and a seed whose batch was cut short resumes alone from its checkpoint."""
    arms = {"a": dict(FIXED, lam=0.0, dtype="float64", steps=60, checkpoint_every=10),
            "b": dict(FIXED, lam=0.05, weight_decay=1.0, dtype="float64", steps=60, checkpoint_every=10)}
    trials = grid("cpu-mlp", arms=arms, seeds=[0, 1])
    off = run_sweep(trials, tmp_path / "off", workers=1, verbose=False, batch="off")
    on = run_sweep(trials, tmp_path / "on", workers=1, verbose=False, batch="on")
    assert [r["grok_step"] for r in on] == [r["grok_step"] for r in off]
    assert [r.get("stacked") for r in on] == [4] * 4 and all("stacked" not in r for r in off)
    for t in trials:
        ra = records.read_jsonl(tmp_path / "on" / t.name / records.METRICS)
        rb = records.read_jsonl(tmp_path / "off" / t.name / records.METRICS)
        assert [r["step"] for r in ra] == [r["step"] for r in rb]
        assert ra[-1]["train_loss"] == pytest.approx(rb[-1]["train_loss"], rel=1e-9)


def test_killed_batch_resumes_its_seeds_one_by_one(tmp_path):
    """SIGKILL a sweep while its stacked batch trains; the re-run resumes every seed alone
    from the checkpoint train_many wrote (train()'s format), logging no step twice."""
    long = dict(FIXED, diagnostics=False, steps=200, eval_every=20, checkpoint_every=20, early_stop=False)
    arms = {"a": dict(long, lam=0.0), "b": dict(long, lam=0.05)}
    # the batch writes both seeds' checkpoints at steps 0, 20, 40: killed once both hold step 40
    _sweep_killed_at(tmp_path, arms, "checkpoint.pt:after:6", batch="on")
    for n in ("a-s0", "b-s0"):
        assert records.load_checkpoint(tmp_path / n / "checkpoint.pt")["step"] == 40
        assert records.read_json(tmp_path / n / "summary.json")["status"] == "running"
    results = run_sweep(grid("cpu-mlp", arms=arms, seeds=[0]), tmp_path, workers=1, verbose=False, batch="on")
    assert [r["steps_done"] for r in results] == [200, 200]
    for n in ("a-s0", "b-s0"):
        assert [r["step"] for r in records.read_jsonl(tmp_path / n / "metrics.jsonl")] == list(range(0, 201, 20))


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the message a CPU-only machine gives")
def test_cuda_sweep_without_cuda_fails_in_one_line_before_any_directory(tmp_path):
    from radgrok.cli import main

    assert main(["sweep", "--device", "cuda", "--out", str(tmp_path / "s")]) == 2
    assert main(["reproduce", "table2", "--device", "cuda", "--out", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "s").exists() and not (tmp_path / "r").exists()


def test_a_finished_run_left_locked_by_a_killed_writer_is_reused_and_unlocked(tmp_path):
    """A stacked batch killed after one seed finished leaves that seed's lock behind; the rerun
    reuses the finished run and releases the stale lock (a live holder would keep it)."""
    import subprocess
    import sys

    from radgrok.experiments.sweep import run_trial

    t = Trial("cpu-mlp", (("p", 11), ("width", 16), ("steps", 20), ("eval_every", 10)), 0)
    first = run_trial(t, str(tmp_path))
    assert first["status"] in records.FINISHED
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    (tmp_path / t.name / records.LOCK).write_text(dead + "\n")
    assert run_trial(t, str(tmp_path)) == first
    assert not (tmp_path / t.name / records.LOCK).exists()
