"""Many seeds in one process: ``train_many(cfgs, out_dirs)``, on the same loop as ``train``.

Each config is built as ``train`` builds it (its own model, ``RadialSuppression``, AdamW,
schedule, gradient filter, feed and recorder: a ``loop.Trial``), and the trials run through
``loop.run_trials``: the same evaluations, diagnostics, stop rules, checkpoints and run
directory. Only the step differs: the forward and backward of every running seed are one
``torch.func.vmap`` over ``functional_call`` of the real model, on the seeds' parameters
stacked with ``torch.stack``; the gradients land on each seed's own parameters, and each
seed's own optimizer steps them (``loop.optimizer_step``). So a seed may differ from the
others in lr, weight decay, betas, warmup and lam, and its checkpoint is ``train``'s.

S seeds share one set of batched kernels, which pays where per-op overhead dominates a step
(a GPU, tiny models); a matmul-bound CPU step gains nothing: measure with
benchmarks/bench_multiseed.py. Each seed reproduces a sequential ``train(cfg)`` up to float
rounding (batched kernels reduce in another order).

Not stacked (``stack_key`` is None, ``train_many`` raises ConfigError): dropout > 0, whose masks
``train`` draws from the global RNG stream in an order a vmapped forward cannot replay.

Resume: ``train_many`` never resumes a batch and refuses a directory that already holds a
run; one seed can be continued alone with ``train(cfg, out_dir, resume=True)``.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch.func import functional_call, vmap

from ..runs import records
from ..runs.config import ConfigError, RunConfig, to_dict, validate
from ..runs.recorder import Recorder
from .loop import Trial, build, make_feed, optimizer_step, run_trials, with_threads

__all__ = ["train_many", "stack_key", "PER_SEED_FIELDS", "stacked_step"]

# Fields that only change values, never shapes or control flow, so they may differ
# between the seeds of one batch. Every other field must be equal.
PER_SEED_FIELDS = frozenset({
    "seed", "split_seed", "init_scale", "lam", "lr", "weight_decay", "beta1", "beta2",
    "warmup_steps", "grok_threshold", "early_stop", "patience", "checkpoint_every",
    # diagnostics run per seed on its own model, outside the batched step
    "diagnostics", "probe_size", "expensive_every", "hessian_probes", "eigen_iters"})


def _unstackable(c: RunConfig) -> str | None:
    """Why ``c`` cannot be in a batch at all (None: it can)."""
    if c.model.dropout > 0:
        return (f"dropout must be 0 for train_many (train() draws its masks from one RNG stream in an order a "
                f"vmapped forward cannot replay), got {c.model.dropout!r}")
    return None


def _shared(cfg: RunConfig) -> dict[str, object]:
    """The fields that must be equal across a batch (all but PER_SEED_FIELDS), in config order."""
    return {k: v for fields in to_dict(cfg).values() for k, v in fields.items() if k not in PER_SEED_FIELDS}


def stack_key(cfg: RunConfig) -> tuple | None:
    """Configs with equal keys can share one ``train_many`` batch; None: this one cannot be batched."""
    return None if _unstackable(cfg) else tuple((k, repr(v)) for k, v in _shared(cfg).items())


def _check_stackable(cfgs: list[RunConfig]) -> None:
    base = _shared(cfgs[0])
    for i, cfg in enumerate(cfgs[1:], start=1):
        for k, v in _shared(cfg).items():
            if v != base[k]:
                raise ConfigError(f"{k} must be the same in every config of train_many (it fixes shapes "
                                  f"or control flow), got {base[k]!r} in config 0 and {v!r} in config {i}")
    why = _unstackable(cfgs[0])
    if why is not None:
        raise ConfigError(why)


def _prepare_dirs(out_dirs: list | None, n: int) -> Sequence[Path | None]:
    if out_dirs is None:
        return [None] * n
    outs = [Path(o) for o in out_dirs]
    if len(outs) != n:
        raise ConfigError(f"out_dirs must have one directory per config ({n}), got {len(outs)}")
    if len({o.resolve() for o in outs}) != n:
        raise ConfigError("out_dirs must be distinct directories")
    for o in outs:
        if (o / records.SUMMARY).exists():
            raise ConfigError(f"out: run directory {o} already exists; train_many does not resume "
                              "(continue one seed with train(cfg, out_dir, resume=True)) or choose another")
    return outs


def stacked_step(template: Trial, trials: list[Trial], step: int) -> None:
    """One step of every running trial: a vmapped forward and backward of ``template``'s model
    (hooks included; any trial of the batch, running or stopped) on the running trials' stacked
    parameters, then each one's optimizer.

    Per seed the loss is ``train_step``'s: CE, plus lam times the hooked penalty when any seed
    is penalised (a seed with lam 0 then gains an exact +0). The sum over seeds keeps each
    seed's gradient its own."""
    model, rs = template.b.model, template.b.rs  # its hooks see each seed's hidden vectors under vmap
    own = [dict(t.b.model.named_parameters()) for t in trials]
    params = {name: torch.stack([p[name] for p in own]) for name in own[0]}
    xs, ys = zip(*(t.feed.train_batch(step) for t in trials))
    soft = any(t.b.rs.active for t in trials)
    loss_fn = trials[0].b.loss_fn

    def losses(p: dict, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ce = loss_fn(functional_call(model, p, (x,)), y)
        return ce, rs.penalty_sum() if soft else torch.zeros_like(ce)

    ce, pen = vmap(losses)(params, torch.stack(xs), torch.stack(ys))
    if soft:
        lam = torch.tensor([t.b.rs.lam if t.b.rs.active else 0.0 for t in trials], dtype=ce.dtype, device=ce.device)
        ce = ce + lam * pen
    for t in trials:
        t.b.opt.zero_grad(set_to_none=True)
    ce.sum().backward()
    for t in trials:
        optimizer_step(t.b)


def train_many(cfgs: list[RunConfig], out_dirs: list[str | Path] | None = None,
               progress: bool | None = None, on_eval: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Train every config at once; return one summary per config, as ``train(cfg)`` would.

    ``out_dirs`` (one per config, or None to keep nothing) receive train()'s run
    directory layout. Fields outside ``PER_SEED_FIELDS`` must be equal across
    ``cfgs`` (``ConfigError`` names the first that is not). ``on_eval(i, row)`` sees each
    metrics row of config i as it is logged. ``wall_seconds`` is the shared process time
    until that seed stopped. No resume: see the module docstring.
    """
    cfgs = [validate(c) for c in cfgs]
    if not cfgs:
        return []
    _check_stackable(cfgs)
    outs = _prepare_dirs(out_dirs, len(cfgs))
    with contextlib.ExitStack() as held:  # every directory created and locked (records.claim), as train() does
        for o in outs:
            if o is not None:
                held.enter_context(records.claim(o))
        return with_threads(cfgs[0], lambda: _train_stacked(cfgs, outs, progress, on_eval))


def _train_stacked(cfgs: list[RunConfig], outs: Sequence[Path | None], progress: bool | None,
                   on_eval: Callable[[int, dict], None] | None) -> list[dict]:
    trials = []
    for i, (cfg, out) in enumerate(zip(cfgs, outs)):
        b = build(cfg)
        rng = torch.get_rng_state()  # what train() would checkpoint: nothing draws from it after build
        feed = make_feed(b, cfg)
        rec = Recorder(cfg, out, feed.batch, feed.n_train, extra={"stacked": len(cfgs)})
        row_hook = None if on_eval is None else functools.partial(on_eval, i)  # on_eval(i, row) per row
        trials.append(Trial(cfg, b, feed, rec, rng=rng, on_eval=row_hook))
    t0 = time.perf_counter()
    for t in trials:  # one clock: wall_seconds is the stack's shared time until the seed stopped
        t.rec.t0 = t0
        t.rec.begin(t.b.data.split_record())
        t.evaluate(0)
        t.rec.started(t.state)
    template = trials[0]
    show = sys.stderr.isatty() if progress is None else progress
    return run_trials(trials, lambda ts, step: stacked_step(template, ts, step), show=show)
