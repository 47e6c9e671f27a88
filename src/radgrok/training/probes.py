"""Diagnostics the trainer logs on a schedule, computed on a fixed probe batch.

Cheap (every evaluation, when ``diagnostics`` is on): one forward with autograd on
``probe_size`` training pairs drawn once (``feeds.probe_indices``), then per penalised site
  * ``phi_task/<site>``  -- radial gradient energy of the task-loss gradient dL_task/dh
    (the run's loss: CE or StableMax),
  * ``phi_total/<site>`` -- the same for the total loss (task + lam * penalty),
  * ``stable_rank/<site>``, ``eff_rank/<site>``, ``sigma_max/<site>`` of the (N, d) activations,
and on the probe logits the softmax-collapse and zero-loss fractions. For MLP
pre-activation sites also Proposition 1's check (``diagnostics.anisotropy``):
  * ``aniso_pred/<site>`` = (1/d) Tr(W Sigma_x W^T) beside ``penalty_site/<site>``, the
    measured mean L_norm, and ``aniso_top/``, ``aniso_bottom/``, ``aniso_null/<site>``,
    the eigen-ratios of Sigma_x that say how anisotropic the implied regulariser is.

Expensive (every ``expensive_every`` evaluations; 0 = never): Hutchinson trace and
top eigenvalue of the Hessian of the probe-batch task loss, the normalised
sharpness lam_max * lr / 2, and the Fourier measures of the MLP input embedding,
including ``fourier_power``, the power per frequency k = 1..(P-1)/2 of operand a's
input vectors (a list), from which a chronology of frequencies can be drawn.

Nothing here touches parameters, ``.grad`` or the global RNG, so a run with
diagnostics is the same run as one without, and resumption stays exact.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from .. import diagnostics
from ..models.modes import eval_mode

__all__ = ["cheap_diagnostics", "expensive_diagnostics"]


def _finite(x: float) -> float | None:
    """JSON has no NaN: an undefined value (e.g. a zero gradient) is logged as null."""
    return x if math.isfinite(x) else None


def cheap_diagnostics(model, rs, x: torch.Tensor, y: torch.Tensor, loss_fn=F.cross_entropy) -> dict:
    """Radial energies, activation spectra and precision health on one probe batch."""
    logits_box = {}

    def task_loss() -> torch.Tensor:
        logits = model(x)
        logits_box["logits"] = logits.detach()
        return loss_fn(logits, y)

    with eval_mode(model):
        phi, grads = diagnostics.phi_rad(model, rs, task_loss)
    row = {}
    for site, (h, _) in grads["task"].items():
        row[f"phi_task/{site}"] = _finite(phi["task"][site])
        row[f"phi_total/{site}"] = _finite(phi["total"][site])
        spec = diagnostics.spectral_summary(h.reshape(-1, h.shape[-1]))
        row[f"stable_rank/{site}"] = spec["stable_rank"]
        row[f"eff_rank/{site}"] = spec["effective_rank"]
        row[f"sigma_max/{site}"] = spec["sigma_max"]
    # Proposition 1 (MLP pre-activations only; anything else returns {}): the probe's own h.
    hidden = {site: h for site, (h, _) in grads["task"].items()}
    aniso = diagnostics.mlp_anisotropy(model, x, rs.names, hidden, rs.radius_for)
    row.update({k: _finite(v) for k, v in aniso.items()})
    logits = logits_box["logits"]
    row["softmax_collapse"] = diagnostics.softmax_collapse_fraction(logits)
    row["zero_loss"] = diagnostics.zero_loss_fraction(logits, y)
    return row


def expensive_diagnostics(model, x: torch.Tensor, y: torch.Tensor, lr: float, p: int,
                          hessian_probes: int, eigen_iters: int, seed: int, loss_fn=F.cross_entropy) -> dict:
    """Hessian trace (with standard error), top eigenvalue, sharpness and Fourier measures."""
    params = [q for q in model.parameters() if q.requires_grad]
    task = lambda: loss_fn(model(x), y)  # noqa: E731
    with eval_mode(model), torch.enable_grad():
        trace, se = diagnostics.hessian_trace(task, params, n_probes=hessian_probes, seed=seed)
        top = diagnostics.hessian_top_eigenvalue(task, params, iters=eigen_iters, seed=seed)
    row: dict[str, float | list] = {"hessian_trace": trace, "hessian_trace_se": se, "hessian_top": top,
                                    "sharpness_norm": diagnostics.normalized_sharpness(top, lr),
                                    "eos_line": diagnostics.edge_of_stability(lr)}
    if hasattr(model, "hidden"):  # the MLP: residues index the input embedding's rows
        with torch.no_grad():
            w_a, _ = diagnostics.mlp_input_embeddings(model)
        row["fourier_coherence"] = diagnostics.fourier_coherence(w_a, p)
        row["fourier_fmax"] = diagnostics.max_fourier_magnitude(w_a, p)
        row["key_freqs"] = diagnostics.key_frequencies(w_a, p)
        # index 0 is the constant; frequencies 1..K only, as a plain list for JSON
        row["fourier_power"] = [float(v) for v in diagnostics.fourier_power(w_a, p)[1:]]
    return row
