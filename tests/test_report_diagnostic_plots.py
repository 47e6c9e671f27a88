import json

import numpy as np
import pytest

from radgrok.report.diagnostic_plots import (
    plot_fourier_chronology,
    plot_phi,
    plot_run,
    plot_selectivity,
    selectivity_from_checkpoint,
    sites_of,
)
from radgrok.runs.config import RunConfig
from radgrok.training.loop import train

TINY = dict(p=11, train_frac=0.6, width=16, steps=40, eval_every=10, lam=0.05, early_stop=False, probe_size=32)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("runs") / "radial-s0"
    train(RunConfig().replace(**TINY, expensive_every=2), d, progress=False)
    return d


def test_plot_run_writes_every_figure(run_dir, tmp_path):
    notes = plot_run(run_dir, tmp_path / "figs")
    assert [n.split()[0] for n in notes] == ["wrote"] * 5
    for name in ("phi", "radius", "anisotropy", "fourier_chronology", "selectivity"):
        assert (tmp_path / "figs" / f"{name}.png").stat().st_size > 5000


def test_missing_data_is_skipped_with_a_note(tmp_path):
    d = tmp_path / "bare-s0"
    train(RunConfig().replace(**{**TINY, "steps": 10}, diagnostics=False), d, progress=False)
    (d / "checkpoint.pt").unlink()
    notes = plot_run(d, tmp_path / "out")
    wrote = [n for n in notes if n.startswith("wrote")]
    assert len(wrote) == 1 and wrote[0].endswith("radius.png")  # radii are logged without diagnostics
    assert any(n.startswith("skipped selectivity.png: no checkpoint") for n in notes)
    assert any(n.startswith("skipped fourier_chronology.png") and "--expensive-every" in n for n in notes)
    assert plot_phi([{"step": 0}], tmp_path / "x.png") is None


def test_chronology_reads_the_logged_power_vectors(run_dir, tmp_path):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert sum("fourier_power" in r for r in rows) == 3 and len(rows[0]["fourier_power"]) == 5
    assert plot_fourier_chronology(rows, tmp_path / "c.png").exists()
    assert sites_of(rows, "phi_task") == ["hidden.0.pre", "hidden.1.pre"]


def test_selectivity_from_the_checkpoint(run_dir, tmp_path):
    sel, p = selectivity_from_checkpoint(run_dir)
    assert p == 11 and sel.shape == (16, 5)
    assert np.all(sel >= 0) and np.all(sel.sum(1) <= 1 + 1e-9)
    assert plot_selectivity(sel, tmp_path / "s.png").stat().st_size > 5000


def test_a_record_older_than_the_arch_field_still_plots(run_dir, tmp_path):
    # docs/results/paper-mlp/penalty-s0 was recorded before model.arch existed
    old = tmp_path / "old-s0"
    old.mkdir()
    for f in run_dir.iterdir():
        (old / f.name).write_bytes(f.read_bytes())
    rec = json.loads((old / "config.json").read_text())
    del rec["config"]["model"]["arch"]
    (old / "config.json").write_text(json.dumps(rec))
    notes = plot_run(old, tmp_path / "figs")
    assert any(n.startswith("wrote") and n.endswith("selectivity.png") for n in notes)
