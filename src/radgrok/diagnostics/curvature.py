"""Curvature of the loss at the current parameters, from Hessian-vector products only.

The Hessian of a paper-size MLP has ~10^11 entries, so nothing here forms it. Every
quantity is built from HVPs by double backward: ``g = grad(L, params,
create_graph=True)`` once, then ``Hv = grad(g . v, params)`` per vector v, reusing
the graph of g. (``torch.func.hvp`` is not available in every torch we support, and
double backward works for any module that autograd can differentiate twice.)

Contract shared by every function:

* ``loss_fn()`` takes no arguments and returns a scalar that depends on ``params``.
  It is called **once** per function call, so a stochastic forward (dropout) is
  frozen: all HVPs see the same mask. Put the model in eval mode for the
  deterministic Hessian.
* Parameters are never modified, and ``.grad`` is never written (``autograd.grad``
  returns gradients instead of accumulating them), so these can run in the middle
  of training between ``backward`` and ``optimizer.step``.
* Random probes come from a CPU ``torch.Generator`` seeded with ``seed``: the same
  seed gives the same probes on any device.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch

__all__ = ["hessian_vector_product", "hessian_trace", "hessian_top_eigenvalue", "hessian_extreme_eigenvalues",
           "edge_of_stability", "normalized_sharpness"]

LossFn = Callable[[], torch.Tensor]


def _first_order_graph(loss_fn: LossFn, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """Gradients of ``loss_fn()`` with their own graph, ready for a second backward."""
    with torch.enable_grad():
        loss = loss_fn()
        if loss.dim() != 0:
            raise ValueError(f"loss_fn() must return a scalar, got shape {tuple(loss.shape)}")
        grads = torch.autograd.grad(loss, list(params), create_graph=True, allow_unused=True)
    # A parameter the loss does not touch has a zero gradient and a zero Hessian block.
    return [torch.zeros_like(p) if g is None else g for p, g in zip(params, grads)]


def _hvp(grads: list[torch.Tensor], params: Sequence[torch.Tensor], vs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """H v from a gradient graph; the graph is kept for the next call."""
    with torch.enable_grad():
        dot = sum((g * v).sum() for g, v in zip(grads, vs) if g.requires_grad)
        if not isinstance(dot, torch.Tensor) or not dot.requires_grad:
            # The loss is linear (or constant) in params: the Hessian is zero.
            return [torch.zeros_like(p) for p in params]
        hv = torch.autograd.grad(dot, list(params), retain_graph=True, allow_unused=True)
    return [torch.zeros_like(p) if h is None else h.detach() for p, h in zip(params, hv)]


def _dot(xs: Sequence[torch.Tensor], ys: Sequence[torch.Tensor]) -> float:
    """Inner product of two parameter-shaped lists, accumulated in float64."""
    return float(sum((x.to(torch.float64) * y.to(torch.float64)).sum() for x, y in zip(xs, ys)))


def _flat(xs: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([x.reshape(-1) for x in xs])


def _unflat(v: torch.Tensor, params: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    blocks = v.split([p.numel() for p in params])
    return [b.view_as(p).to(p.dtype) for b, p in zip(blocks, params)]


def _normal_probe(params: Sequence[torch.Tensor], gen: torch.Generator) -> list[torch.Tensor]:
    return [torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p.device, p.dtype) for p in params]


def _rademacher_probe(params: Sequence[torch.Tensor], gen: torch.Generator) -> list[torch.Tensor]:
    return [(torch.randint(0, 2, p.shape, generator=gen) * 2 - 1).to(p.device, p.dtype) for p in params]


def hessian_vector_product(loss_fn: LossFn, params: Sequence[torch.Tensor],
                           vectors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``H v`` for one vector v given as a list shaped like ``params``."""
    params = list(params)
    if len(vectors) != len(params):
        raise ValueError(f"need one vector block per parameter: {len(vectors)} != {len(params)}")
    return _hvp(_first_order_graph(loss_fn, params), params, vectors)


def hessian_trace(loss_fn: LossFn, params: Sequence[torch.Tensor], n_probes: int = 100,
                  seed: int = 0) -> tuple[float, float]:
    """Hutchinson's estimate of ``Tr(H)`` and its standard error.

    With Rademacher probes z (entries +-1), ``E[z^T H z] = Tr(H)`` and the variance of
    one sample is ``2 * sum_{i != j} H_ij^2`` -- lower than with Gaussian probes,
    which also pay for the diagonal. Returns ``(mean, std / sqrt(n_probes))`` over the
    probes (stderr is NaN for a single probe).
    """
    if n_probes < 1:
        raise ValueError(f"n_probes must be >= 1, got {n_probes}")
    params = list(params)
    grads = _first_order_graph(loss_fn, params)
    gen = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n_probes):
        z = _rademacher_probe(params, gen)
        samples.append(_dot(z, _hvp(grads, params, z)))
    t = torch.tensor(samples, dtype=torch.float64)
    stderr = float(t.std(unbiased=True) / math.sqrt(n_probes)) if n_probes > 1 else float("nan")
    return float(t.mean()), stderr


