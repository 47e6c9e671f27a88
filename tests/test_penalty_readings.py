"""radgrok.penalty.readings: every reading's value and gradient against the closed forms."""

import math

import pytest
import torch

from penalty_cases import READINGS, Foreign, closed_form, closed_form_reading
from radgrok.penalty import RadialSuppression, radial_penalty


@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 6)])
@pytest.mark.parametrize("radius", [None, 0.7])
def test_value_and_gradient_match_closed_form(shape, radius):
    g = torch.Generator().manual_seed(0)
    h = (3 * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()
    val = radial_penalty(h, radius)
    val.backward()
    want_val, want_grad = closed_form(h.detach(), radius)
    assert val.dtype == torch.float64
    torch.testing.assert_close(val.detach(), want_val, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(h.grad, want_grad, rtol=1e-10, atol=1e-14)


def test_gradient_is_radial_and_zero_on_the_sphere():
    h = torch.randn(10, 8, dtype=torch.float64)
    h = h / h.norm(dim=-1, keepdim=True) * math.sqrt(8)
    h.requires_grad_()
    radial_penalty(h).backward()
    assert h.grad.abs().max() < 1e-12
    h2 = torch.randn(10, 8, dtype=torch.float64, requires_grad=True)
    radial_penalty(h2).backward()
    cos = torch.nn.functional.cosine_similarity(h2.grad, h2.detach(), dim=-1).abs()
    torch.testing.assert_close(cos, torch.ones(10, dtype=torch.float64))


def test_dtype_preserved_float32():
    assert radial_penalty(torch.randn(4, 3)).dtype == torch.float32


@pytest.mark.parametrize("norm_over,reduce", READINGS)
@pytest.mark.parametrize("shape", [(7, 5), (3, 4, 6)])
@pytest.mark.parametrize("radius", [None, 0.7, 0.0])
def test_every_reading_matches_its_closed_form(norm_over, reduce, shape, radius):
    g = torch.Generator().manual_seed(1)
    h = (3 * torch.randn(*shape, generator=g, dtype=torch.float64)).requires_grad_()
    val = radial_penalty(h, radius, norm_over, reduce)
    val.backward()
    r = math.sqrt(shape[-1]) if radius is None else radius
    want_val, want_grad = closed_form_reading(h.detach(), r, norm_over, reduce)
    torch.testing.assert_close(val.detach(), want_val, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(h.grad, want_grad, rtol=1e-10, atol=1e-14)


def test_readings_differ_by_the_batch_size_and_radius_zero_is_activation_l2():
    h = torch.randn(40, 8, dtype=torch.float64)
    torch.testing.assert_close(radial_penalty(h, reduce="sum"), 40 * radial_penalty(h))
    # at radius 0 every reading is ||h||^2 / d: mean, sum, and the Frobenius norm = the sum
    l2 = h.square().sum(-1) / 8
    torch.testing.assert_close(radial_penalty(h, 0.0), l2.mean())
    torch.testing.assert_close(radial_penalty(h, 0.0, reduce="sum"), l2.sum())
    torch.testing.assert_close(radial_penalty(h, 0.0, "batch"), l2.sum())


def test_batch_reading_rests_rows_near_r_over_sqrt_m():
    """Minimising the batch reading alone leaves every row near r / sqrt(M), not r."""
    torch.manual_seed(0)
    h = (5 * torch.randn(64, 16, dtype=torch.float64)).requires_grad_()
    opt = torch.optim.SGD([h], lr=2.0)
    for _ in range(300):
        opt.zero_grad()
        radial_penalty(h, norm_over="batch").backward()
        opt.step()
    assert float(h.detach().norm()) == pytest.approx(4.0, rel=1e-6)  # ||H||_F = sqrt(16)
    assert float(h.detach().norm(dim=-1).square().mean().sqrt()) == pytest.approx(4.0 / 8.0, rel=1e-6)


@pytest.mark.parametrize("kwargs,match", [
    (dict(norm_over="token"), "norm_over must be one of"),
    (dict(reduce="max"), "reduce must be one of"),
    (dict(norm_over="batch", reduce="sum"), "reduce must be 'mean' when norm_over is 'batch'"),
    (dict(mode="project", radius_scale=0.0), "radius must be > 0 in project mode"),
])
def test_bad_readings_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RadialSuppression(Foreign(), ["enc"], lam=1.0, **kwargs)
    if "mode" not in kwargs:
        with pytest.raises(ValueError, match=match):
            radial_penalty(torch.randn(3, 4), **kwargs)
