"""What each ``radgrok reproduce`` target runs: arms x seeds over presets + overrides, per scale.

``paper`` scale uses the paper presets (MLP 2x512, lr 1e-3, full batch, 100k budget) and
the paper's 5 seeds: a GPU job. ``cpu`` scale uses the calibrated CPU twins (MLP 2x128,
lr 3e-3, eval every 50; docs/results/README.md) with seeds and budgets chosen so each
target ends within 60 minutes on a 2-core machine with 2 workers; on CPU the paper's
strong wd 0.1 does not grok at width 128, so strong WD there is wd 1.0. Where the paper's
own penalty setting (lam 0.05 at r = sqrt(d), weak wd) is known not to grok at CPU size,
the cpu scale adds the penalty setting our calibration found to work, as a second,
clearly labelled arm -- the paper's setting is always run as printed. No torch import.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

from ..runs.config import ConfigError, mlp_matrix_entries
from ..runs.sizes import train_count
from ..training.kinds import kind_of
from .plans import GRID_ARMS, VAL_FRAC, WD_GRID, Arm, Plan, arm_head, cell_name, reading_name
from .sweep import Trial

__all__ = ["Target", "TARGETS", "SCALES", "READINGS", "FIRST_READING", "plan", "est_seconds", "T7_BATCH_LAM",
           "T6_FRACTIONS", "T6_PAPER_P"]

# The literal readings of the paper's ||h|| (radgrok.penalty.readings) other than radgrok's first one (one norm
# per example, mean over the batch), as the overrides that select them and the label a report gives.
READINGS = {
    "sum": ({"reduce": "sum"}, "reading: one norm per example, summed over the batch"),
    "batch": ({"norm_over": "batch"}, "reading: one Frobenius norm of the batch matrix (torch.norm(h))"),
}
FIRST_READING = "reading: one norm per example, mean over the batch"

SCALES = ("cpu", "paper")
PAPER_SEEDS = 5


# -- arms shared by the MLP targets ------------------------------------------------------------
def _mlp_arms(scale: str, steps: int | None, names: tuple[str, ...], **extra) -> list[Arm]:
    """The Table-2 arms by name, at ``scale``; ``steps`` overrides the budget (cpu only)."""
    ov = dict(extra, **({"steps": steps} if steps else {}))
    if scale == "paper":
        table = {"weak-wd": Arm("weak-wd", "paper-mlp-weak-wd", dict(ov)),
                 "strong-wd": Arm("strong-wd", "paper-mlp-strong-wd", dict(ov)),
                 "dropout": Arm("dropout", "paper-mlp-weak-wd", dict(ov, dropout=0.1)),
                 "penalty": Arm("penalty", "paper-mlp", dict(ov))}
    else:
        table = {"weak-wd": Arm("weak-wd", "cpu-mlp-strong-wd", dict(ov, weight_decay=1e-3)),
                 "strong-wd": Arm("strong-wd", "cpu-mlp-strong-wd", dict(ov)),
                 "dropout": Arm("dropout", "cpu-mlp-strong-wd", dict(ov, weight_decay=1e-3, dropout=0.1)),
                 "penalty": Arm("penalty", "cpu-mlp", dict(ov)),
                 "penalty-small-r": Arm("penalty-small-r", "cpu-mlp-small-radius", dict(ov))}
    return [table[n] for n in names if n in table]


_CAL = ("cpu calibration: penalty lam 1 at r = 0.1·sqrt(d), weak wd", {"penalty": "penalty-small-r"})
_CPU_NOTE = ("cpu scale: MLP 2x128, lr 3e-3 (paper 2x512, lr 1e-3); strong WD = wd 1.0 because wd 0.1 does "
             "not grok at this width; eval every 50 steps")


def _is_printed_penalty(arm: Arm) -> bool:
    """Whether the arm runs the paper's penalty as printed (soft, r = sqrt(d)) under the first reading."""
    pen = arm.config().penalty
    return (pen.lam > 0 and pen.mode == "soft" and pen.radius_scale == 1.0 and pen.norm_over == "example"
            and pen.reduce == "mean")


