"""Proposition 1: the radial penalty as anisotropic, data-dependent weight regularisation.

For one penalised layer ``h = W x + b`` (h in R^d, x in R^{d_in}) the penalty is
``L_norm(h) = (1/d) (||h|| - r)^2`` with r = c * sqrt(d). While ``||h|| >> r`` it is
dominated by ``||h||^2 / d``, and with b ignored (as in the paper)

    E[L_norm] ~= (1/d) E||W x||^2 = (1/d) Tr(W Sigma_x W^T),   Sigma_x = E[x x^T].

Writing Sigma_x = sum_i lam_i u_i u_i^T (eigenvalues lam_1 >= ... >= lam_{d_in} >= 0),
``Tr(W Sigma_x W^T) = sum_i lam_i ||W u_i||^2``: a weight penalty that charges the
weights' energy along input direction u_i in proportion to lam_i. Isotropic weight
decay charges every direction equally (``||W||_F^2 = sum_i ||W u_i||^2``). Scaling the
two to the same total (i.e. comparing with weight decay of coefficient mean(lam)/d),
the penalty's strength along u_i relative to weight decay is ``lam_i / mean(lam)``:

* ``aniso_top``    = lam_1 / mean(lam): how much harder than weight decay it pulls on
  the input's dominant direction;
* ``aniso_bottom`` = mean of the bottom decile (at least one) of the *non-zero*
  eigenvalues / mean(lam): how much softer along the weakest directions the input
  still visits;
* ``aniso_null``   = fraction of eigenvalues that are numerically zero (<= d_in * eps *
  lam_1, numpy's rank tolerance): directions the input never visits, on which the
  penalty exerts no force at all while weight decay still does.

Isotropic Sigma_x (a multiple of the identity) gives top = bottom = 1, null = 0.

All of this is measured on a fixed batch, so Sigma_x is the batch's second moment
``X^T X / N`` (not centred: the penalty sees x, not x - mean). The ratio of the
measured penalty to the prediction tells whether the regime ``||h|| >> r`` holds
(ratio near 1) or not (at r the penalty vanishes while the prediction is ~1).
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn

from ..penalty.readings import radial_penalty

__all__ = ["second_moment", "predicted_penalty", "measured_penalty", "second_moment_eigenvalues", "anisotropy_ratios",
           "layer_anisotropy", "mlp_anisotropy"]


def second_moment(x: torch.Tensor) -> torch.Tensor:
    """``Sigma_x = X^T X / N`` in float64, leading dims of x flattened to N rows."""
    X = x.detach().reshape(-1, x.shape[-1]).to(torch.float64)
    return X.T @ X / X.shape[0]


def predicted_penalty(W: torch.Tensor, sigma_x: torch.Tensor) -> float:
    """Proposition 1's ``(1/d) Tr(W Sigma_x W^T)`` for W of shape (d, d_in)."""
    W = W.detach().to(torch.float64)
    if sigma_x.shape != (W.shape[1], W.shape[1]):
        raise ValueError(f"sigma_x must be ({W.shape[1]}, {W.shape[1]}), got {tuple(sigma_x.shape)}")
    # Tr(W S W^T) = sum_jk (W S)_jk W_jk: no d x d product needed.
    return float(((W @ sigma_x.to(W.device)) * W).sum() / W.shape[0])


def measured_penalty(h: torch.Tensor, radius: float | None = None) -> float:
    """Mean ``(1/d)(||h|| - r)^2`` over the rows of h (r defaults to sqrt(d)), in float64: the
    per-example, mean reading, whatever reading a run trains with, because that is the
    quantity Proposition 1 predicts (``(1/d) E||W x||^2`` is a mean over examples)."""
    return float(radial_penalty(h.detach().to(torch.float64), radius, "example", "mean"))


def second_moment_eigenvalues(x: torch.Tensor) -> torch.Tensor:
    """Eigenvalues of ``Sigma_x = X^T X / N`` (ascending, length d_in, float64).

    With fewer rows than columns the non-zero eigenvalues are those of the N x N Gram
    matrix ``X X^T / N``; the rest are zero, and the smaller matrix is the cheaper one.
    """
    X = x.detach().reshape(-1, x.shape[-1]).to(torch.float64)
    n, d_in = X.shape
    if n >= d_in:
        return torch.linalg.eigvalsh(X.T @ X / n).clamp_min(0.0)
    ev = torch.linalg.eigvalsh(X @ X.T / n).clamp_min(0.0)
    return torch.cat([ev.new_zeros(d_in - n), ev])


