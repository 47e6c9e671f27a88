"""radgrok in a ``transformers.Trainer``, without rewriting the training code.

``RadgrokCallback`` does all a callback can (hooks, gradient methods, logs, checkpoint state);
``RadgrokTrainerMixin`` adds the penalty to the loss in ``compute_loss``, which a callback cannot.
Usage, the ``max_grad_norm`` caveat and resuming: docs/site-src/integrations.md.
"""
from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, get_last_checkpoint

from radgrok.integrations.options import RadgrokOptions
from radgrok.integrations.runtime import RadgrokRuntime

__all__ = ["RadgrokCallback", "RadgrokTrainerMixin", "RadgrokTrainer"]


def _checkpoint_dir(args: TrainingArguments, state: TrainerState) -> str:
    """The folder ``Trainer._save_checkpoint`` writes at this step (outside hyperparameter search)."""
    return os.path.join(args.output_dir or "", f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}")


class RadgrokCallback(TrainerCallback):
    """Penalty hooks, gradient methods, diagnostics and checkpoint state for a ``Trainer``.

    Alone (``Trainer(..., callbacks=[RadgrokCallback(opts)])``) it gives the gradient
    methods, radii and Φ̃_rad; the penalty also needs ``RadgrokTrainerMixin``. Log
    entries reach reporters (TensorBoard, W&B) only if this callback runs before them:
    the mixin puts it first; with a plain ``Trainer`` call
    ``trainer.callback_handler.callbacks.insert(0, cb)`` instead of passing ``callbacks``.

    >>> cb = RadgrokCallback(RadgrokOptions(sites=["transformer.h.*"], lam=0.05))
    >>> cb.runtime.attached          # hooks exist only between train begin and train end
    False
    """

    def __init__(self, options: RadgrokOptions) -> None:
        self.runtime = RadgrokRuntime(options)
        #: checkpoint directory the next ``train()`` resumes from (set by the mixin)
        self.resume_from: str | None = None
        self._logs_seen = 0
        self._inputs: tuple[tuple, dict] | None = None
        self._capture: Any = None

    # -- lifetime -------------------------------------------------------------
    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                       model: nn.Module | None = None, optimizer: Any = None, **kwargs: Any) -> None:
        if model is None:
            raise RuntimeError("RadgrokCallback: the Trainer passed no model to on_train_begin")
        if args.n_gpu > 1:
            # DataParallel replicas run the hooks in threads on one shared store of outputs
            raise ValueError("radgrok does not support torch.nn.DataParallel (n_gpu > 1): launch one process "
                             "per device (torchrun / accelerate launch) instead")
        self.runtime.attach(model, optimizer)
        if state.global_step > 0:
            # resumed: the mixin says from where; a plain Trainer resumes from output_dir's
            # checkpoint of this step, so look there
            where = self.resume_from or _checkpoint_dir(args, state)
            self.runtime.load(where)
        self.resume_from = None
        self._logs_seen = 0
        # keep the latest training batch, to replay it for Φ̃_rad at a logging step
        self._capture = model.register_forward_pre_hook(self._keep_inputs, with_kwargs=True)

    def on_train_end(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                     **kwargs: Any) -> None:
        self.release()

    def release(self) -> None:
        """Remove every hook (penalty, optimizer, input capture); safe to call twice."""
        self.runtime.detach()
        if self._capture is not None:
            self._capture.remove()
            self._capture = None
        self._inputs = None

    def _keep_inputs(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if module.training:
            self._inputs = (args, kwargs)

    # -- checkpoints ----------------------------------------------------------
    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
                **kwargs: Any) -> None:
        # the Trainer has just written this directory (same name rule as Trainer._save_checkpoint)
        folder = _checkpoint_dir(args, state)
        if state.is_world_process_zero and os.path.isdir(folder):
            self.runtime.save(folder)

    # -- logging --------------------------------------------------------------
    def on_log(self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
               logs: dict[str, float] | None = None, model: nn.Module | None = None, **kwargs: Any) -> None:
        if logs is None or "loss" not in logs or not self.runtime.attached:
            return  # evaluation and end-of-training summaries carry no training step
        extra: dict[str, float] = {}
        pen = self.runtime.pop_penalty_mean()
        if pen is not None:
            extra["radgrok/penalty"] = pen
        every = self.runtime.options.diagnostics_every
        if every and self._logs_seen % every == 0 and model is not None:
            extra.update(self.runtime.diagnostics(model, self._task_loss(model)))
        self._logs_seen += 1
        logs.update(extra)
        # Trainer.log appended a copy of logs to log_history before calling us
        if state.log_history and state.log_history[-1].get("step") == state.global_step:
            state.log_history[-1].update(extra)

    def _task_loss(self, model: nn.Module):
        if self._inputs is None:
            return None
        args, kwargs = self._inputs
        if "labels" not in kwargs:
            return None  # the model computes no loss of its own to replay

        def loss() -> torch.Tensor:
            out = model(*args, **kwargs)
            return out["loss"] if isinstance(out, dict) else out[0]

        return loss


