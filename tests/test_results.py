"""The committed results (docs/results): run records that agree with their own metrics, and a
size that stays small. Reads only committed files."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from radgrok.training.grok import grok_step
from radgrok.training.records import Status

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results"
MAX_BYTES = 20 * 1024 * 1024


def committed_runs() -> list[tuple[str, dict, dict, list[dict]]]:
    """(where, summary, config, metrics rows) of every committed run: loose run directories and the
    runs inside each runs.tgz."""
    out = []
    for s in sorted(RESULTS.rglob("summary.json")):
        if (s.parent / "metrics.jsonl").exists() and (s.parent / "config.json").exists():
            rows = [json.loads(x) for x in (s.parent / "metrics.jsonl").read_text().splitlines() if x.strip()]
            out.append((str(s.parent.relative_to(RESULTS)), json.loads(s.read_text()),
                        json.loads((s.parent / "config.json").read_text()), rows))
    for tgz in sorted(RESULTS.rglob("runs.tgz")):
        with tarfile.open(tgz) as tf:
            files = {m.name: tf.extractfile(m).read().decode() for m in tf.getmembers() if m.isfile()}
        for name, text in sorted(files.items()):
            if name.endswith("/summary.json"):
                d = name[: -len("summary.json")]
                rows = [json.loads(x) for x in files[d + "metrics.jsonl"].splitlines() if x.strip()]
                out.append((f"{tgz.relative_to(RESULTS)}:{d}", json.loads(text), json.loads(files[d + "config.json"]),
                            rows))
    return out


def disagreements(summary: dict, config: dict, rows: list[dict]) -> list[str]:
    """How a run's summary.json (and config.json) contradicts its metrics.jsonl; [] when they agree."""
    s, tr = summary, config.get("config", config)["train"]
    status, last = s.get("status"), rows[-1]["step"]
    bad = [] if status in Status.ALL else [f"status {status!r} is not one of {Status.ALL}"]
    if status == Status.RUNNING:
        bad.append(f"still 'running' (steps_done {s['steps_done']}) while its metrics reach step {last}")
    if s["steps_done"] != last:
        bad.append(f"steps_done {s['steps_done']} but the last logged step is {last}")
    want = grok_step([r["step"] for r in rows], [r["test_acc"] for r in rows], tr["grok_threshold"])
    if status in (Status.GROKKED, Status.CUT) and s["grok_step"] != want:
        bad.append(f"grok_step {s['grok_step']} but the metrics give {want}")
    if status == Status.DNG and (want is not None or s["steps_done"] < s["budget"] or "cap" in s):
        bad.append(f"dng, but the run stopped at {s['steps_done']} of a budget of {s['budget']} "
                   f"(cap {s.get('cap')}), metrics grok step {want}")
    if status == Status.CUT and s["steps_done"] >= s["budget"]:
        bad.append(f"cut, but it ran its whole budget {s['budget']}")
    if tr["steps"] < s["steps_done"]:
        bad.append(f"config.json says steps {tr['steps']} but the run trained to {s['steps_done']}")
    if "cap" in s and tr.get("budget") != s["budget"]:
        bad.append(f"capped at {s['cap']}, but config.json does not record the budget {s['budget']}")
    return bad


RUNS = committed_runs()


def test_there_are_committed_runs_to_check():
    assert len(RUNS) > 400 and any(":" in where for where, *_ in RUNS)


@pytest.mark.parametrize("where,summary,config,rows", RUNS, ids=[r[0] for r in RUNS])
def test_every_committed_summary_agrees_with_its_metrics(where, summary, config, rows):
    assert disagreements(summary, config, rows) == []


