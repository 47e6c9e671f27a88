"""The report parts some ``reproduce`` targets add to the parts every report has.

A target (``targets.TARGETS``) names them: ``sections`` return markdown lines placed after
the per-arm table; ``figures`` return PNGs and run before the verdicts, because they may
derive per-run metrics from checkpoints (``Run.extra``) that the verdicts read.
"""

from __future__ import annotations

import itertools
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..report.plots import _plt, _save, plot_heatmap
from ..report.report import Run, arm_steps, steps_budget
from ..report.table1 import table1_markdown
from ..runs.grok import grok_step
from ..runs.records import Status
from ..runs.steps import ArmResult, seed_step, seed_steps, steps_text
from .paper import PAPER
from .plans import GRID_ARMS, TUNED, Plan, arm_head, matches, reading_name
from .spectra import add_spectra
from .targets import READINGS
from .verdicts import fmt_ratio, speedup_ratio

__all__ = ["SECTIONS", "FIGURES", "Tuning", "tuned_wd", "tuned_result", "val_grok"]

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


# -- the weight decay tuned on a validation split (table6 at paper scale) --------------------------------


def val_grok(run: Run) -> tuple[int | None, int | None, float]:
    """(validation grok step or None, the step a run without one was cut at or None when it ran its whole
    budget, last validation accuracy). The grok step on the validation curve, by the run's own threshold."""
    rows = [r for r in run.rows if "val_acc" in r]
    if not rows:
        return None, run.summary.get("steps_done"), 0.0
    g = grok_step([r["step"] for r in rows], [r["val_acc"] for r in rows], run.config["train"]["grok_threshold"])
    # without a validation grok, a bound at the step it stopped (a cap, or the early stop on the test
    # grok), unless it ran its whole budget (a DNG)
    ran_all = run.summary["status"] == Status.DNG
    return g, None if g is not None or ran_all else run.summary.get("steps_done"), rows[-1]["val_acc"]


@dataclass
class Tuning:
    """The weight decay chosen on a validation split over the cells of one pool (table6: one train
    fraction, pooled over P, or one (P, f) cell): the grid arm whose first seed's validation accuracy
    groks first (mean over the pool's cells; a tie goes to the higher final validation accuracy)."""

    chosen: str | None = None  # the grid arm's name without its cell, e.g. 'wd=10.0,val'
    scores: dict = field(default_factory=dict)  # grid arm -> [(P, val grok step, cut at, test grok step, val acc)]
    undecided: str = ""  # why the choice may still change as runs go on ("" = decided)

    @property
    def ran(self) -> bool:
        return any(self.scores.values())


def tuned_wd(p: Plan, runs: Runs, where: dict) -> Tuning:
    """The tuned weight decay of the plan's grid arms whose config matches ``where`` (e.g. a train
    fraction, and a P). Undecided while a grid arm is not run on the first seed of every cell, or was cut
    before its validation grok at a step below the chosen one's validation grok step (it could still win)."""
    t, unrun = Tuning(), set()
    for arm in p.arms:
        head = arm_head(arm.name)
        if head not in GRID_ARMS or not matches(arm.overrides, where):
            continue
        scores = t.scores.setdefault(head, [])
        if rs := [r for r in p.runs_of(arm, runs) if r.seed == p.arm_seeds(arm)[0]]:
            g, cut, acc = val_grok(rs[0])
            scores.append((arm.overrides.get("p"), g, cut, rs[0].summary["grok_step"], acc))
        else:
            unrun.add(head)
    if not t.ran:
        return t
    missing = [h for h in t.scores if h in unrun]
    done = {h: sc for h, sc in t.scores.items() if sc and h not in missing}

    def floor(sc: list) -> float:  # the mean validation grok step it is known to be at least
        return statistics.mean(g if g is not None else cut if cut is not None else math.inf for _, g, cut, _, _ in sc)

    exact = {h: sc for h, sc in done.items() if all(g is not None for _, g, _, _, _ in sc)}
    if exact:
        t.chosen = min(exact, key=lambda h: (floor(exact[h]), -statistics.mean(a for *_, a in exact[h])))
        best = floor(exact[t.chosen])
        could = [h for h, sc in done.items() if h not in exact and floor(sc) < best]
    else:
        ran_all = [h for h, sc in done.items() if all(g is None and cut is None for _, g, cut, _, _ in sc)]
        if len(ran_all) == len(done) and done:  # every grid arm ran its whole budget without a validation grok
            t.chosen = max(done, key=lambda h: statistics.mean(a for *_, a in done[h]))
        could = [h for h in done if h not in ran_all]
    why = ([f"{', '.join(could)} cut before a validation grok"] if could else []) + (
        [f"{', '.join(missing)} not run on the first seed"] if missing else [])
    t.undecided = "; ".join(why)
    return t


