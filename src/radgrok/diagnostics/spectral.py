"""Spectral summaries of a matrix (an activation batch or a weight): ranks and sigma_max.

Two different "ranks" circulate in the grokking literature and are easy to confuse:

* the *stable rank* ``||A||_F^2 / ||A||_2^2 = sum(s_i^2) / s_max^2``: how many
  directions carry energy comparable to the largest one. It is dominated by the top
  singular values and is what the radial-suppression paper computes on a batch of
  256 activations (calling it "effective rank");
* the *effective rank* of Roy & Vetterli (2007), ``exp(H(p))`` with
  ``p_i = s_i / sum(s)``: the exponential of the entropy of the normalised singular
  values. It counts every direction with a non-negligible share of the spectrum and
  is usually much larger than the stable rank.

Both lie in [1, rank(A)] for a non-zero A, and equal n for an n x n identity and 1
for a rank-1 matrix. Report both, and name which one a number is.

A tensor with more than two dims is read as (..., d) and its leading dims are
flattened into rows, as for activations (examples x token positions x features).
SVDs run in float64: the ratios involve squares of singular values that span many
orders of magnitude in a trained network.
"""

from __future__ import annotations

import math

import torch

__all__ = ["singular_values", "stable_rank", "effective_rank", "sigma_max", "spectral_summary"]


def singular_values(A: torch.Tensor) -> torch.Tensor:
    """Singular values of A (leading dims flattened to rows), descending, float64, detached."""
    if A.dim() < 2:
        raise ValueError(f"need a matrix (at least 2 dims), got shape {tuple(A.shape)}")
    return torch.linalg.svdvals(A.detach().reshape(-1, A.shape[-1]).to(torch.float64))


def _stable_rank(s: torch.Tensor) -> float:
    if not s.numel() or s[0] == 0:
        return 0.0  # the zero matrix has rank 0; avoids 0/0
    return float(s.square().sum() / s[0].square())


def _effective_rank(s: torch.Tensor) -> float:
    total = s.sum()
    if total == 0:
        return 0.0
    p = s / total
    p = p[p > 0]  # 0 * log 0 = 0
    return float(math.exp(float(-(p * p.log()).sum())))


def stable_rank(A: torch.Tensor) -> float:
    """``||A||_F^2 / ||A||_2^2``; 0 for the zero matrix."""
    return _stable_rank(singular_values(A))


def effective_rank(A: torch.Tensor) -> float:
    """Roy & Vetterli's ``exp(-sum p_i log p_i)``, ``p_i = s_i / sum_j s_j``; 0 for the zero matrix."""
    return _effective_rank(singular_values(A))


def sigma_max(A: torch.Tensor) -> float:
    """The largest singular value (the spectral norm ``||A||_2``)."""
    return spectral_summary(A)["sigma_max"]


def spectral_summary(A: torch.Tensor) -> dict[str, float]:
    """One SVD, every number: sigma_max, Frobenius norm, stable rank, effective rank,
    and ``max_rank = min(rows, cols)`` so that a rank can be read as a fraction of it."""
    s = singular_values(A)
    return {"sigma_max": float(s[0]) if s.numel() else 0.0, "frobenius": float(s.square().sum().sqrt()),
            "stable_rank": _stable_rank(s), "effective_rank": _effective_rank(s), "max_rank": float(s.numel())}