def _add_readings(p: Plan) -> None:
    """A twin of every printed-penalty arm under each other reading, and one verdict row per reading.

    The twins are the same trials with ``reduce`` or ``norm_over`` changed; the report judges every
    claim on a penalty arm once per reading, through an alias (paper's arm -> the twin)."""
    printed = [a for a in p.arms if _is_printed_penalty(a)]
    if not printed:
        return
    for reading, (ov, label) in READINGS.items():
        twins = {a.name: reading_name(a.name, reading) for a in printed}
        p.arms += [Arm(twins[a.name], a.preset, dict(a.overrides, **ov), a.seeds) for a in printed]
        # pooled targets (table6) judge the arm by its first field: map that name too
        twins.update({arm_head(n): reading_name(arm_head(n), reading) for n in list(twins)})
        p.aliases.append((label, twins))


def _mechanism_arms(scale: str, n_train: int) -> list[Arm]:
    """What the batch reading's gain is made of, in the Table-2 setting."""
    pen, base = ("paper-mlp", "paper-mlp-weak-wd") if scale == "paper" else ("cpu-mlp", "cpu-mlp-strong-wd")
    # patience 300 (3 evaluations past the grok step) instead of the presets' 1,000/100: CPU time
    batch = {"norm_over": "batch", "patience": 300} if scale == "paper" else {"norm_over": "batch"}
    arms = [
        Arm("penalty@batch", pen, dict(batch)),
        # (a) the per-example reading at the strength and radius the batch reading implies: with M rows of
        # equal norm rho, (1/d)(||H|| - sqrt d)^2 = (M/d)(rho - sqrt(d/M))^2, i.e. lam*M at r = sqrt(d/M)
        # (named by r in units of sqrt(d), as the radius sweep's arms: no "/" in a run directory's name)
        Arm(f"penalty@sum,r={n_train ** -0.5:.4f}", pen, dict(batch, norm_over="example", reduce="sum",
                                                               radius_scale=round(n_train ** -0.5, 6))),
        # (b) activation L2 at the same strength: the batch reading's radius set to 0
        Arm("act-l2@batch", pen, dict(batch, radius_scale=0.0)),
        # (d) one secondary account of the paper trains in batches of 256
        Arm("penalty@batch,bs=256", pen, dict(batch, batch_size=256)),
        # (e) the reviewer's radius sweep
        Arm("penalty@batch,r=0.5", pen, dict(batch, radius_scale=0.5)),
        Arm("penalty@batch,r=2", pen, dict(batch, radius_scale=2.0)),
    ]
    # (c) weight decay tuned on a validation split (10% of the training pairs; the grid goes on past
    # 3 and 10, where the paper-size runs kept finding the best at the grid's edge), and the batch
    # reading on the same split so the two see the same training pairs
    arms += [Arm(name, base, dict(lam=0.0, weight_decay=wd, val_frac=VAL_FRAC,
                                  **{k: v for k, v in batch.items() if k == "patience"}))
             for wd, name in zip(WD_GRID, GRID_ARMS)]
    arms.append(Arm("penalty@batch,val", pen, dict(batch, val_frac=VAL_FRAC)))
    return arms


def _seeds(scale: str, cpu_default: int, seeds: int | None) -> list[int]:
    return list(range(seeds or (PAPER_SEEDS if scale == "paper" else cpu_default)))


# -- one builder per target: its arms, seeds, verdict aliases and notes -------------------------
def _table2_or_fig1(target: str, scale: str, seeds: int | None) -> Plan:
    names: tuple[str, ...] = ("weak-wd", "strong-wd", "dropout", "penalty", "penalty-small-r")
    if target == "fig1":
        names = tuple(n for n in names if n != "dropout")
    p = Plan(target, scale, _mlp_arms(scale, 4000 if scale == "cpu" else None, names), _seeds(scale, 3, seeds))
    p.notes.append("dropout rate 0.1 with weak wd (the paper states neither); 'MAN' is not implemented")
    return p


def _table1(target: str, scale: str, seeds: int | None) -> Plan:
    cpu = scale == "cpu"
    # paper scale: every 2nd evaluation (200 steps), so a grok within a few hundred steps (the batch
    # reading) still has its Fourier-coherence step resolved; 100 probes as in the paper
    diag = dict(expensive_every=10, hessian_probes=20) if cpu else dict(expensive_every=2, hessian_probes=100)
    names = ("weak-wd", "strong-wd", "penalty", "penalty-small-r")
    p = Plan(target, scale, _mlp_arms(scale, 4000 if cpu else None, names, **diag), _seeds(scale, 2, seeds))
    p.notes.append(f"Hessian and Fourier diagnostics every {diag['expensive_every']} evaluations, "
                   f"{diag['hessian_probes']} Hutchinson probes; table values are each arm's last evaluation")
    return p


