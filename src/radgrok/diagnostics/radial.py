"""Radial geometry of hidden vectors: radii and the radial gradient energy.

The radial gradient energy of a batch of hidden vectors h with gradients g = dL/dh is

    Phi_rad = d * mean over rows of ||P_r g||^2 / ||g||^2,    P_r = h h^T / ||h||^2,

i.e. d times the mean squared cosine between g and h. A gradient pointing in a
uniformly random direction has E[cos^2] = 1/d, so Phi_rad = 1 is the *isotropic
floor*: values below 1 mean the loss gradient avoids the radial direction (it mostly
rotates h), values above 1 mean it mostly rescales h. The maximum is d (g parallel
to h), the minimum 0 (g orthogonal to h).

Which gradient to use matters. The radial penalty's own gradient with respect to its
h is (2/d)(||h|| - r)/||h|| * h, parallel to h by construction, so adding it to g
pushes Phi_rad towards d whatever the network has learned. The claim under test
("the penalty drives the radial energy of learning below the floor") is about the
*task* gradient, dL_task/dh, under training with the penalty: measure that, and
report the total-gradient version (task + penalty) only beside it, as a check of how
much the penalty itself contributes. ``capture_hidden_grads_multi`` gives both from
one forward pass.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Mapping

import torch
from torch import nn

from ..penalty import RadialSuppression
from ..penalty.capture import Capture
from ..penalty.readings import norms

__all__ = ["radii", "radius_summary", "radial_energy", "capture_hidden_grads", "capture_hidden_grads_multi",
           "radial_energies", "phi_rad"]

HiddenGrad = tuple[torch.Tensor, torch.Tensor]
Captured = dict[str, dict[str, HiddenGrad]]  # loss name -> site -> (h, dL/dh)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """(..., d) -> (N, d) in float64: every leading index is one hidden vector."""
    return x.detach().reshape(-1, x.shape[-1]).to(torch.float64)


def radii(h: torch.Tensor) -> torch.Tensor:
    """``||h||_2`` of every hidden vector: shape ``h.shape[:-1]``, detached."""
    return norms(h.detach())


def radius_summary(h: torch.Tensor) -> dict[str, float]:
    """Mean, std, min and max of ``||h||`` over all vectors, and the mean over ``sqrt(d)``.

    ``mean_over_sqrt_d`` is the number to compare with 1: the penalty's target radius
    is sqrt(d), so it says how far the layer sits from that sphere.
    """
    r = norms(_rows(h))
    return {"mean": float(r.mean()), "std": float(r.std(unbiased=False)), "min": float(r.min()),
            "max": float(r.max()), "mean_over_sqrt_d": float(r.mean() / math.sqrt(h.shape[-1]))}


def radial_energy(h: torch.Tensor, g: torch.Tensor) -> float:
    """``Phi_rad = d * mean(||P_r g||^2 / ||g||^2)`` over the rows of h and g.

    h and g have the same shape (..., d); leading dims are flattened so that every
    example (and token position) is one row. Rows where ``g`` or ``h`` is exactly
    zero have no direction and are skipped; if no row is left the result is NaN.
    Computed in float64 because the per-row ratio is a squared cosine that can be
    ~1/d, well below float32's resolution for the sums involved at large N.
    """
    if h.shape != g.shape:
        raise ValueError(f"h and g must have the same shape, got {tuple(h.shape)} and {tuple(g.shape)}")
    hr, gr = _rows(h), _rows(g)
    h2, g2 = hr.square().sum(-1), gr.square().sum(-1)
    keep = (h2 > 0) & (g2 > 0)
    if not bool(keep.any()):
        return float("nan")
    # ||P_r g||^2 = (h.g)^2 / ||h||^2, so the ratio is the squared cosine.
    cos2 = (hr * gr).sum(-1)[keep].square() / (h2[keep] * g2[keep])
    return float(h.shape[-1] * cos2.mean())


def capture_hidden_grads_multi(model: nn.Module, sites: Iterable[str],
                               loss_fn: Callable[[], Mapping[str, torch.Tensor]]) -> Captured:
    """Per-site ``(h, dL/dh)`` for several losses from a single forward pass.

    Args:
        model: any module; ``sites`` name sub-modules as in ``model.named_modules()``.
        loss_fn: takes no arguments, runs the forward pass of ``model`` and returns a
            mapping name -> scalar loss, e.g. ``{"task": ce, "total": ce + rs.penalty()}``.

    Returns ``{loss_name: {site: (h, g)}}`` with h and g detached. One forward matters:
    with dropout, or any other randomness, a second forward would see different h.
    If a site runs more than once in the forward, its calls' vectors are flattened to
    rows (N_i, d) and concatenated, so each call's vectors count as examples. A site
    that a loss does not depend on gets g = 0 (and hence a NaN ``radial_energy``).

    Gradients come from ``torch.autograd.grad`` on the retained outputs, so no
    parameter's ``.grad`` is touched. Hooks are removed even if ``loss_fn`` raises.
    Forward hooks already on a site (e.g. ``RadialSuppression`` in project mode) run
    first, so h is what the rest of the network actually sees.
    """
    with Capture(model, sites) as cap:  # hooks removed even if loss_fn raises
        losses = dict(loss_fn())
    names, seen = cap.names, cap.seen
    for n in names:
        if not seen[n]:
            raise RuntimeError(f"site {n!r} did not run during loss_fn()")
        if not all(h.requires_grad for h in seen[n]):
            raise RuntimeError(f"site {n!r} produced an output that does not require grad "
                               "(run loss_fn with grad enabled and trainable upstream parameters)")
    # Every call of every site, in one list, so that autograd walks the graph once per loss.
    flat = [(n, h) for n in names for h in seen[n]]
    tensors = [h for _, h in flat]
    result: Captured = {}
    for k, (loss_name, loss) in enumerate(losses.items()):
        if loss.dim() != 0:
            raise ValueError(f"loss {loss_name!r} must be a scalar, got shape {tuple(loss.shape)}")
        if not loss.requires_grad:
            # A constant (e.g. a zero-weight penalty's ``new_zeros(())``): no gradient anywhere.
            grads: tuple = (None,) * len(tensors)
        else:
            # Keep the graph alive for the next loss; free it after the last one.
            grads = torch.autograd.grad(loss, tensors, retain_graph=k < len(losses) - 1, allow_unused=True)
        calls: dict[str, list[HiddenGrad]] = {n: [] for n in names}
        for (n, h), g in zip(flat, grads):
            calls[n].append((h.detach(), torch.zeros_like(h) if g is None else g.detach()))
        result[loss_name] = {n: (_joined([h for h, _ in c]), _joined([g for _, g in c])) for n, c in calls.items()}
    return result


def _joined(ts: list[torch.Tensor]) -> torch.Tensor:
    """A site's one call as it is; several calls flattened to (N_i, d) rows and concatenated."""
    return ts[0] if len(ts) == 1 else torch.cat([t.reshape(-1, t.shape[-1]) for t in ts])


