"""Figures for docs/results/nanogpt-cpu and docs/results/charlm-cpu from their committed run records.

    MPLCONFIGDIR=$(mktemp -d) .venv/bin/python docs/results/nanogpt-cpu/figures.py
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from radgrok.report.plots import align_curves, plot_accuracy  # noqa: E402
from radgrok.report.report import load_runs  # noqa: E402

root = Path(__file__).resolve().parents[1]
gpt = root / "nanogpt-cpu"
arms = {"plain": load_runs(gpt / "plain"),
        "reversed": [r for r in load_runs(gpt / "reversed") if r["name"].startswith("lam=0.0-")],
        "reversed + penalty (λ 0.01)": [r for r in load_runs(gpt / "reversed") if r["name"].startswith("lam=0.01-")]}
plot_accuracy({k: [r["metrics"] for r in v] for k, v in arms.items()}, gpt / "exact_match.png",
              title="GPT 2x64, 3-digit addition: exact-match accuracy (test solid, train dotted), 3 seeds",
              grok_steps={k: [r["summary"]["grok_step"] for r in v] for k, v in arms.items()})

lm = load_runs(root / "charlm-cpu" / "sweep")
fig, ax = plt.subplots(figsize=(7, 4.2))
for i, (label, prefix) in enumerate((("no penalty", "lam=0.0-"), ("penalty λ 0.01", "lam=0.01-"))):
    runs = [r["metrics"] for r in lm if r["name"].startswith(prefix)]
    for key, ls in (("test_loss", "-"), ("train_loss", ":")):
        steps, y = align_curves(runs, key)
        m, sd = np.nanmean(y, 0), np.nanstd(y, 0, ddof=1)
        ax.plot(steps, m, color=f"C{i}", ls=ls, label=f"{label} {'held-out' if key == 'test_loss' else 'train'}")
        ax.fill_between(steps, m - sd, m + sd, color=f"C{i}", alpha=0.2)
ax.set_xlabel("optimizer step")
ax.set_ylabel("next-character loss (nats)")
ax.set_title("char-LM GPT 2x64 on the bundled sonnets: mean ± std over 3 seeds", fontsize=9)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(root / "charlm-cpu" / "loss.png", dpi=120)
print("wrote", gpt / "exact_match.png", root / "charlm-cpu" / "loss.png")
