"""The stacked MLP's pure pieces for ``train_many``: S seeds' parameters with a leading seed dim.

``make_forward`` is ``MLP.forward`` with ``loop.build``'s hooks as a pure function (vmapped
over seeds by the caller); ``stacked_onehot_first`` computes the one-hot first layer of all
seeds at once outside vmap; ``adamw_`` is torch's AdamW on the stacked tensors with each
seed's own hyperparameters. Kept apart from the training loop in multiseed.py.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from ..models.mlp import onehot_linear
from ..penalty import project as project_onto
from .config import RunConfig

__all__ = ["make_forward", "stacked_onehot_first", "adamw_"]


def stacked_onehot_first(w: Tensor, b: Tensor, x: Tensor, p: int) -> Tensor:
    """``onehot_linear`` for S stacked seeds at once, outside vmap: w (S, width, 2p), b (S, width),
    x (S, N, 2) -> (S, N, width).

    Under vmap, ``onehot_linear``'s index_select becomes a gather and its backward a
    scatter_add, about 7x slower on the CPU (benchmarks/results/vm-2026-11-23-multiseed-profile-before.json).
    One index_select into the S tables laid end to end keeps the single model's kernels:
    the same sums in the same order, and an in-order index_add backward.
    """
    s, n = x.shape[0], x.shape[1]
    table = w.transpose(1, 2).contiguous().view(s * 2 * p, -1)  # seed k's rows at [2pk, 2p(k+1))
    off = torch.arange(s, device=x.device)[:, None] * (2 * p)
    za = table.index_select(0, (x[..., 0] + off).flatten())
    zb = table.index_select(0, (x[..., 1] + p + off).flatten())
    return (za + zb).view(s, n, -1) + b[:, None, :]


def make_forward(cfg: RunConfig, first_given: bool = False
                 ) -> tuple[Callable[[dict, Tensor, list], tuple[Tensor, list[Tensor]]], float]:
    """A pure ``forward(params, x, noise) -> (logits, hooked hiddens)`` mirroring ``MLP.forward``
    with ``loop.build``'s RadialSuppression hooks, and the penalty radius r.

    ``params`` are named as in ``MLP.named_parameters()``; ``noise`` holds one scaled
    dropout mask per hidden layer, or is empty (eval, or dropout 0). The hiddens are
    taken before any projection, as the hooks record them. With ``first_given`` and
    one-hot inputs, ``x`` is the first layer's pre-activation (``stacked_onehot_first``).
    """
    p, depth, onehot = cfg.task.p, cfg.model.depth, cfg.model.encoding == "onehot"
    at_pre, project = cfg.penalty.site == "pre", cfg.penalty.mode == "project"
    r = cfg.penalty.radius_scale * math.sqrt(cfg.model.width)

    def hook(h: Tensor, seen: list[Tensor]) -> Tensor:
        seen.append(h)
        # RadialSuppression's projection: the same function
        return project_onto(h, r, cfg.penalty.norm_over) if project else h

    def forward(params: dict, x: Tensor, noise: list) -> tuple[Tensor, list[Tensor]]:
        seen: list[Tensor] = []
        h = x  # layer 0 reads x (below); every later layer the previous layer's h
        for i in range(depth):
            w, b = params[f"hidden.{i}.linear.weight"], params[f"hidden.{i}.linear.bias"]
            if i > 0:
                z = F.linear(h, w, b)
            elif onehot and first_given:
                z = x
            elif onehot:
                z = onehot_linear(w, b, x, p)  # exactly MLP._first's computation
            else:
                z = F.linear(F.embedding(x, params["embed.weight"]).flatten(1), w, b)
            if at_pre:
                z = hook(z, seen)
            h = F.relu(z)
            if not at_pre:
                h = hook(h, seen)
            if noise:
                h = h * noise[i]  # F.dropout on cpu is exactly input * (bernoulli(1-q) / (1-q))
        return F.linear(h, params["out.weight"], params["out.bias"]), seen

    return forward, r


def adamw_(params: dict[str, Tensor], exp_avg: dict, exp_avg_sq: dict, step: int,
            lr: list[float], groups: list[dict]) -> None:
    """torch.optim.AdamW's single-tensor update (its cpu default), per seed along dim 0.

    ``groups`` are the seeds' own AdamW param groups (betas, eps, weight decay). The
    scalars are computed in Python as torch does and cast to the working dtype, as
    its scalar kernels do, so each seed follows its own optimizer's arithmetic.
    """
    ref = next(iter(params.values()))
    b1, b2 = [g["betas"][0] for g in groups], [g["betas"][1] for g in groups]
    h = torch.tensor([
        [1 - a * g["weight_decay"] for a, g in zip(lr, groups)],  # decoupled weight decay
        [1 - b for b in b1],                                      # lerp weight of exp_avg
        b2,
        [1 - b for b in b2],
        [(1 - b ** step) ** 0.5 for b in b2],                     # sqrt of bias correction 2
        [g["eps"] for g in groups],
        [-(a / (1 - b ** step)) for a, b in zip(lr, b1)],         # -lr / bias correction 1
    ], dtype=ref.dtype)
    # A plain host-to-GPU copy synchronises the stream: once per step, that left the GPU idle
    # while the CPU queued the next step's kernels. From pinned memory the copy is queued.
    h = h.pin_memory().to(ref.device, non_blocking=True) if ref.device.type == "cuda" else h
    with torch.no_grad():
        for k, p in params.items():
            decay, w1, beta2, c2, bc2, eps, neg_step = h.view(7, -1, *([1] * (p.dim() - 1))).unbind(0)
            g, m, v = p.grad, exp_avg[k], exp_avg_sq[k]
            assert g is not None, f"adamw_: {k} has no gradient"
            p.mul_(decay)
            m.lerp_(g, w1)
            v.mul_(beta2).add_(c2 * g * g)  # addcmul's order: value * t1 * t2
            p.add_(neg_step * m / (v.sqrt() / bc2).add_(eps))  # addcdiv's order: value * t1 / t2
            p.grad = None
