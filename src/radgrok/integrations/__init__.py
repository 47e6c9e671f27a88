"""radgrok inside other people's trainers.

* ``radgrok.integrations.hf`` -- ``RadgrokTrainer`` / ``RadgrokTrainerMixin`` /
  ``RadgrokCallback`` for ``transformers.Trainer`` (extra ``radgrok[hf]``);
* ``radgrok.integrations.lightning`` -- ``RadgrokLightningCallback`` for
  ``lightning.Trainer`` (extra ``radgrok[lightning]``).

Both read one ``RadgrokOptions`` and drive one ``RadgrokRuntime``; neither framework
is imported until its submodule is, and ``radgrok`` itself never imports this package.

>>> from radgrok.integrations import RadgrokOptions
>>> RadgrokOptions(sites=["encoder.*"], lam=0.05, norm_over="batch").norm_over
'batch'
"""

from radgrok.integrations.options import RadgrokOptions, resolve_sites
from radgrok.integrations.runtime import STATE_FILE, RadgrokRuntime

__all__ = ["RadgrokOptions", "RadgrokRuntime", "resolve_sites", "STATE_FILE"]
