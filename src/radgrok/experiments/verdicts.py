"""Verdicts: does what we measured support a claim of the paper? Pure functions, no torch.

One grading rule for every target: ``RULE`` below, printed in every report (a ratio agrees in size
within ``Claim.factor`` of the paper's), and **not run** when an arm the claim needs has no runs.
A claim made of parts (``all``: "at every fraction") holds as its weakest part (``combine``).

Every verdict names its baseline: the reference arm of a ratio, the budget of a count, the
threshold of a below/above claim, the ends of the lambda range for a U-shape.

How runs count: a DNG (no grok in the whole budget) counts as its budget in a mean; a run cut off
before its budget counts at the step it reached, each seed at its own (``ArmResult.floors``), and
is "no grok by step N", never a DNG. A ratio involving either is a bound: ``>`` when the reference
did not grok, ``<`` when the arm did not.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from functools import partial

from ..runs.steps import ArmResult, by_steps, steps_text
from .paper import Claim

__all__ = ["ArmResult", "Verdict", "judge", "combine", "speedup_ratio", "fmt_ratio", "RULE", "GRADES", "REPRODUCED",
           "DIRECTION", "NOT", "OPEN", "NOT_RUN"]

NOISE = 1.1
REPRODUCED, DIRECTION, NOT, OPEN, NOT_RUN = "reproduced", "direction only", "not reproduced", "open", "not run"
GRADES = (REPRODUCED, DIRECTION, NOT, OPEN, NOT_RUN)
RULE = ("Grading rule (one for every target): **reproduced** = the direction holds and the size agrees (a ratio "
        "within the stated factor of the paper's, 2× unless the row says otherwise; the minimum where the paper "
        "puts it; every seed for a count); **direction only** = the sign holds, the size does not (or is only a "
        "bound because our baseline never grokked); **not reproduced** = the sign does not hold (a speedup of "
        f"at most {NOISE}×, about one evaluation), or a seed that ran its whole budget contradicts the claim; "
        "**open** = runs were cut before deciding (no grok by step N, or 90% crossed only at the cut). The "
        "baseline column names what each verdict is measured against.")


@dataclass
class Verdict:
    claim: str
    paper: str
    ours: str
    ratio: str
    verdict: str  # one of GRADES
    baseline: str = ""  # what the verdict is measured against
    why: str = ""  # the reason for a grade other than reproduced / not run, in a few words


def speedup_ratio(ref: ArmResult, arm: ArmResult) -> tuple[float | None, str]:
    """(ratio, bound): bound is '=' (exact), '>' (lower bound), '<' (upper bound), '?' (nothing grokked)."""
    if not ref.grok_steps or not arm.grok_steps or (ref.n_grok == 0 and arm.n_grok == 0):
        return None, "?"
    r = statistics.mean(ref.floors()) / statistics.mean(arm.floors())
    ref_dng, arm_dng = ref.n_grok < len(ref.grok_steps), arm.n_grok < len(arm.grok_steps)
    if ref_dng and arm_dng:
        return r, "?"  # both bounded from below: the ratio can be anything
    return r, ">" if ref_dng else "<" if arm_dng else "="


def fmt_ratio(r: float | None, bound: str = "=") -> str:
    if r is None:
        return "n/a"
    prefix = {"=": "", ">": "> ", "<": "< ", "?": "~ "}[bound]
    return f"{prefix}{r:.2f}×"


def _missing(claim: Claim, paper: str, names: list[str], alias: dict | None = None, baseline: str = "") -> Verdict:
    names = [(alias or {}).get(n, n) for n in names]
    return Verdict(claim.name, paper, f"not run ({', '.join(names)})", "n/a", NOT_RUN, baseline)


def _size(r: float, want: float, factor: float) -> bool:
    """Whether ratio ``r`` agrees in size with the paper's ``want``: within a factor of ``factor``."""
    return want / factor <= r <= want * factor


def _graded(r: float, want: float, factor: float, unit: str = "×") -> tuple[str, str]:
    """(grade, why) of a ratio (``unit`` "": a value) whose direction holds: reproduced when its size agrees."""
    if _size(r, want, factor):
        return REPRODUCED, ""
    return DIRECTION, f"{r:.3g}{unit} is outside {want:.4g}{unit} ×/÷ {factor:g}"