def hessian_top_eigenvalue(loss_fn: LossFn, params: Sequence[torch.Tensor], iters: int = 100, seed: int = 0,
                           tol: float = 1e-5) -> float:
    """Power iteration on H: the signed eigenvalue of **largest magnitude**.

    This is the largest algebraic eigenvalue (the usual "sharpness") only when that
    eigenvalue is positive and dominates every negative one in magnitude, which is
    the common case near a minimum but not guaranteed early in training. If the
    result is negative, the most negative eigenvalue dominated; if the top two
    magnitudes are close, convergence is slow (rate |lambda_2 / lambda_1| per step).
    Use ``hessian_extreme_eigenvalues`` (Lanczos) for the largest algebraic
    eigenvalue regardless of sign and for faster convergence.

    Stops when the Rayleigh quotient changes by at most ``tol`` relative to its value
    between two iterations, or after ``iters`` HVPs. Returns the Rayleigh quotient
    ``v^T H v`` of the final unit vector.
    """
    params = list(params)
    grads = _first_order_graph(loss_fn, params)
    gen = torch.Generator().manual_seed(seed)
    v = _normal_probe(params, gen)
    norm = math.sqrt(_dot(v, v))
    v = [x / norm for x in v]
    lam = 0.0
    for i in range(iters):
        hv = _hvp(grads, params, v)
        new = _dot(v, hv)
        hv_norm = math.sqrt(_dot(hv, hv))
        if hv_norm == 0.0:
            return 0.0  # v lies in the null space; with a random start, H is (numerically) zero
        v = [x / hv_norm for x in hv]
        if i > 0 and abs(new - lam) <= tol * abs(new):
            return new
        lam = new
    return lam


def hessian_extreme_eigenvalues(loss_fn: LossFn, params: Sequence[torch.Tensor], iters: int = 30,
                                seed: int = 0) -> tuple[float, float]:
    """Lanczos estimates ``(lambda_min, lambda_max)`` of H, the largest *algebraic* one last.

    ``iters`` Lanczos steps (one HVP each) with full reorthogonalisation build a
    tridiagonal T whose extreme eigenvalues (Ritz values) converge to H's extremes
    far faster than power iteration. Ritz values always lie inside H's spectrum, so
    the returned pair is an inner bound: ``lambda_min(H) <= lo`` and ``hi <= lambda_max(H)``.
    Memory: ``iters + 1`` vectors of the parameter count (in float64).
    """
    params = list(params)
    grads = _first_order_graph(loss_fn, params)
    n = sum(p.numel() for p in params)
    m = max(1, min(iters, n))
    gen = torch.Generator().manual_seed(seed)
    q = _flat(_normal_probe(params, gen)).to(torch.float64)
    Q = q.new_zeros((m + 1, n))
    Q[0] = q / q.norm()
    alphas: list[float] = []
    betas: list[float] = []
    for j in range(m):
        w = _flat(_hvp(grads, params, _unflat(Q[j], params))).to(torch.float64)
        alphas.append(float(w @ Q[j]))
        # Full reorthogonalisation against every previous vector (twice: "twice is
        # enough"), which also removes the alpha and beta components of the recurrence.
        for _ in range(2):
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        beta = float(w.norm())
        if j == m - 1 or beta <= 1e-10 * max(1.0, max(abs(a) for a in alphas)):
            break  # last step, or an invariant subspace: T's eigenvalues are exact
        betas.append(beta)
        Q[j + 1] = w / beta
    off = torch.tensor(betas, dtype=torch.float64)  # one beta fewer than alphas: the loop ends on a break
    T = torch.diag(torch.tensor(alphas, dtype=torch.float64)) + torch.diag(off, 1) + torch.diag(off, -1)
    ev = torch.linalg.eigvalsh(T)
    return float(ev[0]), float(ev[-1])


def edge_of_stability(lr: float) -> float:
    """``2 / lr``: gradient descent on a quadratic diverges along any direction whose
    curvature exceeds it, and full-batch GD is known to train with sharpness hovering
    there (Cohen et al. 2021)."""
    if lr <= 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    return 2.0 / lr


def normalized_sharpness(top_eigenvalue: float, lr: float) -> float:
    """Sharpness as a fraction of the edge of stability: ``lambda_max * lr / 2``.

    Chosen because it is dimensionless and has a fixed landmark: 1 means the top
    curvature sits exactly at plain GD's stability limit 2/lr, values << 1 mean a
    minimum far flatter than the optimiser could tolerate. It compares runs that use
    different learning rates, which raw lambda_max does not. The paper does not
    define its "normalised sharpness", so its numbers are not directly comparable.

    Caveat for Adam/AdamW: the stability limit applies to the *preconditioned*
    sharpness (lambda_max of P^-1 H, threshold (2 + 2 beta1) / ((1 - beta1) lr),
    Cohen et al. 2022), not to lambda_max of H; this quantity is then a scale-free
    curvature number, not a distance to Adam's own edge.
    """
    return float(top_eigenvalue) / edge_of_stability(lr)
