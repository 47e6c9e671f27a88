"""The fused backward of ``RadialSuppression``'s soft mode.

Each hooked output passes through an identity ``RadialGate``; one ``PenaltyNode`` carries the
penalty's value and hands its upstream gradient to the gates, whose backward adds the penalty's
gradient for their h to the one arriving from downstream in a single ``addcmul``: in place when
nothing else holds the incoming gradient, else into a buffer the site keeps between steps.
Parameter gradients are those of the plain formula, to second order.
"""

from __future__ import annotations

import sys

import torch

from .readings import NormOver, Reduce, divisor, norms
from .relu_kernel import relu_gate

__all__ = ["GateState", "gate_norms", "RadialGate", "ReluGate", "PenaltyNode", "scratch", "add_term", "alone",
           "coefficient"]


class GateState:
    """What one gated output needs in backward: radius, row norms, the penalty's upstream grad,
    and where its site keeps the gradient buffer it reuses from step to step."""

    __slots__ = ("r", "norm", "weight", "norm_over", "reduce", "pool", "key")

    def __init__(self, r: float, norm: torch.Tensor, norm_over: NormOver, reduce: Reduce,
                 pool: dict[tuple[str, int], torch.Tensor], key: tuple[str, int]) -> None:
        self.r, self.norm, self.weight = r, norm, None
        self.norm_over, self.reduce = norm_over, reduce
        self.pool, self.key = pool, key

    def take_weight(self) -> torch.Tensor | None:
        """The penalty's upstream gradient for this backward pass, once (None: the penalty was
        not part of it); a gate's backward calls this first."""
        weight, self.weight = self.weight, None
        return weight


def gate_norms(h: torch.Tensor, norm_over: NormOver) -> torch.Tensor:
    """``readings.norms(h, norm_over)`` for a gate's forward, where no gradient flows through it.

    The batch reading's Frobenius norm is taken as the norm of the row norms: on this CPU's two
    threads a reduction of a whole (M, d) block ran at half the speed of the row reduction (0.58
    vs 0.35 ms at 4,704 x 512, ``benchmarks/profile_penalty.py``). Equal up to rounding; not
    differentiable at an all-zero row, hence not the definition ``readings.norms`` gives autograd.
    """
    with torch.no_grad():
        rows = torch.linalg.vector_norm(h, dim=-1)
        return rows if norm_over == "example" else torch.linalg.vector_norm(rows)


_storage_uses = getattr(torch._C, "_storage_Use_Count", None)
_COUNTABLE = _storage_uses is not None and hasattr(torch.Tensor, "_use_count")


def _holders(t: torch.Tensor) -> tuple[int, int, int]:
    """Holders of t: its Python object, its tensor (autograd's buffers of other branches hold the
    tensor itself) and its storage (views). Compared only with a baseline taken by a caller at the
    same depth, since the Python count includes the caller's own references."""
    # called only where _COUNTABLE (else both baselines are None and nothing is reused or written)
    return sys.getrefcount(t), t._use_count(), _storage_uses(t.untyped_storage()._cdata)  # type: ignore[attr-defined,misc]


def _alone_baseline() -> tuple[int, int, int] | None:
    """``_holders`` of a tensor held by one local name only, as ``scratch`` holds a buffer."""
    if not _COUNTABLE:
        return None
    t = torch.empty(1)
    return _holders(t)


def _grad_alone_baseline() -> tuple[int, int, int] | None:
    """``_holders`` of a gradient that nobody else holds, as a custom backward sees it (the one a
    matrix product hands back for its input), taken at the depth ``add_term`` takes it."""
    if not _COUNTABLE:
        return None
    seen: list[tuple[int, int, int]] = []

    def probe(grad: torch.Tensor) -> torch.Tensor:
        seen.append(_holders(grad))
        return grad

    class Probe(torch.autograd.Function):
        @staticmethod
        def forward(ctx, h: torch.Tensor) -> torch.Tensor:
            return h.view_as(h)

        @staticmethod
        def backward(ctx, grad: torch.Tensor):
            return probe(grad)

    with torch.enable_grad():
        h = torch.ones(2, 2, requires_grad=True)
        (Probe.apply(h * 1.0) @ torch.ones(2, 2)).sum().backward()
    return seen[0] if len(seen) == 1 else None


_ALONE = _alone_baseline()
_GRAD_ALONE = _grad_alone_baseline()


def scratch(pool: dict[tuple[str, int], torch.Tensor], key: tuple[str, int], like: torch.Tensor) -> torch.Tensor:
    """The buffer a gate writes its gradient into: the one its site used at the previous step
    when nothing else holds it any more, else a new one.

    A fresh (M, d) buffer every step costs more than the addcmul that fills it: the allocator
    hands large blocks back to the OS, and the next step page-faults them in again. Reuse is
    safe only if no one kept last step's gradient (a tensor hook, a view, autograd's own
    accumulation): the same rule autograd applies before it writes into a gradient in place,
    checked on the tensor and its storage. Where torch cannot tell (no use counts), every step
    allocates."""
    buf = pool.pop(key, None)
    if (buf is None or _ALONE is None or _holders(buf) != _ALONE or buf.shape != like.shape
            or buf.stride() != like.stride() or buf.dtype != like.dtype or buf.device != like.device):
        buf = torch.empty_like(like)
    pool[key] = buf
    return buf


