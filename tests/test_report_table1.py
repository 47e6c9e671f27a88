import json

import pytest

from radgrok.report.table1 import PAPER_TABLE1, table1_markdown, table1_quantities, write_table1


def _run(d, rows, grok=None, status=None):
    d.mkdir(parents=True)
    (d / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    status = status or ("grokked" if grok else "dng")
    (d / "summary.json").write_text(json.dumps({"grok_step": grok, "steps_done": rows[-1]["step"], "status": status,
                                                "final": {"test_acc": 0.95 if grok else 0.01}}))
    return d


def _rows(phi):
    site = "hidden.0.pre"
    rows = []
    for i, v in enumerate(phi):
        r = {"step": 100 * i, f"phi_task/{site}": v, f"phi_total/{site}": 2 * v, f"stable_rank/{site}": 1.0 + i,
             f"eff_rank/{site}": 10.0 + i, f"sigma_max/{site}": 5.0 * (i + 1)}
        if i % 2 == 0:
            r.update(hessian_trace=10.0 - i, sharpness_norm=0.1 / (i + 1), fourier_fmax=float(i),
                     fourier_coherence=0.3 * i)
        rows.append(r)
    return rows


def test_quantities_pick_early_late_last_expensive_and_coherence_step(tmp_path):
    q = table1_quantities(_run(tmp_path / "a", _rows([1.0, 0.5, 0.4, 0.2, 0.3]), grok=300))
    s = "hidden.0.pre"
    assert q[f"phi_task_early/{s}"] == 0.5 and q[f"phi_task_late/{s}"] == 0.3  # early = first after step 0
    assert q[f"phi_total_late/{s}"] == 0.6 and q[f"stable_rank/{s}"] == 5.0 and q[f"sigma_max/{s}"] == 25.0
    assert q["hessian_trace"] == 6.0 and q["fourier_fmax"] == 4.0  # last expensive evaluation (step 400)
    assert q["coherence_step"] == 400  # 0.6 at step 200 is not > 0.9; 1.2 at step 400 is
    assert q["grok_step"] == 300


def test_markdown_has_ours_and_the_papers_columns(tmp_path):
    weak = _run(tmp_path / "w", _rows([1.0, 0.9]))
    pen = _run(tmp_path / "p", _rows([1.0, 0.5, 0.2]), grok=200)
    md = write_table1({"weak WD": weak, "penalty": pen}, tmp_path / "t.md")
    assert (tmp_path / "t.md").read_text().strip() == md
    assert "| grok step | DNG (test 0.010) | 200 (test 0.950) | DNG (1.7% test) | 15,540 | 2,460 ± 136 |" in md
    assert "| Φ̃_rad task, late — hidden.0.pre | 0.9 | 0.2 | – | – | ≈ 0.15 |" in md
    # every table row has the same number of cells (a stray '|' would break the markdown)
    rows = [line for line in md.splitlines() if line.startswith("|")]
    assert len({line.replace("\\|", "").count("|") for line in rows}) == 1
    assert set(PAPER_TABLE1["Hessian trace"]) == {"weak", "strong", "penalty"}


def test_a_run_stopped_before_its_budget_is_a_bound_not_a_dng(tmp_path):
    cut = _run(tmp_path / "c", _rows([1.0, 0.9, 0.8]), status="running")
    gone = _run(tmp_path / "d", _rows([1.0, 0.9]), status="diverged")
    md = table1_markdown({"cut": cut, "gone": gone})
    assert "| grok step | none by 200 (cut) (test 0.010) | diverged (test 0.010) |" in md


def test_missing_expensive_diagnostics_show_dashes(tmp_path):
    rows = [{"step": 0, "phi_task/h": 1.0}, {"step": 10, "phi_task/h": 0.5}]
    md = table1_markdown({"x": _run(tmp_path / "x", rows)})
    assert "| Hessian trace (last expensive eval) | – |" in md
    with pytest.raises(FileNotFoundError):
        table1_quantities(tmp_path / "nope")