def _figure(target: str, scale: str, seeds: int | None) -> Plan:
    names = ("weak-wd", "penalty", "penalty-small-r") + (("strong-wd",) if target != "fig3" else ())
    extra = dict(expensive_every=5) if target == "fig4" else {}
    return Plan(target, scale, _mlp_arms(scale, None, names, **extra),
                _seeds(scale, 2 if target == "fig3" else 1, seeds))


def _table7(target: str, scale: str, seeds: int | None) -> Plan:
    cpu = scale == "cpu"
    lams = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0)
    base = f"{scale}-mlp"
    # cpu: the paper's own setting is known not to grok at CPU size (docs/results), so one seed
    # per lam suffices to show it; the calibrated series below gets the seeds
    one = (0,) if cpu and seeds is None else None
    arms = [Arm(f"lam={lam}", base, dict(lam=lam), one) for lam in lams]
    p = Plan(target, scale, arms, _seeds(scale, 2, seeds))
    if cpu:  # the same sweep where the penalty does act at CPU size: r = 0.1*sqrt(d) on top of wd 1.0
        arms += [Arm(f"wd1+r0.1,lam={lam}", "cpu-mlp-strong-wd-radial", dict(lam=lam)) for lam in lams]
        arms.append(Arm("strong-wd", "cpu-mlp-strong-wd"))
        p.aliases.append(("cpu calibration: r = 0.1·sqrt(d), wd 1.0",
                          {f"lam={lam}": f"wd1+r0.1,lam={lam}" for lam in lams}))
    return p


# Table 7's minimum under the batch reading (docs/results/reproduce/table7-paper): table6 runs it beside lam 0.05
T7_BATCH_LAM = 0.01
T6_FRACTIONS = (0.6, 0.5, 0.4, 0.3)
T6_PAPER_P = (97, 137)  # of the paper's 97, 137, 211: a step at P 211 costs ~5x one at P 97 on CPU


def _table6_paper_arms() -> list[Arm]:
    """Table 6 at the paper's size, per (P, f) cell: the penalty under the batch reading (lam 0.05 and
    Table 7's lam), activation L2 (the batch reading at r = 0), strong WD 0.1, the weight-decay grid on
    a validation split (the tuned baseline is chosen from it per cell) and the batch reading on the
    same split. CPU time: patience 300 (3 evaluations past the grok step) instead of the presets' 1,000, and
    no per-evaluation diagnostics (they cost ~2x a run's training steps at this size; Table 6 is grok steps)."""
    cheap = dict(patience=300, diagnostics=False)
    batch = dict(cheap, norm_over="batch")
    val = dict(val_frac=VAL_FRAC)
    cell = [Arm("penalty@batch", "paper-mlp", batch),
            Arm(f"lam={T7_BATCH_LAM}@batch", "paper-mlp", dict(batch, lam=T7_BATCH_LAM)),
            Arm("act-l2@batch", "paper-mlp", dict(batch, radius_scale=0.0)),
            Arm("strong-wd", "paper-mlp-strong-wd", dict(cheap)),
            *[Arm(name, "paper-mlp-weak-wd", dict(cheap, lam=0.0, weight_decay=wd, **val))
              for wd, name in zip(WD_GRID, GRID_ARMS)],
            Arm("penalty@batch,val", "paper-mlp", dict(batch, **val))]
    return [Arm(cell_name(a.name, pp, f), a.preset, dict(a.overrides, p=pp, train_frac=f))
            for f in T6_FRACTIONS for pp in T6_PAPER_P for a in cell]


def _table6(target: str, scale: str, seeds: int | None) -> Plan:
    if scale == "paper":
        p = Plan(target, scale, _table6_paper_arms(), _seeds(scale, 1, seeds), pool_by="train_frac")
        p.aliases += [
            (f"{READINGS['batch'][1]}, λ 0.05", {"penalty": "penalty@batch", "penalty,val": "penalty@batch,val"}),
            (f"{READINGS['batch'][1]}, λ {T7_BATCH_LAM} (Table 7's minimum under this reading)",
             {"penalty": f"lam={T7_BATCH_LAM}@batch"}),
            ("activation L2: the batch reading at r = 0, λ 0.05", {"penalty": "act-l2@batch"})]
        p.notes += [
            f"paper scale on CPU: P in {{{', '.join(map(str, T6_PAPER_P))}}} (the paper's 211 costs ~5x a step "
            "at 97); the first reading of ||h|| (one norm per example, mean) is not run: at f 0.5 it did not "
            "grok by step 39,700 on the H100 (table2-paper)",
            f"tuned WD: per (P, f) cell, the wd of {list(WD_GRID)} (lam 0, {VAL_FRAC:.0%} of the training pairs "
            "held out) whose validation accuracy groks first on the first seed; its test grok steps on every "
            "seed are the baseline, against the batch reading trained on the same split (penalty@batch,val)"]
        return p
    ps, fs = (59, 97), T6_FRACTIONS
    base_arms = _mlp_arms(scale, None, ("strong-wd", "penalty", "penalty-small-r"))
    arms = [Arm(cell_name(a.name, pp, f), a.preset, dict(a.overrides, p=pp, train_frac=f))
            for a in base_arms for pp in ps for f in fs]
    p = Plan(target, scale, arms, _seeds(scale, 1, seeds), pool_by="train_frac")
    p.notes.append("cpu scale: P in {59, 97} (P = 137 and 211 cost 3-9x more per step)")
    return p