def _speedup(claim: Claim, ref: ArmResult, arm: ArmResult) -> Verdict:
    assert claim.ratio is not None  # a speedup claim states its ratio
    want, paper = claim.ratio, ("≥ " if claim.at_least else "") + f"{claim.ratio:.1f}×"
    r, bound = speedup_ratio(ref, arm)
    ours = f"{ref.name} {steps_text(ref)} vs {arm.name} {steps_text(arm)}"

    def v(grade: str, why: str = "") -> Verdict:
        return Verdict(claim.name, paper, ours, fmt_ratio(r, bound), grade, ref.name, why)

    if r is None or bound == "?":
        return v(OPEN, "cut before either arm grokked") if ref.undecided or arm.undecided else \
            v(NOT, "neither arm grokked")
    if bound == "<":  # the arm has seeds without a grok: the ratio is at most r
        if r <= NOISE:
            return v(NOT, f"at most {r:.2f}×")
        return v(OPEN, f"{arm.name} cut before grokking") if arm.bound_steps else \
            v(NOT, f"{arm.name} did not grok on every seed")
    if arm.unconfirmed:
        return v(OPEN, f"{arm.name} crossed 90% only at the cut")
    if bound == ">":  # the reference has seeds without a grok: the ratio is at least r
        if claim.at_least and r >= want / claim.factor:
            return v(REPRODUCED)  # at least r, and the paper's is only "at least want": they agree
        # "no grok by N" means a grok step above N, so a bound equal to the edge is already past it
        if r >= want * claim.factor and not claim.at_least:
            return v(DIRECTION, f"already above {want:.3g}× ×{claim.factor:g}")
        if ref.bound_steps:
            return v(OPEN, f"{ref.name} cut before grokking")
        return v(DIRECTION, f"{ref.name} never grokked (the paper's did): the size is only a bound")
    if r <= NOISE:
        return v(NOT, f"{r:.2f}× is not above {NOISE}×")
    if claim.at_least:
        return v(REPRODUCED) if r >= want / claim.factor else \
            v(DIRECTION, f"{r:.3g}× is below {want:.4g}× ÷ {claim.factor:g}")
    return v(*_graded(r, want, claim.factor))


def _count(claim: Claim, arm: ArmResult) -> Verdict:
    """``dng`` / ``groks``: every seed must agree; a seed cut before deciding leaves it open."""
    n, k = len(arm.grok_steps), claim.kind
    done = arm.n_grok - arm.unconfirmed  # seeds whose grok held to the end of their run
    agree = (n - arm.n_grok) if k == "dng" else done
    against = done if k == "dng" else n - arm.n_grok - len(arm.bound_steps)  # grokked / DNG over the budget
    verdict = partial(Verdict, claim.name, "DNG" if k == "dng" else "groks", f"{arm.name}: {steps_text(arm)}",
                      f"{agree}/{n} seeds", baseline=f"budget {arm.full_budget:,}")
    if against:
        return verdict(NOT, why=f"{against}/{n} seeds {'grok' if k == 'dng' else 'DNG'}")
    if arm.undecided:
        return verdict(OPEN, why=f"{arm.undecided}/{n} seeds cut before deciding")
    return verdict(REPRODUCED)


def _lambda_curve(claim: Claim, ran: list[ArmResult], alias: dict) -> Verdict:
    """``all_grok`` and ``u_shape`` over the lambda arms (in lambda order)."""
    runs = sum(len(a.grok_steps) for a in ran)
    if claim.kind == "all_grok":
        held = sum(a.n_grok - a.unconfirmed for a in ran)
        dng = sum(len(a.grok_steps) - a.n_grok - len(a.bound_steps) for a in ran)
        open_ = sum(a.undecided for a in ran)
        ours = f"{held}/{runs} runs grok" + (f", {open_} cut before deciding" if open_ else "")
        v, why = (NOT, f"{dng} run(s) DNG") if dng else (OPEN, f"{open_} run(s) cut before deciding") if open_ else \
            (REPRODUCED, "")
        return Verdict(claim.name, "all grok", ours, f"{held}/{runs}", v, "budget of each arm", why)
    means = [statistics.mean(a.floors()) for a in ran]
    i = min(range(len(means)), key=means.__getitem__)
    ours = " / ".join(f"{m:,.0f}" if a.n_grok else f"none by {by_steps(a.bound_steps)}" if a.bound_steps else "DNG"
                      for a, m in zip(ran, means))
    paper_min = alias.get(claim.ref, claim.ref)
    verdict = partial(Verdict, claim.name, f"U-shaped, min at {claim.ref}", ours,
                      baseline="the two ends of the λ range")
    if not any(a.n_grok for a in ran):
        open_ = any(a.bound_steps for a in ran)
        return verdict("n/a (nothing grokked)", OPEN if open_ else NOT,
                       why="cut before any λ grokked" if open_ else "nothing grokked")
    where = f"min at {ran[i].name}"
    if not (0 < i < len(means) - 1 and means[i] < means[0] and means[i] < means[-1]):
        return verdict(where, NOT, why="the minimum is at an end of the range")
    if ran[i].undecided:
        return verdict(where, OPEN, why=f"{ran[i].name} was cut before deciding")
    if ran[i].name == paper_min:
        return verdict(where, REPRODUCED)
    at = next((m for a, m in zip(ran, means) if a.name == paper_min), None)
    return verdict(where, DIRECTION,
                   why=f"min at {ran[i].name} ({means[i]:,.0f})" + (f", not {paper_min} ({at:,.0f})" if at else ""))


