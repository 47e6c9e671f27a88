"""Figures drawn from run records only (never from live training state)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..runs.records import atomic_write_bytes
from ..runs.steps import capped_steps, no_grok_label

__all__ = ["align_curves", "plot_accuracy", "plot_site_metric", "plot_grok_bars",
           "plot_lambda_curve", "plot_heatmap", "plot_matrix"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path, dpi: int = 110, tight: bool = True, title: str = "", outside: bool = False) -> Path:
    """Title (``suptitle``, when given), lay out (unless the figure has a shared colour bar), write and close
    a figure: a PNG of at most 256 colours (``small_png``, far smaller than matplotlib's) for committed reports."""
    path = Path(path)
    if title:
        fig.suptitle(title, fontsize=9)
    if tight:
        fig.tight_layout()
    png = path.suffix.lower() == ".png"  # a PNG is made small; another format is as matplotlib writes it
    buf = io.BytesIO()
    fig.savefig(buf if png else path, dpi=dpi, format="png" if png else None, bbox_inches="tight" if outside else None)
    _plt().close(fig)
    return small_png(buf.getvalue(), path) if png else path


def small_png(data: bytes, path: str | Path) -> Path:
    """Write PNG ``data`` to ``path`` with an adaptive palette of 256 colours (a plot uses far fewer)."""
    from PIL import Image

    img = Image.open(io.BytesIO(data)).convert("RGB").quantize(256)
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return atomic_write_bytes(Path(path), out.getvalue())


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
    # forward fill: each gap takes the value of the last step logged before it
    last = np.maximum.accumulate(np.where(np.isnan(out), 0, np.arange(len(steps))), axis=1)
    return np.asarray(steps), np.take_along_axis(out, last, axis=1)


MANY = 8  # past this many arms, a figure's legend goes beside its axes in small type


def _color(i: int, n: int):
    """The i-th of n arms' colour: matplotlib's cycle up to 10, tab20 past it (the cycle would repeat)."""
    return f"C{i % 10}" if n <= 10 else _plt().cm.tab20(i % 20)


def _legend(fig, axes, n: int, loc: str = "best") -> bool:
    """The legend of n arms: inside the first of ``axes`` at ``loc``, or, past ``MANY``, beside the last in two
    small columns with the figure widened by 5 inches. Whether it is outside (``_save``'s
    ``outside``: the saved image then grows to hold it)."""
    if n <= MANY:
        axes[0].legend(fontsize=8, loc=loc)
        return False
    w, h = fig.get_size_inches()
    fig.set_size_inches(w + 5.0, max(h, 5.5))
    axes[-1].legend(fontsize=5, loc="upper left", bbox_to_anchor=(1.01, 1.0), ncol=2)
    return True


def plot_accuracy(groups: dict[str, list[list[dict]]], path: str | Path, title: str = "",
                  grok_steps: dict[str, list] | None = None) -> Path:
    """Test (solid) and train (dotted) accuracy vs step: mean over seeds, band = mean ± std (the paper's)."""
    fig, ax = _plt().subplots(figsize=(7, 4.2))
    for i, (arm, runs) in enumerate(groups.items()):
        color = _color(i, len(groups))
        steps, test = align_curves(runs, "test_acc")
        _, train = align_curves(runs, "train_acc")
        n, mean = len(runs), np.nanmean(test, 0)
        ax.plot(steps, mean, color=color, label=f"{arm} test (n={n})")
        sd = np.nanstd(test, 0, ddof=1) if n > 1 else np.zeros(len(steps))
        ax.fill_between(steps, np.clip(mean - sd, 0, 1), np.clip(mean + sd, 0, 1), color=color, alpha=0.2)
        many = len(groups) > MANY  # a legend of every train curve would not fit: label test curves only
        ax.plot(steps, np.nanmean(train, 0), color=color, ls=":", label=None if many else f"{arm} train")
        for g in (grok_steps or {}).get(arm, []):
            if g is not None:
                ax.axvline(g, color=color, lw=0.6, alpha=0.5)
    ax.axhline(0.9, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title or "accuracy vs step (mean, band = ± std over seeds; thin lines = grok steps)",
                 fontsize=9)
    return _save(fig, path, dpi=120, outside=_legend(fig, [ax], len(groups), "center right"))


def plot_site_metric(groups: dict[str, list[list[dict]]], prefix: str, path: str | Path, ylabel: str,
                     floor: float | None = None, log: bool = False) -> Path | None:
    """One panel per logged site of ``<prefix>/<site>``: mean over seeds per arm vs step, band = min to max.

    ``floor`` draws a reference line (e.g. Φ̃_rad's isotropic floor 1). Returns None when nothing was logged.
    """
    plt = _plt()
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
            color = _color(i, len(groups))
            ax.plot(steps, np.nanmean(vals, 0), color=color, label=arm)
            ax.fill_between(steps, np.nanmin(vals, 0), np.nanmax(vals, 0), color=color, alpha=0.2)
        if floor is not None:
            ax.axhline(floor, color="grey", ls="--", lw=0.8)
        if log:
            ax.set_yscale("log")
        ax.set_title(site, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))  # steps to 60,000 in 4.2 inches: labels must not touch
    return _save(fig, path, outside=_legend(fig, axes[0], len(groups)))


