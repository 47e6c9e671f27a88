"""Hostile command lines, for every sub-command of the real parser (a new one is covered by itself):
negative, NaN, infinite and huge numbers, empty and unicode strings, NUL bytes, paths into /proc,
unknown presets and fields, words where numbers go. (Not "/" or "/proc" themselves: ``report``
would rightly walk the whole tree for runs.) ``main(argv)`` must either refuse with exit 2 and
one line on stderr naming a flag or field, leaving nothing behind in the working directory, or
accept the values, and then nothing trains: every place where work would start (one run, a pool of
trials, the benchmark) raises ``_Reached`` instead, after all of the command's own checks.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from radgrok.cli import build_parser, main
from radgrok.experiments.presets import PRESETS
from radgrok.runs.config import SECTIONS

EXAMPLES = 150  # per sub-command; the whole file stays well under a minute on 2 shared cores


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


SUBCOMMANDS = _subcommands()
# Sub-commands whose valid values reach one of the guards below (or do no work worth guarding).
# Any other, e.g. one added later, also gets an unknown flag, so argparse refuses it whatever the
# values: its flags are still converted (and must fail cleanly) but it can never start work here.
GUARDED = {"train", "presets", "demo", "sweep", "compare", "reproduce", "report", "plot", "bench"}
FIELDS = {f.name for cls in SECTIONS.values() for f in dataclasses.fields(cls)}

HOSTILE = st.one_of(
    st.sampled_from([
        "-1", "-0", "0", "1", "2", "3", "nan", "NaN", "inf", "-inf", "1e309", "-1e309", "1e-320", str(2**64),
        "9" * 50, "", " ", "\t", "\n", "🙂", "ünïcødé", "a\x00b", "\x00", "/proc/self/mem", "/proc/1/nope/x",
        "/proc/version", "/dev/null", ".", "--", "-x", "none", "None", "true", "false", "1.5", "0x1f", "1_000",
        "cpu", "cuda", "cuda:99", "mps", "x" * 300, "nope", "table2", "table7", "mechanism", "fig1",
        "lam=0,nan", "lam=", "=1", "steps=1e999", "p=1,2", "seed=-1", "arch=gpt", "penalty", "weight-decay",
    ]),
    st.sampled_from(sorted(PRESETS)),
    st.sampled_from(sorted(FIELDS)).map(lambda f: f"{f}=0,-1"),
    st.text(max_size=12),
    st.integers(-(2**70), 2**70).map(str),
    st.floats().map(repr),
)


class _Reached(Exception):
    """Raised where work would start: the command line was accepted."""


def _reached(*args, **kwargs):
    raise _Reached


@pytest.fixture
def guarded(monkeypatch, tmp_path):
    from radgrok.experiments import bench, sweep
    from radgrok.training import loop

    monkeypatch.setattr(loop, "with_threads", _reached)  # train(): after its checks, its claim and its resume
    monkeypatch.setattr(sweep, "_local", _reached)  # every trial pool: sweep, compare, demo, reproduce
    monkeypatch.setattr(sweep, "_ray", _reached)
    monkeypatch.setattr(bench, "run_bench", _reached)
    for var in ("HOME", "MPLCONFIGDIR", "TMPDIR", "WANDB_DIR"):
        (tmp_path / var).mkdir()
        monkeypatch.setenv(var, str(tmp_path / var))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    return tmp_path


def _argv(data, name: str, parser: argparse.ArgumentParser) -> list[str]:
    argv = [name]
    actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    positional = [data.draw(HOSTILE) for a in actions if not a.option_strings]
    options = [a for a in actions if a.option_strings]
    # A few flags at a time: with all of train's ~50, one of them nearly always fails to convert and
    # the checks after parsing (ranges, combinations, paths) would go untried.
    for action in data.draw(st.lists(st.sampled_from(options), max_size=4, unique_by=id)) if options else []:
        flag = data.draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:  # store_true, --x/--no-x
            argv.append(flag)
            continue
        values = st.sampled_from(list(action.choices)) | HOSTILE if action.choices else HOSTILE
        n = data.draw(st.integers(1, 3)) if action.nargs in ("+", "*") else 1
        for _ in range(data.draw(st.integers(1, 2)) if isinstance(action, argparse._AppendAction) else 1):
            argv += [flag, *(data.draw(values) for _ in range(n))]
    # positionals go last, after "--" half of the time (so a value like "-x" is a value, not a flag)
    argv += (["--"] if positional and data.draw(st.booleans()) else []) + positional
    if name not in GUARDED:
        argv.insert(1, "--no-such-flag-in-radgrok")
    return argv


def _names(parser: argparse.ArgumentParser) -> set[str]:
    """What an error may name: a flag, a positional, a config field."""
    out = set(FIELDS)
    for a in parser._actions:
        out.update(a.option_strings)
        if isinstance(a.metavar, str):  # what argparse prints for a positional that has one (RUN_DIR)
            out.add(a.metavar)
        if a.dest not in (argparse.SUPPRESS, "help"):
            out.update({a.dest, a.dest.replace("_", "-")})
    return out | {"--no-such-flag-in-radgrok"}


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_hostile_command_lines_fail_cleanly_or_reach_work(guarded, name):
    parser, names = SUBCOMMANDS[name], _names(SUBCOMMANDS[name])

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data())
    def check(data):
        argv = _argv(data, name, parser)
        cwd = Path(tempfile.mkdtemp(dir=guarded))
        here = os.getcwd()
        out, err = io.StringIO(), io.StringIO()
        os.chdir(cwd)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                rc = main(argv)
        except _Reached:
            event("accepted, stopped where work starts")
            return  # nothing trained, and a run directory it made is its own
        finally:
            os.chdir(here)
        text = err.getvalue()
        if rc == 0:
            event("accepted, done (no work to guard)")
            assert text == "", (argv, text)
            return
        event("refused")
        assert rc == 2, (argv, rc, text)
        lines = text.splitlines()
        assert len(lines) == 1 and lines[0].startswith("radgrok: error: "), (argv, text)
        # argparse names an argument it does not know by itself: that is the flag the message names
        assert any(n in lines[0] for n in names) or "error: unrecognized arguments: " in lines[0], (argv, text)
        assert _tree(cwd) == set(), (argv, text, _tree(cwd))

    check()
