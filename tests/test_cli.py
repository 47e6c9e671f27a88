import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from radgrok.cli import build_parser, config_from_args, main
from radgrok.runs import records

# A seconds-long run: tiny modulus and width, a few evaluations.
TINY = ["--p", "11", "--width", "16", "--steps", "40", "--eval-every", "10", "--checkpoint-every", "10", "--quiet"]


def test_train_end_to_end_writes_a_run_record(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--preset", "cpu-mlp", *TINY, "--seed", "3", "--lam", "0.1", "--out", str(out)]) == 0
    assert "status" in capsys.readouterr().out
    cfg = records.read_json(out / "config.json")["config"]
    assert cfg["train"]["seed"] == 3 and cfg["penalty"]["lam"] == 0.1 and cfg["model"]["width"] == 16
    assert cfg["optim"]["weight_decay"] == 1e-3  # from the preset
    assert len(records.read_jsonl(out / "metrics.jsonl")) == 5
    assert records.read_json(out / "summary.json")["status"] in ("grokked", "dng")
    # report reads the record back
    assert main(["report", str(out)]) == 0
    assert (out / "report.md").exists() and (out / "accuracy.png").stat().st_size > 1000


def test_presets_lists_each_with_description(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in ("paper-mlp", "cpu-mlp"):
        line = next(ln for ln in out.splitlines() if ln.startswith(name + " "))
        assert len(line.split(None, 1)[1]) > 20


@pytest.mark.parametrize("args,field", [
    (["--lam", "-0.5"], "lam"),
    (["--steps", "0"], "steps"),
    (["--steps", "-3"], "steps"),
    (["--preset", "nope"], "preset"),
    (["--seed", "abc"], "--seed"),
    (["--train-frac", "1.5"], "train_frac"),
    (["--train-frac", "0"], "train_frac"),
    (["--op", "div", "--p", "91"], "prime"),
    (["--encoding", "bits"], "--encoding"),
    (["--weight-decay", "x"], "--weight-decay"),
    # sizes no machine holds: refused before anything is built (they used to end in a traceback, a
    # segfault or an hour of building layers)
    (["--width", "2000000"], "width 2000000"),
    (["--p", "100003"], "p 100003"),
    (["--depth", "100000"], "depth 100000"),
    (["--threads", "100000"], "threads"),
])
def test_bad_input_is_one_line_no_run_dir(tmp_path, capsys, args, field):
    out = tmp_path / "run"
    assert main(["train", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("radgrok: error:") and field in err
    assert len(err.splitlines()) == 1
    assert not out.exists()


def test_unknown_module_name_is_rejected_by_the_library():
    from torch import nn

    from radgrok import RadialSuppression

    with pytest.raises(ValueError, match="hidden.9.pre"):
        RadialSuppression(nn.Sequential(nn.Linear(2, 2)), ["hidden.9.pre"], lam=0.1)


def _env(tmp_path):
    env = dict(os.environ, MPLCONFIGDIR=str(tmp_path / "mpl"), HOME=str(tmp_path))
    return env


def test_help_does_not_import_torch(tmp_path):
    code = "import sys; from radgrok.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(tmp_path))
    assert res.stdout.strip() == "False"


def test_console_script_bad_input_has_no_traceback(tmp_path):
    exe = Path(sys.executable).parent / "radgrok"
    res = subprocess.run([str(exe), "train", "--lam", "-1", "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, env=_env(tmp_path))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip() == "radgrok: error: lam must be >= 0, got -1.0"


def test_killed_process_resumes_to_the_uninterrupted_metrics(tmp_path):
    """SIGKILL a real `radgrok train` mid-run, resume it, compare with a run never killed."""
    exe = str(Path(sys.executable).parent / "radgrok")
    args = ["train", "--preset", "cpu-mlp", "--p", "23", "--width", "32", "--steps", "3000", "--eval-every", "20",
            "--checkpoint-every", "100", "--no-early-stop", "--threads", "1", "--quiet"]
    env = _env(tmp_path)
    cut = tmp_path / "cut"
    # The run kills itself right after its 4th checkpoint (steps 0, 100, 200, 300) is in place
    # (records.fault_point): polling checkpoint.pt from here would read it while the run renames it.
    kill = dict(env, **{records.KILL_ENV: "checkpoint.pt:after:4"})
    assert subprocess.run([exe, *args, "--out", str(cut)], env=kill, timeout=300).returncode == -signal.SIGKILL
    assert records.load_checkpoint(cut / "checkpoint.pt")["step"] == 300
    killed_at = records.read_jsonl(cut / "metrics.jsonl")[-1]["step"]
    assert killed_at < 3000, "the run finished before it could be killed"
    subprocess.run([exe, *args, "--out", str(cut), "--resume"], env=env, check=True, capture_output=True)
    subprocess.run([exe, *args, "--out", str(tmp_path / "full")], env=env, check=True, capture_output=True)
    full = records.read_jsonl(tmp_path / "full" / "metrics.jsonl")
    assert records.read_jsonl(cut / "metrics.jsonl") == full
    assert len(full) == 3000 // 20 + 1


def test_plot_writes_pngs_and_notes(tmp_path, capsys):
    from radgrok.cli import main

    run = tmp_path / "r"
    assert main(["train", "--p", "11", "--width", "8", "--steps", "10", "--eval-every", "10", "--quiet",
                 "--no-diagnostics", "--out", str(run)]) == 0
    (run / "checkpoint.pt").unlink()  # keep this test to one cheap figure; all five are tested elsewhere
    capsys.readouterr()
    assert main(["plot", str(run), "--out", str(tmp_path / "figs")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 5 and out[1].startswith("wrote") and out[1].endswith("radius.png")
    assert sum(line.startswith("skipped") for line in out) == 4
    assert (tmp_path / "figs" / "radius.png").exists()
    assert main(["plot", str(tmp_path / "missing")]) == 2


@pytest.mark.parametrize("args, field", [(["tableX"], "target"), (["table2", "--scale", "gpu"], "--scale"),
                                         (["table2", "--workers", "0"], "--workers"),
                                         (["table2", "--seeds", "x"], "--seeds"),
                                         (["table2", "--backend", "slurm"], "--backend"),
                                         (["table2", "--backend", "ray"], "--backend ray")])
def test_reproduce_bad_input_is_one_line_exit_2_no_out_dir(tmp_path, capsys, monkeypatch, args, field):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the ray extra were missing (never start a cluster)
    out = tmp_path / "rep"
    assert main(["reproduce", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("radgrok: error: ") and field in err and "\n" not in err
    assert not out.exists()


def test_reproduce_dry_run_lists_trials(tmp_path, capsys):
    assert main(["reproduce", "table7", "--scale", "paper", "--dry-run", "--out", str(tmp_path / "x")]) == 0
    text = capsys.readouterr().out
    assert "90 trials" in text and "lam=1.0-s4" in text and "lam=1.0@batch-s4" in text and not (tmp_path / "x").exists()


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


def test_out_that_cannot_be_created_is_one_line_nothing_left(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    out = blocker / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 2
    assert _one_error_line(capsys) == f"radgrok: error: out: cannot create run directory {out}: Not a directory"
    assert blocker.read_text() == "x" and [p.name for p in tmp_path.iterdir()] == ["file"]


def test_second_writer_of_a_run_directory_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    (out / records.LOCK).write_text(f"{os.getppid()}\n")  # as a live `radgrok train --resume` leaves it
    assert main(["train", *TINY, "--steps", "60", "--out", str(out), "--resume"]) == 2
    assert _one_error_line(capsys) == f"radgrok: error: out: run directory {out} is in use by process {os.getppid()}"
    assert records.read_json(out / records.SUMMARY)["steps_done"] == 40


@pytest.fixture(scope="module")
def interrupted_run(tmp_path_factory) -> Path:
    """A run directory as a kill at step 30 leaves it (checkpoints at 20 and 30)."""
    from radgrok.training.loop import train

    out = tmp_path_factory.mktemp("interrupted") / "run"
    ns = build_parser().parse_args(["train", *TINY, "--out", str(out)])
    train(config_from_args(ns), out, progress=False, stop_after_steps=30)
    return out


@pytest.mark.parametrize("name", ["config.json", "split.json", "metrics.jsonl", "summary.json",
                                  "checkpoint.pt+checkpoint.prev.pt"])
@pytest.mark.parametrize("damage", ["missing", "damaged"])
def test_resume_with_a_damaged_or_missing_run_file_is_one_line(interrupted_run, tmp_path, capsys, name, damage):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(interrupted_run, out)
    for n in name.split("+"):
        if damage == "missing":
            (out / n).unlink()
        else:
            (out / n).write_text('{"step": 0, "cut')  # JSON cut short; no zip archive either
    assert main(["train", *TINY, "--out", str(out), "--resume"]) == 2
    err = _one_error_line(capsys)
    assert err.startswith("radgrok: error: resume: ")
    for n in name.split("+"):
        assert str(out / n) in err
    assert not (out / records.LOCK).exists()


def test_resume_takes_the_recorded_config_when_no_preset_is_named(interrupted_run, tmp_path, capsys):
    import json
    import shutil

    out = tmp_path / "run"
    shutil.copytree(interrupted_run, out)
    # the run was made from TINY's flags (p 11, width 16); the preset's defaults differ, and no flag is restated
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 0
    rows = [json.loads(line) for line in (out / records.METRICS).read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 10, 20, 30, 40]
    recorded = json.loads((out / records.CONFIG).read_text())["config"]
    assert recorded["task"]["p"] == 11 and recorded["model"]["width"] == 16
    # naming a preset still means that preset: its config differs from the record, and says so in one line
    shutil.rmtree(out)
    shutil.copytree(interrupted_run, out)
    capsys.readouterr()
    assert main(["train", "--preset", "cpu-mlp", "--out", str(out), "--resume", "--quiet"]) == 2
    assert _one_error_line(capsys).startswith("radgrok: error: resume: config differs")


@pytest.mark.parametrize("argv, err", [
    # a value quoted as given must not break the one error line (found by tests/test_cli_properties.py)
    (["report", "a\nb"], "radgrok: error: path: a\\nb does not exist"),
    (["plot", "x\x85"], "radgrok: error: run_dir: x\\x85 is not a run directory (no metrics.jsonl and config.json)"),
    # range(seeds) trials were listed before any check: an OOM kill, not an error
    (["demo", "--seeds", "99999999999"], "radgrok: error: --seeds must be in [1, 1000], got 99999999999"),
    (["reproduce", "table2", "--dry-run", "--seeds", "99999999999"], "--seeds must be in [1, 1000]"),
    (["compare", "--tune", "x"], "radgrok: error: --tune must look like FIELD=V1,V2, got 'x'"),
    # torch seeds generators with seed * 1_000_003 + step: 64 bits at most
    (["train", "--seed", str(2**50)], f"radgrok: error: seed must be an integer in [0, 2**32), got {2**50}"),
    (["train", "--split-seed", "-1"], "radgrok: error: split_seed must be an integer in [0, 2**32) or none, got -1"),
])
def test_found_by_the_property_tests(tmp_path, monkeypatch, capsys, argv, err):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    line = _one_error_line(capsys)
    assert line == err if err.startswith("radgrok") else err in line
    assert list(tmp_path.iterdir()) == []
