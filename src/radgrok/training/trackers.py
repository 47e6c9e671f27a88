"""Optional experiment trackers fed by the trainer's ``on_eval`` callback (off by default).

``tensorboard`` writes event files into ``<run dir>/tb``; ``wandb`` logs one run per
training run and honours ``WANDB_MODE=offline`` (its files then stay on disk for a
later ``wandb sync``). Both are extras (``pip install 'radgrok[tensorboard]'`` /
``'radgrok[wandb]'``) imported only when asked for; a missing extra is a one-line
ConfigError before any training starts. The run directory stays the record: a
tracker only mirrors the numeric columns of each evaluation row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..runs.config import ConfigError

__all__ = ["TRACKERS", "make_tracker"]

TRACKERS = ("none", "tensorboard", "wandb")


def make_tracker(kind: str, run_dir: str | Path, config: dict) -> tuple[Callable[[dict], None] | None, Callable]:
    """(on_eval callback or None, close function) for ``kind``."""
    if kind not in TRACKERS:
        raise ConfigError(f"--tracker must be one of {list(TRACKERS)}, got {kind!r}")
    if kind == "none":
        return None, lambda: None
    if kind == "tensorboard":
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ConfigError("--tracker tensorboard needs TensorBoard: pip install 'radgrok[tensorboard]'") from None
        writer = SummaryWriter(log_dir=str(Path(run_dir) / "tb"))

        def on_eval(row: dict) -> None:
            for k, v in _scalars(row).items():
                writer.add_scalar(k, v, row["step"])

        return on_eval, writer.close
    try:
        import wandb
    except ImportError:
        raise ConfigError("--tracker wandb needs Weights & Biases: pip install 'radgrok[wandb]'") from None
    run = wandb.init(project="radgrok", name=Path(run_dir).name, dir=str(run_dir), config=config)
    return (lambda row: run.log(_scalars(row), step=row["step"])), run.finish


def _scalars(row: dict) -> dict:
    return {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
