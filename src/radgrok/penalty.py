"""Radial suppression: keep hidden vectors near the sphere of radius sqrt(d).

For one hidden vector h in R^d the penalty is

    L_norm(h) = (1/d) * (||h||_2 - r)^2,        r = sqrt(d) by default,

averaged over every leading dimension (examples, token positions). Its gradient
with respect to h is purely radial, (2/d) * (||h|| - r) / ||h|| * h, and nothing
is detached: it reaches every upstream weight.

Two ways to use it:

* ``radial_penalty(h)`` -- a pure function, for code that already has h in hand;
* ``RadialSuppression(model, ["layer.name", ...], lam)`` -- forward hooks on named
  sub-modules of any ``nn.Module``; add ``rs.penalty()`` to the loss. Nothing in
  the model changes.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterable, Literal

import torch
from torch import nn

__all__ = ["radial_penalty", "RadialSuppression"]

Mode = Literal["soft", "project"]


def radial_penalty(h: torch.Tensor, radius: float | None = None) -> torch.Tensor:
    """``mean over leading dims of (1/d)(||h|| - r)^2``, norm over the last dim.

    ``radius`` defaults to ``sqrt(d)`` with ``d = h.shape[-1]``. Returns a 0-d
    tensor of h's dtype. Plain tensor ops, so it works under ``torch.func``
    transforms (vmap, grad) and to any order of differentiation.
    """
    d = h.shape[-1]
    r = math.sqrt(d) if radius is None else float(radius)
    norm = torch.linalg.vector_norm(h, dim=-1)
    return (norm - r).square().mean() / d


class _GateState:
    """What one gated output needs in backward: radius, row norms, the penalty's upstream grad."""

    __slots__ = ("r", "norm", "weight")

    def __init__(self, r: float, norm: torch.Tensor) -> None:
        self.r, self.norm, self.weight = r, norm, None


class _RadialGate(torch.autograd.Function):
    """Identity in forward; in backward it adds the penalty's gradient for this h to the
    gradient arriving from downstream, in one fused ``addcmul``.

    Autograd's plain path computes the penalty's (M, d) gradient in a buffer of its own
    and then adds it to the downstream one: two full passes and a large allocation
    more, which on the paper MLP cost several times the penalty's arithmetic.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, state: _GateState) -> torch.Tensor:
        ctx.state = state
        ctx.save_for_backward(h)
        return h.view_as(h)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        st = ctx.state
        weight, st.weight = st.weight, None
        if weight is None:  # the penalty was not part of this backward pass
            return grad, None
        (h,) = ctx.saved_tensors
        # under create_graph, rebuild the norm from h so that second derivatives are exact
        norm = torch.linalg.vector_norm(h, dim=-1) if torch.is_grad_enabled() else st.norm
        d, m = h.shape[-1], norm.numel()
        coef = (weight * (2.0 / (d * m))) * (norm - st.r) / norm.clamp_min(torch.finfo(norm.dtype).tiny)
        return torch.addcmul(grad, h, coef.unsqueeze(-1)), None


class _PenaltyNode(torch.autograd.Function):
    """The penalty's value. Every gated output is an input, so autograd must run this
    node's backward -- which hands its upstream gradient to the gates -- before any gate's."""

    @staticmethod
    def forward(ctx, value: torch.Tensor, states: list, lam: float, *gated: torch.Tensor) -> torch.Tensor:
        ctx.states, ctx.lam, ctx.n = states, lam, len(gated)
        return value.clone()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        for st in ctx.states:
            w = grad * ctx.lam
            st.weight = w if st.weight is None else st.weight + w
        return (None, None, None, *([None] * ctx.n))


def _first_tensor(out):
    """The tensor a hook acts on: the output itself, or the first element of a tuple."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(
        f"RadialSuppression: a hooked module returned {type(out).__name__}; "
        "expected a Tensor or a tuple whose first element is a Tensor"
    )


