"""Fourier figures of the reproduce targets fig4 and fig5, from run records and final checkpoints.

fig4: Fourier coherence and |F|max of the input embedding over training (logged by the
expensive diagnostics), the per-frequency power over training of each arm's seed-0 run
(the paper's figure: frequency x step, from the logged ``fourier_power``), and the
per-frequency power of each arm's final embedding.
fig5: the neuron x frequency selectivity of the first layer at the end of training,
neurons sorted by their dominant frequency, and the median top-frequency share
("selectivity") per run, which the verdicts use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..report.report import Run
from ..runs import records

__all__ = ["add_spectra"]


def add_spectra(p, runs: dict[str, Run], out: Path) -> list[Path]:
    """Write the target's Fourier figures; store per-run 'selectivity' in ``run.extra``."""
    from ..diagnostics.fourier import (
        fourier_power,
        mlp_input_embeddings,
        mlp_neuron_input_weights,
        neuron_frequency_selectivity,
    )
    from ..report.diagnostic_plots import plot_fourier_chronology, selectivity_order
    from ..report.plots import plot_matrix, plot_site_metric
    from ..training.loop import load_final_model

    figs: list[Path] = []
    seed0 = {a.name: runs.get(records.run_name(a.name, p.seeds[0])) for a in p.arms}
    first = {k: r for k, r in seed0.items() if r is not None and (r.dir / records.CHECKPOINT).exists()}
    mats = {}
    if p.target == "fig4":
        curves = {a.name: [[{"step": row["step"], "fourier/coherence": row.get("fourier_coherence"),
                             "fourier/fmax": row.get("fourier_fmax")} for row in r.rows
                            if row.get("fourier_coherence") is not None]
                           for s in p.seeds if (r := runs.get(records.run_name(a.name, s)))] for a in p.arms}
        curves = {k: [rows for rows in v if rows] for k, v in curves.items()}
        over = plot_site_metric({k: v for k, v in curves.items() if v}, "fourier", out / "fourier_over_training.png",
                                "top-5 frequency share / |F|max", None, False)
        chronology = [plot_fourier_chronology(r.rows, out / f"fourier_chronology_{name}.png",
                                              f"{name}, seed {p.seeds[0]}: per-frequency power over training")
                      for name, r in seed0.items() if r]  # needs only metrics.jsonl, not the checkpoint
        figs += [f for f in (over, *chronology) if f is not None]
        for name, r in first.items():
            w_a, _ = mlp_input_embeddings(load_final_model(r.dir))
            power = fourier_power(w_a.double(), r.config["task"]["p"]).numpy()[1:]
            mats[name] = (power / max(power.sum(), 1e-30))[:, None]
        if mats:
            figs.append(plot_matrix(mats, out / "fourier_power_final.png", "", "frequency k",
                                    "share of embedding power per frequency at the end (seed 0)"))
    else:
        for name, r0 in first.items():
            for s in p.seeds:
                r = runs.get(records.run_name(name, s))
                if r is None or not (r.dir / records.CHECKPOINT).exists():
                    continue
                w_a, _ = mlp_neuron_input_weights(load_final_model(r.dir))
                sel = neuron_frequency_selectivity(w_a.double(), r.config["task"]["p"]).numpy()
                r.extra["selectivity"] = float(np.median(sel.max(axis=1)))
                if r is r0:
                    mats[name] = sel[selectivity_order(sel)]
        if mats:
            figs.append(plot_matrix(mats, out / "neuron_selectivity.png", "frequency k - 1", "neuron (sorted)",
                                    "share of each first-layer neuron's input-weight power per frequency (seed 0)"))
    return figs