def _per_site(claim: Claim, arm: ArmResult | None, alias: dict) -> Verdict:
    """A below/above claim checked in every site ``metric`` names (``fam/*``)."""
    fam = claim.metric[:-1]
    per_site = {key[len(fam):]: arm.metric(key) for key in sorted(arm.metrics) if key.startswith(fam)} if arm else {}
    vals = {site: v for site, v in per_site.items() if v is not None}
    base = f"threshold {claim.value:g}"
    if not vals:
        return _missing(claim, claim.metric, [claim.arm], alias, base)
    value = claim.value
    assert arm is not None and value is not None  # vals came from arm; a below/above claim states its value
    ok = sum(v <= value if claim.kind == "below" else v >= value for v in vals.values())
    verdict = partial(Verdict, claim.name,
                      f"{claim.kind} {claim.value:g} in every layer" + (f" (≈{claim.size:g})" if claim.size else ""),
                      f"{arm.name}: " + ", ".join(f"{site} {v:.3g}" for site, v in vals.items()),
                      f"{ok}/{len(vals)} layers", baseline=base)
    if ok < len(vals):
        return verdict(NOT, why=f"{len(vals) - ok}/{len(vals)} layers on the other side")
    off = [s for s, v in vals.items() if claim.size and not _size(v, claim.size, claim.factor)]
    if off:
        return verdict(DIRECTION, why=f"{', '.join(off)} outside {claim.size:g} ×/÷ {claim.factor:g}")
    return verdict(REPRODUCED)


def combine(claim: Claim, parts: list[Verdict]) -> Verdict:
    """The verdict on an ``all`` claim from its parts' verdicts (in ``claim.parts`` order): it holds as
    its weakest part. Not reproduced when any part is; open while any part is open or not run yet
    (not run when none ran); direction only when every part's direction holds and some size does not;
    reproduced when every part is. ``ours`` lists each part's measurement, ratio and grade."""
    grades = [v.verdict for v in parts]
    named = [(c.name.split(":", 1)[0] if ":" in c.name else c.name, v) for c, v in zip(claim.parts, parts)]
    grade = (NOT if NOT in grades else NOT_RUN if all(g == NOT_RUN for g in grades)
             else OPEN if OPEN in grades or NOT_RUN in grades else DIRECTION if DIRECTION in grades else REPRODUCED)
    why = "; ".join(f"{n}: {v.verdict}" + (f" ({v.why})" if v.why else "")
                    for n, v in named if v.verdict != REPRODUCED) if grade != REPRODUCED else ""
    paper, ours, ratio = ("; ".join(f"{n}: {getattr(v, k)}" for n, v in named) for k in ("paper", "ours", "ratio"))
    ran = [v for v in parts if v.verdict != NOT_RUN] or parts  # a part not run names no measured baseline
    baselines = list(dict.fromkeys(v.baseline for v in ran if v.baseline))
    return Verdict(claim.name, paper, ours, ratio, grade, "; ".join(baselines), why)


