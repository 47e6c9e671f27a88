"""Many seeds of the MLP trainer in one process: ``train_many(cfgs, out_dirs)``.

S MLP configurations that differ only in per-seed values (seed, split_seed, lam, lr,
weight_decay, betas, warmup, init_scale, stopping rule, diagnostics) are trained as one
stacked model: parameters of shape (S, ...) from ``torch.func.stack_module_state``,
the forward ``vmap``-ed over a pure functional copy of ``MLP.forward``, and AdamW
written out on the stacked tensors with per-seed hyperparameters. S seeds share one
set of batched kernels, which pays where per-op overhead dominates a step (a GPU,
tiny models); a matmul-bound CPU step (the cpu-mlp preset) gains nothing and can
lose cache locality: measure with benchmarks/bench_multiseed.py.

Each seed reproduces a sequential ``train(cfg)`` up to float rounding (batched
kernels reduce in another order): the same init and split (``build`` per config),
mini-batch order (``feeds.batch_indices``), dropout masks (a per-seed copy of the CPU RNG
state ``build`` leaves behind), evaluations, milestones, early stop, divergence
handling and run directory. Diagnostics (``training.probes``) run per seed on a
real ``MLP`` holding that seed's weights. A seed that stops (early stop or
divergence) is dropped from the stack, so its frozen state never sees another step
and a NaN seed cannot touch the others.

Not supported (``ConfigError``): the transformer, Grokfast and OrthoGrad (their
state or projections are per model), and dropout > 0 off the CPU.

Resume: ``train_many`` never resumes a batch and refuses a directory that already
holds a run. Each seed's checkpoint.pt is written in ``train()``'s own format, so one
seed can be continued alone with ``train(cfg, out_dir, resume=True)``.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, cast

import torch
from torch import Tensor
from torch.func import stack_module_state, vmap

from ..penalty import radial_penalty
from ..tasks.modular import ModularData
from . import records
from .config import ConfigError, RunConfig, batch_rows, to_dict, validate
from .feeds import batch_indices, probe_indices, stats_row
from .loop import Built, build
from .probes import cheap_diagnostics, expensive_diagnostics
from .recorder import DIVERGED, STOP, Recorder
from .stacked import adamw_, make_forward, stacked_onehot_first

__all__ = ["train_many", "stack_key", "PER_SEED_FIELDS"]

# Fields that only change values, never shapes or control flow, so they may differ
# between the seeds of one batch. Every other field must be equal.
PER_SEED_FIELDS = frozenset({
    "seed", "split_seed", "init_scale", "lam", "lr", "weight_decay", "beta1", "beta2",
    "warmup_steps", "grok_threshold", "early_stop", "patience", "checkpoint_every",
    # diagnostics run per seed on its own module, outside the batched step
    "diagnostics", "probe_size", "expensive_every", "hessian_probes", "eigen_iters"})


def _unstackable(c: RunConfig) -> str | None:
    """Why ``c`` cannot be in a batch at all (None: it can)."""
    for name, value, ok in (("arch", c.model.arch, "mlp"), ("grokfast", c.methods.grokfast, "none"),
                            ("orthograd", c.methods.orthograd, False), ("val_frac", c.task.val_frac, 0.0)):
        if value != ok:
            return f"{name} must be {ok!r} for train_many (only the plain MLP trainer is batched), got {value!r}"
    if c.model.dropout > 0 and torch.device(c.train.device).type != "cpu":
        # F.dropout uses a fused Philox kernel off the CPU; its masks cannot be replayed per seed.
        return (f"dropout must be 0 for train_many on device {c.train.device!r} "
                f"(masks match train() on cpu only), got {c.model.dropout!r}")
    return None


def _shared(cfg: RunConfig) -> dict[str, object]:
    """The fields that must be equal across a batch (all but PER_SEED_FIELDS), in config order."""
    return {k: v for fields in to_dict(cfg).values() for k, v in fields.items() if k not in PER_SEED_FIELDS}


def stack_key(cfg: RunConfig) -> tuple | None:
    """Configs with equal keys can share one ``train_many`` batch; None: this one cannot be batched."""
    if _unstackable(cfg) is not None:
        return None
    return tuple((k, repr(v)) for k, v in _shared(cfg).items())


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


def _check_optimizer(b: Built) -> None:
    """train_many re-implements build()'s optimizer; refuse anything but plain AdamW."""
    g = b.opt.param_groups
    if type(b.opt) is not torch.optim.AdamW or len(g) != 1 or g[0]["amsgrad"] or g[0]["maximize"]:
        raise NotImplementedError(f"train_many implements plain AdamW only; loop.build made {b.opt!r}")


