"""Typed run configuration: the one source of truth for defaults, validation and the CLI.

Each field carries a ``help`` string in its metadata; the CLI builds one flag per
field from these dataclasses (``radgrok.cli``), so nothing is declared twice.
Field names are unique across the sections, which keeps the flags flat
(``--lam``, ``--weight-decay``). This module does not import torch.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from typing import Literal, get_args

from .sizes import DIVISION_OPS, is_prime, pair_count, trained_count

__all__ = [
    "TaskConfig", "ModelConfig", "PenaltyConfig", "OptimConfig", "MethodsConfig", "TrainConfig",
    "DiagnosticsConfig", "RunConfig", "ConfigError", "validate", "to_dict", "from_dict", "SECTIONS",
]


def _f(default, help: str, **kw):
    return field(default=default, metadata={"help": help, **kw})


Op = Literal["add", "sub", "mul", "div", "x2+y2", "x2+xy+y2", "x3+xy"]


@dataclass
class TaskConfig:
    task: Literal["modular", "addition", "text"] = _f(
        "modular", "modular arithmetic (MLP or transformer), n-digit addition or a character LM (GPT)")
    op: Op = _f("add", "binary operation modulo p")
    p: int = _f(97, "modulus P (prime where the operation needs an inverse)")
    train_frac: float = _f(0.5, "fraction of all pairs used for training, in (0, 1)")
    split_seed: int | None = _f(None, "seed of the train/test split (default: the run seed)")
    val_frac: float = _f(0.0, "fraction of the training pairs held out as a validation set, in [0, 1)")
    n_digits: int = _f(3, "addition: digits per operand")
    fmt: Literal["plain", "reversed"] = _f("reversed",
                                           "addition: answer written plain or least-significant digit first")
    train_pairs: int = _f(10_000, "addition: operand pairs in the training set")
    test_pairs: int = _f(1_000, "addition: held-out operand pairs (exact match is measured on all of them)")
    text_path: str = _f("", "text: a UTF-8 training text (empty = the bundled public-domain sample)")
    block_size: int = _f(64, "text: context length in characters")
    eval_windows: int = _f(64, "text: fixed windows of block_size scored on each split at every evaluation")


@dataclass
class ModelConfig:
    arch: Literal["mlp", "transformer", "gpt"] = _f(
        "mlp", "model: the paper's MLP, a pre-LN transformer on [a, op, b, =], or a GPT (addition, text)")
    width: int = _f(512, "hidden width (MLP) or d_model (transformer, GPT)")
    depth: int = _f(2, "hidden ReLU layers (MLP) or blocks (transformer, GPT)")
    n_heads: int = _f(4, "attention heads (transformer; must divide width)")
    ln: Literal["affine", "nonaffine", "none"] = _f("affine", "LayerNorm variant (transformer)")
    encoding: Literal["onehot", "embed"] = _f("onehot", "input encoding of (a, b)")
    embed_dim: int = _f(128, "embedding size per operand when encoding=embed")
    dropout: float = _f(0.0, "dropout after each hidden activation, in [0, 1)")
    init_scale: float = _f(1.0, "multiplier on PyTorch's default initial weights")


@dataclass
class PenaltyConfig:
    lam: float = _f(0.0, "radial suppression weight lambda (0 = off; radii are still logged)")
    radius_scale: float = _f(1.0, "target radius as a multiple c of sqrt(d); 0 = activation L2 (||h||^2/d)")
    mode: Literal["soft", "project"] = _f("soft", "soft penalty, or hard projection onto the sphere")
    norm_over: Literal["example", "batch"] = _f(
        "example", "what ||h|| runs over: one norm per example (token), or one Frobenius norm of the "
                   "whole batch of a site (torch.norm(h) with no dim)")
    reduce: Literal["mean", "sum"] = _f(
        "mean", "norm_over=example: mean or sum of the per-example terms over the batch")
    site: Literal["pre", "post"] = _f("pre", "MLP: hook the hidden pre- or post-activations "
                                             "(the transformer always hooks its sub-layer outputs)")


@dataclass
class OptimConfig:
    lr: float = _f(1e-3, "AdamW learning rate")
    weight_decay: float = _f(1e-3, "AdamW (decoupled) weight decay")
    beta1: float = _f(0.9, "AdamW beta1")
    beta2: float = _f(0.999, "AdamW beta2")
    warmup_steps: int = _f(0, "linear learning-rate warmup steps")
    batch_size: int = _f(0, "examples per step; 0 = full batch (one step = one epoch)")


@dataclass
class MethodsConfig:
    loss: Literal["ce", "stablemax"] = _f("ce", "training loss: softmax or StableMax cross-entropy")
    grokfast: Literal["none", "ema", "ma"] = _f("none", "Grokfast gradient filter")
    grokfast_alpha: float = _f(0.98, "Grokfast EMA momentum alpha, in [0, 1)")
    grokfast_lamb: float = _f(2.0, "Grokfast amplification lambda (>= 0)")
    grokfast_window: int = _f(100, "Grokfast MA window (gradients)")
    grokfast_scale_lr: bool = _f(False, "divide lr by (1 + grokfast_lamb) so the amplified step matches")
    orthograd: bool = _f(False, "remove each gradient's component along its parameter (perpendicular grad)")


@dataclass
class TrainConfig:
    steps: int = _f(100_000, "optimizer-step budget (or a cap below `budget`)")
    budget: int = _f(0, "the budget the run is meant for when `steps` caps it below; 0 = steps. A run the "
                        "cap stops without grokking is recorded as cut, not DNG")
    eval_every: int = _f(100, "evaluate on the full train and test sets every k steps")
    seed: int = _f(0, "seed of the init, the batches and (unless split_seed is set) the split")
    dtype: Literal["float32", "float64"] = _f("float32", "working precision")
    device: str = _f("cpu", "torch device, e.g. cpu or cuda")
    threads: int = _f(0, "torch CPU threads; 0 = leave torch's default")
    grok_threshold: float = _f(0.9, "test accuracy the grok step must exceed and keep")
    early_stop: bool = _f(True, "stop once grokked and `patience` more steps have held")
    patience: int = _f(1000, "steps to keep training after the grok step before an early stop")
    checkpoint_every: int = _f(1000, "steps between checkpoints (rounded to evaluations)")


@dataclass
class DiagnosticsConfig:
    diagnostics: bool = _f(True, "log cheap diagnostics (radial energy, activation spectra, softmax health) "
                                 "at every evaluation")
    probe_size: int = _f(256, "training pairs (drawn once, uniformly) in the fixed probe batch the diagnostics use")
    expensive_every: int = _f(0, "evaluations between Hessian and Fourier diagnostics; 0 = never")
    hessian_probes: int = _f(20, "Rademacher probes of the Hutchinson Hessian-trace estimate")
    eigen_iters: int = _f(20, "power iterations for the top Hessian eigenvalue")


SECTIONS = {
    "task": TaskConfig,
    "model": ModelConfig,
    "penalty": PenaltyConfig,
    "optim": OptimConfig,
    "methods": MethodsConfig,
    "train": TrainConfig,
    "diag": DiagnosticsConfig,
}


@dataclass
class RunConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    penalty: PenaltyConfig = field(default_factory=PenaltyConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    methods: MethodsConfig = field(default_factory=MethodsConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    diag: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)

    def replace(self, **flat) -> "RunConfig":
        """A copy with fields overridden by their flat names, e.g. ``replace(lam=0.05)``."""
        d = to_dict(self)
        owners = {f.name: sec for sec, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
        for k, v in flat.items():
            if k not in owners:
                raise ConfigError(f"{k}: unknown config field")
            d[owners[k]][k] = v
        return from_dict(d)


class ConfigError(ValueError):
    """A bad configuration value; its message is one line naming the field."""


def to_dict(cfg: RunConfig) -> dict:
    return dataclasses.asdict(cfg)


def from_dict(d: dict) -> RunConfig:
    return RunConfig(**{sec: cls(**d.get(sec, {})) for sec, cls in SECTIONS.items()})


MAX_THREADS = 1024  # OpenMP crashes (SIGSEGV) when asked for ~10^5 threads


def min_bytes(cfg: RunConfig) -> int:
    """A lower bound on the memory a run needs: float32 weights with their gradient and two
    AdamW moments (16 bytes per parameter), the modular dataset (every pair as int64 a, b and
    label) and one batch's hidden activations. Only sizes far beyond any machine can fail it."""
    t, m = cfg.task, cfg.model
    w, depth = m.width, m.depth
    if m.arch == "mlp":
        params = (t.p * m.embed_dim if m.encoding == "embed" else 0) + mlp_matrix_entries(cfg)
    else:  # a transformer block holds at least its attention and 4x MLP matrices (12 w^2)
        params = 12 * w * w * depth + (t.p + 2 + t.block_size) * w
    modular = t.task == "modular"
    data = 24 * pair_count(t.op, t.p) if modular else 0
    rows = trained_count(t.op, t.p, t.train_frac, t.val_frac) if modular else 1
    return 16 * params + data + 4 * batch_rows(cfg.optim.batch_size, rows) * w * depth


