"""The report parts some ``reproduce`` targets add to the parts every report has.

A target (``targets.TARGETS``) names them: ``sections`` return markdown lines placed after
the per-arm table; ``figures`` return PNGs and run before the verdicts, because they may
derive per-run metrics from checkpoints (``Run.extra``) that the verdicts read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..report.report import Run
from ..runs.steps import ArmResult, steps_text
from .targets import READINGS, Plan, arm_head, reading_name

__all__ = ["SECTIONS", "FIGURES"]

Runs = dict[str, Run]



def diagnostics_table(p: Plan, runs: Runs, arms: dict[str, ArmResult]) -> list[str]:
    """Each arm's diagnostics at its last evaluation (tables 1, figs 3-5)."""
    keys = sorted({k for a in arms.values() for k in a.metrics})
    if not keys:
        return []
    lines = ["", "Diagnostics at each arm's last evaluation (mean over seeds; site metrics averaged over layers, "
             "then phi_task per layer):", "", "| arm | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, a in arms.items():
        lines.append(f"| {name} | " + " | ".join("-" if a.metric(k) is None else f"{a.metric(k):.4g}"
                                                for k in keys) + " |")
    return lines


def table1_layout(p: Plan, runs: Runs, arms: dict[str, ArmResult]) -> list[str]:
    """The Table-1 layout of report/table1.py on each arm's first seed."""
    from ..report.table1 import table1_markdown

    first = {a.name: rs[0].dir for a in p.arms if (rs := p.runs_of(a, runs)) and rs[0].seed == p.arm_seeds(a)[0]}
    keys = {"weak-wd": "weak", "strong-wd": "strong", "penalty": "penalty"}
    if not first:
        return []
    return ["", f"### Table 1 layout (seed {p.seeds[0]} of each arm)", "",
            table1_markdown(first, {k: v for k, v in keys.items() if k in first})]


def choices_grid(p: Plan, runs: Runs, arms: dict[str, ArmResult]) -> list[str]:
    """One row per (encoding, depth, init scale) cell: the penalty at each site under each reading of
    ||h|| (the first reading, then the twins ``READINGS`` adds), and strong WD."""
    cols = [(site, r) for r in ("mean", *READINGS) for site in ("pre", "post")]
    cells = dict.fromkeys(n.split(",", 1)[1].rsplit(",site=", 1)[0] for n in arms)
    lines = ["", "### Grok step per cell (DNG = no grok within the budget)", "",
             "| encoding, depth, init scale | " + " | ".join(f"penalty@{r}, site {site}" for site, r in cols)
             + " | strong WD |", "|---|" + "---|" * (len(cols) + 1)]
    for c in cells:
        names = [f"penalty,{c},site={site}" for site, _ in cols]
        row = [arms.get(n if r == "mean" else reading_name(n, r)) for n, (_, r) in zip(names, cols)]
        lines.append(f"| {c} | " + " | ".join(steps_text(a) for a in [*row, arms.get(f"strong-wd,{c}")]) + " |")
    return lines


def spectra(p: Plan, runs: Runs, out: Path) -> list[Path]:
    """fig4 / fig5: the Fourier figures from the run records and final checkpoints."""
    from .spectra import add_spectra

    return add_spectra(p, runs, out)


def pooled_heatmap(p: Plan, runs: Runs, out: Path) -> list[Path]:
    """table6: grok step per (P, train fraction) cell, one panel per arm pooled over the cells."""
    from ..report.plots import plot_heatmap
    from ..report.report import steps_budget

    panels: dict[str, dict] = {}
    for arm in p.arms:
        if rs := p.runs_of(arm, runs):
            cell = (arm.overrides["p"], arm.overrides["train_frac"])
            panels.setdefault(arm_head(arm.name), {})[cell] = steps_budget(rs)
    return [plot_heatmap(panels, "P", "train fraction", out / "grok_heatmap_p_f.png")] if panels else []


SECTIONS: dict[str, Callable[[Plan, Runs, dict[str, ArmResult]], list[str]]] = {
    "diagnostics_table": diagnostics_table, "table1_layout": table1_layout, "choices_grid": choices_grid}
FIGURES: dict[str, Callable[[Plan, Runs, Path], list[Path]]] = {"spectra": spectra, "pooled_heatmap": pooled_heatmap}
