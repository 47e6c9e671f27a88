"""``Capture``: forward hooks that keep what named sub-modules output, with an explicit lifetime.

The one way radgrok reads hidden vectors out of a model: the penalty's hooks
(``RadialSuppression``) and the diagnostics that need hidden outputs and their gradients
(``diagnostics.radial.capture_hidden_grads_multi``) are both a ``Capture``, whose hooks live
from construction to ``remove()`` (or the end of a ``with`` block).

>>> import torch
>>> from torch import nn
>>> model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
>>> with Capture(model, ["0"]) as cap:
...     _ = model(torch.randn(5, 3))
>>> [tuple(h.shape) for h in cap.seen["0"]]
[(5, 4)]
>>> model._forward_hooks or model[0]._forward_hooks   # gone with the block
OrderedDict()
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch import nn

__all__ = ["Capture", "first_tensor"]


def first_tensor(out) -> torch.Tensor:
    """The hidden vectors a module's output stands for: the output itself, or the first element of
    a tuple (as attention modules return)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(f"a hooked module returned {type(out).__name__}; expected a Tensor or a tuple whose first "
                    "element is a Tensor")


class Capture:
    """Forward hooks on ``sites`` (names from ``model.named_modules()``) keeping each call's output.

    Args:
        copy: keep a copy (``clone``, in the graph) instead of the output itself, so that an
            in-place op after the site (``nn.ReLU(inplace=True)``) changes neither the kept
            values nor what autograd saved of them.
        replace: a function of the output whose result the rest of the network sees instead
            (the kept tensor is the output before it).
        per_forward: forget what was kept whenever ``model`` itself starts a forward, so only
            the latest forward's outputs are held (and no graph outlives its step).

    ``seal()`` stops keeping until the next ``clear()`` (or the next forward of ``model`` under
    ``per_forward``): outputs recomputed later in the same step, as activation checkpointing
    recomputes them in the backward, are not kept twice.
    """

    def __init__(self, model: nn.Module, sites: Iterable[str], *, copy: bool = False,
                 replace: Callable[[torch.Tensor], torch.Tensor] | None = None, per_forward: bool = False) -> None:
        names = list(sites)
        if not names:
            raise ValueError("modules must name at least one sub-module")
        available = dict(model.named_modules())
        missing = [n for n in names if n not in available]
        if missing:
            raise ValueError(f"unknown module name(s) {missing}; available: {sorted(k for k in available if k)}")
        self.names = names
        self.copy, self.replace = copy, replace
        self.seen: dict[str, list[torch.Tensor]] = {n: [] for n in names}
        self.sealed = False
        self._handles = [model.register_forward_pre_hook(lambda m, a: self.clear())] if per_forward else []
        self._handles += [available[n].register_forward_hook(self._hook(n)) for n in names]

    def _hook(self, name: str):
        def hook(module, args, out):
            h = first_tensor(out)
            if not self.sealed:
                self.seen[name].append(h.clone() if self.copy else h)
            if self.replace is None:
                return None
            new = self.replace(h)
            if isinstance(out, torch.Tensor):
                return new
            return type(out)([new, *out[1:]]) if isinstance(out, list) else (new, *out[1:])

        return hook

    def tensors(self) -> list[torch.Tensor]:
        """Every kept output, site by site in the order of ``sites``, calls in order."""
        return [h for n in self.names for h in self.seen[n]]

    def clear(self) -> None:
        """Forget what was kept and keep again."""
        for lst in self.seen.values():
            lst.clear()
        self.sealed = False

    def seal(self) -> None:
        """Keep nothing more until the next ``clear()``."""
        self.sealed = True

    def remove(self) -> None:
        """Take every hook off; what was kept is dropped too."""
        self._unhook()
        self.clear()

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc) -> None:
        self._unhook()  # the hooks go; what was kept stays readable

    def _unhook(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
