"""StableMax (arXiv 2501.04697): softmax with exp replaced by a slowly growing map.

    s(x) = x + 1        for x >= 0
    s(x) = 1 / (1 - x)  for x < 0,      stablemax(x)_i = s(x_i) / sum_j s(x_j).

s is positive, increasing, continuous with a continuous first derivative at 0, and
grows only linearly, so the probabilities do not saturate to exactly 0 / 1 as
logits grow. That is the paper's cure for "softmax collapse": once softmax rounds
the correct class to probability 1, the loss gradient is exactly zero and training
stalls. They compute the loss in float64 as well; ``dtype=torch.float64`` does that.

Numerics, for any finite logits (1e30 included):

* ``log s(x)`` is computed as ``log1p(x)`` (x >= 0) or ``-log1p(-x)`` (x < 0):
  never forms 1/(1 - x) and never exceeds ~89 in float32, so the log-probabilities
  come from an ordinary logsumexp with no overflow.
* Each branch of ``torch.where`` is fed a clamped copy of x that lies inside that
  branch's domain, so the branch that is *not* selected is still finite and its
  zero-weighted gradient is 0, not NaN (``0 * nan = nan`` would poison the sum).
* ``stablemax`` divides by the largest s before summing, so the sum is at most the
  number of classes even when every s is near the float maximum.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

__all__ = ["stablemax", "log_stablemax", "stablemax_cross_entropy", "StableMaxCrossEntropy"]

Reduction = Literal["mean", "sum", "none"]


def _s(x: torch.Tensor) -> torch.Tensor:
    """s(x) itself, with both branches finite everywhere (see module docstring)."""
    return torch.where(x >= 0, x.clamp(min=0) + 1, 1 / (1 - x.clamp(max=0)))


def _log_s(x: torch.Tensor) -> torch.Tensor:
    """log s(x) without forming s: log1p(x) for x >= 0, -log1p(-x) for x < 0."""
    return torch.where(x >= 0, torch.log1p(x.clamp(min=0)), -torch.log1p(-x.clamp(max=0)))


def stablemax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """StableMax probabilities along ``dim``: ``s(x_i) / sum_j s(x_j)``."""
    s = _s(logits)
    # s >= 1 wherever some logit is >= 0, and in (0, 1) otherwise; dividing by the
    # max keeps the sum within [1, n] so it cannot overflow. The max is a constant
    # factor of numerator and denominator, so detaching it changes no gradient.
    s = s / s.amax(dim=dim, keepdim=True).detach()
    return s / s.sum(dim=dim, keepdim=True)


def log_stablemax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log stablemax(logits)`` along ``dim``, computed in log space (no overflow)."""
    ls = _log_s(logits)
    return ls - torch.logsumexp(ls, dim=dim, keepdim=True)


def stablemax_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, reduction: Reduction = "mean",
                            dtype: torch.dtype | None = None) -> torch.Tensor:
    """Cross-entropy with StableMax in place of softmax: ``-log stablemax(logits)[target]``.

    Args:
        logits: ``(..., C)``, classes on the *last* dim (for 2-d input this is the
            same layout as ``F.cross_entropy``; for sequences pass ``(B, T, C)``).
        targets: integer class indices of shape ``logits.shape[:-1]``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        dtype: compute in this dtype, e.g. ``torch.float64`` as in the paper. The
            result stays in it (so a float64 loss keeps its precision when logged);
            gradients flow back to ``logits`` in their own dtype.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if targets.shape != logits.shape[:-1]:
        raise ValueError(f"targets shape {tuple(targets.shape)} must equal logits.shape[:-1] = "
                         f"{tuple(logits.shape[:-1])}")
    if targets.dtype.is_floating_point or targets.dtype == torch.bool:
        raise TypeError(f"targets must hold integer class indices, got {targets.dtype}")
    x = logits if dtype is None else logits.to(dtype)
    logp = log_stablemax(x, dim=-1)
    nll = -logp.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)
    if reduction == "mean":
        return nll.mean()
    if reduction == "sum":
        return nll.sum()
    return nll


class StableMaxCrossEntropy(nn.Module):
    """``nn.Module`` form of ``stablemax_cross_entropy``, for code that wants a criterion."""

    def __init__(self, reduction: Reduction = "mean", dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.reduction = reduction
        self.dtype = dtype

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return stablemax_cross_entropy(logits, targets, self.reduction, self.dtype)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}, dtype={self.dtype}"
