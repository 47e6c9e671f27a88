"""Neighbouring methods to compare with (or combine with) radial suppression.

Each acts on one place in an ordinary training loop and needs nothing from the
others or from radgrok's penalty:

* loss:      ``stablemax_cross_entropy`` replaces ``F.cross_entropy``;
* ``.grad``: ``GrokfastEMA`` / ``GrokfastMA`` amplify its slow part, then
  ``OrthoGrad`` / ``orthograd(cls)`` remove its radial part inside ``step()``;
  ``step_hook.install(optimizer, filter, orthograd)`` does both in the optimizer's step
  pre-hook, which is how radgrok's trainer and its integrations run them.

A loop using all of them alongside the penalty::

    loss = stablemax_cross_entropy(model(x), y) + rs.penalty()
    loss.backward()
    grokfast.step()          # edits .grad
    optimizer.step()         # OrthoGrad(AdamW(...)): orthogonalises, then steps
    optimizer.zero_grad()
"""

from radgrok.methods import step_hook
from radgrok.methods.grokfast import (
    GrokfastEMA,
    GrokfastMA,
    gradfilter_ema,
    gradfilter_ma,
    make_filter,
    scaled_lr,
)
from radgrok.methods.orthograd import OrthoGrad, orthogonalize_gradients, orthogonalize_groups, orthograd
from radgrok.methods.stablemax import (
    StableMaxCrossEntropy,
    log_stablemax,
    stablemax,
    stablemax_cross_entropy,
)

__all__ = [
    "gradfilter_ema",
    "gradfilter_ma",
    "GrokfastEMA",
    "GrokfastMA",
    "make_filter",
    "scaled_lr",
    "stablemax",
    "log_stablemax",
    "stablemax_cross_entropy",
    "StableMaxCrossEntropy",
    "orthogonalize_gradients",
    "orthogonalize_groups",
    "orthograd",
    "OrthoGrad",
    "step_hook",
]
