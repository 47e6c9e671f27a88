"""The training loop: config -> task + model + penalty -> AdamW steps -> evaluations -> run record.

One evaluation = a forward pass over the whole train set and the whole test set
without autograd, every ``eval_every`` steps (and at step 0 and at the end). Only
evaluations synchronise with the host, so the steps between them queue freely on
a GPU. Checkpoints are taken at evaluations; ``resume=True`` continues from the
last one and re-creates exactly the metrics an uninterrupted run would log: the
init, the split and the mini-batch order are pure functions of the seed and the
step, and every RNG state is checkpointed. The last two checkpoints are kept: one that
does not load is reported and the previous one is used. One process at a time writes a run
directory (``records.claim``), and every run file a resume cannot use is a ConfigError
naming it, never a traceback.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Collection, TypeVar

import torch
from torch.nn import functional as F

from ..forecast import forecast_row
from ..methods import GrokfastEMA, GrokfastMA, make_filter, scaled_lr, stablemax_cross_entropy, step_hook
from ..models.gpt import GPT
from ..models.mlp import MLP
from ..models.transformer import Transformer
from ..penalty import RadialSuppression
from ..runs import records
from ..runs.config import ConfigError, RunConfig, validate
from ..runs.recorder import DIVERGED, STOP, Recorder
from ..runs.records import read_config
from ..tasks.addition import AdditionData
from ..tasks.lm import lm_loss
from ..tasks.modular import ModularData
from ..tasks.text import TextData
from .feeds import AdditionFeed, ModularFeed, TextFeed, evaluate
from .kinds import kind_of
from .probes import cheap_diagnostics, expensive_diagnostics
from .resume import restored_rows, resume_point

__all__ = ["train", "build", "Built", "Trial", "run_trials", "scheduled_diagnostics", "evaluate", "train_step",
           "optimizer_step", "make_feed", "load_final_model", "with_threads"]


_DTYPES = {"float32": torch.float32, "float64": torch.float64}
_T = TypeVar("_T")


@dataclass
class Built:
    """Everything a run is made of, before any step."""

    data: ModularData | AdditionData | TextData
    model: MLP | Transformer | GPT
    rs: RadialSuppression
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    device: torch.device
    dtype: torch.dtype
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    grad_filter: GrokfastEMA | GrokfastMA | None


def build(cfg: RunConfig) -> Built:
    """Seeded construction of the dataset, model, penalty hooks and optimizer."""
    t, m, pen, o, mt, tr = cfg.task, cfg.model, cfg.penalty, cfg.optim, cfg.methods, cfg.train
    kind = kind_of(t.task)
    data = kind.data(cfg)
    device, dtype = torch.device(tr.device), _DTYPES[tr.dtype]
    torch.manual_seed(tr.seed)
    model: MLP | Transformer | GPT
    sites: list[str]
    if m.arch == "gpt":
        assert kind.gpt_shape is not None  # validate() pairs the GPT with the addition and text tasks
        vocab, block = kind.gpt_shape(data, cfg)
        model = GPT(vocab_size=vocab, block_size=block, n_layer=m.depth, n_head=m.n_heads, n_embd=m.width,
                    dropout=m.dropout)
        sites = model.default_penalty_sites
    elif m.arch == "mlp":
        model = MLP(t.p, m.width, m.depth, m.encoding, m.embed_dim, m.dropout, m.init_scale)
        sites = model.pre_activation_sites if pen.site == "pre" else model.post_activation_sites
    else:
        model = Transformer(t.p, n_layers=m.depth, n_heads=m.n_heads, d_model=m.width, ln=m.ln,
                            dropout=m.dropout, init_scale=m.init_scale)
        sites = model.default_penalty_sites
    model = model.to(device=device, dtype=dtype)
    rs = RadialSuppression(model, sites, pen.lam, radius_scale=pen.radius_scale, mode=pen.mode,
                           norm_over=pen.norm_over, reduce=pen.reduce)
    lr = scaled_lr(o.lr, mt.grokfast_lamb) if mt.grokfast != "none" and mt.grokfast_scale_lr else o.lr
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(o.beta1, o.beta2), weight_decay=o.weight_decay)
    warm = o.warmup_steps
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warm) if warm else 1.0)
    loss_fn = (lm_loss if m.arch == "gpt" else
               stablemax_cross_entropy if mt.loss == "stablemax" else F.cross_entropy)
    grad_filter = make_filter(model, mt.grokfast, mt.grokfast_alpha, mt.grokfast_lamb, mt.grokfast_window)
    step_hook.install(opt, grad_filter, mt.orthograd)  # Grokfast, then ⊥Grad, inside every opt.step()
    return Built(data, model, rs, opt, sched, device, dtype, loss_fn, grad_filter)


def load_final_model(run_dir: str | Path) -> torch.nn.Module:
    """The model of a run directory at its last checkpoint, in eval mode (rebuilt from config.json)."""
    run_dir = Path(run_dir)
    b = build(read_config(run_dir))
    b.model.load_state_dict(records.load_checkpoint(run_dir / records.CHECKPOINT)["model"])
    return b.model.eval()


def make_feed(b: Built, cfg: RunConfig) -> ModularFeed | AdditionFeed | TextFeed:
    """The batches and evaluations of this run's task (its kind's feed, ``feeds.py``)."""
    return kind_of(cfg.task.task).feed(b.data, cfg, b.device)


def train_step(b: Built, xb: torch.Tensor, yb: torch.Tensor, soft: bool) -> None:
    """One optimizer step: loss (+ penalty), backward, gradient filter, AdamW, schedule.

    No ``.item()`` here: nothing waits on the device between evaluations.
    """
    loss = b.loss_fn(b.model(xb), yb)
    if soft:
        loss = loss + b.rs.penalty()
    b.opt.zero_grad(set_to_none=True)
    loss.backward()
    optimizer_step(b)


def optimizer_step(b: Built) -> None:
    """What follows the backward, once per run: AdamW (Grokfast and ⊥Grad in its pre-hook), the schedule."""
    b.opt.step()
    b.sched.step()


def train(
    cfg: RunConfig,
    out_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool | None = None,
    on_eval: Callable[[dict], None] | None = None,
    stop_after_steps: int | None = None,
) -> dict:
    """Train one run and return its summary. ``out_dir`` None keeps nothing on disk.

    ``stop_after_steps`` ends the process-local loop early (as a kill would) and
    is only for tests of resumption.
    """
    validate(cfg)
    if out_dir is None:
        return with_threads(cfg, lambda: _train(cfg, None, None, progress, on_eval, stop_after_steps))
    with records.claim(out_dir) as out:  # created, and ours alone, before anything is read or written
        ckpt = None
        if resume:
            done, ckpt = resume_point(cfg, out)
            if done is not None:
                return done
        elif (out / records.SUMMARY).exists():
            raise ConfigError(f"out: run directory {out} already exists; pass --resume or choose another --out")
        return with_threads(cfg, lambda: _train(cfg, out, ckpt, progress, on_eval, stop_after_steps))


def with_threads(cfg: RunConfig, run: Callable[[], _T]) -> _T:
    """``run()`` under the config's torch thread count (``train.threads``, 0 = leave it), restored after."""
    threads_before = torch.get_num_threads()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    try:
        return run()
    finally:
        torch.set_num_threads(threads_before)