def capture_hidden_grads(model: nn.Module, sites: Iterable[str],
                         loss_fn: Callable[[], torch.Tensor]) -> dict[str, HiddenGrad]:
    """Per-site ``(h, dL/dh)`` for one scalar loss; see ``capture_hidden_grads_multi``."""
    return capture_hidden_grads_multi(model, sites, lambda: {"loss": loss_fn()})["loss"]


def radial_energies(grads: Mapping[str, HiddenGrad]) -> dict[str, float]:
    """``radial_energy`` of every site in a ``capture_hidden_grads`` result."""
    return {site: radial_energy(h, g) for site, (h, g) in grads.items()}


def phi_rad(model: nn.Module, rs: RadialSuppression,
            task_loss: Callable[[], torch.Tensor]) -> tuple[dict[str, dict[str, float]], Captured]:
    """Φ̃_rad at every site of ``rs``, of the task gradient and of the total (task + penalty, the
    penalty's own gradient at the site included), from one forward: ``task_loss()`` runs it.

    Returns ``({"task": {site: value}, "total": {site: value}}, the captured (h, g) pairs)``; without
    a soft penalty the total is the task loss and its values are the task's. The one Φ̃_rad of
    radgrok: the trainer's scheduled diagnostics and the integrations both call it."""
    penalised = rs.active

    def losses() -> dict[str, torch.Tensor]:
        task = task_loss()
        return {"task": task, "total": task + rs.penalty()} if penalised else {"task": task}

    with torch.enable_grad():
        caught = capture_hidden_grads_multi(model, rs.names, losses)
    task = radial_energies(caught["task"])
    return {"task": task, "total": radial_energies(caught["total"]) if penalised else dict(task)}, caught
