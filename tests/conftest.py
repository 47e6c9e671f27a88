"""Keep every test inside a temp dir and on one thread (CI has 2 shared cores)."""

import os
import tempfile

_TMP = tempfile.mkdtemp(prefix="radgrok-tests-")
for var, sub in (("MPLCONFIGDIR", "mpl"), ("HOME", "home"), ("WANDB_DIR", "wandb"), ("TMPDIR", "tmp"),
                 ("HYPOTHESIS_STORAGE_DIRECTORY", "hypothesis")):  # not .hypothesis/ in the checkout
    path = os.path.join(_TMP, sub)
    os.makedirs(path, exist_ok=True)
    os.environ[var] = path
os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("MPLBACKEND", "Agg")

import torch  # noqa: E402

torch.set_num_threads(1)
