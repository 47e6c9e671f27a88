"""Fourier measures for modular-arithmetic models (Nanda et al. 2023, arXiv 2301.05217).

A network that has grokked (a + b) mod P typically represents each residue a by a
few frequencies k: its embedding of a is a combination of cos(2 pi k a / P) and
sin(2 pi k a / P). Everything here reads a matrix with one axis indexed by the
residue a (``axis``, rows by default) in the real Fourier basis over Z_P:

    the constant, then cos_k and sin_k for k = 1 .. K,   K = (P - 1) / 2,

each vector scaled to unit norm, so the basis is orthonormal and the powers below
sum to the squared Frobenius norm. P must be odd (every prime but 2). "Power at
frequency k" is the energy in cos_k and sin_k together, summed over the other axis:
phase does not matter, only which frequency is used.

The constant component says nothing about *which* residue it is, so coherence and
key frequencies ignore it; per-neuron selectivity counts it in the denominator so
that a neuron with mostly constant input weights is not called selective.
"""

from __future__ import annotations

import math
from typing import Sequence, cast

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["fourier_basis", "fourier_power", "key_frequencies", "fourier_coherence", "max_fourier_magnitude",
           "neuron_frequency_selectivity", "mlp_input_embeddings", "mlp_neuron_input_weights", "grid_logits",
           "restricted_and_excluded_loss"]


def _check_p(p: int) -> int:
    if p < 3 or p % 2 == 0:
        raise ValueError(f"p must be odd and >= 3, got {p}")
    return (p - 1) // 2