def scheduled_diagnostics(t: "Trial", step: int, row: dict) -> None:
    """The cheap diagnostics at every evaluation and the expensive ones every ``expensive_every``-th,
    on the probe batch, added to a healthy row (a diverged one has nothing to diagnose)."""
    b, tr, dg = t.b, t.cfg.train, t.cfg.diag
    healthy = math.isfinite(row["train_loss"]) and math.isfinite(row["weight_norm"])
    if dg.diagnostics and healthy:
        row.update(cheap_diagnostics(b.model, b.rs, *t.probe, b.loss_fn))
    if healthy and dg.expensive_every and (step // tr.eval_every) % dg.expensive_every == 0:
        row.update(expensive_diagnostics(b.model, *t.probe, row["lr"], t.cfg.task.p,
                                         dg.hessian_probes, dg.eigen_iters, seed=tr.seed, loss_fn=b.loss_fn))


def forecast_columns(t: "Trial", step: int, row: dict) -> None:
    """``forecast_step``, ``forecast_low``, ``forecast_high`` from the rows so far (this one last), from
    memorisation on, where radgrok has a calibration for the run's setting (``radgrok.forecast``).
    Read from the training side of the row only: the forecast never sees test accuracy."""
    row.update(forecast_row([*t.rec.rows, row], t.cfg))


RowHook = Callable[["Trial", int, dict], None]


@dataclass
class Trial:
    """One run in the loop: what it is built of, its feed, its record and its probe batch.

    ``rng`` is the CPU RNG state its checkpoints record: None for the live one (a run trained
    alone); for a stacked seed, the state its own ``build`` left (nothing draws from it later).
    The loop's callbacks: ``extend`` add columns to each evaluation's row before it is logged
    (the scheduled diagnostics and the grok-step forecast by default); ``on_eval`` sees each logged row (trackers).
    """

    cfg: RunConfig
    b: Built
    feed: ModularFeed | AdditionFeed | TextFeed
    rec: Recorder
    rng: torch.Tensor | None = None
    on_eval: Callable[[dict], None] | None = None
    extend: list[RowHook] = field(default_factory=lambda: [scheduled_diagnostics, forecast_columns])
    probe: tuple[torch.Tensor, torch.Tensor] = field(init=False)  # the diagnostics' fixed batch

    def __post_init__(self) -> None:
        self.probe = self.feed.probe(self.cfg.diag.probe_size)

    def evaluate(self, step: int) -> dict:
        """The metrics row of ``step``: the feed's evaluation, then the ``extend`` callbacks; logged."""
        b = self.b
        # "lr" is the rate the next step will use (it differs from the last one only during warmup)
        row = {"step": step, "epoch": step * self.feed.batch / self.feed.n_train, **self.feed.evaluate(b),
               "lr": b.sched.get_last_lr()[0]}
        for hook in self.extend:
            hook(self, step, row)
        self.rec.log(row)
        if self.on_eval is not None:
            self.on_eval(row)
        return row

    def state(self) -> dict:
        """What a resume restores besides the recorder's milestones and clock."""
        b = self.b
        return {"model": b.model.state_dict(), "opt": b.opt.state_dict(), "sched": b.sched.state_dict(),
                "rng": torch.get_rng_state() if self.rng is None else self.rng,
                "cuda_rng": torch.cuda.get_rng_state_all() if b.device.type == "cuda" else None,
                "grad_filter": b.grad_filter.state_dict() if b.grad_filter is not None else None}


def run_trials(trials: list[Trial], step_fn: Callable[[list[Trial], int], None], start: int = 0, show: bool = False,
               stop_after_steps: int | None = None, done: Collection[int] = ()) -> list[dict]:
    """The loop: ``step_fn`` on the trials still running, an evaluation of each every ``eval_every``
    steps, then each one's record decides: diverged, grokked long enough (stop), checkpoint due.

    The trials share ``steps`` and ``eval_every``. A trial that stops leaves the next steps'
    ``step_fn`` calls; the others go on. ``done``: trials with nothing left to train (a resume
    of a run that had stopped early). Returns one summary per trial.
    """
    from tqdm.auto import tqdm

    tr = trials[0].cfg.train
    results: list[dict | None] = [None] * len(trials)
    active = [i for i in range(len(trials)) if i not in done]
    for t in trials:
        t.b.model.train()
    desc = f"seed {tr.seed} lam {trials[0].cfg.penalty.lam}" if len(trials) == 1 else f"{len(trials)} seeds"
    bar = tqdm(total=tr.steps, initial=start, disable=not show, desc=desc, unit="step", leave=False,
               dynamic_ncols=True)
    step = start
    try:
        while step < tr.steps and active:
            step_fn([trials[i] for i in active], step)
            step += 1
            bar.update(1)
            if step % tr.eval_every and step != tr.steps:
                continue
            for i in list(active):
                t = trials[i]
                row = t.evaluate(step)
                verdict = t.rec.check(step)
                if verdict == DIVERGED:
                    results[i] = t.rec.diverged(step)
                elif verdict == STOP:
                    results[i] = t.rec.finished(step, t.state)
                else:
                    if t.rec.checkpoint_due(step):
                        t.rec.checkpoint(step, t.state())
                    if stop_after_steps is not None and step >= stop_after_steps:
                        results[i] = t.rec.interrupted(step)
                if results[i] is not None:
                    active.remove(i)
            if len(trials) == 1:
                bar.set_postfix(train=f"{row['train_acc']:.3f}", test=f"{row['test_acc']:.3f}", refresh=False)
            else:
                bar.set_postfix(active=len(active), refresh=False)
    finally:
        bar.close()
    for i in [*active, *done]:
        results[i] = trials[i].rec.finished(step, trials[i].state)
    return results  # type: ignore[return-value]


def _train(cfg: RunConfig, out: Path | None, ckpt: dict | None, progress: bool | None,
           on_eval: Callable[[dict], None] | None, stop_after_steps: int | None) -> dict:
    b = build(cfg)
    feed = make_feed(b, cfg)
    t = Trial(cfg, b, feed, Recorder(cfg, out, feed.batch, feed.n_train), on_eval=on_eval)
    start = 0
    if ckpt is None:
        t.rec.begin(b.data.split_record())
    else:
        assert out is not None  # a checkpoint is only read from a run directory
        rows = restored_rows(out, ckpt["step"], b.data.split_record())
        b.model.load_state_dict(ckpt["model"])
        b.opt.load_state_dict(ckpt["opt"])
        b.sched.load_state_dict(ckpt["sched"])
        torch.set_rng_state(ckpt["rng"])
        if ckpt.get("cuda_rng") is not None and b.device.type == "cuda":
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        if b.grad_filter is not None:
            b.grad_filter.load_state_dict(ckpt["grad_filter"])
        t.rec.restore(ckpt, rows)
        start = ckpt["step"]
        if read_config(out).train != cfg.train:  # a resume under new steps / budget records them
            t.rec.write_config()
    t.rec.t0 = time.perf_counter()  # the clock counts training, not building
    if ckpt is None:  # not "start == 0": a resume from checkpoint 0 has its step-0 row already
        t.evaluate(0)
        t.rec.started(t.state)
    # A checkpoint taken when the run stopped early (the final one, written before the final summary)
    # has nothing left to train: the uninterrupted run broke out of the loop at this very step.
    stopped = ckpt is not None and t.rec.stopped_at(start)
    show = sys.stderr.isatty() if progress is None else progress
    soft = b.rs.active
    return run_trials([t], lambda ts, step: train_step(b, *feed.train_batch(step), soft), start, show,
                      stop_after_steps, done=(0,) if stopped else ())[0]
