"""Radial suppression: keep hidden vectors near the sphere of radius sqrt(d).

The paper prints, for a hidden vector h in R^d,

    L_norm = (1/d) * (||h||_2 - r)^2,        r = sqrt(d) by default,

and never says what ||h|| runs over. Each literal reading is an option here
(``norm_over`` and ``reduce``), because they differ in strength by the batch size
and in the radius each example ends at:

* ``norm_over="example", reduce="mean"`` -- one norm per example (per token), the
  mean over every leading dimension. Gradient w.r.t. one h of a batch of M:
  ``(2/(d*M)) * (||h|| - r)/||h|| * h``.
* ``norm_over="example", reduce="sum"`` -- the same terms summed: M times stronger,
  ``(2/d) * (||h|| - r)/||h|| * h``.
* ``norm_over="batch"`` -- one Frobenius norm of the whole site ``H`` (all leading
  positions x d), what ``torch.norm(h)`` computes with no ``dim``: one scalar per
  site. Gradient ``(2/d) * (||H||_F - r)/||H||_F * h`` for every row; at rest the
  rows sit near ``r / sqrt(M)``, not r.

``radius=0`` turns every reading into activation L2, ``||h||^2 / d`` (the
shrinkage control: no sphere). Nothing is detached: the penalty reaches every
upstream weight.

Two ways to use it:

* ``radial_penalty(h)`` -- a pure function, for code that already has h in hand;
* ``RadialSuppression(model, ["layer.name", ...], lam)`` -- forward hooks on named
  sub-modules of any ``nn.Module``; add ``rs.penalty()`` to the loss. Nothing in
  the model changes.
"""

from __future__ import annotations

import math
import sys
from contextlib import contextmanager
from typing import Iterable, Literal, cast

import torch
from torch import nn

__all__ = ["radial_penalty", "RadialSuppression", "NORM_OVER", "REDUCE"]

Mode = Literal["soft", "project"]
NormOver = Literal["example", "batch"]
Reduce = Literal["mean", "sum"]
NORM_OVER: tuple[str, ...] = ("example", "batch")
REDUCE: tuple[str, ...] = ("mean", "sum")


def check_reading(norm_over: str, reduce: str) -> None:
    """Raise ValueError (one line) unless (norm_over, reduce) is a reading this module knows."""
    if norm_over not in NORM_OVER:
        raise ValueError(f"norm_over must be one of {list(NORM_OVER)}, got {norm_over!r}")
    if reduce not in REDUCE:
        raise ValueError(f"reduce must be one of {list(REDUCE)}, got {reduce!r}")
    if norm_over == "batch" and reduce != "mean":
        raise ValueError(f"reduce must be 'mean' when norm_over is 'batch' (one norm per site, nothing to "
                         f"reduce), got {reduce!r}")


def norms(h: torch.Tensor, norm_over: NormOver = "example") -> torch.Tensor:
    """The norms the penalty acts on: one per example (shape ``h.shape[:-1]``) or one per site (0-d)."""
    return torch.linalg.vector_norm(h, dim=-1) if norm_over == "example" else torch.linalg.vector_norm(h)


def _divisor(norm: torch.Tensor, reduce: Reduce) -> int:
    """What the summed squared deviations are divided by besides d: the count under 'mean'."""
    return norm.numel() if reduce == "mean" else 1


def _value(norm: torch.Tensor, r: float, d: int, reduce: Reduce) -> torch.Tensor:
    return (norm - r).square().sum() / (d * _divisor(norm, reduce))


def radial_penalty(h: torch.Tensor, radius: float | None = None, norm_over: NormOver = "example",
                   reduce: Reduce = "mean") -> torch.Tensor:
    """``(1/d)(||h|| - r)^2`` under one reading of ||h||; d = ``h.shape[-1]``.

    ``norm_over="example"``: one norm per row over the last dim, then the ``mean`` (or
    ``sum``) over every leading dim. ``norm_over="batch"``: one Frobenius norm of all of
    h. ``radius`` defaults to ``sqrt(d)``; ``radius=0`` is activation L2 (``||h||^2/d``).
    Returns a 0-d tensor of h's dtype. Plain tensor ops, so it works under
    ``torch.func`` transforms (vmap, grad) and to any order of differentiation.

    >>> import torch
    >>> h = torch.full((4, 16), 2.0)            # every row has norm 8, sqrt(d) = 4
    >>> float(radial_penalty(h))                # (8 - 4)^2 / 16
    1.0
    >>> float(radial_penalty(h, reduce="sum"))  # 4 rows
    4.0
    >>> float(radial_penalty(h, norm_over="batch"))  # ||H||_F = 16: (16 - 4)^2 / 16
    9.0
    """
    check_reading(norm_over, reduce)
    d = h.shape[-1]
    r = math.sqrt(d) if radius is None else float(radius)
    return _value(norms(h, norm_over), r, d, reduce)


