"""Diagnostics: pure functions of activations, gradients, weights and losses.

One concept per module -- ``radial`` (radii, Phi_rad), ``spectral`` (ranks,
sigma_max), ``curvature`` (Hessian trace and eigenvalues from HVPs), ``fourier``
(frequency measures for modular tasks), ``health`` (softmax collapse), ``anisotropy``
(Proposition 1: the penalty as data-dependent weight regularisation). The grokking
forecast over logged metric rows is ``radgrok.report.early_warning`` (it reads run
directories, so it lives with the reports). None of them
changes parameters, ``.grad`` or the training loop; the loop calls them on a schedule.
"""

from .anisotropy import (
    anisotropy_ratios,
    layer_anisotropy,
    measured_penalty,
    mlp_anisotropy,
    predicted_penalty,
    second_moment,
    second_moment_eigenvalues,
)
from .curvature import (
    edge_of_stability,
    hessian_extreme_eigenvalues,
    hessian_top_eigenvalue,
    hessian_trace,
    hessian_vector_product,
    normalized_sharpness,
)
from .fourier import (
    fourier_basis,
    fourier_coherence,
    fourier_power,
    grid_logits,
    key_frequencies,
    max_fourier_magnitude,
    mlp_input_embeddings,
    mlp_neuron_input_weights,
    neuron_frequency_selectivity,
    restricted_and_excluded_loss,
)
from .health import softmax_collapse_fraction, zero_loss_fraction
from .radial import (
    capture_hidden_grads,
    capture_hidden_grads_multi,
    phi_rad,
    radial_energies,
    radial_energy,
    radii,
    radius_summary,
)
from .spectral import effective_rank, sigma_max, singular_values, spectral_summary, stable_rank

__all__ = [
    # radial
    "radii",
    "radius_summary",
    "radial_energy",
    "capture_hidden_grads",
    "capture_hidden_grads_multi",
    "radial_energies",
    "phi_rad",
    # spectral
    "singular_values",
    "stable_rank",
    "effective_rank",
    "sigma_max",
    "spectral_summary",
    # curvature
    "hessian_vector_product",
    "hessian_trace",
    "hessian_top_eigenvalue",
    "hessian_extreme_eigenvalues",
    "edge_of_stability",
    "normalized_sharpness",
    # fourier
    "fourier_basis",
    "fourier_power",
    "key_frequencies",
    "fourier_coherence",
    "max_fourier_magnitude",
    "neuron_frequency_selectivity",
    "mlp_input_embeddings",
    "mlp_neuron_input_weights",
    "grid_logits",
    "restricted_and_excluded_loss",
    # anisotropy
    "second_moment",
    "second_moment_eigenvalues",
    "predicted_penalty",
    "measured_penalty",
    "anisotropy_ratios",
    "layer_anisotropy",
    "mlp_anisotropy",
    # health
    "softmax_collapse_fraction",
    "zero_loss_fraction",
]
