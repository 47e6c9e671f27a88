"""Stable rank, effective rank and sigma_max against plain SVDs and known cases."""

import math

import numpy as np
import pytest
import torch

from radgrok.diagnostics import effective_rank, sigma_max, spectral_summary, stable_rank


def _random(shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_against_numpy_svd():
    A = _random((50, 30)) @ torch.diag(torch.logspace(0, -2, 30, dtype=torch.float64))
    s = np.linalg.svd(A.numpy(), compute_uv=False)
    assert stable_rank(A) == pytest.approx((s**2).sum() / s[0] ** 2, rel=1e-10)
    p = s / s.sum()
    assert effective_rank(A) == pytest.approx(math.exp(-(p * np.log(p)).sum()), rel=1e-10)
    assert sigma_max(A) == pytest.approx(np.linalg.norm(A.numpy(), 2), rel=1e-10)
    summ = spectral_summary(A)
    assert summ["stable_rank"] == pytest.approx(stable_rank(A))
    assert summ["effective_rank"] == pytest.approx(effective_rank(A))
    assert summ["frobenius"] == pytest.approx(float(A.norm()), rel=1e-10)
    assert summ["max_rank"] == 30
    # For this decaying spectrum the two ranks disagree, which is why both are reported.
    assert stable_rank(A) < effective_rank(A) < 30


def test_identity_and_rank_one():
    n = 12
    eye = torch.eye(n, dtype=torch.float64)
    assert stable_rank(eye) == pytest.approx(n, rel=1e-12)
    assert effective_rank(eye) == pytest.approx(n, rel=1e-12)
    u, v = _random((20, 1), 1), _random((1, 9), 2)
    R = u @ v
    assert stable_rank(R) == pytest.approx(1.0, rel=1e-9)
    assert effective_rank(R) == pytest.approx(1.0, rel=1e-6)


def test_zero_matrix_and_leading_dims():
    assert stable_rank(torch.zeros(4, 3)) == 0.0
    assert effective_rank(torch.zeros(4, 3)) == 0.0
    A = _random((2, 6, 5), 3)
    assert stable_rank(A) == pytest.approx(stable_rank(A.reshape(12, 5)), rel=1e-12)
    with pytest.raises(ValueError):
        stable_rank(torch.ones(5))
