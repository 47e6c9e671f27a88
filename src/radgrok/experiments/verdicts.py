"""Verdicts: does what we measured support a claim of the paper? Pure functions, no torch.

Rules (stated once, applied to every target):

* A DNG run counts as its budget in a mean ("> budget"), so a ratio involving
  a DNG arm is a bound: ``>`` when the reference did not grok, ``<`` when the
  tested arm did not.
* ``speedup``: ratio = mean grok step of the reference / mean grok step of the arm.
  reproduced when ratio >= 3/4 of the paper's ratio (a lower bound counts if it
  clears that bar); partly when ratio > 1.1 (a real speedup, smaller than the
  paper's -- 1.1 is about one evaluation interval at our grok steps) or when it
  is a lower bound below the bar; not when ratio <= 1.1, when the arm never
  grokked, or when neither arm grokked (nothing measured).
* ``dng`` / ``groks``: reproduced when every seed agrees, partly when some do.
* A run cut off before its budget (``reproduce --report-only`` over an invocation
  that was stopped, or a ``--steps`` cap) counts in a mean at the step it reached,
  each seed at its own (``ArmResult.floors``): a lower bound on its grok step, so
  ratios stay bounds; it is reported as "no grok by step N", never as a DNG, and
  "never groks" is then at most partly.
* ``all_grok``: reproduced when every arm groks on every seed, partly when some do.
* ``u_shape``: grok step vs lam (DNG = budget) has a minimum strictly inside the
  range, lower than both ends: reproduced; otherwise not (a curve whose minimum is
  at an end of the range is not U-shaped, however many arms grok; "every lam
  groks" is its own claim).
* ``direction``: the metric moves from ref to arm the way the paper says:
  reproduced when our ratio is on the same side of 1 and at least halfway there
  in log terms, partly when on the same side but smaller, not otherwise.
* ``below`` / ``above``: the arm's mean metric is on the stated side of ``value``.
  A metric ending in ``/*`` is judged per site (``phi_task/*``: every logged layer):
  reproduced when every site is on the stated side, partly when some are, not when none.
* ``no_speedup``: the arm's metric (lower = better) is not better than ref's by
  more than 1%.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from ..report.plots import capped_steps
from ..report.report import mean_std
from .paper import Claim

__all__ = ["ArmResult", "Verdict", "judge", "speedup_ratio", "capped_mean", "fmt_ratio", "steps_text", "by_steps",
           "seed_steps"]

NOISE = 1.1
BAR = 0.75


@dataclass
class ArmResult:
    """What one arm measured: grok step per seed (None = no grok), the budget, final diagnostics.

    A seed without a grok step is a DNG when it ran its whole budget, and a bound ("no grok by
    step N") when it was cut off before it (``reached`` holds its last step): never the same."""

    name: str
    grok_steps: list
    budget: int  # the budget; when a seed was cut off, the fewest steps such a seed reached
    metrics: dict = field(default_factory=dict)  # metric -> list of per-seed values
    planned: int = 0  # the budget the arm was meant to run (when cut)
    reached: list = field(default_factory=list)  # per seed: last step of a run cut off before its budget, else None

    def _reached(self) -> list:
        return self.reached if len(self.reached) == len(self.grok_steps) else [None] * len(self.grok_steps)

    @property
    def cut(self) -> int:
        """Seeds cut off before their budget (grokked or not)."""
        return sum(r is not None for r in self._reached())

    @property
    def bound_steps(self) -> list[int]:
        """The last step of each seed cut off without grokking: "no grok by step N"."""
        return [r for g, r in zip(self.grok_steps, self._reached()) if g is None and r is not None]

    @property
    def full_budget(self) -> int:
        """The budget a seed that did not grok ran to the end of (a DNG's): the planned one when
        some seed was cut off (``budget`` then holds the fewest steps such a seed reached)."""
        return self.planned if self.cut else self.budget

    def floors(self) -> list[int]:
        """Per seed, what its grok step is known to be at least: the step itself, the last step of
        a seed cut off without grokking, or the whole budget of a DNG. Their mean bounds the arm's
        mean grok step from below, and is the tightest such bound the runs give."""
        return [g if g is not None else r if r is not None else self.full_budget
                for g, r in zip(self.grok_steps, self._reached())]

    @property
    def n_grok(self) -> int:
        return sum(g is not None for g in self.grok_steps)

    def metric(self, key: str) -> float | None:
        vals = [v for v in self.metrics.get(key, []) if v is not None and math.isfinite(v)]
        return statistics.mean(vals) if vals else None


@dataclass
class Verdict:
    claim: str
    paper: str
    ours: str
    ratio: str
    verdict: str  # reproduced | partly | not | not run


def capped_mean(steps: list, budget: int) -> float:
    """Mean grok step with every DNG counted as the budget (a lower bound of the true mean)."""
    return capped_steps(steps, budget)[0]


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


def steps_text(a: ArmResult | None) -> str:
    """An arm's grok steps in one phrase: mean ± std over the seeds that grokked, then those that
    did not, DNGs (their whole budget run) and bounds (cut off before it) counted apart."""
    if a is None or not a.grok_steps:
        return "not run"
    n, got, bounds = len(a.grok_steps), [g for g in a.grok_steps if g is not None], a.bound_steps
    dng, full = n - len(got) - len(bounds), a.full_budget
    by = f"no grok by step {by_steps(bounds)}" if bounds else ""
    if not got and not bounds:
        return f"DNG ({dng}/{n}, budget {full:,})"
    if not got and not dng:
        return f"{by} ({len(bounds)}/{n} cut off before the budget {a.planned:,})"
    notes = ([f"{dng}/{n} DNG, budget {full:,}"] if dng else []) + (
        [f"{len(bounds)}/{n} {by}: cut off before the budget {a.planned:,}"] if bounds else [])
    return (mean_std(got) if got else "no grok") + (f" ({'; '.join(notes)})" if notes else "")


def by_steps(bounds: list[int]) -> str:
    """The steps seeds cut off without grokking reached: one step, or the range when they differ."""
    lo, hi = min(bounds), max(bounds)
    return f"{lo:,}" if lo == hi else f"{lo:,}–{hi:,}"


def seed_steps(a: ArmResult) -> str:
    """Per seed: its grok step, DNG, or the step it was cut off at ("none by N, cut")."""
    return ", ".join(f"{g:,}" if g is not None else "DNG" if r is None else f"none by {r:,} (cut)"
                     for g, r in zip(a.grok_steps, a._reached())) or "-"


def _missing(claim: Claim, paper: str, names: list[str], alias: dict | None = None) -> Verdict:
    names = [(alias or {}).get(n, n) for n in names]
    return Verdict(claim.name, paper, f"not run ({', '.join(names)})", "n/a", "not run")


def _per_site(claim: Claim, arm: ArmResult | None, alias: dict) -> Verdict:
    """A below/above claim checked in every site ``metric`` names (``fam/*``)."""
    fam = claim.metric[:-1]
    per_site = {key[len(fam):]: arm.metric(key) for key in sorted(arm.metrics) if key.startswith(fam)} if arm else {}
    vals = {site: v for site, v in per_site.items() if v is not None}
    if not vals:
        return _missing(claim, claim.metric, [claim.arm], alias)
    value = claim.value
    assert arm is not None and value is not None  # vals came from arm; a below/above claim states its value
    ok = sum(v <= value if claim.kind == "below" else v >= value for v in vals.values())
    ours = f"{arm.name}: " + ", ".join(f"{site} {v:.3g}" for site, v in vals.items())
    v = "reproduced" if ok == len(vals) else "partly" if ok else "not"
    return Verdict(claim.name, f"{claim.kind} {claim.value:g} in every layer", ours, f"{ok}/{len(vals)} layers", v)


def judge(claim: Claim, arms: dict[str, ArmResult], alias: dict[str, str] | None = None) -> Verdict:
    """The verdict on ``claim`` from our ``arms``; ``alias`` maps the paper's arm names to ours."""
    alias = alias or {}

    def get(n: str) -> ArmResult | None:
        return arms.get(alias.get(n, n))

    k = claim.kind
    if k == "speedup":
        ref, arm = get(claim.ref), get(claim.arm)
        paper = f"{claim.ratio:.1f}×"
        if not ref or not arm or not ref.grok_steps or not arm.grok_steps:
            return _missing(claim, paper, [claim.ref, claim.arm], alias)
        r, bound = speedup_ratio(ref, arm)
        ours = f"{ref.name} {steps_text(ref)} vs {arm.name} {steps_text(arm)}"
        if r is None or bound == "?" or arm.n_grok == 0:
            return Verdict(claim.name, paper, ours, fmt_ratio(r, bound), "not")
        if bound == "<" or r <= NOISE:
            v = "not" if r <= NOISE else "partly"
        else:
            assert claim.ratio is not None  # a speedup claim states its ratio (formatted above)
            v = "reproduced" if r >= BAR * claim.ratio else "partly"
        return Verdict(claim.name, paper, ours, fmt_ratio(r, bound), v)
    if k in ("dng", "groks"):
        arm = get(claim.arm)
        paper = "DNG" if k == "dng" else "groks"
        if not arm or not arm.grok_steps:
            return _missing(claim, paper, [claim.arm], alias)
        agree = (len(arm.grok_steps) - arm.n_grok) if k == "dng" else arm.n_grok
        v = "reproduced" if agree == len(arm.grok_steps) else "partly" if agree else "not"
        if k == "dng" and arm.cut and v == "reproduced":
            v = "partly"  # no grok so far; the rest of the budget was not run
        return Verdict(claim.name, paper, f"{arm.name}: {steps_text(arm)}", f"{agree}/{len(arm.grok_steps)} seeds", v)
    if k in ("all_grok", "u_shape"):
        ran = [a for a in (get(n) for n in claim.arms) if a and a.grok_steps]
        if not ran:
            return _missing(claim, "all grok" if k == "all_grok" else "U-shaped", list(claim.arms), alias)
        if k == "all_grok":
            runs = sum(len(a.grok_steps) for a in ran)
            n = sum(a.n_grok for a in ran)
            v = "reproduced" if n == runs else "partly" if n else "not"
            return Verdict(claim.name, "all grok", f"{n}/{runs} runs grok", f"{n}/{runs}", v)
        means = [statistics.mean(a.floors()) for a in ran]
        i = min(range(len(means)), key=means.__getitem__)
        ours = " / ".join(f"{m:,.0f}" if a.n_grok else f"none by {by_steps(a.bound_steps)}" if a.bound_steps else "DNG"
                          for a, m in zip(ran, means))
        interior_min = 0 < i < len(means) - 1 and means[i] < means[0] and means[i] < means[-1]
        v = "reproduced" if any(a.n_grok for a in ran) and interior_min else "not"
        where = f"min at {ran[i].name}" if any(a.n_grok for a in ran) else "n/a (nothing grokked)"
        return Verdict(claim.name, "U-shaped, min at lam 0.05", ours, where, v)
    if k in ("below", "above") and claim.metric.endswith("/*"):
        return _per_site(claim, get(claim.arm), alias)
    if k in ("direction", "below", "above", "no_speedup"):
        arm = get(claim.arm)
        ref = get(claim.ref) if claim.ref else None
        a = arm.metric(claim.metric) if arm else None
        if a is None or (claim.ref and (ref is None or ref.metric(claim.metric) is None)):
            return _missing(claim, claim.metric, [n for n in (claim.ref, claim.arm) if n], alias)
        assert arm is not None  # a is its metric
        if k in ("below", "above"):
            assert claim.value is not None  # a below/above claim states its value
            ok = a <= claim.value if k == "below" else a >= claim.value
            return Verdict(claim.name, f"{k} {claim.value:g}", f"{arm.name}: {claim.metric} {a:.3g}",
                           f"{a:.3g}", "reproduced" if ok else "not")
        assert ref is not None  # direction and no_speedup claims name a ref arm
        b = ref.metric(claim.metric)
        assert b is not None  # checked above
        ours = f"{ref.name} {b:.3g} → {arm.name} {a:.3g}"
        if k == "no_speedup":
            return Verdict(claim.name, "no gain", ours, f"{a / b:.3f}×" if b else "n/a",
                           "reproduced" if a >= 0.99 * b else "not")
        if b == 0 or a == 0 or (a > 0) != (b > 0):
            return Verdict(claim.name, f"{claim.ratio:.3g}×", ours, "n/a", "not")
        r = a / b
        assert claim.ratio is not None  # a direction claim states its ratio (formatted above)
        want, got = math.log(claim.ratio), math.log(r)
        if want * got <= 0:
            v = "not"
        else:
            v = "reproduced" if abs(got) >= 0.5 * abs(want) else "partly"
        return Verdict(claim.name, f"{claim.ratio:.3g}×", ours, f"{r:.3g}×", v)
    raise ValueError(f"claim kind must be one of speedup, dng, groks, all_grok, u_shape, direction, below, "
                     f"above, no_speedup; got {k!r}")
