"""The readings of ||h||: which norms the penalty acts on, its value, the pure function and the
projection (the hard limit). Plain tensor ops throughout, so every function here works under
``torch.func`` transforms and to any order of differentiation.

Norms of half-precision activations (float16, bfloat16, as autocast produces) are accumulated in
float32, so the penalty of a bf16 site is a float32 scalar whose gradient flows back as bf16.

``sum_ranks``: where the examples of one batch are spread over processes (data parallelism),
``radial_penalty`` and ``project`` take a function that sums a tensor over the processes,
differentiably (``RadialSuppression`` passes ``torch.distributed.nn.functional.all_reduce``). With
it, the value is that of the global batch on every process: the batch reading's norm runs over
every process's rows, the mean reading divides by the global count, the sum reading sums every
row. Summing in the backward as well, it gives each process ``k`` times its share of the gradient,
which the ``1/k`` of data-parallel gradient averaging turns into exactly the gradient of one
process holding the whole batch."""

from __future__ import annotations

import math
from typing import Callable, Literal

import torch

__all__ = ["Mode", "NormOver", "Reduce", "SumRanks", "NORM_OVER", "REDUCE", "check_reading", "accumulation_dtype",
           "norms", "global_norm", "divisor", "penalty_value", "radial_penalty", "project"]

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


SumRanks = Callable[[torch.Tensor], torch.Tensor]


def accumulation_dtype(h: torch.Tensor) -> torch.dtype | None:
    """float32 for half-precision h (its norms are accumulated there), else None (h's own dtype)."""
    return torch.float32 if h.dtype in (torch.float16, torch.bfloat16) else None


def norms(h: torch.Tensor, norm_over: NormOver = "example") -> torch.Tensor:
    """The norms the penalty acts on: one per example (shape ``h.shape[:-1]``) or one per site (0-d)."""
    dim = -1 if norm_over == "example" else None  # None: over every element
    return torch.linalg.vector_norm(h, dim=dim, dtype=accumulation_dtype(h))


def global_norm(h: torch.Tensor, sum_ranks: SumRanks) -> torch.Tensor:
    """``||H||_F`` over the rows of every process: the root of the all-reduced sum of squares.

    The clamp keeps the gradient at an all-zero H zero (as ``vector_norm``'s is), not NaN."""
    return sum_ranks(norms(h, "batch").square()).clamp_min(torch.finfo(torch.float32).tiny).sqrt()


def divisor(norm: torch.Tensor, reduce: Reduce) -> int:
    """What the summed squared deviations are divided by besides d: the count under 'mean'."""
    return norm.numel() if reduce == "mean" else 1


def penalty_value(norm: torch.Tensor, r: float, d: int, reduce: Reduce) -> torch.Tensor:
    """The penalty from its norms: ``sum (norm - r)^2 / (d * divisor)``."""
    return (norm - r).square().sum() / (d * divisor(norm, reduce))


def radial_penalty(h: torch.Tensor, radius: float | None = None, norm_over: NormOver = "example",
                   reduce: Reduce = "mean", sum_ranks: SumRanks | None = None) -> torch.Tensor:
    """``(1/d)(||h|| - r)^2`` under one reading of ||h||; d = ``h.shape[-1]``.

    ``norm_over="example"``: one norm per row over the last dim, then the ``mean`` (or
    ``sum``) over every leading dim. ``norm_over="batch"``: one Frobenius norm of all of
    h. ``radius`` defaults to ``sqrt(d)``; ``radius=0`` is activation L2 (``||h||^2/d``).
    Returns a 0-d tensor of h's dtype (float32 for a half-precision h). Plain tensor
    ops, so it works under ``torch.func`` transforms (vmap, grad) and to any order of
    differentiation. ``sum_ranks`` (see the module docstring) makes it the penalty of
    a batch spread over processes.

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
    if sum_ranks is None:
        return penalty_value(norms(h, norm_over), r, d, reduce)
    if norm_over == "batch":
        return (global_norm(h, sum_ranks) - r).square() / d
    n = norms(h, "example")
    total = sum_ranks((n - r).square().sum())
    count = sum_ranks(n.new_tensor(float(n.numel()))) if reduce == "mean" else 1
    return total / (d * count)


def project(h: torch.Tensor, r: float, norm_over: NormOver = "example",
            sum_ranks: SumRanks | None = None) -> torch.Tensor:
    """The hard limit: ``r * h / ||h||`` per row, or the whole site scaled to ``||H||_F = r``
    (the norm over every process's rows when ``sum_ranks`` is given).

    clamp_min keeps an all-zero input finite instead of NaN.
    """
    if norm_over == "example":
        n = norms(h, "example").unsqueeze(-1)
    else:
        n = norms(h, "batch") if sum_ranks is None else global_norm(h, sum_ranks)
    return h * (r / n.clamp_min(1e-12)).to(h.dtype)
