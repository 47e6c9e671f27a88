"""Per-run diagnostic figures from a run directory's records (``radgrok plot RUN_DIR``).

Each figure reads ``metrics.jsonl`` (and ``config.json``); the selectivity heatmap
also rebuilds the model from ``config.json`` and loads ``checkpoint.pt``. A figure
whose data was not logged is skipped with a one-line note instead of failing, so
old runs (before a diagnostic existed) still plot what they have. Matplotlib uses
the Agg backend; torch is imported only by the selectivity heatmap.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..runs import records
from ..runs.config import to_dict
from .plots import _plt, _save

__all__ = ["sites_of", "plot_phi", "plot_radius", "plot_anisotropy", "plot_fourier_chronology",
           "selectivity_from_checkpoint", "selectivity_order", "plot_selectivity", "plot_run"]


# mathtext: the combining tilde of "Φ̃" is dropped by matplotlib's default font
_PHI = r"$\tilde{\Phi}_{rad}$"


def sites_of(rows: list[dict], prefix: str) -> list[str]:
    """Sites with at least one logged, non-null ``<prefix>/<site>`` value, sorted."""
    return sorted({k.split("/", 1)[1] for r in rows for k, v in r.items()
                   if k.startswith(prefix + "/") and v is not None})


def _series(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(r["step"], r[key]) for r in rows if r.get(key) is not None]
    if not pts:
        return np.zeros(0), np.zeros(0)
    s, v = zip(*pts)
    return np.asarray(s), np.asarray(v, dtype=float)


def _site_panels(rows: list[dict], prefix: str, draw, ylabel: str, path: str | Path, title: str) -> Path | None:
    """One log-y panel per site logged under ``prefix``, drawn by ``draw(ax, site)``; None when none is."""
    sites = sites_of(rows, prefix)
    if not sites:
        return None
    fig, axes = _plt().subplots(1, len(sites), figsize=(4.3 * len(sites), 3.3), squeeze=False)
    for ax, site in zip(axes[0], sites):
        draw(ax, site)
        ax.set_yscale("log")
        ax.set_title(site, fontsize=9)
        ax.set_xlabel("step")
    axes[0][0].set_ylabel(ylabel)
    axes[0][0].legend(fontsize=8)
    return _save(fig, path, title=title)


def plot_phi(rows: list[dict], path: str | Path, title: str = "") -> Path | None:
    """Phi_rad of the task and of the total gradient vs step, one panel per site, floor at 1, log y."""
    def draw(ax, site: str) -> None:
        for key, style in (("phi_task", "-"), ("phi_total", "--")):
            s, v = _series(rows, f"{key}/{site}")
            if len(s):
                ax.plot(s, v, style, label=_PHI + " " + key[4:])
        ax.axhline(1.0, color="grey", lw=0.8, ls=":", label="isotropic floor")

    return _site_panels(rows, "phi_task", draw, "radial gradient energy " + _PHI, path, title)


def plot_radius(rows: list[dict], config: dict, path: str | Path, title: str = "") -> Path | None:
    """Mean ||h|| per site vs step with the sqrt(d) line (and the penalty's c*sqrt(d) when c != 1)."""
    c = float(config["penalty"]["radius_scale"])
    root = math.sqrt(int(config["model"]["width"]))  # every hooked site of radgrok's models is width (d_model) wide

    def draw(ax, site: str) -> None:
        ax.plot(*_series(rows, f"radius/{site}"), label="mean ‖h‖")
        ax.axhline(root, color="k", lw=0.8, ls="--", label=f"√d = {root:.1f}")
        if c != 1.0 and config["penalty"]["lam"] > 0:
            ax.axhline(c * root, color="C3", lw=0.8, ls=":", label=f"penalty target {c}·√d")

    return _site_panels(rows, "radius", draw, "radius", path, title)


def plot_anisotropy(rows: list[dict], path: str | Path, title: str = "") -> Path | None:
    """Proposition 1 per site: predicted vs measured penalty (top), eigen-ratios vs 1 (bottom)."""
    sites = sites_of(rows, "aniso_pred")
    if not sites:
        return None
    fig, axes = _plt().subplots(2, len(sites), figsize=(4.3 * len(sites), 6.0), squeeze=False)
    for top, bot, site in zip(axes[0], axes[1], sites):
        for key, label in (("aniso_pred", "(1/d)Tr(WΣₓWᵀ)"), ("penalty_site", "measured L_norm")):
            top.plot(*_series(rows, f"{key}/{site}"), label=label)
        top.set_yscale("log")
        top.set_title(site, fontsize=9)
        for key, label in (("aniso_top", "λ_top/mean λ"), ("aniso_bottom", "bottom-decile λ/mean λ")):
            bot.plot(*_series(rows, f"{key}/{site}"), label=label)
        bot.axhline(1.0, color="grey", ls=":", lw=0.8, label="isotropic weight decay")
        bot.set_yscale("log")
        bot.set_xlabel("step")
    axes[0][0].legend(fontsize=8)
    axes[1][0].legend(fontsize=8)
    axes[0][0].set_ylabel("penalty per site")
    axes[1][0].set_ylabel("strength relative to weight decay")
    return _save(fig, path, title=title)


def plot_fourier_chronology(rows: list[dict], path: str | Path, title: str = "") -> Path | None:
    """Heatmap of log10 power per frequency (rows) over the expensive evaluations (columns)."""
    pts = [(r["step"], r["fourier_power"]) for r in rows if r.get("fourier_power")]
    if not pts:
        return None
    steps = np.asarray([s for s, _ in pts], dtype=float)
    power = np.asarray([p for _, p in pts], dtype=float).T  # (K, n_evals)
    K = power.shape[0]
    # column edges halfway between evaluations, so uneven spacing (the final eval) is drawn faithfully
    mid = (steps[1:] + steps[:-1]) / 2 if len(steps) > 1 else np.zeros(0)
    first = steps[0] - (mid[0] - steps[0] if len(mid) else 0.5)
    last = steps[-1] + (steps[-1] - mid[-1] if len(mid) else 0.5)
    edges = np.concatenate([[first], mid, [last]])
    fig, ax = _plt().subplots(figsize=(8, 4.5))
    mesh = ax.pcolormesh(edges, np.arange(K + 1) + 0.5, np.log10(np.maximum(power, 1e-12)), shading="flat",
                         cmap="viridis")
    fig.colorbar(mesh, ax=ax, label="log10 power")
    ax.set_xlabel("step")
    ax.set_ylabel("frequency k")
    ax.set_title(title or "Fourier power of operand a's input weights per frequency over training", fontsize=9)
    return _save(fig, path)


def selectivity_from_checkpoint(run_dir: str | Path) -> tuple[np.ndarray, int]:
    """(n_neurons, K) selectivity of the first layer for operand a at the run's last checkpoint, and P."""
    from ..diagnostics import mlp_neuron_input_weights, neuron_frequency_selectivity
    from ..training.loop import load_final_model

    config = records.read_config(run_dir)
    if config.model.arch != "mlp":
        raise ValueError(f"selectivity needs the MLP, got arch {config.model.arch!r}")
    w_a, _ = mlp_neuron_input_weights(load_final_model(run_dir))
    p = config.task.p
    return neuron_frequency_selectivity(w_a, p).numpy(), p


def selectivity_order(sel: np.ndarray) -> np.ndarray:
    """Row order of a (neurons, K) selectivity matrix: by preferred frequency, then most selective first."""
    return np.lexsort((-sel.max(1), sel.argmax(1)))


def plot_selectivity(sel: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Neuron x frequency heatmap, neurons sorted by preferred frequency, then by selectivity."""
    order = selectivity_order(sel)
    fig, ax = _plt().subplots(figsize=(7, 6))
    im = ax.imshow(sel[order], aspect="auto", interpolation="nearest", cmap="magma", vmin=0, vmax=1,
                   extent=(0.5, sel.shape[1] + 0.5, sel.shape[0], 0))
    fig.colorbar(im, ax=ax, label="fraction of the neuron's input-weight power")
    ax.set_xlabel("frequency k")
    ax.set_ylabel("neuron (sorted by preferred frequency)")
    ax.set_title(title or "first-layer neuron × frequency selectivity (final checkpoint)", fontsize=9)
    return _save(fig, path)


def plot_run(run_dir: str | Path, out_dir: str | Path | None = None) -> list[str]:
    """Write every figure the run's records allow into ``out_dir`` (default the run dir).

    Returns one line per figure: ``wrote <path>`` or ``skipped <name>: <why>``.
    """
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    out.mkdir(parents=True, exist_ok=True)
    config, rows = to_dict(records.read_config(run_dir)), records.read_jsonl(run_dir / records.METRICS)
    name = run_dir.name
    notes: list[str] = []

    def note(fig_name: str, path: Path | None, why: str) -> None:
        notes.append(f"wrote {path}" if path is not None else f"skipped {fig_name}: {why}")

    note("phi.png", plot_phi(rows, out / "phi.png", f"{name}: {_PHI} (task solid, total dashed)"),
         "no phi_task/<site> in metrics.jsonl (diagnostics off?)")
    note("radius.png", plot_radius(rows, config, out / "radius.png", f"{name}: radius per layer"),
         "no radius/<site> in metrics.jsonl")
    note("anisotropy.png", plot_anisotropy(rows, out / "anisotropy.png", f"{name}: Proposition 1"),
         "no aniso_pred/<site> (needs MLP pre-activation sites and a radgrok with anisotropy logging)")
    note("fourier_chronology.png", plot_fourier_chronology(rows, out / "fourier_chronology.png"),
         "no fourier_power rows (run with --expensive-every N, N > 0)")
    if not (run_dir / records.CHECKPOINT).exists():
        note("selectivity.png", None, "no checkpoint.pt in the run directory")
    elif config["model"]["arch"] != "mlp":
        note("selectivity.png", None, "selectivity is defined for the MLP's first layer only")
    else:
        sel, _ = selectivity_from_checkpoint(run_dir)
        note("selectivity.png", plot_selectivity(sel, out / "selectivity.png"), "")
    return notes