def tuned_result(p: Plan, runs: Runs, where: dict) -> tuple[ArmResult | None, str]:
    """The tuned weight decay over the (P, f) cells matching ``where``, tuned per cell: each cell's chosen
    grid arm, its test grok steps on every seed, as one arm named after the choices ('tuned-wd (wd=10.0)',
    or 'tuned-wd (P 97: wd=10.0; P 137: wd=3.0)'); and why the choice is undecided ("" = decided, None arm:
    nothing chosen yet)."""
    ps, fs = p.cells()
    picks, why, res = [], [], ArmResult(TUNED, [], 0)
    for f, q in itertools.product(fs, ps):
        cell = {"p": q, "train_frac": f}
        if not matches(cell, {k: v for k, v in where.items() if k in cell}):
            continue
        t = tuned_wd(p, runs, cell)
        if not t.ran:
            continue
        if t.undecided or t.chosen is None:
            why.append(f"P {q}, f {f}: " + (t.undecided or "no value chosen yet"))
        if t.chosen is None:
            continue
        picks.append((q, f, t.chosen.removesuffix(",val")))
        for run in _cell_runs(p, runs, t.chosen, q, f):
            res.add(run.summary)
    if not res.grok_steps:  # nothing chosen: undecided where grid runs exist, simply not run where none do
        return None, "; ".join(why)
    names = list(dict.fromkeys(w for *_, w in picks))
    res.name = f"{TUNED} ({names[0]})" if len(names) == 1 else \
        f"{TUNED} ({'; '.join(f'P {q}, f {f}: {w}' for q, f, w in picks)})"
    return res, "; ".join(why)


def _cell_runs(p: Plan, runs: Runs, head: str, q, f) -> list[Run]:
    """The finished runs of one arm (by its name without the cell) at one (P, f) cell, in seed order."""
    arm = next((a for a in p.arms if arm_head(a.name) == head and a.overrides.get("p") == q
                and a.overrides.get("train_frac") == f), None)
    return p.runs_of(arm, runs) if arm else []


def _main_heads(p: Plan) -> list[str]:
    """A pooled plan's arms by name without their cell, the weight-decay grid left out (it has its own table)."""
    return [h for h in dict.fromkeys(arm_head(a.name) for a in p.arms) if h not in GRID_ARMS]


def _ratio_pairs(p: Plan) -> list[tuple[str, str]]:
    """(reference, arm) of each speedup a pooled plan shows: strong WD over every other arm, and the tuned
    weight decay over the arms trained on its validation split (``,val``)."""
    heads = _main_heads(p)
    return [("strong-wd", h) for h in heads if h != "strong-wd" and not h.endswith(",val")] + \
        [(TUNED, h) for h in heads if h.endswith(",val")]


def _cell_result(p: Plan, runs: Runs, head: str, q, f) -> tuple[ArmResult | None, list[Run]]:
    """(ArmResult, runs) of one arm at one (P, f) cell; the tuned baseline resolves to its chosen grid arm."""
    if head == TUNED:
        t = tuned_wd(p, runs, {"p": q, "train_frac": f})
        rs = _cell_runs(p, runs, t.chosen, q, f) if t.chosen else []
        name = f"{TUNED} ({t.chosen.removesuffix(',val')})" if t.chosen else TUNED
    else:
        rs, name = _cell_runs(p, runs, head, q, f), head
    return (arm_steps(name, rs), rs) if rs else (None, [])


def _paper_at(f) -> str:
    """The paper's figures at train fraction ``f`` (paper.py's Table-6 claims and numbers)."""
    t6 = PAPER["table6"]
    said = [c.name.split(": ", 1)[1] for c in t6.claims if c.kind == "speedup" and c.value == f]
    nums = [f"{n.arm.split(' ', 1)[1]} " + ("DNG" if n.value is None else f"{n.value:,g}")
            + (f" ({n.note})" if n.note else "") for n in t6.numbers if n.arm.startswith(f"f={f} ")]
    return "; ".join(said + nums) or "-"


