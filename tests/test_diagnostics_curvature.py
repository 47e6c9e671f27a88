"""HVP-based curvature against the exact Hessian of tiny problems."""

import pytest
import torch
from torch import nn

from radgrok.diagnostics import (
    edge_of_stability,
    hessian_extreme_eigenvalues,
    hessian_top_eigenvalue,
    hessian_trace,
    hessian_vector_product,
    normalized_sharpness,
)


def _tiny_regression(seed):
    """A 3-5-2 tanh net on 40 points with its 32 parameters in one flat vector."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 3, generator=g, dtype=torch.float64)
    y = torch.randn(40, 2, generator=g, dtype=torch.float64)
    theta = (torch.randn(32, generator=g, dtype=torch.float64) * 0.8).requires_grad_()

    def f(t):
        W1, b1, W2, b2 = t[:15].view(5, 3), t[15:20], t[20:30].view(2, 5), t[30:32]
        return (torch.tanh(x @ W1.T + b1) @ W2.T + b2 - y).square().mean()

    H = torch.autograd.functional.hessian(f, theta.detach())
    return theta, (lambda: f(theta)), H


def _module_problem():
    """An nn.Module (several parameter tensors) and its full Hessian over the flattened parameters."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    x = torch.randn(30, 3, dtype=torch.float64)
    y = torch.randn(30, 2, dtype=torch.float64)
    params = list(net.parameters())
    shapes = [p.shape for p in params]
    names = [n for n, _ in net.named_parameters()]

    def f_flat(v):
        blocks, i = {}, 0
        for n, s in zip(names, shapes):
            k = s.numel()
            blocks[n] = v[i : i + k].view(s)
            i += k
        return (torch.func.functional_call(net, blocks, (x,)) - y).square().mean()

    flat = torch.cat([p.detach().reshape(-1) for p in params])
    H = torch.autograd.functional.hessian(f_flat, flat)
    return net, params, (lambda: (net(x) - y).square().mean()), H


def _snapshot(params):
    grads = [(p.grad, None if p.grad is None else p.grad.clone()) for p in params]
    return [p.detach().clone() for p in params], grads


def _assert_untouched(params, before):
    values, grads = before
    for p, v, (g, g_copy) in zip(params, values, grads):
        assert torch.equal(p.detach(), v)
        assert p.grad is g  # same object (or still None): nothing replaced...
        if g is not None:
            assert torch.equal(p.grad, g_copy)  # ...and nothing accumulated into it


def test_hvp_matches_the_full_hessian_across_parameter_tensors():
    net, params, loss_fn, H = _module_problem()
    v = [torch.randn_like(p) for p in params]
    hv = hessian_vector_product(loss_fn, params, v)
    expected = H @ torch.cat([t.reshape(-1) for t in v])
    torch.testing.assert_close(torch.cat([t.reshape(-1) for t in hv]), expected, rtol=1e-10, atol=1e-12)


def test_hutchinson_trace_within_three_standard_errors():
    net, params, loss_fn, H = _module_problem()
    for p in params:  # a populated .grad must survive untouched
        p.grad = torch.full_like(p, 7.0)
    before = _snapshot(params)
    mean, stderr = hessian_trace(loss_fn, params, n_probes=100, seed=0)
    exact = float(H.trace())
    assert stderr > 0
    assert abs(mean - exact) <= 3 * stderr
    _assert_untouched(params, before)
    theta, f, H2 = _tiny_regression(3)
    mean, stderr = hessian_trace(f, [theta], n_probes=100, seed=1)
    assert abs(mean - float(H2.trace())) <= 3 * stderr
    assert theta.grad is None


def test_power_iteration_finds_a_dominant_positive_eigenvalue():
    theta, f, H = _tiny_regression(3)  # top 3.80, next 2.27, most negative -1.34
    ev = torch.linalg.eigvalsh(H)
    assert ev[-1] > 2 * abs(ev[0])
    before = _snapshot([theta])
    lam = hessian_top_eigenvalue(f, [theta], iters=100, seed=0)
    assert lam == pytest.approx(float(ev[-1]), rel=0.01)
    lo, hi = hessian_extreme_eigenvalues(f, [theta], iters=20, seed=0)
    assert hi == pytest.approx(float(ev[-1]), rel=0.01)
    assert lo == pytest.approx(float(ev[0]), rel=0.01)
    _assert_untouched([theta], before)


def test_power_returns_largest_magnitude_lanczos_largest_algebraic():
    # A quadratic whose most negative eigenvalue dominates in magnitude.
    g = torch.Generator().manual_seed(5)
    Q, _ = torch.linalg.qr(torch.randn(12, 12, generator=g, dtype=torch.float64))
    spectrum = torch.tensor(
        [-10.0, 4.0, 2.5, 2.0, 1.5, 1.0, 0.5, 0.2, 0.1, 0.0, -0.5, -1.0], dtype=torch.float64
    )
    A = Q @ torch.diag(spectrum) @ Q.T
    theta = torch.randn(12, generator=g, dtype=torch.float64).requires_grad_()
    f = lambda: 0.5 * theta @ A @ theta  # noqa: E731
    assert hessian_top_eigenvalue(f, [theta], iters=200, seed=0) == pytest.approx(-10.0, rel=1e-3)
    lo, hi = hessian_extreme_eigenvalues(f, [theta], iters=12, seed=0)
    assert hi == pytest.approx(4.0, rel=1e-8) and lo == pytest.approx(-10.0, rel=1e-8)


def test_linear_loss_has_zero_curvature():
    theta = torch.randn(5, dtype=torch.float64, requires_grad=True)
    f = lambda: (theta * 3.0).sum()  # noqa: E731
    assert hessian_trace(f, [theta], n_probes=4)[0] == 0.0
    assert hessian_top_eigenvalue(f, [theta]) == 0.0


def test_edge_of_stability_and_normalized_sharpness():
    assert edge_of_stability(1e-3) == pytest.approx(2000.0)
    assert normalized_sharpness(2000.0, 1e-3) == pytest.approx(1.0)
    assert normalized_sharpness(8.0, 1e-3) == pytest.approx(0.004)
    with pytest.raises(ValueError):
        edge_of_stability(0.0)