class RadialGate(torch.autograd.Function):
    """Identity in forward; in backward it adds the penalty's gradient for this h to the
    gradient arriving from downstream, in one fused ``addcmul``.

    Autograd's plain path computes the penalty's (M, d) gradient in a buffer of its own
    and then adds it to the downstream one: two full passes and a large allocation
    more, which on the paper MLP cost several times the penalty's arithmetic.

    Where the sum goes is ``add_term``'s decision.
    """

    @staticmethod
    def forward(ctx, h: torch.Tensor, state: GateState) -> torch.Tensor:
        ctx.state = state
        ctx.save_for_backward(h)
        return h.view_as(h)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        st = ctx.state
        weight = st.take_weight()
        if weight is None:  # the penalty was not part of this backward pass
            return grad, None
        (h,) = ctx.saved_tensors
        create_graph = torch.is_grad_enabled()
        coef = coefficient(st, weight, h, create_graph)
        if create_graph:  # a graph of its own: no buffer that the next step overwrites
            return torch.addcmul(grad, h, coef), None
        # into grad itself when nobody else holds it; else the site's buffer (see add_term)
        dst = grad if alone(grad, h) else scratch(st.pool, st.key, grad)
        return add_term(grad, h, coef, dst), None


class ReluGate(torch.autograd.Function):
    """``RadialGate`` for a site whose output goes straight into an ``nn.ReLU``: it stands in
    for the ReLU's own node, and its backward computes the ReLU's input gradient and the
    penalty's term in the one pass the ReLU's backward makes anyway (``relu_kernel``).

    ``apply(z, out, state)``: z is the penalised site output (the ReLU's input), out the
    ReLU's output, detached; the result is out, with a gradient path to z through this node.
    """

    @staticmethod
    def forward(ctx, z: torch.Tensor, out: torch.Tensor, state: GateState) -> torch.Tensor:
        ctx.state = state
        ctx.save_for_backward(z)
        return out.view_as(out)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        st, (z,) = ctx.state, ctx.saved_tensors
        weight = st.take_weight()
        if weight is None:  # the penalty was not part of this backward pass: the ReLU's alone
            return torch.ops.aten.threshold_backward(grad, z, 0), None, None
        create_graph = torch.is_grad_enabled()
        coef = coefficient(st, weight, z, create_graph)
        if create_graph:  # differentiable ops, as RadialGate
            return torch.where(z > 0, grad, torch.zeros_like(grad)) + z * coef, None, None
        dst = grad if alone(grad, z) else scratch(st.pool, st.key, grad)
        return relu_gate(grad, z, coef, dst), None, None


def coefficient(st: GateState, weight: torch.Tensor, h: torch.Tensor, create_graph: bool) -> torch.Tensor:
    """The penalty's gradient is ``coef * h``: ``coef = weight * 2 (||h|| - r) / (d m ||h||)``, one per
    row (example reading; shaped ``h.shape[:-1] + (1,)``, so that it broadcasts over h) or one for
    the whole site (batch reading; 0-d). Under create_graph the norm is rebuilt from h so that
    second derivatives are exact."""
    norm = norms(h, st.norm_over) if create_graph else st.norm
    d, m = h.shape[-1], divisor(norm, st.reduce)
    coef = (weight * (2.0 / (d * m))) * (norm - st.r) / norm.clamp_min(torch.finfo(norm.dtype).tiny)
    return coef.unsqueeze(-1) if st.norm_over == "example" else coef


def alone(grad: torch.Tensor, h: torch.Tensor) -> bool:
    """Whether a backward may write into ``grad`` in place: nobody else holds it (autograd's own
    rule before it accumulates into a gradient in place: one user of the tensor and of its
    storage, and no Python reference beyond the call's own, compared with a gradient known to be
    alone, ``_GRAD_ALONE``), and it is laid out as h. Call it from the backward itself: the
    Python count is compared at that depth."""
    return (_GRAD_ALONE is not None and _holders(grad) == _GRAD_ALONE and type(grad) is torch.Tensor
            and grad.is_contiguous() and grad.shape == h.shape and grad.dtype == h.dtype)


def add_term(grad: torch.Tensor, h: torch.Tensor, coef: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """``grad + coef * h`` written into ``dst``: ``grad`` itself when nobody else holds it
    (``alone``), else the site's buffer of the previous step where that is safe (``scratch``),
    else a new one. A gradient can be shared: a residual ``x + f(x)`` hands one tensor to both
    branches, a hook may keep it; then it is left as it came."""
    return grad.addcmul_(h, coef) if dst is grad else torch.addcmul(grad, h, coef, out=dst)


class PenaltyNode(torch.autograd.Function):
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