def judge(claim: Claim, arms: dict[str, ArmResult], alias: dict[str, str] | None = None) -> Verdict:
    """The graded verdict on ``claim`` from our ``arms``; ``alias`` maps the paper's arm names to ours."""
    alias = alias or {}

    def get(n: str) -> ArmResult | None:
        return arms.get(alias.get(n, n))

    k = claim.kind
    if k == "all":  # each part on the same arms; a pooled target judges each part on its own pool
        return combine(claim, [judge(c, arms, alias) for c in claim.parts])
    if k == "speedup":
        ref, arm = get(claim.ref), get(claim.arm)
        if ref and ref.grok_steps and arm and arm.grok_steps:
            return _speedup(claim, ref, arm)
        return _missing(claim, ("≥ " if claim.at_least else "") + f"{claim.ratio:.1f}×",  # the arms without runs
                        [n for n, a in ((claim.ref, ref), (claim.arm, arm)) if not (a and a.grok_steps)],
                        alias, alias.get(claim.ref, claim.ref))
    if k in ("dng", "groks"):
        arm = get(claim.arm)
        if not arm or not arm.grok_steps:
            return _missing(claim, "DNG" if k == "dng" else "groks", [claim.arm], alias)
        return _count(claim, arm)
    if k in ("all_grok", "u_shape"):
        ran = [a for a in (get(n) for n in claim.arms) if a and a.grok_steps]
        if not ran:
            return _missing(claim, "all grok" if k == "all_grok" else "U-shaped", list(claim.arms), alias)
        return _lambda_curve(claim, ran, alias)
    if k in ("below", "above") and claim.metric.endswith("/*"):
        return _per_site(claim, get(claim.arm), alias)
    if k in ("direction", "below", "above", "no_speedup"):
        return _metric_claim(claim, get(claim.arm), get(claim.ref) if claim.ref else None, alias)
    raise ValueError(f"claim kind must be one of speedup, dng, groks, all_grok, u_shape, direction, below, "
                     f"above, no_speedup, all; got {k!r}")


def _metric_claim(claim: Claim, arm: ArmResult | None, ref: ArmResult | None, alias: dict) -> Verdict:
    """``direction``, ``below`` / ``above`` (one value) and ``no_speedup``: a diagnostic's mean over seeds."""
    k = claim.kind
    a = arm.metric(claim.metric) if arm else None
    b = ref.metric(claim.metric) if ref else None
    base = f"threshold {claim.value:g}" if k in ("below", "above") else alias.get(claim.ref, claim.ref)
    if a is None or (claim.ref and b is None):
        return _missing(claim, claim.metric, [n for n, v in ((claim.ref, b), (claim.arm, a)) if n and v is None],
                        alias, base)
    assert arm is not None  # a is its metric
    if k in ("below", "above"):
        assert claim.value is not None  # a below/above claim states its value
        paper = f"{k} {claim.value:g}" + (f" (≈{claim.size:g})" if claim.size else "")
        ours = f"{arm.name}: {claim.metric} {a:.3g}"
        if not (a <= claim.value if k == "below" else a >= claim.value):
            return Verdict(claim.name, paper, ours, f"{a:.3g}", NOT, base, f"{a:.3g} is not {k} {claim.value:g}")
        grade, why = _graded(a, claim.size, claim.factor, "") if claim.size else (REPRODUCED, "")
        return Verdict(claim.name, paper, ours, f"{a:.3g}", grade, base, why)
    assert ref is not None and b is not None  # direction and no_speedup claims name a ref arm (checked above)
    ours = f"{ref.name} {b:.3g} → {arm.name} {a:.3g}"
    if k == "no_speedup":
        r = a / b if b else None
        want = claim.ratio or 1.0
        paper = f"no gain ({want:.3f}×)"
        if r is None:
            return Verdict(claim.name, paper, ours, "n/a", NOT, base, "reference metric is 0")
        if a < 0.99 * b:
            return Verdict(claim.name, paper, ours, f"{r:.3f}×", NOT, base, f"{(1 - r) * 100:.0f}% better")
        grade, why = _graded(r, want, claim.factor)
        return Verdict(claim.name, paper, ours, f"{r:.3f}×", grade, base, why)
    assert claim.ratio is not None  # a direction claim states its ratio
    if b == 0 or a == 0 or (a > 0) != (b > 0):
        return Verdict(claim.name, f"{claim.ratio:.3g}×", ours, "n/a", NOT, base, "no ratio")
    r = a / b
    if math.log(claim.ratio) * math.log(r) <= 0:
        return Verdict(claim.name, f"{claim.ratio:.3g}×", ours, f"{r:.3g}×", NOT, base, "the other direction")
    grade, why = _graded(r, claim.ratio, claim.factor)
    return Verdict(claim.name, f"{claim.ratio:.3g}×", ours, f"{r:.3g}×", grade, base, why)
