"""Run directories: every file is written to a temporary sibling, flushed, then renamed
over the target (``os.replace`` is atomic on POSIX), so a killed process leaves either
the old file or the new one, never half of one.

Layout of a run directory::

    config.json      the resolved RunConfig (plus radgrok and torch versions)
    split.json       the train indices of the modular split
    metrics.jsonl    one JSON object per evaluation
    summary.json     milestones and status (running / grokked / dng / diverged)
    checkpoint.pt    model, optimizer, RNG and tracker state at the last checkpoint
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

__all__ = ["atomic_write_text", "write_json", "read_json", "write_jsonl", "append_jsonl", "read_jsonl",
           "save_checkpoint", "load_checkpoint", "CONFIG", "METRICS", "SUMMARY", "CHECKPOINT", "SPLIT", "FINISHED"]

CONFIG, METRICS, SUMMARY, CHECKPOINT, SPLIT = (
    "config.json", "metrics.jsonl", "summary.json", "checkpoint.pt", "split.json")
FINISHED = ("grokked", "dng", "diverged")  # a summary status after which the run has nothing left to do


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda fh: fh.write(text.encode()))


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
    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    rows = [json.loads(line) for line in lines[:-1]]
    try:
        rows += [json.loads(line) for line in lines[-1:]]
    except json.JSONDecodeError:  # a line cut by a crash mid-append; everything before it is whole
        pass
    return rows


def save_checkpoint(path: Path, state: dict) -> None:
    import torch

    _atomic_write(path, lambda fh: torch.save(state, fh))


def load_checkpoint(path: Path) -> dict:
    import torch

    return torch.load(path, map_location="cpu", weights_only=False)
