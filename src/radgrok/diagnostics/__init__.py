"""Diagnostics: pure functions of activations, gradients, weights and losses.

One concept per module -- ``radial`` (radii, Phi_rad), ``spectral`` (ranks,
sigma_max), ``curvature`` (Hessian trace and eigenvalues from HVPs), ``fourier``
(frequency measures for modular tasks), ``health`` (softmax collapse), ``anisotropy``
(Proposition 1: the penalty as data-dependent weight regularisation). The grokking
forecast over logged metric rows is ``radgrok.report.early_warning`` (it reads run
directories, so it lives with the reports). None of them
changes parameters, ``.grad`` or the training loop; the loop calls them on a schedule.
"""

# every public name of each module, listed once: in that module's __all__
from . import anisotropy, curvature, fourier, health, radial, spectral
from .anisotropy import *  # noqa: F403
from .curvature import *  # noqa: F403
from .fourier import *  # noqa: F403
from .health import *  # noqa: F403
from .radial import *  # noqa: F403
from .spectral import *  # noqa: F403

__all__ = [*radial.__all__, *spectral.__all__, *curvature.__all__, *fourier.__all__, *anisotropy.__all__,
           *health.__all__]
