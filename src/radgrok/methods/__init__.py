"""Neighbouring methods to compare with (or combine with) radial suppression.

Each acts on one place in an ordinary training loop and needs nothing from the
others or from radgrok's penalty:

* loss:      ``stablemax_cross_entropy`` replaces ``F.cross_entropy``;
* ``.grad``: ``GrokfastEMA`` / ``GrokfastMA`` amplify its slow part, then
  ``OrthoGrad`` / ``orthograd(cls)`` remove its radial part inside ``step()``;
  ``step_hook.install(optimizer, filter, orthograd)`` does both in the optimizer's step
  pre-hook, which is how radgrok's trainer and its integrations run them.

A loop using all of them alongside the penalty: docs/site-src/methods.md.
"""

# every public name of each module, listed once: in that module's __all__ (the aliases keep the modules
# apart from the functions ``orthograd`` and ``stablemax`` that share their names)
from radgrok.methods import grokfast as _grokfast
from radgrok.methods import orthograd as _orthograd
from radgrok.methods import stablemax as _stablemax
from radgrok.methods import step_hook
from radgrok.methods.grokfast import *  # noqa: F403
from radgrok.methods.orthograd import *  # noqa: F403
from radgrok.methods.stablemax import *  # noqa: F403

__all__ = [*_grokfast.__all__, *_stablemax.__all__, *_orthograd.__all__, "step_hook"]