def _transformer(target: str, scale: str, seeds: int | None) -> Plan:
    # the Table-3 transformer (2 pre-LN blocks, 4 heads; cpu: P 59, d_model 64, 3k steps); its penalty arm is
    # lam 0.01 on top of the strong wd (the paper states neither)
    strong, pen = f"{scale}-transformer-strong-wd", f"{scale}-transformer"
    if target == "table3":
        # Table 3's strong WD / penalty (8,000 / 5,200) equal Table 9's non-affine row: non-affine LN
        arms = [Arm("strong-wd", strong, dict(ln="nonaffine")), Arm("penalty", pen, dict(ln="nonaffine"))]
    else:
        arms = [Arm(ln + suffix, preset, dict(ln=ln))
                for ln in ("affine", "nonaffine") for suffix, preset in (("", strong), ("+penalty", pen))]
    p = Plan(target, scale, arms, _seeds(scale, 1, seeds))
    p.notes.append("transformer arms: presets " + ", ".join(sorted({a.preset for a in arms})) +
                   " (penalty lam 0.01 on top of the strong wd; the paper states neither); LayerNorm "
                   "non-affine in table3 (inferred: its numbers equal Table 9's non-affine row)")
    if target == "table3":
        gs = tuple(range(seeds or 3)) if scale == "paper" else None  # the paper's nanoGPT row: 3 seeds
        gpt_base = "cpu-nanogpt-reversed" if scale == "cpu" else "paper-nanogpt-baseline"
        p.arms += [Arm("nanogpt-strong-wd", gpt_base, {}, gs), Arm("nanogpt-penalty", f"{scale}-nanogpt", {}, gs)]
    return p


def _table10(target: str, scale: str, seeds: int | None) -> Plan:
    lm, lm_base = f"{scale}-charlm", f"{scale}-charlm-baseline"
    p = Plan(target, scale, [Arm("baseline", lm_base), Arm("penalty", lm)], _seeds(scale, 3, seeds))
    p.notes.append(f"presets {lm_base} / {lm}; 'val loss' = the best loss over the evaluations on the "
                   "held-out last 10% of the text")
    return p


def _mechanism(target: str, scale: str, seeds: int | None) -> Plan:
    cfg = Trial(f"{scale}-mlp", (), 0).config()
    n_train = train_count(cfg.task.op, cfg.task.p, cfg.task.train_frac)
    p = Plan(target, scale, _mechanism_arms(scale, n_train), _seeds(scale, 3, seeds))
    p.notes.append(f"M = {n_train} training pairs at full batch; the batch reading puts each example near "
                   f"r/sqrt(M) = {1 / n_train ** 0.5:.4f} sqrt(d) at rest")
    p.notes.append("wd=X,val and penalty@batch,val hold 10% of the training pairs out as a validation "
                   "set; the tuned weight decay is the one whose validation accuracy groks first")
    return p


def _choices(target: str, scale: str, seeds: int | None) -> Plan:
    base, ref = f"{scale}-mlp", f"{scale}-mlp-strong-wd"
    arms = []
    for enc, depth, init in itertools.product(("onehot", "embed"), (1, 2), (1.0, 0.5, 3.0)):
        cell = dict(encoding=enc, depth=depth, init_scale=init)
        tag = f"{enc},depth={depth},init={init}"
        arms += [Arm(f"penalty,{tag},site={s}", base, dict(cell, site=s)) for s in ("pre", "post")]
        arms.append(Arm(f"strong-wd,{tag}", ref, cell))
    p = Plan(target, scale, arms, _seeds(scale, 1, seeds))
    p.notes.append("one seed per cell at cpu scale (12 cells x (penalty at 2 sites under 3 readings + strong WD) "
                   "= 84 runs, ~100 min with 2 workers): a map, not a result")
    return p