class RadialSuppression:
    """Forward hooks that apply radial suppression to named sub-modules.

    Args:
        model: any ``nn.Module``.
        modules: names as in ``model.named_modules()``; the output of each (or the
            first tensor of a tuple output) is one batch of hidden vectors h.
        lam: penalty weight; ``penalty()`` returns ``lam * sum of radial_penalty``.
        radius: absolute radius r. ``None`` means ``radius_scale * sqrt(d)``.
        radius_scale: the multiple c of sqrt(d) used when ``radius`` is None.
        mode: ``"soft"`` adds the penalty; ``"project"`` replaces each hooked
            output by ``r * h / ||h||`` (the hard lambda -> infinity ablation), in
            which case ``penalty()`` is zero.

    The hooks keep only the latest forward's outputs (a pre-hook on ``model``
    clears them when a new forward starts), so no graph survives into the next
    step; outputs produced under ``torch.no_grad()`` carry no graph at all.

    Speed: in soft mode each hooked output passes through an identity "gate" whose
    backward adds the penalty's gradient to the downstream one in a single fused
    pass. Parameter gradients are exactly those of the plain formula (tested to
    second order); the one visible difference is that ``autograd.grad(loss, h)`` at
    a hooked output does not contain that site's own penalty term (it is added
    upstream of the gate). Code that needs it uses ``with rs.unfused(): ...``.
    """

    def __init__(
        self,
        model: nn.Module,
        modules: Iterable[str],
        lam: float,
        radius: float | None = None,
        radius_scale: float = 1.0,
        mode: Mode = "soft",
    ) -> None:
        names = list(modules)
        if mode not in ("soft", "project"):
            raise ValueError(f"mode must be 'soft' or 'project', got {mode!r}")
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        if radius is not None and radius <= 0:
            raise ValueError(f"radius must be > 0, got {radius}")
        if radius_scale <= 0:
            raise ValueError(f"radius_scale must be > 0, got {radius_scale}")
        if not names:
            raise ValueError("modules must name at least one sub-module")
        available = dict(model.named_modules())
        missing = [n for n in names if n not in available]
        if missing:
            raise ValueError(
                f"unknown module name(s) {missing}; available: {sorted(k for k in available if k)}"
            )
        self.model = model
        self.names = names
        self.lam = float(lam)
        self.radius = radius
        self.radius_scale = float(radius_scale)
        self.mode: Mode = mode
        # name -> list of hidden tensors seen in the latest forward (a module may
        # be called more than once per forward, e.g. with shared weights).
        self._seen: dict[str, list[torch.Tensor]] = {n: [] for n in names}
        # soft mode: (state, gated output) per hooked call, and the raw outputs left ungated
        self._gated: list[tuple[_GateState, torch.Tensor]] = []
        self._ungated: list[torch.Tensor] = []
        self._fuse = True
        self._handles = [model.register_forward_pre_hook(self._clear)]
        for n in names:
            self._handles.append(available[n].register_forward_hook(self._make_hook(n)))

    # -- hooks ---------------------------------------------------------------
    def _clear(self, module, args) -> None:
        for lst in self._seen.values():
            lst.clear()
        self._gated.clear()
        self._ungated.clear()

    def radius_for(self, d: int) -> float:
        """The target radius for a hidden size d: ``radius``, else ``radius_scale * sqrt(d)``."""
        return self.radius if self.radius is not None else self.radius_scale * math.sqrt(d)

    def _make_hook(self, name: str):
        def hook(module, args, out):
            h = _first_tensor(out)
            self._seen[name].append(h)
            r = self.radius_for(h.shape[-1])
            if self.mode == "project":
                # clamp_min keeps an all-zero vector finite instead of NaN.
                new = h * (r / torch.linalg.vector_norm(h, dim=-1, keepdim=True).clamp_min(1e-12))
            elif self._fuse and self.lam > 0 and torch.is_grad_enabled() and h.requires_grad:
                with torch.no_grad():
                    state = _GateState(r, torch.linalg.vector_norm(h, dim=-1))
                new = _RadialGate.apply(h, state)
                self._gated.append((state, new))
            else:
                self._ungated.append(h)
                return None
            if isinstance(out, torch.Tensor):
                return new
            return type(out)([new, *out[1:]]) if isinstance(out, list) else (new, *out[1:])

        return hook

    # -- queries -------------------------------------------------------------
    def _tensors(self) -> list[torch.Tensor]:
        tensors = [h for lst in self._seen.values() for h in lst]
        if not tensors:
            raise RuntimeError("RadialSuppression: no hooked output yet; run a forward pass first")
        return tensors

    def penalty_sum(self) -> torch.Tensor:
        """Unweighted ``sum of radial_penalty`` over the hooked outputs of the latest forward."""
        return sum(radial_penalty(h, self.radius_for(h.shape[-1])) for h in self._tensors())

    def penalty(self) -> torch.Tensor:
        """``lam * penalty_sum()``: the term to add to the loss (zero in project mode).

        Its value and gradient are those of ``lam * sum of radial_penalty(h)``; outputs
        hooked with autograd on are differentiated through their fused gates.
        """
        first = self._tensors()[0]
        if self.mode == "project" or self.lam == 0.0:
            return first.new_zeros(())
        total = first.new_zeros(())
        if self._gated:
            states = [st for st, _ in self._gated]
            with torch.no_grad():
                value = self.lam * sum((st.norm - st.r).square().mean() / g.shape[-1] for st, g in self._gated)
            total = _PenaltyNode.apply(value, states, self.lam, *(g for _, g in self._gated))
        for h in self._ungated:
            total = total + self.lam * radial_penalty(h, self.radius_for(h.shape[-1]))
        return total

    @contextmanager
    def unfused(self):
        """Inside, hooked outputs are not gated: ``penalty()`` is plain autograd on the raw
        outputs, so a gradient taken at a hooked output includes the penalty's own term
        (the diagnostics need that; training does not)."""
        before, self._fuse = self._fuse, False
        try:
            yield self
        finally:
            self._fuse = before

    def radii(self) -> dict[str, float]:
        """Mean ``||h||`` per hooked module in the latest forward (before any projection)."""
        out = {}
        with torch.no_grad():
            for name, lst in self._seen.items():
                if lst:
                    norms = [torch.linalg.vector_norm(h.detach(), dim=-1).mean() for h in lst]
                    out[name] = float(torch.stack(norms).mean())
        return out

    def hidden(self) -> dict[str, list[torch.Tensor]]:
        """The hooked outputs of the latest forward, by module name (for diagnostics)."""
        return {k: list(v) for k, v in self._seen.items()}

    # -- lifetime ------------------------------------------------------------
    def remove(self) -> None:
        """Detach every hook and drop stored outputs; the model is as before."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self._clear(None, None)

    def __enter__(self) -> "RadialSuppression":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        r = self.radius if self.radius is not None else f"{self.radius_scale}*sqrt(d)"
        return f"RadialSuppression(modules={self.names}, lam={self.lam}, radius={r}, mode={self.mode!r})"
