"""Run directories: every file is written to a temporary sibling, flushed, then renamed
over the target (``os.replace`` is atomic on POSIX), so a killed process leaves either
the old file or the new one, never half of one.

Layout of a run directory::

    config.json      the resolved RunConfig (plus radgrok and torch versions)
    split.json       the train indices of the modular split
    metrics.jsonl    one JSON object per evaluation
    summary.json     milestones and status (``Status``: running / grokked / dng / cut / diverged)
    checkpoint.pt    model, optimizer, RNG and tracker state at the last checkpoint
    checkpoint.prev.pt  the checkpoint before it (a resume falls back to it if the last does not load)
    run.lock         the PID of the process writing the directory, while it writes (see ``claim``)

Fault injection, for tests only: ``RADGROK_KILL_AT="<point>:<n>"`` in the environment
makes the process SIGKILL itself at the n-th time it reaches the named point (see
``fault_point`` for the names); with ``RADGROK_KILL_GROUP=1`` as well, the SIGKILL goes to
its whole process group (a sweep's driver and workers at once, as ``kill -9 -PGID`` sends it).
Both are read once, at import; unset (always, outside the tests), each point costs one
comparison with None.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from contextlib import contextmanager, suppress
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Iterator

from .config import ConfigError, RunConfig, from_dict

__all__ = ["atomic_write_text", "atomic_write_bytes",
           "write_json", "read_json", "write_jsonl", "append_jsonl", "read_jsonl", "read_config",
           "save_checkpoint", "load_checkpoint", "claim", "CONFIG", "METRICS", "SUMMARY", "CHECKPOINT",
           "PREV_CHECKPOINT", "SPLIT", "LOCK", "FINISHED", "Status", "cut_off", "fault_point", "KILL_ENV",
           "KILL_GROUP_ENV", "run_name", "arm_of"]

CONFIG, METRICS, SUMMARY, CHECKPOINT, PREV_CHECKPOINT, SPLIT, LOCK = (
    "config.json", "metrics.jsonl", "summary.json", "checkpoint.pt", "checkpoint.prev.pt", "split.json", "run.lock")


class Status(str, Enum):
    """The one set of run statuses. A ``summary.json`` holds one of the first five; FAILED is a
    sweep's word for a trial that raised (its ``error.json`` and its row of the results table).

    A run that ends without grokking is a DNG ("no grok within the budget") only when it ran its
    whole budget; stopped earlier by a cap (``train.steps`` below ``train.budget``) it is CUT, "no
    grok by step N", and its summary keeps both the cap and the budget. A run stopped from outside
    stays RUNNING (a report counts it as cut off: see ``cut_off``).

    Members are the strings they are written as (``Status.DNG == "dng"``, and ``json.dumps`` writes
    "dng"), so a summary read back from disk compares equal to them."""

    RUNNING = "running"
    GROKKED = "grokked"
    DNG = "dng"
    CUT = "cut"
    DIVERGED = "diverged"
    FAILED = "failed"

    # hash, print and format as the value: "dng" and Status.DNG are then one dict key or set
    # member, and f"{status}" writes "dng" on every Python (3.12 changed str-mixin enums' format)
    __hash__ = str.__hash__

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


# a summary status after which the run has nothing left to do under its steps (a CUT run resumes
# under a larger cap)
FINISHED = (Status.GROKKED, Status.DNG, Status.CUT, Status.DIVERGED)


def cut_off(summary: dict) -> bool:
    """Whether a summary is of a run stopped before its budget: CUT by a cap, or stopped from outside
    (still RUNNING). Its missing grok step is a bound, "no grok by step N", never a DNG. A summary
    with no status at all is taken as finished."""
    status = summary.get("status", Status.DNG)
    return status == Status.CUT or status not in FINISHED


def run_name(arm: str, seed: int) -> str:
    """The directory name sweeps give one seed of an arm: ``<arm>-s<seed>`` (``arm_of`` inverts it)."""
    return f"{arm}-s{seed}"


def arm_of(name: str) -> str:
    """The arm of a run directory named by ``run_name``; any other name is its own arm."""
    stem, sep, seed = name.rpartition("-s")
    return stem if sep and seed.isdigit() else name


KILL_ENV = "RADGROK_KILL_AT"
KILL_GROUP_ENV = "RADGROK_KILL_GROUP"


def _read_kill_at() -> tuple[str, int] | None:
    """``RADGROK_KILL_AT`` as (point, n); None when unset or empty."""
    text = os.environ.get(KILL_ENV, "")
    if not text:
        return None
    point, _, n = text.rpartition(":")
    if not point or not n.isdigit() or int(n) < 1:
        raise ValueError(f"{KILL_ENV} must be POINT:N with N >= 1 (tests only), got {text!r}")
    return point, int(n)


_KILL_AT = _read_kill_at()
_KILL_GROUP = os.environ.get(KILL_GROUP_ENV, "") not in ("", "0")
_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Tests only: SIGKILL this process at the n-th arrival at ``name`` if ``RADGROK_KILL_AT`` says so.

    The points (``<file>`` is the name of the file written, e.g. ``checkpoint.pt``, ``summary.json``):
    ``<file>:before`` (nothing of this write done yet), ``<file>:temp`` (the temporary sibling is
    written and synced, the target untouched), ``<file>:rotated`` (keep_previous only: the old file
    is renamed aside, the new one not yet in place), ``<file>:after`` (the rename is done);
    ``metrics.jsonl:row-before``, ``metrics.jsonl:row-half`` (half of the row's line is written and
    flushed) and ``metrics.jsonl:row-after`` around each appended metrics row.
    SIGKILL, not an exception: nothing (no ``finally``, no atexit) gets to tidy up, as with the OOM killer.
    Under ``RADGROK_KILL_GROUP`` the whole process group dies in the same instant: a test can stop a
    sweep (driver and workers) at an exact write instead of after a guessed sleep.
    """
    if _KILL_AT is None or name != _KILL_AT[0]:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] == _KILL_AT[1]:
        if _KILL_GROUP:
            os.killpg(0, signal.SIGKILL)  # 0: this process's own group, this process included
        os.kill(os.getpid(), signal.SIGKILL)


