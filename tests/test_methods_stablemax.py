"""StableMax: the formula, normalisation, extreme logits and the float64 option."""

import pytest
import torch
from torch import nn

from radgrok.methods import StableMaxCrossEntropy, log_stablemax, stablemax, stablemax_cross_entropy


def test_matches_hand_computed_example():
    x = torch.tensor([2.0, 0.0, -1.0, -3.0])
    # s = [3, 1, 1/2, 1/4], sum = 4.75
    expected = torch.tensor([3.0, 1.0, 0.5, 0.25]) / 4.75
    torch.testing.assert_close(stablemax(x), expected)
    torch.testing.assert_close(log_stablemax(x), expected.log())


def test_sums_to_one_along_dim():
    torch.manual_seed(0)
    x = torch.randn(4, 5, 7) * 10
    for dim in (0, 1, -1):
        p = stablemax(x, dim=dim)
        assert (p > 0).all()
        torch.testing.assert_close(p.sum(dim), torch.ones_like(p.sum(dim)))
        torch.testing.assert_close(log_stablemax(x, dim=dim).exp(), p)


def test_differs_from_softmax():
    x = torch.tensor([3.0, 0.0, -3.0])
    assert not torch.allclose(stablemax(x), torch.softmax(x, -1), atol=1e-2)


def test_cross_entropy_is_minus_log_prob_of_target():
    torch.manual_seed(1)
    logits = torch.randn(6, 5) * 3
    targets = torch.tensor([0, 4, 2, 2, 1, 3])
    per = stablemax_cross_entropy(logits, targets, reduction="none")
    expected = -stablemax(logits)[torch.arange(6), targets].log()
    torch.testing.assert_close(per, expected)
    torch.testing.assert_close(stablemax_cross_entropy(logits, targets), expected.mean())
    torch.testing.assert_close(stablemax_cross_entropy(logits, targets, reduction="sum"), expected.sum())
    torch.testing.assert_close(StableMaxCrossEntropy()(logits, targets), expected.mean())


def test_sequence_layout_classes_last():
    logits = torch.randn(2, 3, 5)
    targets = torch.randint(0, 5, (2, 3))
    per = stablemax_cross_entropy(logits, targets, reduction="none")
    assert per.shape == (2, 3)
    torch.testing.assert_close(per[1, 2], stablemax_cross_entropy(logits[1, 2:3], targets[1, 2:3]))


@pytest.mark.parametrize("big", [1e30, 3e38])
def test_finite_loss_and_grad_for_huge_logits(big):
    logits = torch.tensor([[big, -big, 0.0], [-big, -big, big], [-big, -big, -big]], requires_grad=True)
    targets = torch.tensor([1, 2, 0])
    loss = stablemax_cross_entropy(logits, targets)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all()
    p = stablemax(logits.detach())
    assert torch.isfinite(p).all()
    torch.testing.assert_close(p.sum(-1), torch.ones(3))
    # two huge logits: the plain sum of s would overflow float32 (2 * 3e38 > 3.4e38)
    torch.testing.assert_close(stablemax(torch.tensor([big, big, 0.0])), torch.tensor([0.5, 0.5, 0.5 / (1 + big)]))
    # the correct class of row 1 holds a huge logit: its loss is ~0 but, unlike
    # softmax, not exactly 0 and still has a non-zero gradient.
    per = stablemax_cross_entropy(logits.detach(), targets, reduction="none")
    assert per[1] >= 0 and per[0] > 60  # -log(1/(1+big) / (1+big+1)) is ~ 2 log(big)


def test_gradients_finite_on_both_sides_of_zero():
    # where() must not leak NaN from the unused branch (x < -1 into log1p(x), etc.)
    x = torch.tensor([-5.0, -1.0, -0.5, 0.0, 0.5, 1.0, 5.0], requires_grad=True)  # 1: 1/(1-x) = inf
    log_stablemax(x)[2].backward()
    assert torch.isfinite(x.grad).all()
    x.grad = None
    stablemax(x)[4].backward()
    assert torch.isfinite(x.grad).all()


def test_gradient_matches_finite_difference_float64():
    torch.manual_seed(2)
    x = (torch.randn(3, 4, dtype=torch.float64) * 2).requires_grad_()
    t = torch.tensor([0, 3, 1])
    assert torch.autograd.gradcheck(lambda z: stablemax_cross_entropy(z, t), (x,))
    assert torch.autograd.gradcheck(lambda z: stablemax(z), (x,))


def test_float64_option():
    logits = torch.randn(4, 3, requires_grad=True)
    targets = torch.tensor([0, 1, 2, 0])
    loss64 = stablemax_cross_entropy(logits, targets, dtype=torch.float64)
    assert loss64.dtype == torch.float64
    assert stablemax_cross_entropy(logits, targets).dtype == torch.float32
    loss64.backward()
    assert logits.grad.dtype == torch.float32
    # float64 resolves a tiny loss that float32 rounds differently
    big = torch.tensor([[1e8, 0.0]])
    l32 = stablemax_cross_entropy(big, torch.tensor([0]))
    l64 = stablemax_cross_entropy(big, torch.tensor([0]), dtype=torch.float64)
    assert l64.item() == pytest.approx(1 / (1e8 + 2), rel=1e-6)
    assert l32.item() != pytest.approx(l64.item(), rel=1e-3)


def test_input_validation():
    with pytest.raises(ValueError):
        stablemax_cross_entropy(torch.randn(2, 3), torch.tensor([0, 1, 2]))
    with pytest.raises(TypeError):
        stablemax_cross_entropy(torch.randn(2, 3), torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError):
        stablemax_cross_entropy(torch.randn(2, 3), torch.tensor([0, 1]), reduction="max")
    assert isinstance(StableMaxCrossEntropy(), nn.Module)
