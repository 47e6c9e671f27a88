"""Diagnostics: pure functions of activations, gradients, weights and losses.

One concept per module -- ``radial`` (radii, Phi_rad), ``spectral`` (ranks,
sigma_max), ``curvature`` (Hessian trace and eigenvalues from HVPs), ``fourier``
(frequency measures for modular tasks), ``health`` (softmax collapse), ``anisotropy``
(Proposition 1: the penalty as data-dependent weight regularisation), ``early_warning``
(a grokking forecast over logged metrics rows; pure Python). None of them
changes parameters, ``.grad`` or the training loop; the loop calls them on a schedule.
"""

from .anisotropy import (
    anisotropy_ratios,
    layer_anisotropy,
    measured_penalty,
    mlp_anisotropy,
    mlp_layer_inputs,
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
    "mlp_layer_inputs",
    "mlp_anisotropy",
    # early warning (pure Python)
    "memorised_index",
    "move_index",
    "grok_index",
    "fire_index",
    "forecast_run",
    "evaluate_dirs",
    "early_warning_table",
    # health
    "softmax_collapse_fraction",
    "zero_loss_fraction",
]

# early_warning is pure Python and also a script (``python -m ...``): importing it lazily
# keeps runpy from finding it already imported by this package when run that way.
_EARLY_WARNING = {"memorised_index", "move_index", "grok_index", "fire_index", "forecast_run",
                  "evaluate_dirs", "early_warning_table"}


def __getattr__(name: str):
    if name in _EARLY_WARNING:
        from . import early_warning

        return getattr(early_warning, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
