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
from typing import Iterable, Literal

import torch
from torch import nn

__all__ = ["radial_penalty", "RadialSuppression"]

Mode = Literal["soft", "project"]


def radial_penalty(h: torch.Tensor, radius: float | None = None) -> torch.Tensor:
    """``mean over leading dims of (1/d)(||h|| - r)^2``, norm over the last dim.

    ``radius`` defaults to ``sqrt(d)`` with ``d = h.shape[-1]``. Returns a 0-d
    tensor of h's dtype.
    """
    d = h.shape[-1]
    r = math.sqrt(d) if radius is None else float(radius)
    norm = torch.linalg.vector_norm(h, dim=-1)
    return (norm - r).square().mean() / d


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
        self._handles = [model.register_forward_pre_hook(self._clear)]
        for n in names:
            self._handles.append(available[n].register_forward_hook(self._make_hook(n)))

    # -- hooks ---------------------------------------------------------------
    def _clear(self, module, args) -> None:
        for lst in self._seen.values():
            lst.clear()

    def _radius_for(self, d: int) -> float:
        return self.radius if self.radius is not None else self.radius_scale * math.sqrt(d)

    def _make_hook(self, name: str):
        def hook(module, args, out):
            h = _first_tensor(out)
            self._seen[name].append(h)
            if self.mode != "project":
                return None
            r = self._radius_for(h.shape[-1])
            # clamp_min keeps an all-zero vector finite instead of NaN.
            projected = h * (r / torch.linalg.vector_norm(h, dim=-1, keepdim=True).clamp_min(1e-12))
            if isinstance(out, torch.Tensor):
                return projected
            return type(out)([projected, *out[1:]]) if isinstance(out, list) else (projected, *out[1:])

        return hook

    # -- queries -------------------------------------------------------------
    def _tensors(self) -> list[torch.Tensor]:
        tensors = [h for lst in self._seen.values() for h in lst]
        if not tensors:
            raise RuntimeError("RadialSuppression: no hooked output yet; run a forward pass first")
        return tensors

    def penalty_sum(self) -> torch.Tensor:
        """Unweighted ``sum of radial_penalty`` over the hooked outputs of the latest forward."""
        return sum(radial_penalty(h, self._radius_for(h.shape[-1])) for h in self._tensors())

    def penalty(self) -> torch.Tensor:
        """``lam * penalty_sum()``: the term to add to the loss (zero in project mode)."""
        if self.mode == "project" or self.lam == 0.0:
            return self._tensors()[0].new_zeros(())
        return self.lam * self.penalty_sum()

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