_TMP_SUFFIX = ".tmp"  # _atomic_write's temporary siblings: .<name>.<random>.tmp


def _file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file: 0o666 less the process's umask. Linux shows
    the umask in /proc; elsewhere the only way to read it is to set it (and put it back)."""
    try:
        with open("/proc/self/status") as fh:
            umask = next(int(line.split()[1], 8) for line in fh if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError, IndexError):
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(path: Path, write, keep_previous: Path | None = None) -> None:
    """``keep_previous``: the file ``path`` held is renamed there just before the new one
    replaces it (two renames, each atomic: a kill between them leaves only ``keep_previous``)."""
    path = Path(path)
    fault_point(f"{path.name}:before")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
    try:
        os.fchmod(fd, _file_mode())  # mkstemp makes it private (0o600); a record is an ordinary file
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        fault_point(f"{path.name}:temp")
        if keep_previous is not None and path.exists():
            os.replace(path, keep_previous)
            fault_point(f"{path.name}:rotated")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    fault_point(f"{path.name}:after")


def _remove_stale_temp_files(run_dir: Path) -> None:
    """Delete the temporary siblings of run files that a killed writer left (a kill skips
    _atomic_write's cleanup; each leftover checkpoint is a model's size). Called under the run
    directory's lock, so no live writer of ours is mid-write there."""
    for name in (CONFIG, SPLIT, METRICS, SUMMARY, CHECKPOINT):
        for tmp in run_dir.glob(f".{name}.*{_TMP_SUFFIX}"):
            with suppress(OSError):
                tmp.unlink()


def atomic_write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda fh: fh.write(text.encode()))


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    _atomic_write(path, lambda fh: fh.write(data))
    return path