@dataclass(frozen=True)
class Target:
    """One ``reproduce`` target: how its arms are built and what its report shows besides the
    parts every report has (verdicts, per-arm table, settings, accuracy / sweep / radius / Φ̃_rad
    figures). ``sections`` and ``figures`` name functions of ``experiments.sections``."""

    build: Callable[[str, str, int | None], Plan]  # (target, scale, seeds) -> arms, seeds, aliases, notes
    sections: tuple[str, ...] = ()  # extra report sections, in order, after the per-arm table
    figures: tuple[str, ...] = ()  # extra figures (they run before the verdicts: they may add metrics)
    readings: bool = True  # twin every printed-penalty arm under each other reading of ||h||
    cpu_mlp: bool = False  # the CPU MLP twins: the calibration note at cpu scale
    calibrated: bool = False  # ... and a verdict row for the calibrated penalty (penalty-small-r)


_DIAG = "diagnostics_table"
TARGETS: dict[str, Target] = {
    "table1": Target(_table1, (_DIAG, "table1_layout"), cpu_mlp=True, calibrated=True),
    "table2": Target(_table2_or_fig1, cpu_mlp=True, calibrated=True),
    "table3": Target(_transformer),
    "table6": Target(_table6, ("fraction_tables", "tuning_table"), ("pooled_heatmap",), cpu_mlp=True, calibrated=True),
    "table7": Target(_table7, cpu_mlp=True),
    "table9": Target(_transformer),
    "table10": Target(_table10),
    "fig1": Target(_table2_or_fig1, cpu_mlp=True, calibrated=True),
    "fig3": Target(_figure, (_DIAG,), cpu_mlp=True, calibrated=True),
    "fig4": Target(_figure, (_DIAG,), ("spectra",), cpu_mlp=True, calibrated=True),
    "fig5": Target(_figure, (_DIAG,), ("spectra",), cpu_mlp=True, calibrated=True),
    "choices": Target(_choices, ("choices_grid",)),
    "mechanism": Target(_mechanism, readings=False),  # it names its arms under each reading itself
}


def plan(target: str, scale: str = "cpu", seeds: int | None = None, cap: int | None = None) -> Plan:
    """The trials and report settings of one target; ConfigError on a bad target or scale.

    Every arm that runs the paper's penalty as printed gets a twin under each other reading of
    ||h|| (``READINGS``). ``cap`` lowers every budget above it (a CPU-time limit; reports count
    the runs it stops as bounds, not DNG)."""
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {list(TARGETS)}, got {target!r}")
    if scale not in SCALES:
        raise ConfigError(f"--scale must be one of {list(SCALES)}, got {scale!r}")
    if seeds is not None and seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {seeds}")
    if cap is not None and cap < 1:
        raise ConfigError(f"--steps must be >= 1, got {cap}")
    spec = TARGETS[target]
    p = spec.build(target, scale, seeds)
    if spec.readings:
        _add_readings(p)
    p.cap = cap
    if scale == "cpu" and spec.cpu_mlp:
        p.notes.insert(0, _CPU_NOTE)
        if spec.calibrated:
            p.aliases.append(_CAL)
    for t in p.trials():  # every config is checked before anything runs or any directory is made
        t.config()
    return p


def est_seconds(trial: Trial) -> float:
    """A rough CPU estimate of one trial at its full budget, one thread on a shared 2-core machine.

    Anchors measured with 2 workers busy: MLP 2x128 P=97 full batch ~60 ms/step including
    its evaluations with the cheap diagnostics every 50 steps (26 ms for the step alone);
    transformer d128 batch 512 ~0.3 s/step. Grokked runs stop sooner, so this is an upper bound.
    """
    c = trial.config()
    t, m = c.task, c.model
    batch = kind_of(t.task).rows(c)  # full batch where the feed takes every row
    if t.task == "modular" and m.arch == "mlp":
        per_step = 0.06 * batch * mlp_matrix_entries(c) / (4704 * (194 * 128 + 128 ** 2 + 128 * 97))
    else:  # the transformer anchor; GPT tasks 4x it, per token of context
        per_step = 0.3 * (batch / 512) * (m.width / 128) ** 2 * (m.depth / 2) * (1 if t.task == "modular" else 4)
    return per_step * c.train.steps