def project(h: torch.Tensor, r: float, norm_over: NormOver = "example") -> torch.Tensor:
    """The hard limit: ``r * h / ||h||`` per row, or the whole site scaled to ``||H||_F = r``.

    clamp_min keeps an all-zero input finite instead of NaN.
    """
    keep = norm_over == "example"
    n = torch.linalg.vector_norm(h, dim=-1, keepdim=True) if keep else torch.linalg.vector_norm(h)
    return h * (r / n.clamp_min(1e-12))


class _GateState:
    """What one gated output needs in backward: radius, row norms, the penalty's upstream grad,
    and where its site keeps the gradient buffer it reuses from step to step."""

    __slots__ = ("r", "norm", "weight", "norm_over", "reduce", "pool", "key")

    def __init__(self, r: float, norm: torch.Tensor, norm_over: NormOver, reduce: Reduce,
                 pool: dict[tuple[str, int], torch.Tensor], key: tuple[str, int]) -> None:
        self.r, self.norm, self.weight = r, norm, None
        self.norm_over, self.reduce = norm_over, reduce
        self.pool, self.key = pool, key


_storage_uses = getattr(torch._C, "_storage_Use_Count", None)


def _uses(t: torch.Tensor) -> tuple[int, int]:
    """References to t's Python object and to its storage (views, C++ holders)."""
    # called only where _storage_uses exists (else _ALONE is None and nothing is reused)
    return sys.getrefcount(t), _storage_uses(t.untyped_storage()._cdata)  # type: ignore[misc]


def _alone_baseline() -> tuple[int, int] | None:
    """``_uses`` of a tensor held by one local name only, as in ``_scratch``; None where torch
    cannot count a storage's users (then nothing is reused)."""
    if _storage_uses is None:
        return None
    t = torch.empty(1)
    return _uses(t)


_ALONE = _alone_baseline()


def _grad_uses(grad: torch.Tensor) -> tuple[int, int, int]:
    """Holders of an incoming gradient: its Python object, its tensor (autograd's buffers of other
    branches hold the tensor itself) and its storage (views)."""
    # called only where both counts exist (else _GRAD_ALONE is None and nothing is written in place)
    return sys.getrefcount(grad), grad._use_count(), _storage_uses(grad.untyped_storage()._cdata)  # type: ignore[attr-defined,misc]


class _Probe(torch.autograd.Function):
    """Records ``_grad_uses`` of the gradient it receives, called as the gate's backward calls it."""

    seen: list[tuple[int, int, int]] = []

    @staticmethod
    def forward(ctx, h: torch.Tensor) -> torch.Tensor:
        return h.view_as(h)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        _Probe.seen.append(_grad_uses(grad))
        return grad


def _grad_alone_baseline() -> tuple[int, int, int] | None:
    """``_grad_uses`` of a gradient that nobody else holds, as a custom backward sees it: the one a
    matrix product hands back for its input. None where torch cannot count the users (then the gate
    never writes into the incoming gradient)."""
    if _storage_uses is None or not hasattr(torch.Tensor, "_use_count"):
        return None
    with torch.enable_grad():
        h = torch.ones(2, 2, requires_grad=True)
        (_Probe.apply(h * 1.0) @ torch.ones(2, 2)).sum().backward()
    seen, _Probe.seen = _Probe.seen, []
    return seen[0] if len(seen) == 1 else None


_GRAD_ALONE = _grad_alone_baseline()


