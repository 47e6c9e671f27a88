"""The readings of ||h||: which norms the penalty acts on, its value, the pure function and the
projection (the hard limit). Plain tensor ops throughout, so every function here works under
``torch.func`` transforms and to any order of differentiation."""

from __future__ import annotations

import math
from typing import Literal

import torch

__all__ = ["Mode", "NormOver", "Reduce", "NORM_OVER", "REDUCE", "check_reading", "norms", "divisor",
           "penalty_value", "radial_penalty", "project"]

Mode = Literal["soft", "project"]
NormOver = Literal["example", "batch"]
Reduce = Literal["mean", "sum"]
NORM_OVER: tuple[str, ...] = ("example", "batch")
REDUCE: tuple[str, ...] = ("mean", "sum")


def check_reading(norm_over: str, reduce: str) -> None:
    """Raise ValueError (one line) unless (norm_over, reduce) is a reading this module knows."""
    if norm_over not in NORM_OVER:
        raise ValueError(f"norm_over must be one of {list(NORM_OVER)}, got {norm_over!r}")
    if reduce not in REDUCE:
        raise ValueError(f"reduce must be one of {list(REDUCE)}, got {reduce!r}")
    if norm_over == "batch" and reduce != "mean":
        raise ValueError(f"reduce must be 'mean' when norm_over is 'batch' (one norm per site, nothing to "
                         f"reduce), got {reduce!r}")


def norms(h: torch.Tensor, norm_over: NormOver = "example") -> torch.Tensor:
    """The norms the penalty acts on: one per example (shape ``h.shape[:-1]``) or one per site (0-d)."""
    return torch.linalg.vector_norm(h, dim=-1) if norm_over == "example" else torch.linalg.vector_norm(h)


def divisor(norm: torch.Tensor, reduce: Reduce) -> int:
    """What the summed squared deviations are divided by besides d: the count under 'mean'."""
    return norm.numel() if reduce == "mean" else 1


def penalty_value(norm: torch.Tensor, r: float, d: int, reduce: Reduce) -> torch.Tensor:
    """The penalty from its norms: ``sum (norm - r)^2 / (d * divisor)``."""
    return (norm - r).square().sum() / (d * divisor(norm, reduce))


def radial_penalty(h: torch.Tensor, radius: float | None = None, norm_over: NormOver = "example",
                   reduce: Reduce = "mean") -> torch.Tensor:
    """``(1/d)(||h|| - r)^2`` under one reading of ||h||; d = ``h.shape[-1]``.

    ``norm_over="example"``: one norm per row over the last dim, then the ``mean`` (or
    ``sum``) over every leading dim. ``norm_over="batch"``: one Frobenius norm of all of
    h. ``radius`` defaults to ``sqrt(d)``; ``radius=0`` is activation L2 (``||h||^2/d``).
    Returns a 0-d tensor of h's dtype. Plain tensor ops, so it works under
    ``torch.func`` transforms (vmap, grad) and to any order of differentiation.

    >>> import torch
    >>> h = torch.full((4, 16), 2.0)            # every row has norm 8, sqrt(d) = 4
    >>> float(radial_penalty(h))                # (8 - 4)^2 / 16
    1.0
    >>> float(radial_penalty(h, reduce="sum"))  # 4 rows
    4.0
    >>> float(radial_penalty(h, norm_over="batch"))  # ||H||_F = 16: (16 - 4)^2 / 16
    9.0
    """
    check_reading(norm_over, reduce)
    d = h.shape[-1]
    r = math.sqrt(d) if radius is None else float(radius)
    return penalty_value(norms(h, norm_over), r, d, reduce)


def project(h: torch.Tensor, r: float, norm_over: NormOver = "example") -> torch.Tensor:
    """The hard limit: ``r * h / ||h||`` per row, or the whole site scaled to ``||H||_F = r``.

    clamp_min keeps an all-zero input finite instead of NaN.
    """
    keep = norm_over == "example"
    n = torch.linalg.vector_norm(h, dim=-1, keepdim=True) if keep else torch.linalg.vector_norm(h)
    return h * (r / n.clamp_min(1e-12))
