"""``radgrok reproduce TARGET``: run one paper table or figure and report ours beside the paper's.

A target is a list of trials (targets.py) run through the sweep engine into
``out/runs`` (a re-run reuses finished runs), then a report in ``out``: report.md,
PNG figures and a report.html that shows them, with the paper's numbers
(paper.py), our numbers, the settings, the unstated choices each arm used and a
verdict per claim (verdicts.py).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import statistics
import time
from pathlib import Path

from ..report.html import write_html
from ..report.report import SITE_FIGURES, Run, load_runs, run_figures
from ..runs import records
from ..runs.config import ConfigError, to_dict
from ..runs.grok import grok_step
from ..runs.steps import seed_steps, steps_text
from .judging import arm_results, in_plan, involved, pooled_text, verdict
from .paper import PAPER
from .plans import Plan
from .sections import FIGURES, SECTIONS
from .sweep import BATCH_MODES, FINISHED, check_devices, finished_summary, run_sweep
from .targets import FIRST_READING, READINGS, TARGETS, est_seconds, plan
from .verdicts import RULE

__all__ = ["reproduce", "dry_run"]

CUT = records.Status.CUT  # a run stopped before its budget (a cap, or an invocation stopped from outside)
READING_LABELS = {label for _, label in READINGS.values()}


def dry_run(p: Plan, workers: int = 2, trials: list | None = None) -> str:
    """The trial list (``trials``, default all of the plan's), its count and a rough CPU time, without training."""
    trials = p.trials() if trials is None else trials
    lines = [f"radgrok reproduce {p.target} --scale {p.scale}: {len(trials)} trials "
             f"({len(p.arms)} arms x {len(p.seeds)} seeds {p.seeds})"]
    ests = [est_seconds(t) for t in trials]
    for t, est in zip(trials, ests):
        lines.append(f"  {t.name:<40} preset {t.preset:<22} {dict(t.overrides)}  budget {t.config().train.steps:,}, "
                     f"~{est / 60:.1f} min")
    total = sum(ests)
    lines.append(f"estimated count {len(trials)} trials; CPU time at full budgets ~{total / 3600:.2f} h, "
                 f"~{total / 60 / max(1, workers):.0f} min with {workers} workers (grokked runs stop sooner)")
    return "\n".join(lines)


def _as_cut_off(run: Run, planned: int | None = None) -> Run:
    """A run that stopped before its budget (status still 'running', or a DNG under a ``--steps``
    cap below the ``planned`` budget), as a bound at the last step it logged, or grokked if its
    curve already holds above the run's own grok threshold to that step."""
    rows = run.rows
    last = rows[-1]["step"]
    g = grok_step([r["step"] for r in rows], [r["test_acc"] for r in rows], run.config["train"]["grok_threshold"])
    s = dict(run.summary, status=CUT, grok_step=g, budget=planned or run.summary["budget"], steps_done=last,
             final={k: rows[-1].get(k) for k in ("train_acc", "test_acc", "train_loss", "test_loss")})
    if planned and planned > run.summary["budget"]:
        s["cap"] = run.summary["budget"]
    return dataclasses.replace(run, summary=s)


def _cut_section(runs: dict[str, Run]) -> list[str]:
    cut = [r for r in runs.values() if r.summary["status"] == CUT]
    if not cut:
        return []
    lines = ["", "## Runs cut off before their budget", "",
             "The invocation that trained these was stopped (a time limit), or a --steps cap below the arm's "
             "budget ended them; each is reported at the last evaluation it logged, as a lower bound on its "
             "grok step.", "",
             "| run | reached step | budget | best test acc | last test acc | last train acc |",
             "|---|---|---|---|---|---|"]
    for r in cut:
        rows, s = r.rows, r.summary
        lines.append(f"| {r.name} | {s['steps_done']:,} | {s['budget']:,} | "
                     f"{max(x['test_acc'] for x in rows):.4f} | {rows[-1]['test_acc']:.4f} | "
                     f"{rows[-1]['train_acc']:.4f} |")
    return lines


def _setup_table(p: Plan, runs: dict[str, Run]) -> list[str]:
    lines = ["| arm | preset | overrides | λ | reading of ‖h‖ | r/√d | wd | lr | batch | eval every | budget | seeds "
             "| encoding | init scale | depth | penalty site | dropout | arch/LN |", "|" + "---|" * 18]
    first = {k: p.arms[0].overrides.get(k) for k in ("p", "train_frac")} if p.pool_by else {}
    for a in p.arms:
        if any(a.overrides.get(k) != v for k, v in first.items()):
            continue  # a pooled target: its arms at the first cell stand for every cell
        seeds = p.arm_seeds(a)
        c = next((r.config for r in p.runs_of(a, runs)), None) or to_dict(a.config(seeds[0]))  # a run's, else planned
        m, o = c["model"], c["optim"]
        arch = m["arch"] + (f" / {m['ln']}" if m["arch"] != "mlp" else "")
        pen = c["penalty"]
        # records older than the readings have no norm_over/reduce: they were one norm per example, mean
        reading = "-" if not pen["lam"] else f"{pen.get('norm_over', 'example')}, {pen.get('reduce', 'mean')}"
        lines.append(f"| {a.name} | {a.preset} | {a.overrides or '-'} | {pen['lam']} | {reading} "
                     f"| {pen['radius_scale']} | {o['weight_decay']} | {o['lr']} "
                     f"| {o['batch_size'] or 'full'} | {c['train']['eval_every']} | {c['train']['steps']:,} "
                     f"| {len(seeds)} | {m['encoding']} | {m['init_scale']} | {m['depth']} "
                     f"| {c['penalty']['site']} | {m['dropout']} | {arch} |")
    if first:
        ps, fs = p.cells()
        lines += ["", f"Each arm above runs at every cell P in {ps} x train fraction in {fs} (the rows show the "
                  f"first cell, P {first['p']}, f {first['train_frac']}; each cell sets its own P and f)."]
    return lines


_CHOICES = ("Unstated choices (the paper does not give them; each arm's values are in the table above): "
            "**input encoding** `onehot` = one-hot a and b concatenated (`embed` = learned embeddings, "
            "concatenated); **init** = PyTorch's default (Kaiming-uniform) times `init scale`; **depth** = "
            "number of hidden ReLU layers (MLP) or of blocks (transformer); **penalty site** `pre` = the "
            "hidden pre-activations (`post` = after the ReLU; the transformer always hooks each sub-layer "
            "output); **batch** `full` = one step is one epoch (one secondary account says 256).")


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        from .bench import device_name  # torch only where a GPU is named

        return f"{device} ({device_name(device)})"
    return device or "cpu"


def _report(p: Plan, out: Path, wall: float | None, workers: int, device: str, command: str,
            cut_off: bool = False, note: str = "") -> str:
    planned = {records.run_name(a.name, s): p.budget(a) for a in p.arms for s in p.arm_seeds(a)}  # run -> budget
    loaded = [r for r in load_runs(out / "runs") if r.name in planned] if (out / "runs").exists() else []
    # only finished runs count; a run still in progress (another invocation) is left out, unless
    # ``cut_off`` says its invocation was stopped: then it counts at the step it reached
    if cut_off:
        loaded = [_as_cut_off(r) if r.summary["status"] == records.Status.RUNNING and r.rows else r for r in loaded]
    # a run that ended without grokking at a --steps cap below its arm's budget is a bound, not a DNG
    loaded = [_as_cut_off(r, planned=planned[r.name])
              if r.summary["status"] == records.Status.DNG and r.summary["budget"] < planned[r.name] else r
              for r in loaded]
    loaded = [r for r in loaded if r.summary["status"] in FINISHED]
    runs = {r.name: r for r in loaded}
    spec = TARGETS[p.target]
    # the target's own figures first: they may add per-run metrics (Run.extra) the verdicts read
    figs_extra = [f for name in spec.figures for f in FIGURES[name](p, runs, out)]
    paper = PAPER.get(p.target)
    arms = arm_results(p, runs)
    md = [f"# radgrok reproduce {p.target} ({p.scale} scale)", ""]
    if paper:
        md += [f"Paper: **{paper.title}**. Setting of the published numbers: {paper.setting}.", ""]
    train_s = sum(r.summary.get("wall_seconds") or 0 for r in runs.values())  # null: never written
    stacked = sum(r.summary.get("stacked", 1) > 1 for r in runs.values())
    summed = "summed over runs" + (f" ({stacked} runs trained stacked: each counts its stack's shared time)"
                                   if stacked else "")
    n_cut = sum(r.summary["status"] == CUT for r in runs.values())
    when = (f"wall time {wall:.0f} s (the invocation that trained)" if wall is not None
            else "wall time not recorded (the invocation that trained was cut off; finished runs reported)")
    md += [f"Command: `{command}` — {when} on {device} with "
           f"{workers} worker process(es), one torch thread each; {train_s:.0f} s of training {summed}; "
           f"{len(runs) - n_cut}/{len(planned)} runs finished" + (f", {n_cut} cut off" if n_cut else "")
           + f". Seeds: {p.seeds}.", "", *([f"How the runs were trained: {note}", ""] if note else []),
           "Grok step = first evaluation with test accuracy > 90% that stays above 90% for the rest of the "
           "run; DNG = did not grok within the budget (counted as the budget in ratios, which makes them "
           "bounds). Ratios: mean grok step of the reference / mean grok step of the arm.", ""]
    if paper and paper.claims:
        md += ["## Verdicts", "", RULE, "", "| claim | setting | baseline | paper | ours | measured ratio | verdict |",
               "|---|---|---|---|---|---|---|"]
        # arms that have reading twins: their claims in the paper's setting name the first reading
        twinned = {k for lbl, alias in p.aliases if lbl in READING_LABELS for k in alias}
        for label, alias in p.aliases:
            for c in paper.claims:
                reads = involved(c)
                # a labelled setting judges the claims on its arms; the paper's own setting those whose
                # arms this plan runs (table6 at paper size runs no first-reading penalty)
                if (label and not any(k in reads for k in alias)) or (not label and not in_plan(p, c, alias)):
                    continue
                setting = label or "as in the paper" + (f"; {FIRST_READING}" if twinned & reads else "")
                v, measured = verdict(p, runs, arms, c, alias)
                values = [x.value for x in (c, *c.parts) if x.value is not None]
                if p.pool_by and values:
                    setting += f"; {pooled_text(p, measured, values[0])}"
                why = f" ({v.why})" if v.why else ""
                md.append(f"| {v.claim} | {setting} | {v.baseline or '-'} | {v.paper} | {v.ours} | {v.ratio} "
                          f"| **{v.verdict}**{why} |")
        if any(c.kind == "all" for c in paper.claims):
            md += ["", "A claim made of parts (at every fraction; fails and groks) holds as its weakest part: not "
                   "reproduced if any part is, open while any part is open or not run yet, direction only if any "
                   "part's size does not agree."]
        md.append("")
    md += ["## Paper vs ours, per arm", "", "| arm | paper | ours: grok step mean ± std | per seed | final test acc |",
           "|---|---|---|---|---|"]
    published = {n.arm: n for n in paper.numbers} if paper else {}
    unrun = [name for name, a in arms.items() if not a.grok_steps] if p.pool_by else []
    for name, a in arms.items():
        if name in unrun:  # a pooled target's cells not run yet: counted below, listed in its own tables
            continue
        n = published.get(name)
        ptxt = "-" if n is None else (
            ("DNG" if n.value is None else f"{n.value:,g}" + (f" ± {n.std:g}" if n.std else ""))
            + (f" ({n.metric})" if n and n.metric != "grok_epoch" else "") + (f" — {n.note}" if n and n.note else ""))
        acc = [r.summary["final"]["test_acc"] for r in runs.values() if r.arm == name]
        ours = steps_text(a)
        if n is not None and n.metric != "grok_epoch" and a.metric(n.metric) is not None:
            ours = f"{n.metric} {a.metric(n.metric):.4g} (grok step: {ours})"
        md.append(f"| {name} | {ptxt} | {ours} | {seed_steps(a)} | "
                  f"{statistics.mean(acc):.3f} |" if acc else f"| {name} | {ptxt} | not run | - | - |")
    if unrun:
        md.append(f"| ({len(unrun)} of {len(arms)} arms not run yet) | - | - | - | - |")
    for n in paper.numbers if paper else ():
        if n.arm not in arms:
            md.append(f"| {n.arm} (paper only) | {'DNG' if n.value is None else f'{n.value:,g}'} ({n.metric})"
                      f"{' — ' + n.note if n.note else ''} | - | - | - |")
    for name in spec.sections:
        md += SECTIONS[name](p, runs, arms)
    md += _cut_section(runs)
    md += ["", "## Settings", "", *_setup_table(p, runs), "", _CHOICES, ""]
    if p.notes:
        md += ["Notes:", "", *[f"- {n}" for n in p.notes], ""]
    if paper and paper.notes:
        md += [*[f"- paper: {n}" for n in paper.notes], ""]
    md += ["## Figures", ""]
    if loaded:
        accuracy, sweep, sites = run_figures(loaded, out, SITE_FIGURES[:2])  # radius, the task gradient's Φ̃_rad
        md += [f"![{f.stem}]({f.name})\n" for f in [accuracy, *sweep, *sites, *figs_extra]]
    text = "\n".join(md) + "\n"
    records.atomic_write_text(out / "report.md", text)
    write_html(text, out / "report.html", title=f"radgrok reproduce {p.target}")
    return text


def reproduce(target: str, scale: str = "cpu", seeds: int | None = None, out: str | Path | None = None,
              workers: int = 2, backend: str = "local", dry: bool = False, command: str = "",
              device: str = "", batch: str = "auto", report_only: bool = False, only: list[str] | None = None,
              steps: int | None = None) -> str:
    """Run ``target`` (or list it, ``dry``) and write its report; returns the markdown (or the listing).
    ``device`` ("" = the presets', cpu) applies to every trial; ``batch`` is run_sweep's.
    ``report_only`` trains nothing and reports the runs already finished under ``out``.
    ``only`` (shell patterns on trial names, e.g. ``penalty@batch-s*``) trains just those trials;
    the report still covers every arm. ``steps`` caps every budget (runs it stops are bounds)."""
    p = plan(target, scale, seeds, steps)  # validates everything before any directory exists
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if backend not in ("local", "ray"):
        raise ConfigError(f"--backend must be one of ['local', 'ray'], got {backend!r}")
    if batch not in BATCH_MODES:
        raise ConfigError(f"--batch must be one of {list(BATCH_MODES)}, got {batch!r}")
    trials = [dataclasses.replace(t, device=device) for t in p.trials()]
    trials[0].config()  # a bad --device fails here, before any directory exists
    if only:
        trials = [t for t in trials if any(fnmatch.fnmatchcase(t.name, pat) for pat in only)]
        if not trials:
            raise ConfigError(f"--only: no trial of {target} matches {only}; --dry-run lists the trial names")
    if dry:
        return dry_run(p, workers, trials)
    if not report_only:
        check_devices(trials)
    if backend == "ray":  # fail before any directory exists
        try:
            import ray  # noqa: F401
        except ImportError:
            raise ConfigError("--backend ray needs Ray: pip install 'radgrok[ray]'") from None
    out = Path(out or f"runs/reproduce/{target}-{scale}")
    timing = out / "timing.json"
    command = command or f"radgrok reproduce {target} --scale {scale} --out {out}"
    if report_only:
        if not (out / "runs").is_dir():
            raise ConfigError(f"--out: {out} holds no runs to report (no {out / 'runs'})")
        t = records.read_json(timing) if timing.exists() else {}
        trained_by = t.get("command") or command.replace(" --report-only", "")
        if "device" not in t:  # the invocation was cut off before it wrote timing.json: the runs say where
            cfgs = [records.read_config(c.parent).train.device for c in (out / "runs").glob(f"*/{records.CONFIG}")]
            t["device"] = ", ".join(sorted(set(cfgs))) or "cpu"
        return _report(p, out, t.get("wall_seconds"), t.get("workers", workers), t["device"], trained_by,
                       cut_off=True, note=t.get("note", ""))
    print(f"radgrok reproduce {target} --scale {scale}: {len(trials)} trials, {workers} worker(s) -> {out}",
          flush=True)
    reused = sum(finished_summary(out / "runs" / t.name) is not None for t in trials)
    # The wall time that matters is that of the invocation that trained; a re-run that only
    # reuses finished runs keeps the earlier record. Written first with no wall time, so that
    # an invocation stopped from outside (a time limit) still says where and how it ran.
    trains = reused < len(trials) or not timing.exists()
    record = {"wall_seconds": None, "workers": workers, "trained": len(trials) - reused, "reused": reused,
              "device": _device_name(device), "batch": batch, "command": command}
    if trains:
        out.mkdir(parents=True, exist_ok=True)
        records.write_json(timing, record)
    t0 = time.perf_counter()
    run_sweep(trials, out / "runs", backend=backend, workers=workers, batch=batch)
    if trains:
        records.write_json(timing, dict(record, wall_seconds=round(time.perf_counter() - t0, 1)))
    t = records.read_json(timing)
    return _report(p, out, t["wall_seconds"], t["workers"], t.get("device", "cpu"), t.get("command", command))