def _ratios(ev: torch.Tensor, bottom_frac: float) -> dict[str, float]:
    if not 0 < bottom_frac <= 1:
        raise ValueError(f"bottom_frac must be in (0, 1], got {bottom_frac}")
    n = ev.numel()  # ev ascending, as eigvalsh and second_moment_eigenvalues give it
    top = float(ev[-1])
    if top <= 0:
        return {"top": float("nan"), "bottom": float("nan"), "null": 1.0}
    mean = float(ev.mean())
    tol = n * torch.finfo(torch.float64).eps * top
    nonzero = ev[ev > tol]
    k = max(1, int(math.floor(bottom_frac * nonzero.numel())))
    return {"top": top / mean, "bottom": float(nonzero[:k].mean()) / mean,
            "null": 1.0 - nonzero.numel() / n}


def anisotropy_ratios(sigma_x: torch.Tensor, bottom_frac: float = 0.1) -> dict[str, float]:
    """``{"top", "bottom", "null"}`` of the module docstring, from one eigendecomposition.

    ``bottom`` averages the smallest ``max(1, floor(bottom_frac * n_nonzero))`` non-zero
    eigenvalues. NaN top and bottom when Sigma_x is zero (no direction at all).
    """
    return _ratios(torch.linalg.eigvalsh(sigma_x.to(torch.float64)).clamp_min(0.0), bottom_frac)


def layer_anisotropy(W: torch.Tensor, x: torch.Tensor, h: torch.Tensor | None = None,
                     radius: float | None = None, bottom_frac: float = 0.1) -> dict[str, float]:
    """Everything for one layer: ``pred``, ``penalty`` (if h is given), ``top``, ``bottom``, ``null``."""
    X = x.detach().reshape(-1, x.shape[-1]).to(torch.float64)
    Wd = W.detach().to(torch.float64)
    # Tr(W Sigma_x W^T) = mean_n ||W x_n||^2 exactly; the row form skips the d_in x d_in second moment.
    out = {"pred": float((X @ Wd.T).square().sum() / (X.shape[0] * Wd.shape[0])),
           **_ratios(second_moment_eigenvalues(X), bottom_frac)}
    if h is not None:
        out["penalty"] = measured_penalty(h, radius)
    return out


def mlp_anisotropy(model: nn.Module, x: torch.Tensor, sites: list[str],
                   hidden: dict[str, torch.Tensor] | None = None,
                   radius_for=None, bottom_frac: float = 0.1) -> dict[str, float]:
    """Metrics-row entries ``aniso_pred/``, ``penalty_site/``, ``aniso_top/``, ``aniso_bottom/``,
    ``aniso_null/`` for every site of ``sites`` that is the output of a linear layer of the model
    (``model.linear_sites``; for ``radgrok.models.mlp.MLP`` the pre-activations ``hidden.{i}.pre``),
    read on the inputs ``model.linear_inputs(x)`` gives that layer.

    ``hidden`` maps a site to its h on the same batch (e.g. from the probe's forward);
    when absent, h is recomputed as ``W x + b``. ``radius_for(d)`` gives the penalty's
    target radius (default sqrt(d)). Other sites (post-activations, transformer
    outputs) and models without ``linear_sites`` are skipped: h is not linear in a layer input there.
    """
    linears = cast("dict[str, nn.Linear]", getattr(model, "linear_sites", {}))
    layers = [s for s in sites if s in linears]
    if not layers:
        return {}
    inputs = cast("dict[str, torch.Tensor]", model.linear_inputs(x))  # type: ignore[operator]
    row: dict[str, float] = {}
    for site in layers:
        lin = linears[site]
        xi = inputs[site]
        h = hidden.get(site) if hidden else None
        if h is None:
            h = xi.to(lin.weight.dtype) @ lin.weight.detach().T + lin.bias.detach()
        r = radius_for(h.shape[-1]) if radius_for is not None else None
        a = layer_anisotropy(lin.weight, xi, h, r, bottom_frac)
        for key, name in (("pred", "aniso_pred"), ("penalty", "penalty_site"), ("top", "aniso_top"),
                          ("bottom", "aniso_bottom"), ("null", "aniso_null")):
            row[f"{name}/{site}"] = a[key]
    return row
