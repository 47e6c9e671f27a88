"""radgrok: radial suppression and the tooling to study grokking.

The public API is small and imported lazily, so that ``radgrok --help`` (and any
import of the config or CLI modules) does not pay for importing torch.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "radial_penalty": "radgrok.penalty",
    "RadialSuppression": "radgrok.penalty",
    "make_modular": "radgrok.tasks.modular",
    "MLP": "radgrok.models.mlp",
    "RunConfig": "radgrok.runs.config",
    "train": "radgrok.training.loop",
    "grok_step": "radgrok.runs.grok",
    "get_preset": "radgrok.experiments.presets",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'radgrok' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