def fraction_tables(p: Plan, runs: Runs, arms: dict[str, ArmResult]) -> list[str]:
    """table6: one table per train fraction, beside the paper's figure there: per arm and P the seeds,
    the steps each reached, the grok steps (mean ± std, per seed; bounds for runs cut off), the wall
    time of each run; then the ratios over strong WD and over the tuned weight decay, pooled over P."""
    ps, fs = p.cells()
    heads = _main_heads(p) + ([TUNED] if p.tuned else [])
    lines = ["", "## Per train fraction", "",
             "Steps reached and wall time are per seed, in seed order; a run cut off before its budget is a "
             "bound ('none by N (cut)')" + ("; the tuned weight decay is chosen per cell (next section)." if p.tuned
                                            else "."), ""]
    for f in fs:
        lines += [f"### f = {f} — paper: {_paper_at(f)}", "",
                  "| arm | P | seeds | steps reached | grok step mean ± std | per seed | wall time per run (s) |",
                  "|---|---|---|---|---|---|---|"]
        cells: dict[tuple, list[Run]] = {}  # (arm, P) -> its runs at this fraction
        unrun: list[str] = []
        for head in heads:
            for q in ps:
                res, rs = _cell_result(p, runs, head, q, f)  # the tuned baseline is named after its choice
                if res is None or not res.grok_steps:
                    unrun.append(f"{head} (P {q})")
                    continue
                reached = ", ".join(f"{r.summary.get('steps_done', 0):,}" for r in rs)
                wall = ", ".join(f"{r.summary.get('wall_seconds') or 0:,.0f}" for r in rs)
                lines.append(f"| {res.name} | {q} | {len(res.grok_steps)} | {reached} | {steps_text(res)} | "
                             f"{seed_steps(res)} | {wall} |")
                cells[head, q] = rs
        if unrun:
            lines.append(f"| not run yet: {', '.join(unrun)} | | | | | | |")
        ratios = []
        for ref, h in _ratio_pairs(p):  # a ratio pools only the P at which both of its arms ran, named if not all
            both = [q for q in ps if (ref, q) in cells and (h, q) in cells]
            if both:
                a, b = (arm_steps(n, [r for q in both for r in cells[n, q]]) for n in (ref, h))
                only = f" (P {', '.join(map(str, both))} only)" if both != ps else ""
                ratios.append(f"{ref} / {h} {fmt_ratio(*speedup_ratio(a, b))}{only}")
        lines += ["", f"Ours, pooled over P {', '.join(map(str, ps))} (where both arms ran): " + "; ".join(ratios)
                  + " ('>' / '<': a bound, some seeds cut off or DNG; '~': both arms bounded).", ""] if ratios else [""]
    return lines


def tuning_table(p: Plan, runs: Runs, arms: dict[str, ArmResult]) -> list[str]:
    """table6: the weight-decay grid per (P, f) cell on the first seed: validation grok step (test grok step),
    and the value chosen."""
    if not p.tuned:
        return []
    ps, fs = p.cells()
    lines = ["", "## Weight decay tuned on a validation split", "",
             "Per cell, the first seed of each grid value: the validation grok step (the test grok step in "
             "brackets); 'none by N (cut)' = cut off before a validation grok. The chosen value is the one whose "
             "validation accuracy groks first; it is *undecided* while a value cut off earlier could still win.",
             "", "| f | P | " + " | ".join(GRID_ARMS) + " | chosen |", "|---|---|" + "---|" * (len(GRID_ARMS) + 1)]
    for f, q in itertools.product(fs, ps):
        t = tuned_wd(p, runs, {"p": q, "train_frac": f})
        if not t.ran:
            lines.append(f"| {f} | {q} | " + " | ".join("not run" for _ in GRID_ARMS) + " | - |")
            continue
        cells = []
        for h in GRID_ARMS:
            sc = t.scores.get(h) or []
            if not sc:
                cells.append("not run")
                continue
            _, g, cut, test, _ = sc[0]
            cells.append(f"{seed_step(g, cut)} ({seed_step(test, None) if test is not None else 'no test grok'})")
        chosen = (t.chosen or "none yet") + (f" (undecided: {t.undecided})" if t.undecided else "")
        lines.append(f"| {f} | {q} | " + " | ".join(cells) + f" | {chosen} |")
    return lines