def test_the_records_check_catches_the_drifts_issue_26_found():
    rows = [{"step": 100 * i, "test_acc": a, "train_acc": 1.0} for i, a in enumerate([0.0, 0.2, 0.95, 0.97])]
    cfg = {"config": {"train": {"steps": 300, "grok_threshold": 0.9}}}
    good = {"status": "grokked", "steps_done": 300, "budget": 300, "grok_step": 200}
    assert disagreements(good, cfg, rows) == []
    # the H100 summaries: 'running', steps_done 0, while the metrics went on
    assert any("still 'running'" in b for b in disagreements(dict(good, status="running", steps_done=0), cfg, rows))
    # a capped run called DNG with the cap as its budget... and a cut run that ran its whole budget
    capped = {"status": "dng", "steps_done": 300, "budget": 300, "grok_step": None, "cap": 300}
    flat = [dict(r, test_acc=0.1) for r in rows]
    assert disagreements(capped, cfg, flat)
    assert disagreements(dict(capped, status="cut", budget=100_000), cfg, flat)  # no budget in config.json
    # a resume to a larger budget that config.json does not record
    assert disagreements(dict(good, budget=6000), {"config": {"train": {"steps": 100, "grok_threshold": 0.9}}}, rows)
    assert disagreements(dict(good, grok_step=300), cfg, rows)  # a grok step the metrics do not give


def test_docs_results_stay_small():
    """docs/results at most 20 MB (tracked files): reports reference their PNGs, archives keep no
    checkpoints and no split.json (the seed regenerates it)."""
    root = RESULTS.parents[1]
    files = subprocess.run(["git", "ls-files", "-z", "docs/results"], capture_output=True, cwd=root,
                           check=True).stdout.decode().split("\0")
    paths = [root / f for f in files if f]
    total = sum(p.stat().st_size for p in paths if p.exists())
    assert 0 < total <= MAX_BYTES, f"docs/results holds {total / 2 ** 20:.1f} MB of tracked files (limit 20 MB)"
    assert not [p for p in paths if p.name == "report.html" and "base64," in p.read_text()]
    for tgz in RESULTS.rglob("runs.tgz"):
        with tarfile.open(tgz) as tf:
            assert not [n for n in tf.getnames() if n.endswith(("split.json", ".pt"))], tgz


def _runs(target: str, prefix: str) -> dict[str, tuple[dict, list[dict]]]:
    """name -> (summary, metrics rows) of the runs of docs/results/reproduce/TARGET whose name starts with prefix."""
    out = {}
    with tarfile.open(RESULTS / "reproduce" / target / "runs.tgz") as tf:
        files = {m.name: tf.extractfile(m).read().decode() for m in tf.getmembers() if m.isfile()}
    for name, text in files.items():
        run = name.split("/")[-2] if name.endswith("/summary.json") else ""
        if run.startswith(prefix):
            d = name[: -len("summary.json")]
            out[run] = (json.loads(text), [json.loads(x) for x in files[d + "metrics.jsonl"].splitlines() if x])
    return out


def _span(vals, fmt="{:.2f}") -> str:
    return f"{fmt.format(min(vals))}–{fmt.format(max(vals))}"


def sigma1_at_400() -> str:
    runs = _runs("table1-paper", "penalty@batch-s")
    return _span([next(r for r in rows if r["step"] == 400)["sigma_max/hidden.0.pre"] for _, rows in runs.values()])


def table7_speedups() -> str:
    paper = {0.001: 8200, 0.01: 4100, 0.05: 2460, 0.1: 3800, 0.5: 6400, 1.0: 9900}
    runs = _runs("table7-paper", "lam=")
    ratios = [p / (sum(g) / len(g)) for lam, p in paper.items()
              if (g := [s["grok_step"] for n, (s, _) in runs.items() if n.startswith(f"lam={lam}@batch-s")])]
    return _span(ratios, "{:.1f}")


def final_radius_table2() -> str:
    runs = _runs("table2-paper", "penalty@batch-s")
    return _span([v for _, rows in runs.values() for k, v in rows[-1].items() if k.startswith("radius/")])


# claim as quoted -> (page that quotes it, the text around the value, how the records give the value)
CLAIMS = [
    ("docs/results/readings/README.md", "| 36.5 | {} / 9.92–9.95 |", sigma1_at_400),
    ("docs/results/readings/README.md", "while every step is {}× sooner than the paper's", table7_speedups),
    ("README.md", "{}× sooner", table7_speedups),
    ("README.md", "({} over Table 2's five seeds)", final_radius_table2),
]


@pytest.mark.parametrize("page,template,value", CLAIMS, ids=[f"{c[0]}:{c[2].__name__}" for c in CLAIMS])
def test_quoted_numbers_match_the_committed_records(page, template, value):
    text = (RESULTS.parents[1] / page).read_text()
    quoted = template.format(value())
    assert quoted in " ".join(text.split()), f"{page} should quote {quoted!r} (recomputed from the records)"