def batch_rows(batch_size: int, n: int) -> int:
    """Rows per step: ``batch_size``, or all n when it is 0 (full batch) or not below n."""
    return batch_size if 0 < batch_size < n else n


TEXT_WINDOWS = 64  # windows per step of a character LM when batch_size is 0 (a text has no "full batch")


def window_rows(batch_size: int) -> int:
    """Windows per step of a character LM: ``batch_size``, or ``TEXT_WINDOWS`` when it is 0."""
    return batch_size if batch_size > 0 else TEXT_WINDOWS


def mlp_matrix_entries(cfg: RunConfig) -> int:
    """Entries of an MLP's weight matrices (input, hidden, output; no embedding, no biases): the
    multiply-adds one example costs in the forward pass."""
    t, m = cfg.task, cfg.model
    d_in = 2 * (t.p if m.encoding == "onehot" else m.embed_dim)
    return d_in * m.width + (m.depth - 1) * m.width ** 2 + m.width * t.p


def _available_bytes() -> int | None:
    """MemAvailable of /proc/meminfo (Linux), else None: then nothing is checked."""
    try:
        with open("/proc/meminfo") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError, IndexError):
        return None


def validate(cfg: RunConfig) -> RunConfig:
    """Raise ``ConfigError`` (one line: field, allowed values, got) on the first bad field."""

    def need(ok: bool, name: str, allowed: str, got) -> None:
        if not ok:
            raise ConfigError(f"{name} must be {allowed}, got {got!r}")

    t, m, pen, o, mt, tr, dg = cfg.task, cfg.model, cfg.penalty, cfg.optim, cfg.methods, cfg.train, cfg.diag
    for obj in (t, m, pen, mt, tr):
        for name, hint in typing.get_type_hints(type(obj)).items():
            if typing.get_origin(hint) is Literal:
                need(getattr(obj, name) in get_args(hint), name, f"one of {list(get_args(hint))}", getattr(obj, name))
    lm = t.task != "modular"
    need(lm == (m.arch == "gpt"), "arch", "'gpt' for task addition or text, 'mlp' or 'transformer' for task modular",
         m.arch)
    need(not lm or mt.loss == "ce", "loss", "'ce' for a GPT task", mt.loss)
    need(1 <= t.n_digits <= 9, "n_digits", "in [1, 9]", t.n_digits)
    need(t.train_pairs >= 1, "train_pairs", "an integer >= 1", t.train_pairs)
    need(t.test_pairs >= 1, "test_pairs", "an integer >= 1", t.test_pairs)
    need(t.train_pairs + t.test_pairs <= 100 ** t.n_digits, "test_pairs",
         f"at most {100 ** t.n_digits} - train_pairs (all {t.n_digits}-digit pairs)", t.test_pairs)
    need(t.block_size >= 1, "block_size", "an integer >= 1", t.block_size)
    need(t.eval_windows >= 1, "eval_windows", "an integer >= 1", t.eval_windows)
    need(t.task != "text" or not t.text_path or (os.path.isfile(t.text_path) and os.access(t.text_path, os.R_OK)),
         "text_path", "a readable UTF-8 file", t.text_path)
    need(t.p >= 2, "p", "an integer >= 2", t.p)
    need(t.op not in DIVISION_OPS or is_prime(t.p), "p", "prime for op 'div' (e.g. 97, 113)", t.p)
    need(0.0 < t.train_frac < 1.0, "train_frac", "in (0, 1)", t.train_frac)
    need(0.0 <= t.val_frac < 1.0, "val_frac", "in [0, 1)", t.val_frac)
    need(m.width >= 1, "width", "an integer >= 1", m.width)
    need(m.depth >= 1, "depth", "an integer >= 1", m.depth)
    need(m.n_heads >= 1 and m.width % m.n_heads == 0, "n_heads", f"a divisor of width {m.width}", m.n_heads)
    need(m.embed_dim >= 1, "embed_dim", "an integer >= 1", m.embed_dim)
    need(0.0 <= m.dropout < 1.0, "dropout", "in [0, 1)", m.dropout)
    need(m.init_scale > 0, "init_scale", "> 0", m.init_scale)
    need(pen.lam >= 0, "lam", ">= 0", pen.lam)
    need(pen.radius_scale >= 0, "radius_scale", ">= 0 (0 = activation L2)", pen.radius_scale)
    need(pen.mode == "soft" or pen.radius_scale > 0, "radius_scale", "> 0 with mode 'project'", pen.radius_scale)
    need(pen.norm_over == "example" or pen.reduce == "mean", "reduce",
         "'mean' when norm_over is 'batch' (one norm per site, nothing to reduce)", pen.reduce)
    need(o.lr > 0, "lr", "> 0", o.lr)
    need(o.weight_decay >= 0, "weight_decay", ">= 0", o.weight_decay)
    need(0 <= o.beta1 < 1, "beta1", "in [0, 1)", o.beta1)
    need(0 <= o.beta2 < 1, "beta2", "in [0, 1)", o.beta2)
    need(o.warmup_steps >= 0, "warmup_steps", ">= 0", o.warmup_steps)
    need(o.batch_size >= 0, "batch_size", ">= 0 (0 = full batch)", o.batch_size)
    need(0 <= mt.grokfast_alpha < 1, "grokfast_alpha", "in [0, 1)", mt.grokfast_alpha)
    need(mt.grokfast_lamb >= 0, "grokfast_lamb", ">= 0", mt.grokfast_lamb)
    need(mt.grokfast_window >= 1, "grokfast_window", "an integer >= 1", mt.grokfast_window)
    # torch seeds a generator with seed * 1_000_003 + step (feeds.py), which must fit in 64 bits
    need(0 <= tr.seed < 2**32, "seed", "an integer in [0, 2**32)", tr.seed)
    need(t.split_seed is None or 0 <= t.split_seed < 2**32, "split_seed", "an integer in [0, 2**32) or none",
         t.split_seed)
    need(tr.steps >= 1, "steps", "an integer >= 1", tr.steps)
    need(tr.eval_every >= 1, "eval_every", "an integer >= 1", tr.eval_every)
    need(0 <= tr.threads <= MAX_THREADS, "threads", f"in [0, {MAX_THREADS}] (0 = torch's default)", tr.threads)
    need(0 < tr.grok_threshold < 1, "grok_threshold", "in (0, 1)", tr.grok_threshold)
    need(tr.patience >= 0, "patience", ">= 0", tr.patience)
    need(tr.checkpoint_every >= 1, "checkpoint_every", "an integer >= 1", tr.checkpoint_every)
    need(dg.probe_size >= 1, "probe_size", "an integer >= 1", dg.probe_size)
    need(dg.expensive_every >= 0, "expensive_every", ">= 0 (0 = never)", dg.expensive_every)
    need(dg.hessian_probes >= 1, "hessian_probes", "an integer >= 1", dg.hessian_probes)
    need(dg.eigen_iters >= 1, "eigen_iters", "an integer >= 1", dg.eigen_iters)
    need(tr.device == "cpu" or tr.device.startswith(("cuda", "mps")), "device", "cpu, cuda[:N] or mps", tr.device)
    if tr.device == "cpu" and (avail := _available_bytes()) is not None and (need_b := min_bytes(cfg)) > avail:
        raise ConfigError(f"p {t.p}, width {m.width}, depth {m.depth}: the run needs at least "
                          f"{need_b / 2**30:,.1f} GiB (weights, AdamW state, data, one batch's activations), "
                          f"more than the {avail / 2**30:,.1f} GiB this machine has free")
    return cfg
