"""``RadialSuppression``: forward hooks that penalise (or project) named sub-modules' outputs."""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterable, cast

import torch
from torch import nn

from .gate import GateState, PenaltyNode, RadialGate, ReluGate, gate_norms
from .readings import Mode, NormOver, Reduce, check_reading, norms, penalty_value, project, radial_penalty

__all__ = ["RadialSuppression", "first_tensor"]


def first_tensor(out) -> torch.Tensor:
    """The hidden vectors a module's output stands for: the output itself, or the first element of
    a tuple (as attention modules return). Every hook in radgrok reads outputs through this."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(
        f"a hooked module returned {type(out).__name__}; expected a Tensor or a tuple whose first element is a Tensor"
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
    add), see them unchanged. A hooked output that goes straight into an ``nn.ReLU``
    module skips even that add: its ReLU's backward and the penalty's term are one
    compiled pass (``gate.ReluGate``, ``relu_kernel``), bit for bit the same gradients.
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
        self._gated: list[tuple[GateState, torch.Tensor]] = []
        self._ungated: list[torch.Tensor] = []
        self._scratch: dict[tuple[str, int], torch.Tensor] = {}  # (name, call) -> last step's gradient buffer
        # soft mode, by id of the gated output: (gated output, raw output, state), for _relu_hook
        self._relu_inputs: dict[int, tuple[torch.Tensor, torch.Tensor, GateState]] = {}
        self._fuse = True
        self._handles = [model.register_forward_pre_hook(self._clear)]
        for n in names:
            self._handles.append(available[n].register_forward_hook(self._make_hook(n)))
        if mode == "soft":  # every (not in-place) ReLU may take a hooked output straight in: see _relu_hook
            for m in model.modules():
                if type(m) is nn.ReLU and not m.inplace:
                    self._handles.append(m.register_forward_hook(self._relu_hook))

    # -- hooks ---------------------------------------------------------------
    def _clear(self, module, args) -> None:
        for lst in self._seen.values():
            lst.clear()
        self._gated.clear()
        self._ungated.clear()
        self._relu_inputs.clear()

    def radius_for(self, d: int) -> float:
        """The target radius for a hidden size d: ``radius``, else ``radius_scale * sqrt(d)``."""
        return self.radius if self.radius is not None else self.radius_scale * math.sqrt(d)

    def _make_hook(self, name: str):
        def hook(module, args, out):
            h = first_tensor(out)
            self._seen[name].append(h)
            r = self.radius_for(h.shape[-1])
            if self.mode == "project":
                new = project(h, r, self.norm_over)
            elif self._fuse and self.lam > 0 and torch.is_grad_enabled() and h.requires_grad:
                state = GateState(r, gate_norms(h, self.norm_over), self.norm_over, self.reduce,
                                  self._scratch, (name, len(self._seen[name])))
                new = RadialGate.apply(h, state)
                self._gated.append((state, new))
                self._relu_inputs[id(new)] = (new, h, state)
            else:
                self._ungated.append(h)
                return None
            if isinstance(out, torch.Tensor):
                return new
            return type(out)([new, *out[1:]]) if isinstance(out, list) else (new, *out[1:])

        return hook

    def _relu_hook(self, module, args, out):
        """An ``nn.ReLU`` that takes a gated output: its result passes through a ``ReluGate`` on
        the raw output instead, whose backward does the ReLU's and the penalty's work in one pass.

        The ``ReluGate`` gets the penalty's weight in place of that output's ``RadialGate``, which
        stays in the graph for any other use of the output and passes gradients through
        unchanged; the ReLU's own node is left out. Value and gradient are those of the plain
        formula whichever path is taken. Not taken when a tensor hook or ``retain_grad`` watches
        the gated output: its gradient would no longer pass through it."""
        # an entry holds its tensor, so no other live tensor can share its id
        entry = self._relu_inputs.pop(id(args[0]), None) if args else None
        if entry is None or not isinstance(out, torch.Tensor):
            return None
        gated, raw, st = entry
        if gated.retains_grad or getattr(gated, "_backward_hooks", None):
            return None  # someone watches the gated output's gradient: keep the path through it
        fresh = GateState(st.r, st.norm, st.norm_over, st.reduce, st.pool, st.key)
        new = ReluGate.apply(raw, out.detach(), fresh)
        self._gated = [(fresh, new) if g is gated else (old, g) for old, g in self._gated]
        return new

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
                value = self.lam * sum(penalty_value(st.norm, st.r, g.shape[-1], st.reduce) for st, g in self._gated)
            total = PenaltyNode.apply(value, states, self.lam, *(g for _, g in self._gated))
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
                    out[name] = float(torch.stack([norms(h.detach()).mean() for h in lst]).mean())
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
