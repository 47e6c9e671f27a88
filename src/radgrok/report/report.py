"""Markdown reports built from run directories (config.json, metrics.jsonl, summary.json)."""

from __future__ import annotations

import re
import statistics
from pathlib import Path

from ..training import records
from .plots import plot_accuracy, plot_site_metric

__all__ = ["load_runs", "group_runs", "grok_table", "report_dir"]


def load_runs(path: str | Path) -> list[dict]:
    """Every run directory at or below ``path``: {dir, name, config, summary, metrics}."""
    path = Path(path)
    dirs = [path] if (path / records.SUMMARY).exists() else sorted(
        p.parent for p in path.rglob(records.SUMMARY))
    runs = []
    for d in dirs:
        runs.append({
            "dir": d, "name": d.name,
            "config": records.read_json(d / records.CONFIG)["config"],
            "summary": records.read_json(d / records.SUMMARY),
            "metrics": records.read_jsonl(d / records.METRICS),
        })
    return runs


def group_runs(runs: list[dict]) -> dict[str, list[dict]]:
    """Runs grouped by arm: the directory name without its trailing ``-s<seed>``."""
    groups: dict[str, list[dict]] = {}
    for r in runs:
        groups.setdefault(re.sub(r"-s\d+$", "", r["name"]), []).append(r)
    return groups


def _fmt_steps(values: list) -> str:
    got = [v for v in values if v is not None]
    dng = len(values) - len(got)
    if not got:
        return f"DNG ({dng}/{len(values)})"
    text = f"{statistics.mean(got):,.0f}"
    if len(got) > 1:
        text += f" ± {statistics.stdev(got):,.0f}"
    return text + (f" ({dng} DNG)" if dng else "")


def grok_table(groups: dict[str, list[dict]]) -> str:
    """One row per arm: hyperparameters, grok step per seed, mean ± std, steps to 95%."""
    lines = [
        "| arm | seeds | λ | wd | lr | batch | eval every | budget | grok step per seed | grok step mean ± std | step to 95% | final test acc |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, runs in groups.items():
        runs = sorted(runs, key=lambda r: r["summary"]["seed"])
        s0, c0 = runs[0]["summary"], runs[0]["config"]
        per_seed = ", ".join(
            f"s{r['summary']['seed']}: {r['summary']['grok_step'] if r['summary']['grok_step'] is not None else 'DNG'}"
            for r in runs)
        finals = [r["summary"]["final"]["test_acc"] for r in runs]
        batch = "full" if s0["batch_size"] == s0["n_train"] else s0["batch_size"]
        lines.append(
            f"| {arm} | {len(runs)} | {c0['penalty']['lam']} | {c0['optim']['weight_decay']} | {c0['optim']['lr']} "
            f"| {batch} | {s0['eval_every']} | {s0['budget']:,} | {per_seed} "
            f"| {_fmt_steps([r['summary']['grok_step'] for r in runs])} "
            f"| {_fmt_steps([r['summary']['step_95'] for r in runs])} "
            f"| {statistics.mean(finals):.3f} |")
    return "\n".join(lines)


def report_dir(path: str | Path, title: str = "radgrok report") -> str:
    """Write ``report.md`` and ``accuracy.png`` into ``path`` and return the markdown."""
    path = Path(path)
    runs = load_runs(path)
    if not runs:
        return f"no runs (no {records.SUMMARY}) under {path}"
    groups = group_runs(runs)
    out_dir = path if path.is_dir() else path.parent
    png = plot_accuracy({a: [r["metrics"] for r in rs] for a, rs in groups.items()}, out_dir / "accuracy.png",
                        grok_steps={a: [r["summary"]["grok_step"] for r in rs] for a, rs in groups.items()})
    curves = {a: [r["metrics"] for r in rs] for a, rs in groups.items()}
    extra = []
    for prefix, ylabel, floor, log in (("radius", "mean ||h||", None, True),
                                       ("phi_task", "Φ̃_rad of the task gradient (floor 1)", 1.0, True),
                                       ("phi_total", "Φ̃_rad of the total gradient", 1.0, True)):
        fig = plot_site_metric(curves, prefix, out_dir / f"{prefix}.png", ylabel, floor, log)
        if fig is not None:
            extra += [f"![{prefix}]({fig.name})", ""]
    c = runs[0]["config"]
    md = "\n".join([
        f"# {title}", "",
        f"Task: {c['task']['op']} mod {c['task']['p']}, train fraction {c['task']['train_frac']}; "
        f"model: MLP depth {c['model']['depth']} width {c['model']['width']} ({c['model']['encoding']} inputs); "
        f"grok step = first evaluation with test accuracy > {c['train']['grok_threshold']:.0%} that stays above "
        "it for the rest of the run; DNG = did not grok within the budget.", "",
        grok_table(groups), "",
        f"![accuracy]({png.name})", "", *extra,
    ])
    records.atomic_write_text(out_dir / "report.md", md)
    return md
