"""Radial suppression: keep hidden vectors near the sphere of radius sqrt(d).

The paper prints, for a hidden vector h in R^d,

    L_norm = (1/d) * (||h||_2 - r)^2,        r = sqrt(d) by default,

and never says what ||h|| runs over. Each literal reading is an option here
(``norm_over`` and ``reduce``), because they differ in strength by the batch size
and in the radius each example ends at:

* ``norm_over="example", reduce="mean"`` -- one norm per example (per token), the
  mean over every leading dimension. Gradient w.r.t. one h of a batch of M:
  ``(2/(d*M)) * (||h|| - r)/||h|| * h``.
* ``norm_over="example", reduce="sum"`` -- the same terms summed: M times stronger,
  ``(2/d) * (||h|| - r)/||h|| * h``.
* ``norm_over="batch"`` -- one Frobenius norm of the whole site ``H`` (all leading
  positions x d), what ``torch.norm(h)`` computes with no ``dim``: one scalar per
  site. Gradient ``(2/d) * (||H||_F - r)/||H||_F * h`` for every row; at rest the
  rows sit near ``r / sqrt(M)``, not r.

``radius=0`` turns every reading into activation L2, ``||h||^2 / d`` (the
shrinkage control: no sphere). Nothing is detached: the penalty reaches every
upstream weight.

The package, one concept per module: ``readings`` (the norms, the value, the pure function
``radial_penalty(h)`` for code that already has h in hand, the projection), ``capture`` (forward
hooks that keep named sites' outputs, radgrok's one way to read hidden vectors out of a model) and
``hooks`` (``RadialSuppression(model, ["layer.name", ...], lam)``, a ``Capture`` plus the penalty:
add ``rs.penalty()`` to the loss; nothing in the model changes). Plain autograd only: no custom
backward, no compiled code, nothing private to torch.
"""

from .capture import Capture
from .hooks import RadialSuppression, rank_sum
from .readings import NORM_OVER, REDUCE, Mode, NormOver, Reduce, check_reading, norms, project, radial_penalty

__all__ = ["radial_penalty", "RadialSuppression", "Capture", "rank_sum", "NORM_OVER", "REDUCE", "Mode", "NormOver",
           "Reduce", "check_reading", "norms", "project"]
