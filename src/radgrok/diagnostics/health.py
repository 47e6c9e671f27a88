"""Numerical health of the output layer: softmax collapse and exactly-zero losses.

Once a network fits its training set, cross-entropy keeps rewarding larger logit
gaps. When the gap between the top logit and the rest exceeds ~17 in float32 (~37
in float64), the top softmax probability rounds to exactly 1.0 and the example's
loss to exactly 0.0: its gradient is (numerically) gone, and training on it stops
in a way that has nothing to do with the loss landscape. Prieto et al. (2025,
arXiv 2501.04697) call this softmax collapse and link it to stalled grokking.

Both measures are computed *at the logits' own dtype* on purpose: the question is
whether the training computation, in the precision it runs in, has collapsed.
Casting to float64 first would hide exactly what they are meant to show.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["softmax_collapse_fraction", "zero_loss_fraction"]


def _rows(logits: torch.Tensor) -> torch.Tensor:
    """(..., C) -> (N, C): every leading index (example, position) is one prediction."""
    if logits.dim() < 1 or logits.shape[-1] < 1:
        raise ValueError(f"logits need a class dim, got shape {tuple(logits.shape)}")
    return logits.detach().reshape(-1, logits.shape[-1])


def softmax_collapse_fraction(logits: torch.Tensor) -> float:
    """Fraction of rows whose largest softmax probability is exactly 1.0 at ``logits.dtype``."""
    z = _rows(logits)
    if z.shape[0] == 0:
        return float("nan")
    pmax = torch.softmax(z, dim=-1).amax(dim=-1)
    return float((pmax == 1.0).double().mean())


def zero_loss_fraction(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of examples whose cross-entropy is exactly 0.0 at ``logits.dtype``.

    ``targets`` has the logits' leading shape; it is flattened alongside them.
    Rows whose target is negative (the LM's ignore index, e.g. prompt positions) are
    not examples and are left out.
    """
    z = _rows(logits)
    t = targets.reshape(-1)
    if t.shape[0] != z.shape[0]:
        raise ValueError(f"{t.shape[0]} targets for {z.shape[0]} rows of logits")
    keep = t >= 0
    z, t = z[keep], t[keep]
    if z.shape[0] == 0:
        return float("nan")
    losses = F.cross_entropy(z, t, reduction="none")
    return float((losses == 0).double().mean())
