"""Phi_rad: its three landmarks (floor 1, maximum d, zero), and the gradient capture."""

import math

import pytest
import torch
from torch.nn import functional as F

from radgrok.diagnostics import (
    capture_hidden_grads,
    capture_hidden_grads_multi,
    radial_energies,
    radial_energy,
    radii,
    radius_summary,
)
from radgrok.models.mlp import MLP, one_hot_concat
from radgrok.penalty import RadialSuppression
from radgrok.tasks.modular import make_modular


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_random_gradient_sits_on_the_isotropic_floor():
    g = _gen()
    h = torch.randn(20000, 64, generator=g, dtype=torch.float64)
    grad = torch.randn(20000, 64, generator=g, dtype=torch.float64)
    assert radial_energy(h, grad) == pytest.approx(1.0, abs=0.05)


def test_parallel_gradient_gives_d_and_orthogonal_gives_zero():
    g = _gen(1)
    d = 17
    h = torch.randn(300, d, generator=g, dtype=torch.float64)
    scale = torch.randn(300, 1, generator=g, dtype=torch.float64)  # both signs
    assert radial_energy(h, scale * h) == pytest.approx(d, rel=1e-12)
    r = torch.randn(300, d, generator=g, dtype=torch.float64)
    perp = r - (r * h).sum(-1, keepdim=True) / h.square().sum(-1, keepdim=True) * h
    assert radial_energy(h, perp) == pytest.approx(0.0, abs=1e-12)


def test_zero_rows_are_skipped_and_leading_dims_flattened():
    g = _gen(2)
    h = torch.randn(4, 5, 8, generator=g, dtype=torch.float64)
    grad = torch.randn(4, 5, 8, generator=g, dtype=torch.float64)
    base = radial_energy(h, grad)
    assert base == pytest.approx(radial_energy(h.reshape(20, 8), grad.reshape(20, 8)), rel=1e-14)
    h2 = torch.cat([h.reshape(20, 8), torch.zeros(3, 8, dtype=torch.float64)])
    g2 = torch.cat([grad.reshape(20, 8), torch.randn(3, 8, generator=g, dtype=torch.float64)])
    assert radial_energy(h2, g2) == pytest.approx(base, rel=1e-14)
    assert math.isnan(radial_energy(h, torch.zeros_like(h)))
    with pytest.raises(ValueError):
        radial_energy(h, grad[..., :4])


def test_radii_and_summary():
    h = torch.tensor([[3.0, 4.0], [0.0, 2.0]], dtype=torch.float64)
    assert radii(h).tolist() == [5.0, 2.0]
    s = radius_summary(h)
    assert s["mean"] == pytest.approx(3.5) and s["min"] == 2.0 and s["max"] == 5.0
    assert s["mean_over_sqrt_d"] == pytest.approx(3.5 / math.sqrt(2))


def _tiny_mlp_batch():
    torch.manual_seed(0)
    model = MLP(7, width=16, depth=2).double()
    data = make_modular("add", 7, 0.5, split_seed=0)
    return model, data.x_train, data.y_train


def test_capture_matches_an_explicit_forward():
    model, x, y = _tiny_mlp_batch()
    sites = ["hidden.0.pre", "hidden.1.pre"]
    got = capture_hidden_grads(model, sites, lambda: F.cross_entropy(model(x), y))

    # The same network written out by hand, gradients taken on its pre-activations.
    l0, l1 = model.hidden[0].linear, model.hidden[1].linear
    z0 = one_hot_concat(x, 7, torch.float64) @ l0.weight.T + l0.bias
    z1 = l1(torch.relu(z0))
    loss = F.cross_entropy(model.out(torch.relu(z1)), y)
    g0, g1 = torch.autograd.grad(loss, [z0, z1])
    for site, z, gz in zip(sites, [z0, z1], [g0, g1]):
        h, g = got[site]
        torch.testing.assert_close(h, z.detach(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(g, gz, rtol=1e-10, atol=1e-14)
    # No .grad written, no hook left behind.
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks for m in model.modules())
    assert set(radial_energies(got)) == set(sites)


def test_task_and_total_gradients_differ_by_the_radial_penalty_gradient():
    model, x, y = _tiny_mlp_batch()
    lam = 0.3
    with RadialSuppression(model, model.pre_activation_sites, lam) as rs:

        def losses():
            ce = F.cross_entropy(model(x), y)
            return {"task": ce, "total": ce + rs.penalty(), "penalty": rs.penalty()}

        # plain autograd: the penalty's gradient arrives at the hooked output itself
        out = capture_hidden_grads_multi(model, ["hidden.1.pre"], losses)
    h, g_task = out["task"]["hidden.1.pre"]
    _, g_total = out["total"]["hidden.1.pre"]
    _, g_pen = out["penalty"]["hidden.1.pre"]
    n, d = h.shape
    norm = h.norm(dim=-1, keepdim=True)
    expected = lam * (2.0 / d) * (norm - math.sqrt(d)) / norm * h / n
    # The last layer's penalty is the only one downstream of its own h.
    torch.testing.assert_close(g_total - g_task, expected, rtol=1e-9, atol=1e-14)
    torch.testing.assert_close(g_pen, expected, rtol=1e-9, atol=1e-14)
    # Why the task gradient is the one to report: the penalty's is radial by construction.
    assert radial_energy(h, g_pen) == pytest.approx(d, rel=1e-9)


def test_capture_rejects_unknown_sites_and_cleans_up_on_error():
    model, x, y = _tiny_mlp_batch()
    with pytest.raises(ValueError):
        capture_hidden_grads(model, ["nope"], lambda: model(x).sum())

    def boom():
        model(x)
        raise KeyError("inside loss")

    with pytest.raises(KeyError):
        capture_hidden_grads(model, ["hidden.0.pre"], boom)
    assert all(not m._forward_hooks for m in model.modules())
