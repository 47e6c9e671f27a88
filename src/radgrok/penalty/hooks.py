"""``RadialSuppression``: forward hooks that penalise (or project) named sub-modules' outputs."""

from __future__ import annotations

import math
from typing import Iterable, cast

import torch
from torch import nn

from .capture import Capture
from .readings import Mode, NormOver, Reduce, SumRanks, check_reading, norms, project, radial_penalty

__all__ = ["RadialSuppression", "rank_sum"]


def rank_sum() -> SumRanks | None:
    """A differentiable sum over the default process group when one with more than one process is
    initialised (``torch.distributed.nn.functional.all_reduce``), else None."""
    if not torch.distributed.is_available() or not torch.distributed.is_initialized():
        return None
    if torch.distributed.get_world_size() < 2:
        return None
    from torch.distributed.nn.functional import all_reduce  # imported only where a group exists

    return all_reduce


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
        global_batch: under a ``torch.distributed`` group of more than one process (DDP), the
            penalty of the global batch (see Compatibility in the docs), so every process must
            call ``penalty()`` (and, under ``norm_over="batch"``, project-mode forwards)
            together; ``False`` takes each process's own rows only.

    Plain autograd throughout: a soft-mode forward is unchanged and the penalty is ``radial_penalty``
    on a copy of each hooked output (safe from in-place ops after the site), so a gradient read at a
    hooked output includes the penalty's term, and it works under ``torch.func``, ``torch.compile``,
    autocast, activation checkpointing and double backward (``tests/test_penalty_contract.py``).
    Only the latest forward's outputs are kept, and outputs recomputed after ``penalty()``
    (activation checkpointing) are not added again.
    """

    def __init__(self, model: nn.Module, modules: Iterable[str], lam: float, radius: float | None = None,
                 radius_scale: float = 1.0, mode: Mode = "soft", norm_over: NormOver = "example",
                 reduce: Reduce = "mean", global_batch: bool = True) -> None:
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
        self.model = model
        self.names = list(modules)
        self.lam = float(lam)
        self.radius = radius
        self.radius_scale = float(radius_scale)
        self.mode: Mode = mode
        self.norm_over: NormOver = norm_over
        self.reduce: Reduce = reduce
        self.global_batch = bool(global_batch)
        # soft: a copy of each output (in-place ops after a site cannot reach it); project: the raw
        # output is kept and the projection is what the rest of the network sees
        self.capture = Capture(model, self.names, copy=mode == "soft", per_forward=True,
                               replace=self._project if mode == "project" else None)

    # -- hooks ---------------------------------------------------------------
    def radius_for(self, d: int) -> float:
        """The target radius for a hidden size d: ``radius``, else ``radius_scale * sqrt(d)``."""
        return self.radius if self.radius is not None else self.radius_scale * math.sqrt(d)

    def _sum_ranks(self) -> SumRanks | None:
        return rank_sum() if self.global_batch else None

    def _project(self, h: torch.Tensor) -> torch.Tensor:
        return project(h, self.radius_for(h.shape[-1]), self.norm_over, self._sum_ranks())

    # -- queries -------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Whether ``penalty()`` can be non-zero: soft mode with lam > 0."""
        return self.mode == "soft" and self.lam > 0

    def _tensors(self) -> list[torch.Tensor]:
        tensors = self.capture.tensors()
        if not tensors:
            raise RuntimeError("RadialSuppression: no hooked output yet; run a forward pass first")
        return tensors

    def penalty_sum(self) -> torch.Tensor:
        """Unweighted ``sum of radial_penalty`` over the hooked outputs of the latest forward."""
        tensors = self._tensors()
        self.capture.seal()
        sum_ranks = self._sum_ranks()
        terms = [radial_penalty(h, self.radius_for(h.shape[-1]), self.norm_over, self.reduce, sum_ranks)
                 for h in tensors]
        # never empty, so the sum is a tensor (never sum()'s start value 0)
        return cast(torch.Tensor, sum(terms))

    def penalty(self) -> torch.Tensor:
        """``lam * penalty_sum()``: the term to add to the loss (zero in project mode or at lam 0)."""
        if not self.active:
            zero = self._tensors()[0].new_zeros(())
            self.capture.seal()
            return zero
        return self.lam * self.penalty_sum()

    def radii(self) -> dict[str, float]:
        """Mean ``||h||`` per hooked module in the latest forward (before any projection)."""
        with torch.no_grad():
            return {name: float(torch.stack([norms(h.detach()).mean() for h in lst]).mean())
                    for name, lst in self.capture.seen.items() if lst}

    def hidden(self) -> dict[str, list[torch.Tensor]]:
        """The hooked outputs of the latest forward, by module name (for diagnostics)."""
        return {k: list(v) for k, v in self.capture.seen.items()}

    # -- lifetime ------------------------------------------------------------
    def clear(self) -> None:
        """Forget the stored outputs. A forward of ``model`` does this itself; call it when
        you train through a sub-module's forward instead (as a LightningModule often does),
        or the next ``penalty()`` would reach into the previous step's freed graph."""
        self.capture.clear()

    def remove(self) -> None:
        """Detach every hook and drop stored outputs; the model is as before."""
        self.capture.remove()

    def __enter__(self) -> "RadialSuppression":
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def __repr__(self) -> str:
        r = self.radius if self.radius is not None else f"{self.radius_scale}*sqrt(d)"
        return (f"RadialSuppression(modules={self.names}, lam={self.lam}, radius={r}, mode={self.mode!r}, "
                f"norm_over={self.norm_over!r}, reduce={self.reduce!r}, global_batch={self.global_batch})")