class RadgrokTrainerMixin:
    """Adds radgrok to any ``transformers.Trainer`` subclass: put it first in the bases.

    Takes one keyword more than the Trainer, ``radgrok: RadgrokOptions``. The penalty is
    added to the loss in ``compute_loss`` during training only (see integrations.md); under
    gradient accumulation it is one mean per micro-batch, weighted like the task loss.

    Examples:
        >>> from transformers import Trainer
        >>> class MyTrainer(RadgrokTrainerMixin, Trainer):
        ...     pass
        >>> [c.__name__ for c in MyTrainer.__mro__[:3]]
        ['MyTrainer', 'RadgrokTrainerMixin', 'Trainer']
    """

    radgrok_callback: RadgrokCallback

    def __init__(self, *args: Any, radgrok: RadgrokOptions | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.radgrok_callback = RadgrokCallback(radgrok if radgrok is not None else RadgrokOptions())
        # first, so that what it adds to the logs reaches the reporters and the printer
        self.callback_handler.callbacks.insert(0, self.radgrok_callback)  # type: ignore[attr-defined]

    @property
    def radgrok(self) -> RadgrokRuntime:
        """The runtime: ``.rs`` (the hooks, while training), ``.grokfast``, ``.radii()``."""
        return self.radgrok_callback.runtime

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any) -> Any:
        """``Trainer.train``; also tells the callback which checkpoint holds radgrok's state."""
        where = resume_from_checkpoint
        if where is True:
            where = get_last_checkpoint(self.args.output_dir)  # type: ignore[attr-defined]
        self.radgrok_callback.resume_from = where if isinstance(where, str) else None
        try:
            return super().train(resume_from_checkpoint, *args, **kwargs)  # type: ignore[misc]
        finally:
            # on_train_end does not run when training raises: the hooks must not outlive it
            self.radgrok_callback.release()

    def compute_loss(self, model: nn.Module, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: torch.Tensor | int | None = None) -> Any:
        """The parent's loss, plus the penalty of this forward while training."""
        loss, outputs = super().compute_loss(  # type: ignore[misc]
            model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch)
        rt = self.radgrok
        if model.training and rt.attached and rt.rs is not None and rt.rs.active:
            pen = rt.penalty(like=loss)
            if self._radgrok_loss_scaled_for_ga(num_items_in_batch):
                # the Trainer will not divide this loss by the accumulation steps, so do it
                # for the penalty, which is a per-micro-batch mean
                pen = pen / self.current_gradient_accumulation_steps  # type: ignore[attr-defined]
            loss = loss + pen.to(loss.dtype)
        return (loss, outputs) if return_outputs else loss

    def _radgrok_loss_scaled_for_ga(self, num_items_in_batch: Any) -> bool:
        # the same decision as Trainer.training_step makes (transformers 5.x)
        explicit = getattr(self, "loss_is_scaled_for_ga", None)
        if explicit is not None:
            return bool(explicit)
        return bool((getattr(self, "model_accepts_loss_kwargs", False) and num_items_in_batch is not None)
                    or getattr(self, "compute_loss_func", None) is not None)


class RadgrokTrainer(RadgrokTrainerMixin, Trainer):
    """``transformers.Trainer`` with radgrok: ``RadgrokTrainer(..., radgrok=RadgrokOptions(...))``.

    >>> from radgrok.integrations import RadgrokOptions
    >>> issubclass(RadgrokTrainer, Trainer)
    True
    """