def _scratch(pool: dict[tuple[str, int], torch.Tensor], key: tuple[str, int], like: torch.Tensor) -> torch.Tensor:
    """The buffer a gate writes its gradient into: the one its site used at the previous step
    when nothing else holds it any more, else a new one.

    A fresh (M, d) buffer every step costs more than the addcmul that fills it: the allocator
    hands large blocks back to the OS, and the next step page-faults them in again. Reuse is
    safe only if no one kept last step's gradient (a tensor hook, a view, autograd's own
    accumulation): the same rule autograd applies before it writes into a gradient in place,
    checked on both the tensor and its storage. Where torch cannot tell (no storage use
    count), every step allocates."""
    buf = pool.pop(key, None)
    if (buf is None or _ALONE is None or _uses(buf) != _ALONE or buf.shape != like.shape
            or buf.stride() != like.stride() or buf.dtype != like.dtype or buf.device != like.device):
        buf = torch.empty_like(like)
    pool[key] = buf
    return buf


class _RadialGate(torch.autograd.Function):
    """Identity in forward; in backward it adds the penalty's gradient for this h to the
    gradient arriving from downstream, in one fused ``addcmul``.

    Autograd's plain path computes the penalty's (M, d) gradient in a buffer of its own
    and then adds it to the downstream one: two full passes and a large allocation
    more, which on the paper MLP cost several times the penalty's arithmetic.

    Where the result goes: into the incoming ``grad`` itself when nobody else holds it (autograd's
    own rule before it accumulates into a gradient in place: one user of the tensor and of its
    storage, and no Python reference beyond the call's own, compared with a gradient known to be
    alone, ``_GRAD_ALONE``), which moves the fewest bytes. A gradient can be shared: a residual
    ``x + f(x)`` hands one tensor to both branches, a hook may keep it. Then the result goes into
    the site's buffer of the previous step where that is safe (``_scratch``), else a new one.
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
        create_graph = torch.is_grad_enabled()
        # under create_graph, rebuild the norm from h so that second derivatives are exact
        norm = norms(h, st.norm_over) if create_graph else st.norm
        d, m = h.shape[-1], _divisor(norm, st.reduce)
        coef = (weight * (2.0 / (d * m))) * (norm - st.r) / norm.clamp_min(torch.finfo(norm.dtype).tiny)
        # one coefficient per row (example reading) or one for the whole site (batch reading)
        coef = coef.unsqueeze(-1) if st.norm_over == "example" else coef
        if create_graph:  # a graph of its own: no buffer that the next step overwrites
            return torch.addcmul(grad, h, coef), None
        if (_GRAD_ALONE is not None and _grad_uses(grad) == _GRAD_ALONE and type(grad) is torch.Tensor
                and grad.is_contiguous() and grad.shape == h.shape and grad.dtype == h.dtype):
            return grad.addcmul_(h, coef), None
        return torch.addcmul(grad, h, coef, out=_scratch(st.pool, st.key, grad)), None


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
        radius: absolute radius r. ``None`` means ``radius_scale * sqrt(d)``; 0 makes
            the penalty activation L2 (``||h||^2 / d``).
        radius_scale: the multiple c of sqrt(d) used when ``radius`` is None.
        mode: ``"soft"`` adds the penalty; ``"project"`` replaces each hooked
            output by ``r * h / ||h||`` (the hard lambda -> infinity ablation), in
            which case ``penalty()`` is zero.
        norm_over: which reading of ||h|| (see the module docstring and
            ``radial_penalty``): ``"example"``, one norm per row, or ``"batch"``, one
            Frobenius norm per hooked output (for a transformer that is examples x
            tokens). A projection under ``"batch"`` scales the whole output to
            ``||H||_F = r``.
        reduce: under ``norm_over="example"``, the ``mean`` or the ``sum`` of the
            per-row terms over the batch.

    The hooks keep only the latest forward's outputs (a pre-hook on ``model``
    clears them when a new forward starts), so no graph survives into the next
    step; outputs produced under ``torch.no_grad()`` carry no graph at all.

    Speed: in soft mode each hooked output passes through an identity "gate" whose
    backward adds the penalty's gradient to the downstream one in a single fused
    pass. Parameter gradients are exactly those of the plain formula (tested to
    second order); the one visible difference is that ``autograd.grad(loss, h)`` at
    a hooked output does not contain that site's own penalty term (it is added
    upstream of the gate). Code that needs it uses ``with rs.unfused(): ...``. The
    gate adds its term into the incoming gradient in place when nothing else holds that
    gradient; otherwise into a buffer its site keeps from step to step (one activation's
    size per hooked output, freed by ``remove()``), itself reused only when nothing else
    holds it. So a hook that keeps gradients, and a branch that shares one (a residual
    add), see them unchanged.
    """

    def __init__(
        self,
        model: nn.Module,
        modules: Iterable[str],
        lam: float,
        radius: float | None = None,
        radius_scale: float = 1.0,
        mode: Mode = "soft",
        norm_over: NormOver = "example",
        reduce: Reduce = "mean",
    ) -> None:
        names = list(modules)
        if mode not in ("soft", "project"):
            raise ValueError(f"mode must be 'soft' or 'project', got {mode!r}")
        check_reading(norm_over, reduce)
        if lam < 0:
            raise ValueError(f"lam must be >= 0, got {lam}")
        if radius is not None and radius < 0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        if radius_scale < 0:
            raise ValueError(f"radius_scale must be >= 0, got {radius_scale}")
        if mode == "project" and (radius == 0 or (radius is None and radius_scale == 0)):
            raise ValueError("radius must be > 0 in project mode (a projection onto radius 0 is no map)")
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
        self.norm_over: NormOver = norm_over
        self.reduce: Reduce = reduce
        # name -> list of hidden tensors seen in the latest forward (a module may
        # be called more than once per forward, e.g. with shared weights).
        self._seen: dict[str, list[torch.Tensor]] = {n: [] for n in names}
        # soft mode: (state, gated output) per hooked call, and the raw outputs left ungated
        self._gated: list[tuple[_GateState, torch.Tensor]] = []
        self._ungated: list[torch.Tensor] = []
        self._scratch: dict[tuple[str, int], torch.Tensor] = {}  # (name, call) -> last step's gradient buffer
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
                new = project(h, r, self.norm_over)
            elif self._fuse and self.lam > 0 and torch.is_grad_enabled() and h.requires_grad:
                with torch.no_grad():
                    state = _GateState(r, norms(h, self.norm_over), self.norm_over, self.reduce,
                                       self._scratch, (name, len(self._seen[name])))
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
    @property
    def active(self) -> bool:
        """Whether ``penalty()`` can be non-zero: soft mode with lam > 0."""
        return self.mode == "soft" and self.lam > 0

    def _tensors(self) -> list[torch.Tensor]:
        tensors = [h for lst in self._seen.values() for h in lst]
        if not tensors:
            raise RuntimeError("RadialSuppression: no hooked output yet; run a forward pass first")
        return tensors

    def penalty_sum(self) -> torch.Tensor:
        """Unweighted ``sum of radial_penalty`` over the hooked outputs of the latest forward."""
        # _tensors() is never empty, so the sum is a tensor (never sum()'s start value 0)
        return cast(torch.Tensor, sum(self._one(h) for h in self._tensors()))

    def _one(self, h: torch.Tensor) -> torch.Tensor:
        return radial_penalty(h, self.radius_for(h.shape[-1]), self.norm_over, self.reduce)

    def penalty(self) -> torch.Tensor:
        """``lam * penalty_sum()``: the term to add to the loss (zero in project mode).

        Its value and gradient are those of ``lam * sum of radial_penalty(h)``; outputs
        hooked with autograd on are differentiated through their fused gates.
        """
        first = self._tensors()[0]
        if not self.active:
            return first.new_zeros(())
        total = first.new_zeros(())
        if self._gated:
            states = [st for st, _ in self._gated]
            with torch.no_grad():
                value = self.lam * sum(_value(st.norm, st.r, g.shape[-1], st.reduce) for st, g in self._gated)
            total = _PenaltyNode.apply(value, states, self.lam, *(g for _, g in self._gated))
        for h in self._ungated:
            total = total + self.lam * self._one(h)
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
    def clear(self) -> None:
        """Forget the stored outputs. A forward of ``model`` does this itself; call it when
        you train through a sub-module's forward instead (as a LightningModule often does),
        or the next ``penalty()`` would reach into the previous step's freed graph."""
        self._clear(None, None)

    def remove(self) -> None:
        """Detach every hook and drop stored outputs; the model is as before."""
        for h in self._handles:
            h.remove()
        self._handles = []
        self._clear(None, None)
        self._scratch.clear()

    def __enter__(self) -> "RadialSuppression":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        r = self.radius if self.radius is not None else f"{self.radius_scale}*sqrt(d)"
        return (f"RadialSuppression(modules={self.names}, lam={self.lam}, radius={r}, mode={self.mode!r}, "
                f"norm_over={self.norm_over!r}, reduce={self.reduce!r})")
