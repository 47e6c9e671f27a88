"""What to attach to a training run: one settings object shared by every integration.

Nothing here imports a training framework, so the HF and Lightning integrations read the same options.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Literal

from torch import nn

from radgrok.penalty import Mode, NormOver, Reduce, check_reading

__all__ = ["RadgrokOptions", "resolve_sites"]

GradFilter = Literal["ema", "ma"]


@dataclass
class RadgrokOptions:
    """Radial suppression, gradient methods and diagnostics for one training run.

    Args:
        sites: module names or patterns over ``model.named_modules()``: ``*`` matches
            within one dotted part, ``**`` across parts, ``?`` one character
            (``"transformer.h.*"`` is each block, not their sub-modules). Empty: no hooks.
        lam: as for ``RadialSuppression``.
        radius: as for ``RadialSuppression``.
        radius_scale: as for ``RadialSuppression``.
        mode: as for ``RadialSuppression``.
        norm_over: as for ``RadialSuppression``.
        reduce: as for ``RadialSuppression``.
        global_batch: as for ``RadialSuppression``: under DDP, the penalty of the global batch.
        grokfast: ``"ema"`` or ``"ma"`` to amplify the slow part of the gradient, or None.
        grokfast_alpha: the EMA filter's ``alpha``.
        grokfast_lamb: the amplification ``lamb`` (EMA and MA).
        grokfast_window: the MA filter's ``window``.
        orthograd: remove each gradient's component along its weight (⊥Grad) before the step.
        diagnostics_every: log radii (and Φ̃_rad) at every N-th logging step; 0 turns them off.
        phi_rad: include Φ̃_rad, which costs one extra forward and backward of the
            logged batch; radii alone come free from the training forward.

    >>> opts = RadgrokOptions(sites=["layers.*"], lam=0.05, grokfast="ema")
    >>> opts.norm_over, opts.reduce
    ('example', 'mean')
    """

    sites: tuple[str, ...] | list[str] = ()
    lam: float = 0.0
    radius: float | None = None
    radius_scale: float = 1.0
    mode: Mode = "soft"
    norm_over: NormOver = "example"
    reduce: Reduce = "mean"
    global_batch: bool = True
    grokfast: GradFilter | None = None
    grokfast_alpha: float = 0.98
    grokfast_lamb: float = 2.0
    grokfast_window: int = 100
    orthograd: bool = False
    diagnostics_every: int = 1
    phi_rad: bool = True

    def __post_init__(self) -> None:
        # fail at construction, not at the first training step minutes later
        if isinstance(self.sites, str):
            raise TypeError("sites must be a list of names or patterns, not one string")
        self.sites = tuple(self.sites)
        check_reading(self.norm_over, self.reduce)
        if self.grokfast not in (None, "ema", "ma"):
            raise ValueError(f"grokfast must be None, 'ema' or 'ma', got {self.grokfast!r}")
        if self.diagnostics_every < 0:
            raise ValueError(f"diagnostics_every must be >= 0, got {self.diagnostics_every}")


def _pattern(pat: str) -> re.Pattern[str]:
    """A module-name pattern as a regex: ``**`` any run, ``*`` and ``?`` within one dotted part."""
    parts = re.split(r"(\*\*|\*|\?)", pat)
    table = {"**": ".*", "*": "[^.]*", "?": "[^.]"}
    return re.compile("".join(table.get(p, re.escape(p)) for p in parts))


def resolve_sites(model: nn.Module, patterns: Iterable[str]) -> list[str]:
    """The names in ``model.named_modules()`` matched by ``patterns`` (as for
    ``RadgrokOptions.sites``), in the model's order. Each pattern must match at least one
    module: a typo should fail loudly, not train without a penalty.

    >>> from torch import nn
    >>> m = nn.Sequential(nn.Linear(2, 4), nn.Sequential(nn.Linear(4, 4), nn.ReLU()))
    >>> resolve_sites(m, ["*"])
    ['0', '1']
    >>> resolve_sites(m, ["1.**"])
    ['1.0', '1.1']
    """
    names = [n for n, _ in model.named_modules() if n]
    chosen: set[str] = set()
    for pat in patterns:
        rx = _pattern(pat)
        hits = [n for n in names if rx.fullmatch(n)]
        if not hits:
            raise ValueError(f"site pattern {pat!r} matches no module; names look like {names[:8]}")
        chosen.update(hits)
    return [n for n in names if n in chosen]
