"""Milestones of a training curve: memorisation, grok step, steps to 95%.

Grok step (the paper's definition): the first evaluation at which test accuracy
exceeds the threshold (90%) and stays above it at every later evaluation of the
run. A curve that crosses 90% and falls back resets the candidate. Pure Python.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

__all__ = ["GrokTracker", "grok_step", "next_candidate"]


def next_candidate(candidate: int | None, step: int, acc: float, threshold: float) -> int | None:
    """The grok-step candidate after one more evaluation: kept (or begun at ``step``) while the
    accuracy is above the threshold, reset when it is not. The one rule ``grok_step`` and
    ``GrokTracker`` both apply."""
    if acc > threshold:
        return step if candidate is None else candidate
    return None


def grok_step(steps: list[int], accs: list[float], threshold: float = 0.9) -> int | None:
    """First step whose accuracy, and every later one, is > threshold; None if none."""
    candidate = None
    for s, a in zip(steps, accs):
        candidate = next_candidate(candidate, s, a, threshold)
    return candidate


@dataclass
class GrokTracker:
    """Online version of the milestones, updated once per evaluation (state is checkpointed)."""

    threshold: float = 0.9
    memorised_at: int | None = None  # first eval with train accuracy >= 99%
    candidate: int | None = None  # start of the current run of evals above threshold
    reached_95: int | None = None  # first eval with test accuracy >= 95% (not necessarily kept)

    def update(self, step: int, train_acc: float, test_acc: float) -> None:
        if self.memorised_at is None and train_acc >= 0.99:
            self.memorised_at = step
        self.candidate = next_candidate(self.candidate, step, test_acc, self.threshold)
        if self.reached_95 is None and test_acc >= 0.95:
            self.reached_95 = step

    def held_for(self, step: int) -> int:
        """Steps the current above-threshold run has lasted (-1 when not above)."""
        return -1 if self.candidate is None else step - self.candidate

    def state(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state(cls, d: dict) -> "GrokTracker":
        return cls(**{f.name: d[f.name] for f in fields(cls)})