@dataclass
class _Seed:
    """One seed of the stack: its own model (for diagnostics and checkpoints), RNG stream and
    record; the rows, milestones, summary and stop rules are the recorder's, as in train()."""

    cfg: RunConfig
    b: Built
    gen: torch.Generator  # the CPU RNG stream train() would continue after build (dropout)
    rec: Recorder
    probe: tuple[Tensor, Tensor]  # the diagnostics' fixed batch (feeds.probe_indices), as train() uses
    cache: dict = field(default_factory=dict)

    def lr(self, step: int) -> float:
        """LambdaLR's lr after ``step`` optimizer steps: base_lr * lambda(step)."""
        return float(self.b.sched.base_lrs[0]) * self.b.sched.lr_lambdas[0](step)  # base_lrs: build()'s float lr


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


def _load(s: _Seed, params: dict[str, Tensor], pos: int) -> None:
    """Copy seed ``pos`` of the stack into its own ``MLP`` (for diagnostics and checkpoints)."""
    with torch.no_grad():
        for name, prm in s.b.model.named_parameters():
            prm.copy_(params[name][pos])


def _diagnose(s: _Seed, row: dict, step: int, params: dict[str, Tensor], pos: int) -> None:
    """train()'s scheduled diagnostics for one seed, added to its row in the same order."""
    dg, b = s.cfg.diag, s.b
    healthy = math.isfinite(row["train_loss"]) and math.isfinite(row["weight_norm"])
    expensive = healthy and dg.expensive_every and (step // s.cfg.train.eval_every) % dg.expensive_every == 0
    if not (healthy and (dg.diagnostics or expensive)):
        return
    _load(s, params, pos)
    if dg.diagnostics:
        row.update(cheap_diagnostics(b.model, b.rs, *s.probe, b.loss_fn))
    if expensive:
        row.update(expensive_diagnostics(b.model, *s.probe, row["lr"], s.cfg.task.p, dg.hessian_probes,
                                         dg.eigen_iters, seed=s.cfg.train.seed, loss_fn=b.loss_fn))


def _state(s: _Seed, pos: int, step: int, params: dict, exp_avg: dict, exp_avg_sq: dict) -> dict:
    """Seed ``pos`` of the stack in train()'s checkpoint format: its model, AdamW, LambdaLR, RNG."""
    b, lr = s.b, s.lr(step)
    _load(s, params, pos)
    b.opt.state.clear()
    if step > 0:  # AdamW creates its state lazily, at the first step
        step_dtype = torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32
        for name, prm in b.model.named_parameters():
            b.opt.state[prm] = {"step": torch.tensor(float(step), dtype=step_dtype),
                                "exp_avg": exp_avg[name][pos].clone(),
                                "exp_avg_sq": exp_avg_sq[name][pos].clone()}
    b.opt.param_groups[0]["lr"] = lr
    # build()'s scheduler is still at step 0; advance its record as step() would have.
    sched = {**b.sched.state_dict(), "last_epoch": step, "_step_count": step + 1, "_last_lr": [lr]}
    return {"model": b.model.state_dict(), "opt": b.opt.state_dict(), "sched": sched, "rng": s.gen.get_state(),
            "cuda_rng": None, "grad_filter": None}


def train_many(cfgs: list[RunConfig], out_dirs: list[str | Path] | None = None,
               progress: bool | None = None, on_eval: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Train every config at once; return one summary per config, as ``train(cfg)`` would.

    ``out_dirs`` (one per config, or None to keep nothing) receive train()'s run
    directory layout. Fields outside ``PER_SEED_FIELDS`` must be equal across
    ``cfgs`` (``ConfigError`` names the first that is not), and dropout > 0 is
    supported on cpu only. ``on_eval(i, row)`` sees each metrics row of config i as
    it is logged. ``wall_seconds`` is the shared process time until that seed
    stopped. No resume: see the module docstring.
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
        return _train_stacked(cfgs, outs, progress, on_eval)


def _train_stacked(cfgs: list[RunConfig], outs: Sequence[Path | None], progress: bool | None,
                   on_eval: Callable[[int, dict], None] | None) -> list[dict]:
    c0 = cfgs[0]
    tr0, pen0, m0 = c0.train, c0.penalty, c0.model
    if tr0.threads:
        torch.set_num_threads(tr0.threads)

    built = []
    for cfg in cfgs:
        b = build(cfg)
        _check_optimizer(b)
        gen = torch.Generator()
        gen.set_state(torch.get_rng_state())
        built.append((b, gen))
    dev, dtype, loss_fn = built[0][0].device, built[0][0].dtype, built[0][0].loss_fn
    data = [torch.stack([getattr(b.data, a) for b, _ in built]).to(dev)
            for a in ("x_train", "y_train", "x_test", "y_test")]
    n_train = data[0].shape[1]
    batch = batch_rows(c0.optim.batch_size, n_train)
    seeds: list[_Seed] = []
    for cfg, out, (b, gen) in zip(cfgs, outs, built):
        data0 = cast(ModularData, b.data)  # arch "mlp" (_unstackable): a modular task
        probe_idx = probe_indices(data0.x_train.shape[0], cfg.diag.probe_size)
        probe = (data0.x_train[probe_idx].to(b.device), data0.y_train[probe_idx].to(b.device))
        rec = Recorder(cfg, out, batch, n_train, extra={"stacked": len(cfgs)})  # wall_seconds: the shared time
        rec.begin(b.data.split_record())
        seeds.append(_Seed(cfg, b, gen, rec, probe))
    params, _ = stack_module_state([s.b.model for s in seeds])
    exp_avg = {k: torch.zeros_like(v) for k, v in params.items()}
    exp_avg_sq = {k: torch.zeros_like(v) for k, v in params.items()}
    sites = seeds[0].b.rs.names

    first_given = m0.encoding == "onehot"
    forward, r = make_forward(c0, first_given)
    w0, b0 = "hidden.0.linear.weight", "hidden.0.linear.bias"

    def first(prm: dict, x: Tensor) -> Tensor:
        """The batch as forward() takes it: one-hot inputs through layer 0's weights, outside vmap."""
        return stacked_onehot_first(prm[w0], prm[b0], x, c0.task.p) if first_given else x

    def losses(prm: dict, x: Tensor, y: Tensor, noise: list) -> tuple[Tensor, Tensor]:
        logits, seen = forward(prm, x, noise)
        # (the casts: every MLP has a penalty site, so the sums are tensors, never sum()'s start 0)
        return loss_fn(logits, y), cast(Tensor, sum(radial_penalty(h, r, pen0.norm_over, pen0.reduce) for h in seen))

    def metrics(prm: dict, x_tr: Tensor, y_tr: Tensor, x_te: Tensor, y_te: Tensor) -> Tensor:
        logits, seen = forward(prm, x_tr, [])
        test = forward(prm, x_te, [])[0]
        return torch.stack([
            loss_fn(logits, y_tr).double(), (logits.argmax(-1) == y_tr).double().mean(),
            loss_fn(test, y_te).double(), (test.argmax(-1) == y_te).double().mean(),
            cast(Tensor, sum(radial_penalty(h, r, pen0.norm_over, pen0.reduce) for h in seen)).double(),
            *(torch.linalg.vector_norm(h, dim=-1).mean().double() for h in seen)])

    vloss, vmetrics = vmap(losses), vmap(metrics)
    t0 = time.perf_counter()
    for s in seeds:
        s.rec.t0 = t0  # one clock: wall_seconds is the stack's shared time until the seed stopped

    def state_of(s: _Seed, pos: int, step: int) -> Callable[[], dict]:
        return lambda: _state(s, pos, step, params, exp_avg, exp_avg_sq)

    def evaluate(ids: list[int], step: int) -> None:
        """One batched evaluation; each active seed's row, diagnosed and logged as train()'s do_eval."""
        with torch.no_grad():
            stats = vmetrics(params, first(params, data[0]), data[1], first(params, data[2]), data[3]).tolist()
            squares = torch.stack([v.double().square().flatten(1).sum(1) for v in params.values()], 1).tolist()
        for pos, i in enumerate(ids):
            s, st = seeds[i], stats[pos]
            row = {"step": step, "epoch": step * batch / n_train,
                   "train_loss": st[0], "train_acc": st[1], "test_loss": st[2], "test_acc": st[3],
                   **stats_row(s.b.rs, st[4], math.sqrt(sum(squares[pos])), dict(zip(sites, st[5:]))),
                   "lr": s.lr(step)}
            _diagnose(s, row, step, params, pos)
            s.rec.log(row)
            if on_eval is not None:
                on_eval(i, row)

    results: list[dict | None] = [None] * len(seeds)
    ids = list(range(len(seeds)))
    evaluate(ids, 0)
    for pos, s in enumerate(seeds):
        s.rec.started(state_of(s, pos, 0))

    show = sys.stderr.isatty() if progress is None else progress
    from tqdm.auto import tqdm

    bar = tqdm(total=tr0.steps, disable=not show, desc=f"{len(seeds)} seeds", unit="step",
               leave=False, dynamic_ncols=True)
    lam = torch.tensor([s.cfg.penalty.lam for s in seeds], dtype=dtype, device=dev)
    rows_ar = torch.arange(len(seeds), device=dev)[:, None]
    q = m0.dropout
    step = 0
    try:
        while step < tr0.steps and ids:
            act = [seeds[i] for i in ids]
            idx = [batch_indices(n_train, batch, s.cfg.train.seed, step, s.cache) for s in act]
            if idx[0] is None:
                xb, yb = data[0], data[1]
            else:
                sel = torch.stack(cast("list[Tensor]", idx)).to(dev)  # all None or none: one n_train, batch
                xb, yb = data[0][rows_ar, sel], data[1][rows_ar, sel]
            noise: list[Tensor] = []
            if q > 0:
                # Per seed, layer 0 then 1 ...: the order in which its F.dropout calls draw.
                masks = [[torch.empty(xb.shape[1], m0.width, dtype=dtype).bernoulli_(1 - q, generator=s.gen)
                          .div_(1 - q) for _ in range(m0.depth)] for s in act]
                noise = [torch.stack(layer) for layer in zip(*masks)]
            ce, pen = vloss(params, first(params, xb), yb, noise)
            # lam = 0 seeds gain an exact +0 (value and gradient) whenever others are penalised.
            loss = ce + lam * pen if any(s.b.rs.active for s in act) else ce  # the penalty object says
            loss.sum().backward()  # a sum keeps each seed's gradient its own
            adamw_(params, exp_avg, exp_avg_sq, step + 1, [s.lr(step) for s in act],
                    [s.b.opt.param_groups[0] for s in act])
            step += 1
            bar.update(1)
            if step % tr0.eval_every and step != tr0.steps:
                continue
            evaluate(ids, step)
            stopped = set()
            for pos, i in enumerate(ids):  # the recorder's rules, per seed, as train() applies them
                s = seeds[i]
                verdict = s.rec.check(step)
                if verdict == DIVERGED:
                    results[i] = s.rec.diverged(step)
                elif verdict == STOP or step == tr0.steps:
                    results[i] = s.rec.finished(step, state_of(s, pos, step))
                elif s.rec.checkpoint_due(step):
                    s.rec.checkpoint(step, state_of(s, pos, step)())
                if results[i] is not None:
                    stopped.add(i)
            if stopped:
                keep = torch.tensor([p for p, i in enumerate(ids) if i not in stopped], dtype=torch.long, device=dev)
                ids = [i for i in ids if i not in stopped]
                params = {k: v.detach()[keep].requires_grad_() for k, v in params.items()}
                exp_avg = {k: v[keep] for k, v in exp_avg.items()}
                exp_avg_sq = {k: v[keep] for k, v in exp_avg_sq.items()}
                data = [d[keep] for d in data]
                lam, rows_ar = lam[keep], rows_ar[:len(ids)]
                bar.set_postfix(active=len(ids), refresh=False)
    finally:
        bar.close()
    return results  # type: ignore[return-value]