def fourier_basis(p: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(P, P) orthonormal basis; row 0 constant, row 2k-1 cos_k, row 2k sin_k (k = 1..K)."""
    K = _check_p(p)
    a = torch.arange(p, dtype=torch.float64)
    rows = [torch.full((p,), 1.0 / math.sqrt(p), dtype=torch.float64)]
    for k in range(1, K + 1):
        angle = 2 * math.pi * k * a / p
        rows += [torch.cos(angle) * math.sqrt(2.0 / p), torch.sin(angle) * math.sqrt(2.0 / p)]
    return torch.stack(rows).to(dtype)


def _coefficients(W: torch.Tensor, p: int, axis: int) -> torch.Tensor:
    """Fourier coefficients (P, M) of W read as P residues x M = everything else."""
    if W.shape[axis] != p:
        raise ValueError(f"axis {axis} of W has size {W.shape[axis]}, expected p = {p}")
    E = W.detach().to(torch.float64).movedim(axis, 0).reshape(p, -1)
    return fourier_basis(p).to(E.device) @ E


def _freq_power(C: torch.Tensor) -> torch.Tensor:
    """(K + 1, M) power per frequency (index = k, 0 = constant) and per column."""
    return torch.cat([C[:1].square(), C[1::2].square() + C[2::2].square()])


def fourier_power(W: torch.Tensor, p: int, axis: int = 0) -> torch.Tensor:
    """Power per frequency, shape (K + 1,): index k is frequency k, index 0 the constant.

    Summed over every non-residue axis; ``fourier_power(W, p).sum() == ||W||_F^2``.
    """
    return _freq_power(_coefficients(W, p, axis)).sum(dim=1)


def key_frequencies(W: torch.Tensor, p: int, top: int = 5, axis: int = 0) -> list[int]:
    """The ``top`` non-constant frequencies with the most power, strongest first."""
    power = fourier_power(W, p, axis)[1:]
    top = min(top, power.numel())
    return [int(i) + 1 for i in torch.argsort(power, descending=True)[:top]]


def fourier_coherence(W: torch.Tensor, p: int, top: int = 5, axis: int = 0) -> float:
    """R^2 of W's residue-dependent part explained by its ``top`` strongest frequencies.

    ``sum of the top-`top` powers / total non-constant power`` (the constant is left
    out, as a mean is in an ordinary R^2). Reading "coherence > 0.9": at least 90% of
    the variation of the embedding across residues lies in ``top`` frequencies, i.e.
    the representation has become sparse in Fourier space. A random embedding gives
    roughly top / K (a little more, from picking the largest); ``top >= K`` gives 1.
    The epoch at which this first exceeds 0.9 is the "coherence epoch". NaN if W is
    constant across residues.
    """
    power = fourier_power(W, p, axis)[1:]
    total = power.sum()
    if total == 0:
        return float("nan")
    return float(power.sort(descending=True).values[:top].sum() / total)


def max_fourier_magnitude(W: torch.Tensor, p: int, axis: int = 0) -> float:
    """``|F|max``: the largest unnormalised DFT magnitude ``|sum_a W[a, j] e^{-2 pi i k a / P}|``
    over non-constant frequencies k and columns j.

    Per column rather than summed over columns, so it measures the single strongest
    periodic input weight; unnormalised (no 1/sqrt(P)), as a plain FFT would report.
    """
    C = _coefficients(W, p, axis)
    # The orthonormal cos/sin coefficients are the DFT's real/imaginary parts times sqrt(2/P).
    mag = (C[1::2].square() + C[2::2].square()).sqrt() * math.sqrt(p / 2.0)
    return float(mag.max()) if mag.numel() else 0.0


def neuron_frequency_selectivity(W: torch.Tensor, p: int, axis: int = 0) -> torch.Tensor:
    """(n_neurons, K) fraction of each neuron's input-weight power at frequencies 1..K.

    W is 2-D with residues along ``axis`` and neurons along the other one (e.g. the
    (P, width) matrices of ``mlp_neuron_input_weights``). Row j sums to 1 minus the
    neuron's constant fraction, hence to at most 1; a neuron with all-zero weights
    gets a zero row. A "clean block" in the heatmap is a set of neurons whose rows
    are each close to 1 at one shared frequency.
    """
    if W.dim() != 2:
        raise ValueError(f"W must be 2-D (residues x neurons), got shape {tuple(W.shape)}")
    power = _freq_power(_coefficients(W, p, axis))  # (K + 1, n_neurons)
    total = power.sum(dim=0, keepdim=True)
    safe = total.clamp_min(torch.finfo(power.dtype).tiny)  # avoid 0/0 for all-zero neurons
    frac = torch.where(total > 0, power / safe, torch.zeros_like(power))
    return frac[1:].T.contiguous()


def _first_layer_weight(model: nn.Module) -> torch.Tensor:
    """``hidden.0.linear.weight`` of an MLP (the casts: nn.Module types its attributes as ``Tensor | Module``)."""
    return cast(nn.Linear, cast(nn.ModuleList, model.hidden)[0].linear).weight


def mlp_input_embeddings(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """The vectors that represent operand a and operand b, as (P, d) residue-by-row matrices.

    One-hot MLP: the input to the first layer is [onehot(a), onehot(b)], so residue a
    is column a of ``hidden.0.linear.weight`` and residue b is column P + b; both are
    returned transposed, (P, width). Embedding MLP: the shared table
    ``model.embed.weight`` (P, embed_dim), returned for both operands. Detached views.
    """
    p = cast(int, model.p)
    embed = getattr(model, "embed", None)
    if embed is not None:
        E = embed.weight.detach()
        return E, E
    W = _first_layer_weight(model).detach()
    return W[:, :p].T, W[:, p : 2 * p].T


def mlp_neuron_input_weights(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """(P, width) input weight of every first-layer neuron for operand a and for b.

    Equal to ``mlp_input_embeddings`` for one-hot inputs; for learned embeddings the
    table is composed with the first layer (``E @ W1[:, :e].T``), so that neuron
    selectivity means the same thing under both encodings.
    """
    embed = getattr(model, "embed", None)
    if embed is None:
        return mlp_input_embeddings(model)
    E, W = embed.weight.detach(), _first_layer_weight(model).detach()
    e = E.shape[1]
    return E @ W[:, :e].T, E @ W[:, e : 2 * e].T


@torch.no_grad()
def grid_logits(model: nn.Module, p: int) -> torch.Tensor:
    """Logits on all P x P pairs, shape (P, P, n_out), row a, column b.

    Runs in eval mode (dropout off) and restores each sub-module's previous mode.
    """
    modes = {m: m.training for m in model.modules()}
    r = torch.arange(p, device=next(model.parameters()).device)
    try:
        model.eval()
        out = model(torch.cartesian_prod(r, r))  # rows (a, b), a-major
    finally:
        for m, mode in modes.items():
            m.training = mode
    return out.reshape(p, p, -1)


def restricted_and_excluded_loss(logits: torch.Tensor, labels: torch.Tensor, key_freqs: Sequence[int], p: int,
                                 idx: torch.Tensor | None = None, op: str = "add") -> dict[str, float]:
    """Nanda et al.'s progress measures from the logits on the full (a, b) grid.

    For every output class c, the logits form a function on the P x P grid. The
    algorithm found in grokked models writes the answer through the directions
    ``cos(w_k (a + b))`` and ``sin(w_k (a + b))``, w_k = 2 pi k / P, for a few key k.
    With those directions (normalised; they are orthogonal to each other and to the
    constant) projected out of each class's logit table:

    * restricted loss: logits replaced by their grid mean plus their key-frequency
      projection -- low once the Fourier algorithm alone solves the task;
    * excluded loss: logits minus their key-frequency projection -- rises, even on
      training pairs, once memorisation has been replaced by that algorithm.

    Args:
        logits: (P, P, C) or (P*P, C), row-major in (a, b) as from ``grid_logits``.
        labels: (P, P) or (P*P,) answers.
        key_freqs: frequencies in 1..(P-1)/2.
        idx: flat grid indices (a * P + b) at which the losses are averaged, e.g. the
            training pairs for the excluded loss as in the paper; all pairs by
            default. The projections always use the whole grid.
        op: "add" uses a + b, "sub" uses a - b (the direction the answer depends on).

    Returns ``{"full", "restricted", "excluded"}`` mean cross-entropies (float64).
    """
    K = _check_p(p)
    if op not in ("add", "sub"):
        raise ValueError(f"op must be 'add' or 'sub', got {op!r}")
    if any(not 1 <= int(k) <= K for k in key_freqs):
        raise ValueError(f"key frequencies must lie in 1..{K}, got {list(key_freqs)}")
    L = logits.detach().to(torch.float64).reshape(p * p, -1)
    y = labels.reshape(p * p).to(L.device)
    r = torch.arange(p, dtype=torch.float64, device=L.device)
    a, b = torch.cartesian_prod(r, r).T
    s = a + b if op == "add" else a - b
    dirs = []
    for k in sorted({int(k) for k in key_freqs}):
        angle = 2 * math.pi * k * s / p
        dirs += [torch.cos(angle), torch.sin(angle)]
    D = torch.stack(dirs)
    D = D / D.norm(dim=1, keepdim=True)  # (2 * n_key, P*P), orthonormal rows
    proj = D.T @ (D @ L)  # each class's logit table projected on the key directions
    restricted = L.mean(dim=0, keepdim=True) + proj
    excluded = L - proj
    rows = torch.arange(p * p, device=L.device) if idx is None else idx.to(L.device)

    def ce(z: torch.Tensor) -> float:
        return float(F.cross_entropy(z[rows], y[rows]))

    return {"full": ce(L), "restricted": ce(restricted), "excluded": ce(excluded)}