def pooled_heatmap(p: Plan, runs: Runs, out: Path) -> list[Path]:
    """table6: grok step per (P, train fraction) cell, one panel per arm pooled over the cells (the
    weight-decay grid as one panel: the value tuned per cell); plus, where the plan has the tuned baseline,
    the speedup per fraction beside the paper's."""
    panels: dict[str, dict] = {}
    for arm in p.arms:
        head = arm_head(arm.name)
        if head not in GRID_ARMS and (rs := p.runs_of(arm, runs)):
            panels.setdefault(head, {})[arm.overrides["p"], arm.overrides["train_frac"]] = steps_budget(rs)
    if p.tuned:
        ps, fs = p.cells()
        for q, f in itertools.product(ps, fs):
            _, rs = _cell_result(p, runs, TUNED, q, f)
            if rs:
                panels.setdefault(TUNED, {})[(q, f)] = steps_budget(rs)
    figs = [plot_heatmap(panels, "P", "train fraction", out / "grok_heatmap_p_f.png")] if panels else []
    if p.tuned and panels:
        figs.append(_speedup_figure(p, runs, out / "speedup_per_fraction.png"))
    return figs


def _speedup_figure(p: Plan, runs: Runs, path: Path) -> Path:
    """Strong WD's (and the tuned WD's) grok step over the penalty's, per fraction and P, beside the paper's
    pooled figures (f 0.3: a lower bound). A ratio with cut-off seeds is drawn as a bound (open marker)."""
    ps, fs = p.cells()
    fig, ax = _plt().subplots(figsize=(6.4, 3.8))
    paper = [(float(c.value or 0), float(c.ratio or 0), c.at_least) for c in PAPER["table6"].claims
             if c.kind == "speedup"]
    ax.plot([f for f, _, b in paper if not b], [r for _, r, b in paper if not b], "k*", ms=12, label="paper")
    ax.plot([f for f, _, b in paper if b], [r for _, r, b in paper if b], "k^", ms=10,
            label="paper (lower bound)")
    series = _ratio_pairs(p)
    for k, (ref, arm) in enumerate(series):
        for j, q in enumerate(ps):
            xs, ys, exact = [], [], []
            for f in fs:
                a, _ = _cell_result(p, runs, arm, q, f)
                b, _ = _cell_result(p, runs, ref, q, f)
                if a is None or b is None:
                    continue
                r, bound = speedup_ratio(b, a)
                if r is not None:
                    xs.append(f + 0.004 * (k - len(series) / 2))
                    ys.append(r)
                    exact.append(bound == "=")
            if xs:
                line, = ax.plot(xs, ys, lw=0.8, label=f"{ref} / {arm}, P {q}", ls="-" if j == 0 else "--")
                ax.scatter([x for x, e in zip(xs, exact) if e], [y for y, e in zip(ys, exact) if e],
                           color=line.get_color(), zorder=3)
                ax.scatter([x for x, e in zip(xs, exact) if not e], [y for y, e in zip(ys, exact) if not e],
                           facecolors="none", edgecolors=line.get_color(), zorder=3)
    ax.axhline(1.0, color="grey", lw=0.6)
    ax.set_yscale("log")
    ax.set_xlabel("train fraction")
    ax.set_ylabel("grok step of WD / grok step of the penalty")
    ax.set_title("speedup over weight decay per fraction (open marker: a bound)", fontsize=9)
    ax.legend(fontsize=6, loc="best")
    return _save(fig, path)


SECTIONS: dict[str, Callable[[Plan, Runs, dict[str, ArmResult]], list[str]]] = {
    "diagnostics_table": diagnostics_table, "table1_layout": table1_layout, "choices_grid": choices_grid,
    "fraction_tables": fraction_tables, "tuning_table": tuning_table}
FIGURES: dict[str, Callable[[Plan, Runs, Path], list[Path]]] = {
    "spectra": add_spectra, "pooled_heatmap": pooled_heatmap}
