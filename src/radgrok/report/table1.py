"""The paper's Table 1 (diagnostics, weak WD vs strong WD vs penalty) from run directories.

Reads only ``metrics.jsonl`` and ``summary.json``; no torch. Our quantities:

* Phi_rad of the task and of the total gradient per site, *early* (the first logged
  evaluation after step 0) and *late* (the last one);
* final stable rank ``||A||_F^2/||A||_2^2`` (the paper's "effective rank"), Roy-Vetterli
  effective rank and sigma_max of each site's activations on the probe batch;
* Hessian trace and normalised sharpness (lam_max * lr / 2) at the last expensive
  evaluation; |F|max of the input embedding there;
* Fourier-coherence step: the first evaluation with coherence > 0.9 (expensive
  evaluations only, so it is known to within ``expensive_every`` evaluations);
* grok step (summary.json): DNG when the run ran its budget without one, "none by N (cut)" when
  it stopped before its budget (a bound, never a DNG), "diverged" when it did.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from ..runs import records
from ..runs.steps import run_step
from .report import last_value

__all__ = ["PAPER_TABLE1", "COHERENT", "coherence_step", "table1_quantities", "table1_markdown", "write_table1"]

# The paper's Table 1 and Table 2 values for the main MLP (SPEC.md); None = not reported.
# Keys: weak WD ("Baseline", wd 1e-3), strong WD (wd 0.1), penalty (lam 0.05, wd 1e-3).
PAPER_TABLE1: dict[str, dict[str, str | None]] = {
    "grok step": {"weak": "DNG (1.7% test)", "strong": "15,540", "penalty": "2,460 ± 136"},
    "Fourier-coherence step (R² > 0.9)": {"weak": "34,200", "strong": None, "penalty": "2,460"},
    "|F|max": {"weak": "1.2", "strong": None, "penalty": "4.8"},
    "σ_max": {"weak": "> 52,000", "strong": None, "penalty": "36.5"},
    "stable rank ('effective rank', of 512)": {"weak": "135", "strong": "402", "penalty": "443"},
    "Hessian trace": {"weak": "42.5", "strong": None, "penalty": "1.4"},
    "normalised sharpness": {"weak": "0.18", "strong": None, "penalty": "0.004"},
    "Φ̃_rad (task)": {"weak": None, "strong": None, "penalty": "≈ 0.15"},
}


COHERENT = 0.9  # the Fourier coherence above which the input embedding counts as coherent (the paper's R² > 0.9)


def coherence_step(rows: list[dict]) -> int | None:
    """The first logged step whose Fourier coherence exceeds ``COHERENT`` (None: never, or never logged)."""
    return next((r["step"] for r in rows if (r.get("fourier_coherence") or 0) > COHERENT), None)


def _early(rows: list[dict], key: str):
    return next((r[key] for r in rows if r["step"] > 0 and r.get(key) is not None), None)


def table1_quantities(run_dir: str | Path) -> dict:
    """Every Table-1 quantity of one run, keyed by a short name (site keys end in ``/<site>``)."""
    run_dir = Path(run_dir)
    rows = records.read_jsonl(run_dir / records.METRICS)
    summary = records.read_json(run_dir / records.SUMMARY)
    sites = sorted({k.split("/", 1)[1] for r in rows for k in r if k.startswith("phi_task/")})
    q: dict = {"grok_step": summary.get("grok_step"), "steps_done": summary.get("steps_done"),
               "status": summary.get("status"), "last_step": rows[-1]["step"] if rows else 0,
               "final_test_acc": (summary.get("final") or {}).get("test_acc"), "sites": sites}
    for site in sites:
        for key in ("phi_task", "phi_total"):
            q[f"{key}_early/{site}"] = _early(rows, f"{key}/{site}")
            q[f"{key}_late/{site}"] = last_value(rows, f"{key}/{site}")
        for key in ("stable_rank", "eff_rank", "sigma_max"):
            q[f"{key}/{site}"] = last_value(rows, f"{key}/{site}")
    for key in ("hessian_trace", "sharpness_norm", "fourier_fmax"):
        q[key] = last_value(rows, key)
    q["coherence_step"] = coherence_step(rows)
    q["final_coherence"] = last_value(rows, "fourier_coherence")
    return q


def _num(v) -> str:
    if v is None:
        return "–"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def table1_markdown(arms: Mapping[str, str | Path], paper_keys: Mapping[str, str] | None = None) -> str:
    """Markdown table: one row per quantity, our arms then the paper's columns.

    ``arms`` maps a column name to a run directory, in display order. ``paper_keys``
    maps each of our arm names to "weak", "strong" or "penalty" (the paper's arms).
    """
    qs = {name: table1_quantities(d) for name, d in arms.items()}
    sites = sorted({s for q in qs.values() for s in q["sites"]})
    header = ["quantity", *[f"ours: {n}" for n in arms], "paper: weak WD", "paper: strong WD", "paper: penalty"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]

    def row(label: str, vals: list[str], paper: str | None = None) -> None:
        p = PAPER_TABLE1.get(paper or "", {})
        lines.append("| " + " | ".join([label, *vals, *[p.get(k) or "–" for k in ("weak", "strong", "penalty")]])
                     + " |")

    row("grok step", [run_step(q, q["last_step"]) + f" (test {q['final_test_acc']:.3f})" for q in qs.values()],
        "grok step")
    row("Fourier-coherence step (> 0.9)", [_num(q["coherence_step"]) for q in qs.values()],
        "Fourier-coherence step (R² > 0.9)")
    row("final Fourier coherence", [_num(q["final_coherence"]) for q in qs.values()])
    row("\\|F\\|max (last expensive eval)", [_num(q["fourier_fmax"]) for q in qs.values()], "|F|max")
    row("Hessian trace (last expensive eval)", [_num(q["hessian_trace"]) for q in qs.values()], "Hessian trace")
    row("normalised sharpness λ_max·lr/2", [_num(q["sharpness_norm"]) for q in qs.values()],
        "normalised sharpness")
    for site in sites:
        for key, label, paper in (
            ("phi_task_early", "Φ̃_rad task, early", None), ("phi_task_late", "Φ̃_rad task, late", "Φ̃_rad (task)"),
            ("phi_total_early", "Φ̃_rad total, early", None), ("phi_total_late", "Φ̃_rad total, late", None),
            ("stable_rank", "final stable rank", "stable rank ('effective rank', of 512)"),
            ("eff_rank", "final effective rank (Roy–Vetterli)", None),
            ("sigma_max", "final σ_max", "σ_max"),
        ):
            row(f"{label} — {site}", [_num(q.get(f"{key}/{site}")) for q in qs.values()], paper)
    if paper_keys:  # the paper's columns are fixed; say which of ours each is compared with
        lines += ["", "Compared: " + ", ".join(f"ours '{n}' ↔ paper '{k}'" for n, k in paper_keys.items())]
    return "\n".join(lines)


def write_table1(arms: Mapping[str, str | Path], path: str | Path, **kw) -> str:
    """``table1_markdown`` written to ``path`` (atomically); returns the markdown."""
    md = table1_markdown(arms, **kw)
    records.atomic_write_text(Path(path), md + "\n")
    return md
