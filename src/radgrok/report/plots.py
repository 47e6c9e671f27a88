"""Figures drawn from run records only (never from live training state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["align_curves", "plot_accuracy"]


def align_curves(runs: list[list[dict]], key: str = "test_acc") -> tuple[np.ndarray, np.ndarray]:
    """Stack the ``key`` column of several runs on the union of their evaluation steps.

    Runs that stopped early (after grokking and the patience) are carried forward
    with their last value: by the grok definition it stayed above threshold. Returns
    (steps, values) with values of shape (n_runs, n_steps).
    """
    steps = sorted({r["step"] for rows in runs for r in rows})
    out = np.full((len(runs), len(steps)), np.nan)
    pos = {s: i for i, s in enumerate(steps)}
    for k, rows in enumerate(runs):
        for r in rows:
            out[k, pos[r["step"]]] = r[key]
        last = np.nan
        for i in range(len(steps)):  # forward fill
            if np.isnan(out[k, i]):
                out[k, i] = last
            else:
                last = out[k, i]
    return np.asarray(steps), out


def plot_accuracy(groups: dict[str, list[list[dict]]], path: str | Path, title: str = "",
                  grok_steps: dict[str, list] | None = None) -> Path:
    """Test (solid) and train (dotted) accuracy vs step: mean over seeds, band = min..max."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for i, (arm, runs) in enumerate(groups.items()):
        color = f"C{i}"
        steps, test = align_curves(runs, "test_acc")
        _, train = align_curves(runs, "train_acc")
        n = len(runs)
        ax.plot(steps, np.nanmean(test, 0), color=color, label=f"{arm} test (n={n})")
        ax.fill_between(steps, np.nanmin(test, 0), np.nanmax(test, 0), color=color, alpha=0.2)
        ax.plot(steps, np.nanmean(train, 0), color=color, ls=":", label=f"{arm} train")
        for g in (grok_steps or {}).get(arm, []):
            if g is not None:
                ax.axvline(g, color=color, lw=0.6, alpha=0.5)
    ax.axhline(0.9, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or "accuracy vs step (mean, band = min..max over seeds; thin lines = grok steps)",
                 fontsize=9)
    ax.legend(fontsize=8, loc="center right")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_site_metric(groups: dict[str, list[list[dict]]], prefix: str, path: str | Path, ylabel: str,
                     floor: float | None = None, log: bool = False) -> Path | None:
    """One panel per logged site of ``<prefix>/<site>``: mean over seeds per arm vs step.

    Used for ``radius`` (with the sqrt(d) target as the reference) and ``phi_task`` /
    ``phi_total`` (with the isotropic floor 1). Returns None when nothing was logged.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sites = sorted({k.split("/", 1)[1] for runs in groups.values() for rows in runs for r in rows[:1]
                    for k in r if k.startswith(prefix + "/")})
    if not sites:
        return None
    fig, axes = plt.subplots(1, len(sites), figsize=(4.2 * len(sites), 3.4), squeeze=False)
    for ax, site in zip(axes[0], sites):
        key = f"{prefix}/{site}"
        for i, (arm, runs) in enumerate(groups.items()):
            runs = [[r for r in rows if r.get(key) is not None] for rows in runs]
            if not any(runs):
                continue
            steps, vals = align_curves([rows for rows in runs if rows], key)
            ax.plot(steps, np.nanmean(vals, 0), color=f"C{i}", label=arm)
            ax.fill_between(steps, np.nanmin(vals, 0), np.nanmax(vals, 0), color=f"C{i}", alpha=0.2)
        if floor is not None:
            ax.axhline(floor, color="grey", ls="--", lw=0.8)
        if log:
            ax.set_yscale("log")
        ax.set_title(site, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