def write_json(path: Path, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def append_jsonl(path: Path, row: dict) -> None:
    """Append one row as one write: O(1) per evaluation (a rewrite per evaluation is O(n^2)
    over a 100k-step run). A crash can at worst cut the last line, which read_jsonl drops,
    and a resumed run rewrites the file atomically up to its checkpoint."""
    line, name = json.dumps(row) + "\n", Path(path).name
    fault_point(f"{name}:row-before")
    with open(path, "a") as fh:
        if _KILL_AT is not None and _KILL_AT[0].endswith(":row-half"):  # tests only: a line cut by a kill
            fh.write(line[:len(line) // 2])
            fh.flush()
            fault_point(f"{name}:row-half")
            line = line[len(line) // 2:]
        fh.write(line)
    fault_point(f"{name}:row-after")


def read_jsonl(path: Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    rows = [json.loads(line) for line in lines[:-1]]
    with suppress(json.JSONDecodeError):  # a line cut by a crash mid-append; everything before it is whole
        rows += [json.loads(line) for line in lines[-1:]]
    return rows


def read_config(run_dir: str | Path) -> RunConfig:
    """The config a run directory recorded; a field the record predates reads its default."""
    return from_dict(read_json(Path(run_dir) / CONFIG)["config"])


def save_checkpoint(path: Path, state: dict) -> None:
    """Write ``state`` to ``path``; the checkpoint it replaces becomes ``PREV_CHECKPOINT`` beside it,
    so one damaged file (a bad disk, a copy cut short) costs a checkpoint interval, not the run."""
    import torch

    path = Path(path)
    _atomic_write(path, lambda fh: torch.save(state, fh), keep_previous=path.with_name(PREV_CHECKPOINT))


def load_checkpoint(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)


_HELD: set[Path] = set()  # run directories this process has claimed: its own PID in their lock is no stale lock


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: an existence check, nothing is sent
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    try:  # a killed process nobody has reaped (a zombie) writes nothing any more
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _lock_pid(lock: Path) -> int | None:
    """The PID a lock file names; None if it names none (its writer died between creating and writing it)."""
    text = lock.read_bytes().decode(errors="replace").strip()  # any bytes: a lock is never a traceback
    return int(text) if text.isdigit() and int(text) > 0 else None


def _take_lock(run_dir: Path) -> None:
    lock = run_dir / LOCK
    for _ in range(5):  # a few rounds: another process may create or break the lock between our calls
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)  # atomic: one creator wins
        except FileExistsError:
            try:
                pid = _lock_pid(lock)
                if pid is None:
                    time.sleep(0.1)  # a live creator writes its PID within microseconds
                    pid = _lock_pid(lock)
            except FileNotFoundError:
                continue  # released meanwhile
            if pid is not None and _pid_alive(pid) and (pid != os.getpid() or run_dir.resolve() in _HELD):
                raise ConfigError(f"out: run directory {run_dir} is in use by process {pid}") from None
            # Stale (its process is gone): move it aside, and delete it only if it is still the one we judged;
            # if another process took the lock over meanwhile, put theirs back.
            aside = run_dir / f".{LOCK}.{os.getpid()}.stale"
            try:
                os.replace(lock, aside)
            except FileNotFoundError:
                continue
            with suppress(OSError):
                if _lock_pid(aside) != pid:
                    os.link(aside, lock)
            aside.unlink(missing_ok=True)
            continue
        except OSError as e:
            raise ConfigError(f"out: cannot write run directory {run_dir}: {e.strerror or e}") from None
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        _HELD.add(run_dir.resolve())
        return
    raise ConfigError(f"out: cannot lock run directory {run_dir}: {lock} keeps changing; is another process "
                      "starting on it?")


@contextmanager
def claim(run_dir: str | Path) -> Iterator[Path]:
    """Create ``run_dir`` if needed and hold its lock (``run.lock``, this PID) for the ``with`` body:
    one writer per run directory. A directory that cannot be created, or that a live process
    holds, is a ConfigError before anything is written; a lock whose process is gone is taken over.
    The lock goes when the body returns or raises (a kill leaves it, stale, for the next claim, which
    also deletes the temporary files of the writes the kill cut short)."""
    run_dir = Path(run_dir)
    new = [p for p in (run_dir, *run_dir.parents) if not p.exists()]  # deepest first: what mkdir would create
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        for p in new:  # leave nothing behind (rmdir removes only the empty directories made here)
            with suppress(OSError):
                p.rmdir()
        raise ConfigError(f"out: cannot create run directory {run_dir}: {e.strerror or e}") from None
    _take_lock(run_dir)
    _remove_stale_temp_files(run_dir)
    try:
        yield run_dir
    finally:
        _HELD.discard(run_dir.resolve())
        (run_dir / LOCK).unlink(missing_ok=True)
