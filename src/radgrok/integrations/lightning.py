"""radgrok in a ``lightning.Trainer`` (Lightning 2.x); usage: docs/site-src/integrations.md.

A callback cannot change the loss, so ``training_step`` adds ``radgrok_penalty(self)`` itself.
Grokfast and ⊥Grad run in ``on_before_optimizer_step``: after accumulation and AMP unscaling, before
Lightning's clipping. Φ̃_rad needs the task loss of a batch: ``task_loss=fn(pl_module, batch)`` or a
``radgrok_task_loss(self, batch)`` method on the module.
"""
from __future__ import annotations

from typing import Any, Callable

import lightning.pytorch as pl
import torch
from torch.optim import Optimizer

from radgrok.integrations.options import RadgrokOptions
from radgrok.integrations.runtime import RadgrokRuntime

__all__ = ["RadgrokLightningCallback", "radgrok_penalty"]

TaskLoss = Callable[[pl.LightningModule, Any], torch.Tensor]


class RadgrokLightningCallback(pl.Callback):
    """Penalty hooks, gradient methods, diagnostics and checkpoint state for ``lightning.Trainer``.

    Args:
        options: what to attach (sites, penalty reading and weight, gradient methods,
            diagnostics schedule: every ``diagnostics_every`` x ``log_every_n_steps`` steps).
        task_loss: ``fn(pl_module, batch) -> loss`` without the penalty, for Φ̃_rad.

    >>> cb = RadgrokLightningCallback(RadgrokOptions(sites=["net.1"], lam=0.05, grokfast="ema"))
    >>> trainer = pl.Trainer(callbacks=[cb], max_steps=10)     # doctest: +SKIP
    """

    def __init__(self, options: RadgrokOptions, task_loss: TaskLoss | None = None) -> None:
        self.runtime = RadgrokRuntime(options)
        self.task_loss = task_loss
        self._diagnosed_step = -1

    # -- lifetime -------------------------------------------------------------
    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit" and not self.runtime.attached:
            # no optimizer here: Lightning builds it later, and calls on_before_optimizer_step for us
            self.runtime.attach(pl_module)
            self._diagnosed_step = -1

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage == "fit":
            self.runtime.detach()

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        # a failed fit must not leave the hooks on the module
        self.runtime.detach()

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        # training_step may call a sub-module (self.net(x)) rather than pl_module itself, so the
        # hooks' own per-forward reset never fires: reset here, once per batch
        self.runtime.new_batch()

    # -- gradients ------------------------------------------------------------
    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                                 optimizer: Optimizer) -> None:
        self.runtime.before_optimizer_step(optimizer)

    # -- logging --------------------------------------------------------------
    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        pen = self.runtime.pop_penalty_mean()
        if pen is not None:
            pl_module.log("radgrok/penalty", pen, on_step=True, on_epoch=False)
        # set by Lightning's logger connector at run time (0 under barebones: no logging at all)
        every = self.runtime.options.diagnostics_every * int(getattr(trainer, "log_every_n_steps", 50))
        step = trainer.global_step
        # once per optimizer step, even when several micro-batches end at the same step
        if not every or step % every != 0 or step == self._diagnosed_step:
            return
        self._diagnosed_step = step
        fn = self.task_loss
        if fn is None and callable(getattr(pl_module, "radgrok_task_loss", None)):
            fn = type(pl_module).radgrok_task_loss  # type: ignore[attr-defined]
        loss = (lambda: fn(pl_module, batch)) if fn is not None else None
        for key, value in self.runtime.diagnostics(pl_module, loss).items():
            pl_module.log(key, value, on_step=True, on_epoch=False)

    # -- checkpoints ----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return self.runtime.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.runtime.load_state_dict(state_dict)


def radgrok_penalty(pl_module: pl.LightningModule) -> torch.Tensor:
    """The penalty of the latest forward from the radgrok callback of ``pl_module``'s trainer.

    Zero (on the module's device) when the module is not attached to a trainer or the
    trainer has no ``RadgrokLightningCallback``.

    >>> import torch
    >>> class M(pl.LightningModule):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = torch.nn.Parameter(torch.ones(1))
    >>> float(radgrok_penalty(M()))
    0.0
    """
    trainer = getattr(pl_module, "_trainer", None)
    like = next(pl_module.parameters(), None)
    for cb in getattr(trainer, "callbacks", None) or []:
        if isinstance(cb, RadgrokLightningCallback) and cb.runtime.attached:
            return cb.runtime.penalty(like=like)
    return like.new_zeros(()) if like is not None else torch.zeros(())
