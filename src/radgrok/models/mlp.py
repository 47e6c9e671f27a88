"""The paper's MLP for binary operations: encode (a, b), hidden ReLU layers, logits over P.

Hidden pre-activations pass through named identity modules ``hidden.{i}.pre`` (and
post-activations through ``hidden.{i}.post``) so that forward hooks -- the penalty,
diagnostics -- can target them by name, as TransformerLens does with hook points.
"""

from __future__ import annotations

from typing import Iterable, Literal, cast

import torch
from torch import nn

from .modes import eval_mode

__all__ = ["MLP", "HookPoint", "onehot_linear", "one_hot_concat"]

Encoding = Literal["onehot", "embed"]


def onehot_linear(weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, p: int) -> torch.Tensor:
    """``[onehot(a), onehot(b)] @ weight.T + bias`` computed as two row gathers.

    The gathers read a contiguous copy of ``weight.T`` with ``index_select``: its
    backward is an in-order ``index_add_`` into contiguous memory, which is both
    faster than advanced indexing's accumulate on a transposed view and
    deterministic when torch uses several threads (that accumulate is not).
    """
    wt = weight.t().contiguous()
    return wt.index_select(0, x[:, 0]) + wt.index_select(0, p + x[:, 1]) + bias


def one_hot_concat(x: torch.Tensor, p: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``[onehot(a), onehot(b)]`` of shape (N, 2P): the matrix ``onehot_linear`` multiplies
    without building it, for whoever needs it written out."""
    n = x.shape[0]
    out = torch.zeros(n, 2 * p, dtype=dtype, device=x.device)  # on x's device: a GPU probe batch stays there
    rows = torch.arange(n, device=x.device)
    out[rows, x[:, 0]] = 1
    out[rows, p + x[:, 1]] = 1
    return out


class HookPoint(nn.Identity):
    """An identity whose only job is to be a named place to hook."""


class _Hidden(nn.Module):
    def __init__(self, d_in: int, width: int, dropout: float) -> None:
        super().__init__()
        self.linear = nn.Linear(d_in, width)
        self.pre = HookPoint()
        # a module, not F.relu: a penalty on ``pre`` then fuses its backward with this one's
        self.act = nn.ReLU()
        self.post = HookPoint()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()


class MLP(nn.Module):
    """``depth`` hidden ReLU layers of ``width`` units on an encoding of (a, b).

    encoding="onehot": the input is [onehot(a), onehot(b)] (2P features). The first
    layer is stored as an ``nn.Linear(2P, width)`` (same init, same weight decay),
    but computed as two column look-ups instead of a mostly-zero matmul.
    encoding="embed": a learned table of ``embed_dim``-vectors shared by a and b,
    the two vectors concatenated.
    ``init_scale`` multiplies every weight after PyTorch's default init.
    """

    def __init__(
        self,
        p: int,
        width: int = 512,
        depth: int = 2,
        encoding: Encoding = "onehot",
        embed_dim: int = 128,
        dropout: float = 0.0,
        init_scale: float = 1.0,
        n_out: int | None = None,
    ) -> None:
        super().__init__()
        if encoding not in ("onehot", "embed"):
            raise ValueError(f"encoding must be 'onehot' or 'embed', got {encoding!r}")
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        self.p, self.encoding = p, encoding
        self.embed = nn.Embedding(p, embed_dim) if encoding == "embed" else None
        d_in = 2 * p if encoding == "onehot" else 2 * embed_dim
        dims = [d_in] + [width] * depth
        self.hidden = nn.ModuleList(_Hidden(dims[i], dims[i + 1], dropout) for i in range(depth))
        self.out = nn.Linear(width, n_out or p)
        if init_scale != 1.0:
            with torch.no_grad():
                for prm in self.parameters():
                    prm.mul_(init_scale)

    @property
    def pre_activation_sites(self) -> list[str]:
        return [f"hidden.{i}.pre" for i in range(len(self.hidden))]

    @property
    def post_activation_sites(self) -> list[str]:
        return [f"hidden.{i}.post" for i in range(len(self.hidden))]

    # The penalty's default targets: the hidden pre-activations (the paper's site).
    default_penalty_sites = pre_activation_sites

    @property
    def linear_sites(self) -> dict[str, nn.Linear]:
        """Each site that is the output of a linear layer, with that layer: ``hidden.{i}.pre`` is
        ``hidden.{i}.linear`` of layer i's input. What reads a site as ``W x + b`` (Proposition 1's
        anisotropy) needs no more of this class than this and ``linear_inputs``."""
        layers = cast("Iterable[_Hidden]", self.hidden)
        return {site: layer.linear for site, layer in zip(self.pre_activation_sites, layers)}

    @torch.no_grad()
    def linear_inputs(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The input of each ``linear_sites`` layer on token ids x, keyed by its site.

        The one-hot first layer never runs ``nn.Linear`` (it is two row gathers), so its input is
        written out as ``[onehot(a), onehot(b)]`` (N, 2P); the others are captured by hooks on
        ``hidden.{i}.linear`` during one eval-mode forward (dropout off, hooks removed afterwards,
        previous train/eval mode restored).
        """
        sites = self.linear_sites
        seen: dict[str, torch.Tensor] = {}
        handles = []
        for site, linear in sites.items():
            def hook(module, args, out, site=site):
                seen[site] = args[0].detach()
            handles.append(linear.register_forward_hook(hook))
        try:
            with eval_mode(self):
                self(x)
        finally:
            for hd in handles:
                hd.remove()
        if self.encoding == "onehot":
            first = next(iter(sites))
            seen[first] = one_hot_concat(x, self.p, sites[first].weight.dtype)
        return {site: seen[site] for site in sites}

    def _first(self, x: torch.Tensor) -> torch.Tensor:
        lin = cast(_Hidden, self.hidden[0]).linear
        if self.encoding == "onehot":
            return onehot_linear(lin.weight, lin.bias, x, self.p)
        assert self.embed is not None  # encoding == "embed"
        return lin(self.embed(x).flatten(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 2) int64 token ids -> (N, n_out) logits."""
        h = x  # layer 0 reads x (through _first); every later layer the previous layer's h
        # (the casts: nn.ModuleList is typed as holding Modules; these are the _Hidden layers)
        for i, layer in enumerate(cast("Iterable[_Hidden]", self.hidden)):
            z = layer.pre(self._first(x) if i == 0 else layer.linear(h))
            h = layer.drop(layer.post(layer.act(z)))
        return self.out(h)
