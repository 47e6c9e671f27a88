"""⊥Grad (arXiv 2501.04697): step only at right angles to the weights.

For each parameter w (flattened) with gradient g:

    g_perp = g - (<g, w> / (<w, w> + eps)) * w,     g' = g_perp * ||g|| / ||g_perp||.

Removing the component along w stops the optimizer from growing the weights along
their own direction, which is how cross-entropy keeps lowering the loss of an
already-correct model (the "naive loss minimisation" direction that drives logits
towards softmax collapse). Rescaling to ||g|| keeps the step size of plain training.

Use ``orthogonalize_gradients(params)`` between ``backward()`` and ``step()``, or an optimizer
that does it for you: ``orthograd(torch.optim.AdamW)`` (a subclass) or ``OrthoGrad(optimizer)``
(a wrapper of one already built).

Weight decay in the base optimizer is applied by the base step as usual, after the
gradient is orthogonalised; it is not part of g.

A parameter group may set ``"orthograd": False`` to opt out (e.g. scalars, whose
gradient is always parallel to the weight and would be zeroed; see below).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterable

import torch
from torch.optim import Optimizer

__all__ = ["orthogonalize_gradients", "orthogonalize_groups", "orthograd", "OrthoGrad"]

# g_perp is treated as zero when ||g_perp|| <= _NOISE_ULPS * machine-eps * ||g||: a
# residual that small is rounding error of the projection, and rescaling it to ||g||
# would invent a direction (always the case for 1-element parameters).
_NOISE_ULPS = 32


@torch.no_grad()
def orthogonalize_gradients(params: Iterable[torch.Tensor], eps: float = 1e-30) -> None:
    """Replace each ``p.grad`` by its part orthogonal to ``p``, rescaled to ``||p.grad||``.

    Parameters without a gradient are skipped. When the orthogonal part is zero (g
    parallel to w, including every gradient of a 1-element parameter) there is no
    admissible direction, and the gradient becomes zero. A zero weight (w = 0) has
    no radial direction, so its gradient is left as it is.

    Everything is tensor arithmetic (no ``.item()``), so on GPU it does not sync.
    """
    for p in params:
        g = p.grad
        if g is None:
            continue
        if g.is_sparse:
            raise ValueError("orthogonalize_gradients: sparse gradients are not supported")
        # Half precision cannot hold eps=1e-30 (it rounds to 0, giving 0/0): do the
        # projection in at least float32 and write back in the gradient's dtype.
        work = torch.promote_types(g.dtype, torch.float32)
        w = p.detach().reshape(-1).to(work)
        gf = g.reshape(-1).to(work)
        coef = torch.dot(gf, w) / (torch.dot(w, w) + eps)
        g_perp = gf - coef * w
        g_norm = torch.linalg.vector_norm(gf)
        perp_norm = torch.linalg.vector_norm(g_perp)
        tiny = _NOISE_ULPS * torch.finfo(work).eps
        # where (not an if) keeps this sync-free; the unselected n/0 = inf is discarded.
        scale = torch.where(perp_norm > tiny * g_norm, g_norm / perp_norm, torch.zeros_like(g_norm))
        g.copy_((g_perp * scale).view_as(g))


def orthogonalize_groups(param_groups: Iterable[dict[str, Any]], eps: float = 1e-30) -> None:
    """``orthogonalize_gradients`` on every parameter group that does not opt out (``orthograd: False``)."""
    for group in param_groups:
        if group.get("orthograd", True):
            orthogonalize_gradients(group["params"], eps)


@functools.cache
def orthograd(optimizer_cls: type[Optimizer], eps: float = 1e-30) -> type[Optimizer]:
    """A subclass of ``optimizer_cls`` whose ``step()`` applies ⊥Grad first.

    ``orthograd(torch.optim.AdamW)(model.parameters(), lr=1e-3)`` is an ``AdamW`` in
    every respect (isinstance, schedulers, ``state_dict`` format) except that its
    gradients are orthogonalised at each step. The class is cached, so calling
    ``orthograd(AdamW)`` twice gives the same class.

    It is done in a step pre-hook rather than by overriding ``step`` so that step
    hooks run exactly once, however torch wraps ``step`` for profiling. A closure,
    if given, is evaluated here (once), its gradients orthogonalised, and the base
    step then receives a closure that returns the same loss without recomputing:
    right for single-evaluation optimizers (SGD, Adam...), not for LBFGS.
    """

    def _pre_hook(opt: Optimizer, args: tuple, kwargs: dict) -> tuple[tuple, dict] | None:
        # torch passes step's full positional args, which start with the optimizer.
        head = args[:1] if args and args[0] is opt else ()
        rest = args[len(head):]
        closure = rest[0] if rest else kwargs.get("closure")
        if closure is None:
            orthogonalize_groups(opt.param_groups, eps)
            return None
        with torch.enable_grad():
            loss = closure()
        orthogonalize_groups(opt.param_groups, eps)
        return head + rest[1:], {**kwargs, "closure": lambda: loss}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        optimizer_cls.__init__(self, *args, **kwargs)
        self.register_step_pre_hook(_pre_hook)

    name = f"OrthoGrad{optimizer_cls.__name__}"
    return type(name, (optimizer_cls,), {"__init__": __init__, "__module__": __name__, "__qualname__": name})


class OrthoGrad:
    """Wrap an already-built optimizer so that ``step()`` applies ⊥Grad first.

    ``zero_grad``, ``state_dict``, ``load_state_dict``, ``param_groups``, ``state`` and
    ``add_param_group`` pass through to ``base``, so checkpoints are the base
    optimizer's. This object is not an ``Optimizer``: build LR schedulers on
    ``wrapper.base`` (they share ``param_groups``, so the schedule applies), or use
    ``orthograd(cls)`` instead.
    """

    def __init__(self, base: Optimizer, eps: float = 1e-30) -> None:
        if not isinstance(base, Optimizer):
            raise TypeError(f"OrthoGrad wraps a torch.optim.Optimizer, got {type(base).__name__}")
        self.base = base
        self.eps = float(eps)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Evaluate ``closure`` (if any), orthogonalise the gradients, then step ``base``."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        orthogonalize_groups(self.base.param_groups, self.eps)
        self.base.step()
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base.zero_grad(set_to_none=set_to_none)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.base.param_groups

    @property
    def state(self) -> Any:
        return self.base.state

    @property
    def defaults(self) -> dict[str, Any]:
        return self.base.defaults

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        self.base.add_param_group(param_group)

    def state_dict(self) -> dict[str, Any]:
        return self.base.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.base.load_state_dict(state_dict)

    def __repr__(self) -> str:
        return f"OrthoGrad({self.base!r})"
