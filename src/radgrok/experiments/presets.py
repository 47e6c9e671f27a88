"""Named presets, each a RunConfig named after what it reproduces. No torch import here.

A preset fixes every field that matters for its claim; the CLI then applies the
user's overrides on top (``radgrok train --preset paper-mlp --lam 0``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..runs.config import ConfigError, RunConfig

__all__ = ["PRESETS", "Preset", "get_preset"]


@dataclass(frozen=True)
class Preset:
    description: str
    overrides: dict

    def config(self) -> RunConfig:
        return RunConfig().replace(**self.overrides)


# The paper's main MLP setting (SPEC, Table 2).
_PAPER_MLP = dict(op="add", p=97, train_frac=0.5, width=512, depth=2, encoding="onehot",
                  lr=1e-3, batch_size=0, steps=100_000, eval_every=100, patience=1000)

# The CPU-sized twin, calibrated on a 2-core machine (benchmarks/calibrate_cpu_mlp.py,
# docs/results/calibration/): width 128 and lr 3e-3 (strong weight decay groks ~2.4x sooner
# at 3e-3 than at 1e-3, which keeps the demo within minutes).
_CPU_MLP = dict(_PAPER_MLP, width=128, lr=3e-3, steps=2500, eval_every=50, patience=100)

# The paper's transformer (SPEC, Tables 3 and 9), on [a, op, b, =], MLP 4x. The paper does not state
# its weight decay or lambda here; "without -> with penalty" (Table 9) reads as the same run with
# the penalty added, so the penalty arm is strong WD + lambda 0.01 (nanoGPT's value).
_PAPER_TRANSFORMER = dict(op="add", p=97, train_frac=0.5, arch="transformer", width=128, depth=2, n_heads=4,
                          ln="affine", lr=1e-3, weight_decay=0.1, batch_size=0, steps=50_000, eval_every=100,
                          patience=1000)
# CPU twin (calibrated in docs/results/transformer-cpu/): P=59 and d_model 64 for a step ~10x cheaper on one
# core; wd 1.0 makes it grok well within the budget.
_CPU_TRANSFORMER = dict(_PAPER_TRANSFORMER, p=59, width=64, weight_decay=1.0, steps=3000, eval_every=50,
                        patience=100)
# nanoGPT on 3-digit addition with the answer reversed (SPEC, Table 3): 6 layers, 6 heads,
# 384 wide, lambda 0.01, 3 seeds. Unstated and chosen here: 10,000 training pairs, 1,000
# held-out pairs, batch 256, AdamW lr 1e-3, wd 0.1, the loss on the answer tokens only.
_PAPER_NANOGPT = dict(task="addition", arch="gpt", n_digits=3, fmt="reversed", train_pairs=10_000,
                      test_pairs=1_000, width=384, depth=6, n_heads=6, lr=1e-3, weight_decay=0.1,
                      batch_size=256, steps=50_000, eval_every=250, patience=1000)
_CPU_NANOGPT = dict(_PAPER_NANOGPT, width=64, depth=2, n_heads=2, train_pairs=5_000, batch_size=128,
                    steps=3000, eval_every=100, patience=300)
# The char-level LM check (SPEC, Table 10): ~0.5M parameters on Tiny Shakespeare (pass it
# with --text-path; the bundled sample is a few KB of public-domain verse).
_PAPER_CHARLM = dict(task="text", arch="gpt", width=144, depth=2, n_heads=4, block_size=256, batch_size=64,
                     lr=1e-3, weight_decay=0.1, steps=5000, eval_every=250, eval_windows=64, early_stop=False)
_CPU_CHARLM = dict(_PAPER_CHARLM, width=64, depth=2, n_heads=2, block_size=64, batch_size=32, steps=600,
                   eval_every=50, eval_windows=32)

# The readings of the paper's ||h|| (radgrok.penalty.readings): what each preset below adds to the penalty arm.
_SUM = dict(reduce="sum")  # one norm per example, summed over the batch
_BATCH = dict(norm_over="batch")  # one Frobenius norm of the whole (examples x d) batch per site
_L2 = dict(norm_over="batch", radius_scale=0.0)  # activation L2, sum ||h||^2 / d: the batch reading at r = 0

PRESETS: dict[str, Preset] = {
    "paper-mlp": Preset(
        "paper Table 2 penalty arm: MLP 2x512, (a+b) mod 97, f=0.5, lam 0.05, wd 1e-3, full batch, 100k steps; "
        "reading: one norm per example, mean over the batch",
        dict(_PAPER_MLP, lam=0.05, weight_decay=1e-3)),
    "paper-mlp-sum": Preset(
        "paper-mlp under the reading 'one norm per example, summed over the batch' (4,704x the mean's strength)",
        dict(_PAPER_MLP, lam=0.05, weight_decay=1e-3, **_SUM)),
    "paper-mlp-batch": Preset(
        "paper-mlp under the reading 'one Frobenius norm of the batch matrix' (torch.norm(h) with no dim): "
        "each example rests near sqrt(d/M)",
        dict(_PAPER_MLP, lam=0.05, weight_decay=1e-3, **_BATCH)),
    "paper-mlp-act-l2": Preset(
        "paper-mlp-batch with radius 0: activation L2, lam * sum ||h||^2 / d (shrinkage, no sphere)",
        dict(_PAPER_MLP, lam=0.05, weight_decay=1e-3, **_L2)),
    "paper-mlp-strong-wd": Preset(
        "paper Table 2 'Strong WD' arm: same MLP, no penalty, wd 0.1",
        dict(_PAPER_MLP, lam=0.0, weight_decay=0.1)),
    "paper-mlp-weak-wd": Preset(
        "paper Table 2 'Baseline' arm: same MLP, no penalty, wd 1e-3 (reported: never groks)",
        dict(_PAPER_MLP, lam=0.0, weight_decay=1e-3)),
    "cpu-mlp": Preset(
        "CPU twin of paper-mlp: MLP 2x128, (a+b) mod 97, f=0.5, lr 3e-3, lam 0.05 at radius sqrt(d), "
        "wd 1e-3, 2.5k steps; reading: one norm per example, mean over the batch",
        dict(_CPU_MLP, lam=0.05, weight_decay=1e-3)),
    "cpu-mlp-sum": Preset(
        "cpu-mlp under the reading 'one norm per example, summed over the batch'",
        dict(_CPU_MLP, lam=0.05, weight_decay=1e-3, **_SUM)),
    "cpu-mlp-batch": Preset(
        "cpu-mlp under the reading 'one Frobenius norm of the batch matrix' (torch.norm(h) with no dim)",
        dict(_CPU_MLP, lam=0.05, weight_decay=1e-3, **_BATCH)),
    "cpu-mlp-act-l2": Preset(
        "cpu-mlp-batch with radius 0: activation L2, lam * sum ||h||^2 / d (shrinkage, no sphere)",
        dict(_CPU_MLP, lam=0.05, weight_decay=1e-3, **_L2)),
    "cpu-mlp-small-radius": Preset(
        "cpu-mlp with the penalty's radius at 0.1*sqrt(d) and lam 1 (our calibration; the paper uses sqrt(d))",
        dict(_CPU_MLP, lam=1.0, radius_scale=0.1, weight_decay=1e-3)),
    "cpu-mlp-strong-wd-radial": Preset(
        "cpu-mlp-strong-wd plus the penalty at radius 0.1*sqrt(d), lam 1 (our calibration)",
        dict(_CPU_MLP, lam=1.0, radius_scale=0.1, weight_decay=1.0)),
    "cpu-mlp-wd3": Preset(
        "cpu-mlp-strong-wd with weight decay 3.0: the fair, tuned weight-decay baseline",
        dict(_CPU_MLP, lam=0.0, weight_decay=3.0)),
    "cpu-mlp-strong-wd": Preset(
        "CPU twin of the strong-WD arm: MLP 2x128, lr 3e-3, no penalty, wd 1.0 (wd 0.1 does not grok "
        "at this size), 2.5k steps",
        dict(_CPU_MLP, lam=0.0, weight_decay=1.0)),
    "paper-transformer": Preset(
        "paper Table 3 transformer, penalty arm: 2 pre-LN blocks, 4 heads, d_model 128, (a+b) mod 97, f=0.5, "
        "wd 0.1 + lam 0.01 on every sub-layer output (wd and lam unstated in the paper)",
        dict(_PAPER_TRANSFORMER, lam=0.01)),
    "paper-transformer-strong-wd": Preset(
        "paper Table 3 transformer, strong-WD arm: same, no penalty", dict(_PAPER_TRANSFORMER, lam=0.0)),
    "cpu-transformer": Preset(
        "CPU twin of paper-transformer: P=59, d_model 64, wd 1.0 + lam 0.01, 3k steps",
        dict(_CPU_TRANSFORMER, lam=0.01)),
    "cpu-transformer-strong-wd": Preset(
        "CPU twin of paper-transformer-strong-wd: P=59, d_model 64, wd 1.0, no penalty, 3k steps",
        dict(_CPU_TRANSFORMER, lam=0.0)),
    "paper-nanogpt": Preset(
        "paper Table 3 nanoGPT: 6 layers, 6 heads, 384 wide (10.7M), 3-digit addition with the answer "
        "reversed, lam 0.01, wd 0.1, batch 256, 50k steps",
        dict(_PAPER_NANOGPT, lam=0.01)),
    "paper-nanogpt-baseline": Preset(
        "paper Table 3 nanoGPT without the penalty", dict(_PAPER_NANOGPT, lam=0.0)),
    "cpu-nanogpt": Preset(
        "CPU twin of paper-nanogpt: GPT 2 layers, 2 heads, 64 wide (0.1M), 5,000 training pairs, reversed, "
        "lam 0.01, 3k steps",
        dict(_CPU_NANOGPT, lam=0.01)),
    "cpu-nanogpt-reversed": Preset(
        "cpu-nanogpt without the penalty (answer reversed)", dict(_CPU_NANOGPT, lam=0.0)),
    "cpu-nanogpt-plain": Preset(
        "cpu-nanogpt without the penalty, answer written most-significant digit first",
        dict(_CPU_NANOGPT, lam=0.0, fmt="plain")),
    "paper-charlm": Preset(
        "paper Table 10 char-LM check: GPT 2x144 (~0.5M), context 256, lam 0.01, 5k steps; give Tiny "
        "Shakespeare with --text-path (default: the bundled sample)",
        dict(_PAPER_CHARLM, lam=0.01)),
    "paper-charlm-baseline": Preset("paper-charlm without the penalty", dict(_PAPER_CHARLM, lam=0.0)),
    "cpu-charlm": Preset(
        "CPU twin of paper-charlm: GPT 2x64 on the bundled sample, context 64, lam 0.01, 600 steps",
        dict(_CPU_CHARLM, lam=0.01)),
    "cpu-charlm-baseline": Preset("cpu-charlm without the penalty", dict(_CPU_CHARLM, lam=0.0)),
}


def get_preset(name: str) -> RunConfig:
    """The RunConfig of a preset; an unknown name raises ConfigError listing the known ones."""
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {list(PRESETS)}, got {name!r}")
    return PRESETS[name].config()
