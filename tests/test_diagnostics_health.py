"""Softmax collapse and zero losses, measured at the logits' own precision."""

import math

import pytest
import torch

from radgrok.diagnostics import softmax_collapse_fraction, zero_loss_fraction


def _logits(dtype):
    # Row 0: top-logit gap 25 -> collapses in float32 (needs > ~17), not in float64 (> ~37).
    # Row 1: gap 5 -> collapses in neither. Row 2: gap 60 -> collapses in both.
    z = torch.zeros(3, 10, dtype=dtype)
    z[0, 2], z[1, 4], z[2, 7] = 25.0, 5.0, 60.0
    return z


def test_collapse_in_float32_but_not_in_float64():
    assert softmax_collapse_fraction(_logits(torch.float32)) == pytest.approx(2 / 3)
    assert softmax_collapse_fraction(_logits(torch.float64)) == pytest.approx(1 / 3)


def test_zero_loss_fraction_depends_on_dtype_and_target():
    right = torch.tensor([2, 4, 7])
    assert zero_loss_fraction(_logits(torch.float32), right) == pytest.approx(2 / 3)
    assert zero_loss_fraction(_logits(torch.float64), right) == pytest.approx(1 / 3)
    wrong = torch.tensor([0, 0, 0])
    assert zero_loss_fraction(_logits(torch.float32), wrong) == 0.0


def test_leading_dims_and_shape_checks():
    z = _logits(torch.float32).reshape(1, 3, 10)
    assert softmax_collapse_fraction(z) == pytest.approx(2 / 3)
    assert zero_loss_fraction(z, torch.tensor([[2, 4, 7]])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        zero_loss_fraction(z, torch.tensor([2, 4]))
    assert math.isnan(softmax_collapse_fraction(torch.zeros(0, 5)))
