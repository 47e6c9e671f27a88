"""Grokfast and ⊥Grad before an optimizer step: the one place both are applied.

radgrok's trainer (``training.loop.build``) and other people's trainers (``integrations``:
HF's optimizer, Lightning's ``on_before_optimizer_step``) all go through ``before_step``:
Grokfast filters ``.grad`` first, then ⊥Grad removes each gradient's radial part, then the
optimizer steps. ``install`` runs it in a step pre-hook of the optimizer, so it runs once per
optimizer step (after gradient accumulation, unscaling and clipping) and not at all on a step
that is skipped. Not for optimizers stepped with a closure that computes the gradients (LBFGS):
the pre-hook would see the previous ones.
"""

from __future__ import annotations

from typing import Any, Iterable

from torch.optim import Optimizer
from torch.utils.hooks import RemovableHandle

from .grokfast import GrokfastEMA, GrokfastMA
from .orthograd import orthogonalize_groups

__all__ = ["before_step", "install"]


def before_step(param_groups: Iterable[dict[str, Any]], grad_filter: GrokfastEMA | GrokfastMA | None,
                orthograd: bool) -> None:
    """Grokfast on ``.grad`` (if a filter is given), then ⊥Grad on ``param_groups`` (if asked)."""
    if grad_filter is not None:
        grad_filter.step()
    if orthograd:
        orthogonalize_groups(param_groups)


def install(optimizer: Optimizer, grad_filter: GrokfastEMA | GrokfastMA | None,
            orthograd: bool) -> RemovableHandle | None:
    """``before_step`` in a step pre-hook of ``optimizer``; None when there is nothing to apply."""
    if grad_filter is None and not orthograd:
        return None

    def pre_hook(opt: Optimizer, args: tuple, kwargs: dict) -> None:
        before_step(opt.param_groups, grad_filter, orthograd)

    return optimizer.register_step_pre_hook(pre_hook)