def plot_grok_bars(arms: dict[str, tuple], path: str | Path) -> Path:
    """Mean ± std grok step per arm; arm -> (grok steps per seed with None = no grok, budget[, cut]).

    A seed without a grok step counts as the budget (``cut`` of them were cut off before it, at
    most the budget), so such a bar is a lower bound: it is hatched and labelled "k/n DNG" or
    "j/n cut off", and the budget is drawn as a dashed line.
    """
    names = list(arms)
    fig, ax = _plt().subplots(figsize=(max(4.5, 0.9 * len(names) + 2), 3.6))
    for i, name in enumerate(names):
        steps, budget, *cut = arms[name]
        mean, sd, dng = capped_steps(steps, budget)
        ax.bar(i, mean, yerr=sd if dng < len(steps) else 0, color=f"C{i % 10}", capsize=4,
               hatch="//" if dng else None, alpha=0.5 if dng else 0.9, edgecolor="k")
        ax.text(i, mean, no_grok_label(steps, *cut, sep="\n") if dng else f"{mean:,.0f}", ha="center", va="bottom",
                fontsize=8)
        ax.scatter([i] * len(steps), [budget if g is None else g for g in steps], color="k", s=8, zorder=3)
    for b in {v[1] for v in arms.values()}:  # each budget once
        ax.axhline(b, color="grey", ls="--", lw=0.8)
    ax.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=8)
    ax.set_ylabel("grok step (no grok: steps run, hatched)")
    ax.set_title("grok step per arm: mean ± std, dots = seeds, dashed = budget", fontsize=9)
    return _save(fig, path)


def plot_lambda_curve(series: dict[str, list[tuple]], path: str | Path, refs: dict[str, tuple] | None = None) -> Path:
    """The lambda U-curve: grok step (mean ± std, no grok = budget, marked x) vs lambda on a log axis.

    ``series``: label -> [(lam, grok steps per seed, budget[, cut]), ...] for lam > 0; ``refs``:
    label -> (steps, budget[, cut]) of lam = 0 arms, drawn as horizontal dashed lines.
    """
    fig, ax = _plt().subplots(figsize=(6, 3.8))
    for i, (label, pts) in enumerate(series.items()):
        pts = sorted(pts, key=lambda t: t[0])
        stats = [capped_steps(pt[1], pt[2]) for pt in pts]
        lams = [p[0] for p in pts]
        ax.errorbar(lams, [m for m, _, _ in stats], yerr=[sd for _, sd, _ in stats], color=f"C{i}", marker="o",
                    capsize=3, label=label)
        for lam, (m, _, dng), (_, s, _, *cut) in zip(lams, stats, pts):
            if dng:
                ax.scatter([lam], [m], marker="x", s=80, color=f"C{i}", zorder=4)
                ax.annotate(no_grok_label(s, *cut), (lam, m), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for j, (label, (steps, budget, *cut)) in enumerate((refs or {}).items()):
        m, _, dng = capped_steps(steps, budget)
        ax.axhline(m, color=f"C{len(series) + j}", ls="--", lw=1,
                   label=f"{label} (lam 0)" + (f" {no_grok_label(steps, *cut)}" if dng else ""))
    ax.set_xscale("log")
    ax.set_xlabel("lambda")
    ax.set_ylabel("grok step (x = no grok, plotted at the budget)")
    ax.set_title("grok step vs lambda (mean ± std over seeds)", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_heatmap(panels: dict[str, dict[tuple, tuple]], xname: str, yname: str, path: str | Path) -> Path:
    """Mean grok step over two swept fields; one panel per value of everything else.

    ``panels``: label -> {(x, y): (grok steps per seed, budget[, cut])}. Cells with seeds that did
    not grok say "k/n DNG" or "j/n cut off" and use the steps they ran (their budget, or where the cap
    cut them) as their colour: a lower bound.
    """
    fig, axes = _plt().subplots(1, len(panels), figsize=(3.8 * len(panels) + 0.8, 3.4), squeeze=False)
    vmax = max(v[1] for cells in panels.values() for v in cells.values())
    for ax, (label, cells) in zip(axes[0], panels.items()):
        xs = sorted({k[0] for k in cells}, key=str)
        ys = sorted({k[1] for k in cells}, key=str)
        grid = np.full((len(ys), len(xs)), np.nan)
        for (x, y), (steps, budget, *cut) in cells.items():
            m, _, dng = capped_steps(steps, budget)
            grid[ys.index(y), xs.index(x)] = m
            txt = no_grok_label(steps, *cut, sep="\n") if dng else f"{m:,.0f}"
            ax.text(xs.index(x), ys.index(y), txt, ha="center", va="center", fontsize=7)
        im = ax.imshow(grid, cmap="viridis_r", vmin=0, vmax=vmax, aspect="auto", origin="lower")
        ax.set_xticks(range(len(xs)), [str(x) for x in xs], fontsize=8)
        ax.set_yticks(range(len(ys)), [str(y) for y in ys], fontsize=8)
        ax.set_xlabel(xname)
        ax.set_ylabel(yname)
        ax.set_title(label, fontsize=8)
    fig.colorbar(im, ax=axes[0].tolist(), label="mean grok step (no grok: steps run, a bound)")
    return _save(fig, path, tight=False, title=f"grok step over {xname} x {yname}")


def plot_matrix(mats: dict[str, np.ndarray], path: str | Path, xlabel: str, ylabel: str, title: str = "") -> Path:
    """One heatmap per arm (e.g. neuron x frequency selectivity, or frequency power over steps)."""
    fig, axes = _plt().subplots(1, len(mats), figsize=(4 * len(mats), 3.6), squeeze=False)
    for ax, (label, m) in zip(axes[0], mats.items()):
        im = ax.imshow(m, aspect="auto", cmap="magma", interpolation="nearest", origin="lower")
        ax.set_title(label, fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        fig.colorbar(im, ax=ax)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)
