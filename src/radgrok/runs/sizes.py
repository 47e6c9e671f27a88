"""How big a modular task is, without torch: the config's checks and the estimates need the
sizes before anything is built, and ``radgrok --help`` must not import torch."""

from __future__ import annotations

__all__ = ["DIVISION_OPS", "is_prime", "pair_count", "train_count", "val_count", "trained_count"]

# Operations that divide by b: they need a prime modulus (for b's inverse) and leave out b = 0.
DIVISION_OPS = frozenset({"div"})


def is_prime(n: int) -> bool:
    """Whether n is prime, by trial division (moduli are small).

    >>> is_prime(97), is_prime(91), is_prime(2), is_prime(1)
    (True, False, True, False)
    """
    return n >= 2 and all(n % i for i in range(2, int(n**0.5) + 1))


def pair_count(op: str, p: int) -> int:
    """Every (a, b) the task has: p^2, or p(p - 1) where b = 0 is left out."""
    return p * (p - 1) if op in DIVISION_OPS else p * p


def train_count(op: str, p: int, train_frac: float) -> int:
    """The training pairs of a split: ``round(train_frac * pairs)``, at least one pair on each side.

    >>> train_count("add", 97, 0.5), train_count("div", 97, 0.5)
    (4704, 4656)
    """
    n = pair_count(op, p)
    return max(1, min(n - 1, round(train_frac * n)))


def val_count(n_train: int, val_frac: float) -> int:
    """How many of the n_train training pairs a validation split of ``val_frac`` holds out."""
    return round(val_frac * n_train)


def trained_count(op: str, p: int, train_frac: float, val_frac: float = 0.0) -> int:
    """The pairs a run actually trains on: the training pairs less its validation split.

    >>> trained_count("add", 97, 0.5), trained_count("add", 97, 0.5, 0.1)
    (4704, 4234)
    """
    n = train_count(op, p, train_frac)
    return n - val_count(n, val_frac)
