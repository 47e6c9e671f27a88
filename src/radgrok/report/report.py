"""Markdown reports built from run directories (config.json, metrics.jsonl, summary.json)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Hashable

from ..runs import records
from ..runs.config import to_dict
from ..runs.steps import ArmResult, seed_step, steps_text
from ..training.kinds import kind_of
from .forecast import forecast_table
from .plots import plot_accuracy, plot_grok_bars, plot_heatmap, plot_lambda_curve, plot_site_metric

__all__ = ["Run", "load_run", "load_runs", "group_runs", "arm_steps", "grok_table", "report_dir", "flat_config",
           "varying_fields", "sweep_figures", "run_figures", "SITE_FIGURES"]

# Fields that differ between seeds of one arm, or that do not change a run's result.
_NOT_SWEPT = {"seed", "split_seed", "threads", "device", "checkpoint_every", "early_stop", "patience"}


@dataclass
class Run:
    """One run directory as its records say: what every report, verdict and forecast reads.

    ``config`` is the recorded RunConfig as nested sections (``records.read_config``: a field the
    record predates reads its default); ``arm`` and ``seed`` are fields, so no reader
    parses a directory name again; ``extra`` holds values a report derives later (e.g. a
    checkpoint's neuron selectivity).
    """

    dir: Path
    name: str
    arm: str
    seed: int
    config: dict
    summary: dict
    rows: list[dict]
    extra: dict = field(default_factory=dict)


def load_run(run_dir: str | Path) -> Run:
    """The records of one run directory (config.json, summary.json, metrics.jsonl)."""
    d = Path(run_dir)
    cfg = records.read_config(d)
    return Run(dir=d, name=d.name, arm=records.arm_of(d.name), seed=cfg.train.seed, config=to_dict(cfg),
               summary=records.read_json(d / records.SUMMARY), rows=records.read_jsonl(d / records.METRICS))


def load_runs(path: str | Path) -> list[Run]:
    """Every run directory at or below ``path`` (one with a summary.json), sorted by path."""
    path = Path(path)
    dirs = [path] if (path / records.SUMMARY).exists() else sorted(
        p.parent for p in path.rglob(records.SUMMARY))
    return [load_run(d) for d in dirs]


def group_runs(runs: list[Run], key: Callable[[Run], Hashable] | None = None) -> dict:
    """Runs grouped by arm (or by ``key(run)``), in the order groups first appear."""
    groups: dict = {}
    for r in runs:
        groups.setdefault(r.arm if key is None else key(r), []).append(r)
    return groups


def last_value(rows: list[dict], key: str):
    """The last non-null value of ``key`` in a run's metric rows (None if never logged)."""
    return next((r[key] for r in reversed(rows) if r.get(key) is not None), None)


def arm_steps(arm: str, runs: list[Run], key: str = "grok_step") -> ArmResult:
    """The ``key`` milestone of each run's summary (the grok step, or e.g. ``step_95``) as one arm."""
    res = ArmResult(arm, [], 0)
    for r in runs:
        res.add(r.summary, key)
    return res


def grok_table(groups: dict[str, list[Run]]) -> str:
    """One row per arm: hyperparameters, grok step per seed, mean ± std, steps to 95%."""
    lines = [
        "| arm | seeds | λ | wd | lr | batch | eval every | budget | grok step per seed | grok step mean ± std "
        "| step to 95% | final test acc |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, runs in groups.items():
        runs = sorted(runs, key=lambda r: r.seed)
        s0, c0 = runs[0].summary, runs[0].config
        grok, to_95 = arm_steps(arm, runs), arm_steps(arm, runs, "step_95")
        per_seed = ", ".join(f"s{r.seed}: {seed_step(g, at)}" for r, g, at in zip(runs, grok.grok_steps, grok.reached))
        finals = [r.summary["final"]["test_acc"] for r in runs]
        batch = "full" if s0["batch_size"] == s0["n_train"] else s0["batch_size"]
        lines.append(
            f"| {arm} | {len(runs)} | {c0['penalty']['lam']} | {c0['optim']['weight_decay']} | {c0['optim']['lr']} "
            f"| {batch} | {s0['eval_every']} | {s0['budget']:,} | {per_seed} "
            f"| {steps_text(grok)} | {steps_text(to_95)} "
            f"| {statistics.mean(finals):.3f} |")
    return "\n".join(lines)


def flat_config(run: Run) -> dict:
    """The run's config as {field: value} (field names are unique across sections)."""
    return {k: v for sec in run.config.values() for k, v in sec.items()}


def varying_fields(runs: list[Run]) -> list[str]:
    """Config fields that take more than one value across ``runs`` (seeds excluded), in config order."""
    flats = [flat_config(r) for r in runs]
    keys = list(flats[0]) if flats else []
    return [k for k in keys if k not in _NOT_SWEPT and len({repr(f.get(k)) for f in flats}) > 1]


def steps_budget(runs: list[Run]) -> tuple[list, int, int]:
    """What a grok-step figure plots for a group of runs: grok step per seed (None = no grok), the
    largest budget, and how many of the seeds without a grok step were cut off before their budget
    (bounds, labelled apart from DNGs)."""
    cut = sum(r.summary["grok_step"] is None and records.cut_off(r.summary) for r in runs)
    # a cut run's bar ends where it stopped, not at the budget it was meant for
    ends = [r.summary.get("steps_done") or r.summary["budget"] if records.cut_off(r.summary) else r.summary["budget"]
            for r in runs]
    return [r.summary["grok_step"] for r in runs], max(ends), cut


MAX_CURVE_LINES = 6  # curves and reference lines one lambda figure can show with a legend that reads


def sweep_figures(runs: list[Run], out_dir: str | Path, prefix: str = "") -> list[Path]:
    """Grok-step bars per arm; the lambda U-curve when lam varies (at most ``MAX_CURVE_LINES`` lines); a heatmap
    when two fields vary. Returns the PNGs written."""
    out_dir = Path(out_dir)
    groups = group_runs(runs)
    figs = [plot_grok_bars({a: steps_budget(rs) for a, rs in groups.items()}, out_dir / f"{prefix}grok_steps.png")]
    vary = varying_fields(runs)
    if "lam" in vary:
        others = [k for k in vary if k != "lam"]
        series: dict[str, list] = {}
        refs: dict[str, tuple] = {}
        for (lam, *rest), rs in group_runs(runs, lambda r: tuple(flat_config(r)[k] for k in ["lam", *others])).items():
            label = ",".join(f"{k}={v}" for k, v in zip(others, rest)) or "lam sweep"
            if lam > 0:
                series.setdefault(label, []).append((lam, *steps_budget(rs)))
            else:
                refs[label] = steps_budget(rs)
        # a curve needs two lambdas; past MAX_CURVE_LINES lines the legend covers the axes (the tables carry those)
        readable = len(series) + len(refs) <= MAX_CURVE_LINES
        if readable and any(len({pt[0] for pt in pts}) > 1 for pts in series.values()):
            figs.append(plot_lambda_curve(series, out_dir / f"{prefix}lambda_curve.png", refs))
    if len(vary) == 2:
        grid = group_runs(runs, lambda r: tuple(flat_config(r)[k] for k in vary))
        if len(grid) > 1:
            figs.append(plot_heatmap({"all runs": {k: steps_budget(rs) for k, rs in grid.items()}},
                                     vary[0], vary[1], out_dir / f"{prefix}grok_heatmap.png"))
    return figs


# the per-site figures of a report: metric prefix, y label, reference line (the isotropic floor), log scale
SITE_FIGURES = (("radius", "mean ||h||", None, True),
                ("phi_task", "Φ̃_rad of the task gradient (floor 1)", 1.0, True),
                ("phi_total", "Φ̃_rad of the total gradient", 1.0, True))


def run_figures(runs: list[Run], out_dir: Path, sites: tuple = SITE_FIGURES) -> tuple[Path, list[Path], list[Path]]:
    """Every report's figures of ``runs``, written into ``out_dir``: accuracy per arm (grok steps marked),
    ``sweep_figures``, and one figure per ``sites`` metric that was logged; (accuracy, sweep, sites)."""
    groups = group_runs(runs)
    curves = {a: [r.rows for r in rs] for a, rs in groups.items()}
    acc = plot_accuracy(curves, out_dir / "accuracy.png",
                        grok_steps={a: [r.summary["grok_step"] for r in rs] for a, rs in groups.items()})
    sweep = sweep_figures(runs, out_dir)
    per_site = [plot_site_metric(curves, prefix, out_dir / f"{prefix}.png", ylabel, floor, log)
                for prefix, ylabel, floor, log in sites]
    return acc, sweep, [f for f in per_site if f is not None]


def describe_setting(c: dict) -> str:
    """One line naming the task and the model of a run's config dict (older configs lack task/arch)."""
    t, m = c["task"], c["model"]
    arch = m.get("arch", "mlp")
    task = kind_of(t.get("task")).describe(t)
    if arch == "mlp":
        model = f"MLP depth {m['depth']} width {m['width']} ({m['encoding']} inputs)"
    elif arch == "transformer":
        model = f"pre-LN transformer, {m['depth']} blocks, {m['n_heads']} heads, d_model {m['width']}, LN {m['ln']}"
    else:
        model = f"GPT, {m['depth']} layers, {m['n_heads']} heads, width {m['width']}"
    return f"{task}; model: {model}"


def report_dir(path: str | Path, title: str = "radgrok report") -> str:
    """Write ``report.md`` and ``accuracy.png`` into ``path`` and return the markdown."""
    path = Path(path)
    runs = load_runs(path)
    if not runs:
        return f"no runs (no {records.SUMMARY}) under {path}"
    out_dir = path if path.is_dir() else path.parent
    png, sweep, sites = run_figures(runs, out_dir)
    c = runs[0].config
    md = "\n".join([
        f"# {title}", "",
        f"{describe_setting(c)}; "
        f"grok step = first evaluation with test accuracy > {c['train']['grok_threshold']:.0%} that stays above "
        "it for the rest of the run; DNG = did not grok within the budget; none by N (cut) = stopped at "
        "step N, before its budget, without a grok step (a bound, not a DNG).", "",
        grok_table(group_runs(runs)), "",
        *([table, ""] if (table := forecast_table(runs)) else []),
        f"![accuracy]({png.name})", "", *[f"![{f.stem}]({f.name})" for f in sweep], "",
        *[x for f in sites for x in (f"![{f.stem}]({f.name})", "")],
    ])
    records.atomic_write_text(out_dir / "report.md", md)
    return md
