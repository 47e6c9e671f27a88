"""Fair comparison of methods: one task, budget, cadence and seed set for every arm.

Optionally each arm first gets a small hyperparameter search (``tune``, e.g. weight
decay x lr) scored on a validation split carved out of the *training* pairs --
never on the test set. The winner of each arm is then trained on the full training
set with every seed, and the table reports steps to 90% and 95% test accuracy
(mean ± std, DNG count) beside the hyperparameters each arm used. A tuning run without a
validation grok is a DNG only when it ran its whole budget; one stopped before it (a cap, or
the early stop on the test grok) is "none by N (cut)" (``runs.steps.seed_step``).
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Sequence

from ..runs import records
from ..runs.grok import grok_step
from ..runs.records import Status, read_config
from ..runs.steps import seed_step
from .sweep import combos, grid, run_sweep

__all__ = ["METHOD_ARMS", "compare", "val_score"]

# arm -> overrides on the base preset (cpu-mlp-strong-wd: wd 1.0, lr 3e-3, 2,500 steps).
# The penalty arms use the radius our calibration found useful (docs/results/README.md).
METHOD_ARMS: dict[str, dict] = {
    "strong-wd": {},
    "penalty": dict(lam=1.0, radius_scale=0.1),
    "grokfast-ema": dict(grokfast="ema"),
    "orthograd": dict(orthograd=True),
    "penalty+grokfast": dict(lam=1.0, radius_scale=0.1, grokfast="ema"),
}


def val_score(run_dir: Path) -> tuple[float, float]:
    """(validation grok step, -final validation accuracy): lower is better; DNG = inf. The grok
    step on the validation curve uses the run's own grok threshold."""
    rows = [r for r in records.read_jsonl(Path(run_dir) / records.METRICS) if "val_acc" in r]
    if not rows:
        return (math.inf, 0.0)
    threshold = read_config(run_dir).train.grok_threshold
    g = grok_step([r["step"] for r in rows], [r["val_acc"] for r in rows], threshold)
    return (math.inf if g is None else g, -rows[-1]["val_acc"])


def _val_cell(run_dir: Path, score: tuple[float, float]) -> str:
    """One tuning seed's validation grok step (``score`` is its ``val_score``) in the one phrase: the
    step, DNG when the run ran its whole budget, "diverged", or "none by N (cut)" where it stopped."""
    if not math.isinf(score[0]):
        return seed_step(int(score[0]))
    path = Path(run_dir) / records.SUMMARY
    s = records.read_json(path) if path.exists() else {}
    if s.get("status") == Status.DIVERGED:
        return "diverged"
    return seed_step(None, None if s.get("status", Status.DNG) == Status.DNG else s.get("steps_done"))


def _candidate(arm: str, combo: dict) -> str:
    """The label of one tuning candidate: ``<arm>,<key>=<value>,...``."""
    return f"{arm}," + ",".join(f"{k}={v}" for k, v in combo.items())


def compare(out: str | Path, preset: str = "cpu-mlp-strong-wd", arms: dict[str, dict] | None = None,
            seeds: Sequence[int] = (0, 1, 2), tune: dict[str, list] | None = None, tune_seeds: Sequence[int] = (0,),
            val_frac: float = 0.1, workers: int | None = None) -> str:
    """Tune (optionally) on validation, train the winners on every seed, return a markdown report."""
    arms = dict(METHOD_ARMS if arms is None else arms)
    out = Path(out)
    chosen: dict[str, dict] = {arm: {} for arm in arms}
    tune_lines: list[str] = []
    candidates = combos(tune)
    if tune and len(candidates) > 1:
        trials = grid(preset, seeds=tune_seeds, arms={_candidate(arm, c): {**ov, **c, "val_frac": val_frac}
                                                      for arm, ov in arms.items() for c in candidates})
        print(f"tuning: {len(trials)} runs on a validation split of {val_frac:.0%} of the training pairs")
        run_sweep(trials, out / "tune", workers=workers)
        tune_lines = ["| arm | candidate | validation grok step (per tuning seed) | chosen |", "|---|---|---|---|"]
        for arm in arms:
            scored = []
            for c in candidates:
                dirs = [out / "tune" / records.run_name(_candidate(arm, c), seed) for seed in tune_seeds]
                s = [val_score(d) for d in dirs]
                mean = (statistics.mean(x[0] for x in s), statistics.mean(x[1] for x in s))
                scored.append((mean, c, [_val_cell(d, x) for d, x in zip(dirs, s)]))
            best = min(scored, key=lambda t: t[0])
            chosen[arm] = best[1]
            tune_lines += [f"| {arm} | {c} | {', '.join(cells)} | {'**yes**' if c is best[1] else ''} |"
                           for _, c, cells in scored]
    trials = grid(preset, seeds=seeds, arms={arm: {**ov, **chosen[arm]} for arm, ov in arms.items()})
    print(f"final: {len(trials)} runs ({len(arms)} arms x {len(seeds)} seeds) on the full training set")
    run_sweep(trials, out / "final", workers=workers)
    from ..report.report import report_dir

    md = report_dir(out / "final", title="radgrok compare: methods at matched budget, seeds and cadence")
    lines = [md, "", f"Arms (overrides on preset `{preset}`): " +
             "; ".join(f"**{a}** {ov or '(preset as is)'}" for a, ov in arms.items()) + "."]
    if tune_lines:
        lines += ["", f"Hyperparameters chosen per arm on a validation split ({val_frac:.0%} of the training "
                      "pairs, test set untouched), score = validation grok step, then final validation "
                      "accuracy:", "", *tune_lines]
    md = "\n".join(lines) + "\n"
    records.atomic_write_text(out / "report.md", md.replace("](", "](final/"))
    return md
