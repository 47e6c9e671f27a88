"""What a ``reproduce`` plan is made of: an arm (a preset plus overrides, run for some seeds), the plan (its arms,
seeds, verdict aliases and notes), and the names of a pooled target's cells (table6: ``arm,p=P,f=F``) and of the
weight-decay grid the tuned baseline is chosen from. targets.py builds one plan per target from these. No torch
import.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..runs import records
from .sweep import Trial

__all__ = ["Arm", "Plan", "CELL_FIELDS", "WD_GRID", "GRID_ARMS", "VAL_FRAC", "TUNED", "arm_head", "cell_name",
           "matches", "reading_name"]

CELL_FIELDS = ("p=", "f=")  # the fields a pooled target's arm names end with, one per cell
# The weight-decay grid the tuned baseline is chosen from on a validation split (the mechanism table's:
# it goes on past 3 and 10, where the paper-size runs kept finding the best at the grid's edge)
WD_GRID = (0.1, 0.3, 1.0, 3.0, 10.0, 30.0)
GRID_ARMS = tuple(f"wd={wd},val" for wd in WD_GRID)  # the grid's arms, by name without a cell
VAL_FRAC = 0.1  # the share of the training pairs held out as the validation split
TUNED = "tuned-wd"  # the derived arm: per cell, the grid's wd=X,val arm whose validation accuracy groks first


@dataclass(frozen=True)
class Arm:
    name: str
    preset: str
    overrides: dict = field(default_factory=dict)
    seeds: tuple | None = None  # this arm's own seeds (the paper's nanoGPT row has 3), else the plan's

    def config(self, seed: int = 0):
        """The arm's validated RunConfig (uncapped) for one seed."""
        return Trial(self.preset, tuple(self.overrides.items()), seed).config()


@dataclass
class Plan:
    """Everything a target runs and how its report reads it."""

    target: str
    scale: str
    arms: list[Arm]
    seeds: list[int]
    aliases: list[tuple[str, dict]] = field(default_factory=lambda: [("", {})])  # (label, paper arm -> ours)
    notes: list[str] = field(default_factory=list)
    pool_by: str = ""  # table6: claims hold per train fraction, pooled over P
    cap: int | None = None  # a CPU-time cap on every budget (reproduce --steps); runs it stops are bounds

    def trials(self) -> list[Trial]:
        return [Trial(a.preset, tuple(self.capped(a).items()), s, label=a.name) for a in self.arms
                for s in self.arm_seeds(a)]

    def capped(self, arm: Arm) -> dict:
        """The arm's overrides with the budget lowered to ``cap`` where the arm's own is larger."""
        if self.cap is None or self.budget(arm) <= self.cap:
            return arm.overrides
        return dict(arm.overrides, steps=self.cap, budget=self.budget(arm))

    def budget(self, arm: Arm) -> int:
        """The budget the arm is meant to run without a cap (its preset's, or its own override)."""
        return arm.config().train.steps

    def arm_seeds(self, arm: Arm) -> list[int]:
        return list(arm.seeds) if arm.seeds is not None else self.seeds

    @property
    def tuned(self) -> bool:
        """Whether the plan has the weight-decay grid the tuned baseline (``TUNED``) is chosen from."""
        return any(arm_head(a.name) in GRID_ARMS for a in self.arms)

    def cells(self) -> tuple[list, list]:
        """The (P values, train fractions) of a pooled plan, in plan order."""
        ps = list(dict.fromkeys(a.overrides["p"] for a in self.arms if "p" in a.overrides))
        fs = list(dict.fromkeys(a.overrides["train_frac"] for a in self.arms if "train_frac" in a.overrides))
        return ps, fs

    def runs_of(self, arm: Arm, runs: dict) -> list:
        """The loaded runs (name -> run) of the arm's seeds, in seed order; seeds not run are skipped."""
        return [runs[n] for s in self.arm_seeds(arm) if (n := records.run_name(arm.name, s)) in runs]


def arm_head(arm_name: str) -> str:
    """An arm's name without its trailing cell fields (``,p=..``, ``,f=..``): what pooled targets
    (table6's P and f cells) group by. 'penalty@batch,p=59,f=0.6' -> 'penalty@batch';
    'wd=3.0,val,p=97,f=0.3' -> 'wd=3.0,val'."""
    fields = arm_name.split(",")
    while len(fields) > 1 and fields[-1].startswith(CELL_FIELDS):
        fields.pop()
    return ",".join(fields)


def matches(overrides: dict, where: dict) -> bool:
    """Whether an arm's ``overrides`` hold every value of ``where`` (a tuple there: any of its values).
    >>> matches({"p": 97, "train_frac": 0.6}, {"train_frac": 0.6, "p": (97, 137)})
    True
    """
    return all(overrides.get(k) in (v if isinstance(v, tuple) else (v,)) for k, v in where.items())


def cell_name(arm_name: str, p: int, f: float) -> str:
    """An arm's name at one (P, train fraction) cell of a pooled target."""
    return f"{arm_name},p={p},f={f}"


def reading_name(arm_name: str, reading: str) -> str:
    """'penalty' -> 'penalty@batch'; 'penalty,p=59,f=0.6' -> 'penalty@batch,p=59,f=0.6' (pooling
    by the first comma-separated field then keeps each reading apart)."""
    head, _, rest = arm_name.partition(",")
    return f"{head}@{reading}" + (f",{rest}" if rest else "")
