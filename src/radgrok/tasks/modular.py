"""Modular arithmetic over all pairs (a, b) in Z_P x Z_P, split by a seeded permutation.

Inputs are token ids ``x[:, 0] = a``, ``x[:, 1] = b`` (int64); the model decides how
to encode them (one-hot concatenation or learned embeddings); the one-hot matrix written
out is the model's (``radgrok.models.mlp.one_hot_concat``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ..runs.sizes import DIVISION_OPS, is_prime, train_count, val_count

__all__ = ["OPERATIONS", "ModularData", "make_modular", "is_prime"]


def _div(a: torch.Tensor, b: torch.Tensor, p: int) -> torch.Tensor:
    # b^(p-2) is b's inverse mod a prime p (Fermat); python ints avoid overflow.
    inv = torch.tensor([pow(int(v), p - 2, p) for v in range(p)], dtype=torch.long)
    return (a * inv[b]) % p


# name -> function of (a, b, p); the ones in DIVISION_OPS need a prime p and exclude b == 0
OPERATIONS: dict[str, Callable] = {
    "add": lambda a, b, p: (a + b) % p,
    "sub": lambda a, b, p: (a - b) % p,
    "mul": lambda a, b, p: (a * b) % p,
    "div": _div,
    "x2+y2": lambda a, b, p: (a * a + b * b) % p,
    "x2+xy+y2": lambda a, b, p: (a * a + a * b + b * b) % p,
    "x3+xy": lambda a, b, p: (a * a * a + a * b) % p,
}


@dataclass
class ModularData:
    """A split modular-arithmetic dataset; ``train_idx``/``test_idx`` index the full pair list."""

    op: str
    p: int
    x: torch.Tensor  # (P*P or P*(P-1), 2) int64 token ids
    y: torch.Tensor  # (N,) int64 answers
    train_idx: torch.Tensor
    test_idx: torch.Tensor
    val_idx: torch.Tensor | None = None  # carved out of the training pairs; never trained on

    @property
    def x_train(self) -> torch.Tensor:
        return self.x[self.train_idx]

    @property
    def y_train(self) -> torch.Tensor:
        return self.y[self.train_idx]

    @property
    def x_val(self) -> torch.Tensor | None:
        return None if self.val_idx is None else self.x[self.val_idx]

    @property
    def y_val(self) -> torch.Tensor | None:
        return None if self.val_idx is None else self.y[self.val_idx]

    @property
    def x_test(self) -> torch.Tensor:
        return self.x[self.test_idx]

    @property
    def y_test(self) -> torch.Tensor:
        return self.y[self.test_idx]

    def split_record(self) -> dict:
        """What is needed to rebuild and check the split: sizes and the train indices."""
        return {
            "op": self.op,
            "p": self.p,
            "n_pairs": int(self.x.shape[0]),
            "n_train": int(self.train_idx.numel()),
            "n_test": int(self.test_idx.numel()),
            "train_idx": self.train_idx.tolist(),
            "val_idx": None if self.val_idx is None else self.val_idx.tolist(),
        }


def make_modular(op: str, p: int, train_frac: float, split_seed: int, val_frac: float = 0.0) -> ModularData:
    """All pairs for ``op`` modulo ``p``, shuffled with ``split_seed``, first
    ``round(train_frac * N)`` pairs for training and the rest for testing.

    ``val_frac`` > 0 moves that fraction of the training pairs into a validation set
    (for choosing hyperparameters without looking at the test set); the test set is
    the same as with ``val_frac = 0``."""
    if op not in OPERATIONS:
        raise ValueError(f"op must be one of {sorted(OPERATIONS)}, got {op!r}")
    fn, division = OPERATIONS[op], op in DIVISION_OPS
    if p < 2:
        raise ValueError(f"p must be >= 2, got {p}")
    if division and not is_prime(p):
        raise ValueError(f"p must be prime for op {op!r}, got {p}")
    if not 0.0 < train_frac < 1.0:
        raise ValueError(f"train_frac must be in (0, 1), got {train_frac}")
    x = torch.cartesian_prod(torch.arange(p), torch.arange(p))  # every (a, b), a-major
    if division:
        x = x[x[:, 1] != 0]
    y = fn(x[:, 0], x[:, 1], p)
    n = x.shape[0]
    g = torch.Generator().manual_seed(split_seed)
    perm = torch.randperm(n, generator=g)
    n_train = train_count(op, p, train_frac)
    if not 0.0 <= val_frac < 1.0:
        raise ValueError(f"val_frac must be in [0, 1), got {val_frac}")
    train, test = perm[:n_train], perm[n_train:]
    n_val = val_count(n_train, val_frac)
    val = train[:n_val].sort().values if n_val else None
    return ModularData(op, p, x, y, train[n_val:].sort().values, test.sort().values, val)

