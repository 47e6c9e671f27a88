"""A pre-LayerNorm transformer for modular arithmetic, and the blocks the GPT reuses.

The input (a, b) becomes the sequence ``[a, op, b, =]`` over a vocabulary of P + 2
tokens (0..P-1 are the numbers, P is the operator, P + 1 is '='); the logits over
the P answers are read at the last position.

Every sub-layer's output passes through a named ``HookPoint`` *before* it is added
to the residual stream (``blocks.{i}.hook_attn_out``, ``blocks.{i}.hook_mlp_out``):
that is where the paper puts the radial penalty, and a forward hook needs a module
to attach to. Every token position is one hidden vector h.

Attention is written out by hand (no fused ``scaled_dot_product_attention``) so
that torch.func transforms (vmap over models or examples, per-example gradients)
and double backward (Hessian-vector products) work on every device, CPU included.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

from radgrok.models.mlp import HookPoint

__all__ = ["Transformer", "Block", "SelfAttention", "FeedForward", "make_norm", "init_gpt2_"]

LNKind = Literal["affine", "nonaffine", "none"]
Activation = Literal["relu", "gelu"]


def make_norm(kind: LNKind, d: int, bias: bool = True) -> nn.Module:
    """LayerNorm with a learned gain and bias ("affine"), without ("nonaffine"), or none.

    The non-affine and absent variants are the LayerNorm ablations of the paper's
    Table 9: a learned gain can undo any normalisation of scale the penalty does.
    """
    if kind == "affine":
        return nn.LayerNorm(d, bias=bias)
    if kind == "nonaffine":
        return nn.LayerNorm(d, elementwise_affine=False)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"ln must be 'affine', 'nonaffine' or 'none', got {kind!r}")


class SelfAttention(nn.Module):
    """Multi-head self-attention, ``softmax(Q K^T / sqrt(d_head)) V``, causal or not.

    Works on inputs of shape (..., T, d_model): every reshape uses negative dims so
    the module runs unchanged under vmap, where the batch dimension is hidden.
    """

    mask: torch.Tensor  # a buffer (register_buffer below)

    def __init__(
        self, d_model: int, n_heads: int, n_ctx: int, causal: bool = True,
        dropout: float = 0.0, bias: bool = True,
    ) -> None:
        super().__init__()
        if d_model % n_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.n_heads, self.d_head, self.causal = n_heads, d_model // n_heads, causal
        # Separate projections (not one fused qkv matrix) so each has its own name
        # for diagnostics: ``attn.q.weight``, ``attn.k.weight``, ...
        self.q = nn.Linear(d_model, d_model, bias=bias)
        self.k = nn.Linear(d_model, d_model, bias=bias)
        self.v = nn.Linear(d_model, d_model, bias=bias)
        self.out = nn.Linear(d_model, d_model, bias=bias)
        self.attn_drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        # A buffer (not rebuilt per call) so the mask moves with .to(device); not
        # persistent because it is a function of n_ctx, not learned state.
        self.register_buffer("mask", torch.ones(n_ctx, n_ctx, dtype=torch.bool).tril(), persistent=False)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        # (..., T, d_model) -> (..., H, T, d_head)
        return t.unflatten(-1, (self.n_heads, self.d_head)).transpose(-2, -3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[-2]
        if t > self.mask.shape[0]:
            raise ValueError(f"sequence length {t} exceeds the context size {self.mask.shape[0]}")
        q, k, v = self._heads(self.q(x)), self._heads(self.k(x)), self._heads(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d_head)
        if self.causal:
            # The diagonal is always allowed, so no row is all -inf (no NaN).
            scores = scores.masked_fill(~self.mask[:t, :t], float("-inf"))
        att = self.attn_drop(scores.softmax(dim=-1))
        y = (att @ v).transpose(-2, -3).flatten(-2)  # back to (..., T, d_model)
        return self.out(y)


class FeedForward(nn.Module):
    """``fc_out(act(fc_in(x)))`` with a hidden width of ``d_mlp``."""

    def __init__(self, d_model: int, d_mlp: int, act: Activation = "relu", bias: bool = True) -> None:
        super().__init__()
        if act not in ("relu", "gelu"):
            raise ValueError(f"act must be 'relu' or 'gelu', got {act!r}")
        self.fc_in = nn.Linear(d_model, d_mlp, bias=bias)
        self.fc_out = nn.Linear(d_mlp, d_model, bias=bias)
        self.act = nn.ReLU() if act == "relu" else nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc_out(self.act(self.fc_in(x)))


class Block(nn.Module):
    """One pre-LN block: ``x + attn(ln(x))`` then ``x + mlp(ln(x))``.

    The hook points sit on each sub-layer's output before dropout and the residual
    add, so the penalty (and any diagnostic) sees the sub-layer's own output, not a
    randomly masked and 1/(1-p)-rescaled copy of it.
    """

    def __init__(
        self, d_model: int, n_heads: int, d_mlp: int, n_ctx: int, act: Activation = "relu",
        ln: LNKind = "affine", causal: bool = True, dropout: float = 0.0, bias: bool = True,
    ) -> None:
        super().__init__()
        self.ln_attn = make_norm(ln, d_model, bias)
        self.attn = SelfAttention(d_model, n_heads, n_ctx, causal, dropout, bias)
        self.hook_attn_out = HookPoint()
        self.ln_mlp = make_norm(ln, d_model, bias)
        self.mlp = FeedForward(d_model, d_mlp, act, bias)
        self.hook_mlp_out = HookPoint()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.hook_attn_out(self.attn(self.ln_attn(x))))
        x = x + self.drop(self.hook_mlp_out(self.mlp(self.ln_mlp(x))))
        return x


def init_gpt2_(model: nn.Module, n_layer: int, std: float = 0.02) -> None:
    """GPT-2's initialisation, in place: weights ~ N(0, std), biases 0, and the two
    projections that write into the residual stream (``attn.out``, ``mlp.fc_out``)
    scaled by 1/sqrt(2 n_layer) so the stream's variance does not grow with depth.
    LayerNorms keep their (1, 0) init."""
    for name, mod in model.named_modules():
        if isinstance(mod, (nn.Linear, nn.Embedding)):
            s = std / math.sqrt(2 * n_layer) if name.endswith(("attn.out", "mlp.fc_out")) else std
            nn.init.normal_(mod.weight, mean=0.0, std=s)
            bias = getattr(mod, "bias", None)  # nn.Embedding has none
            if bias is not None:
                nn.init.zeros_(bias)


class BlockSites:
    """Hook-point names of a stack ``self.blocks`` of ``Block``s (shared by Transformer and GPT)."""

    blocks: nn.ModuleList

    @property
    def attn_out_sites(self) -> list[str]:
        return [f"blocks.{i}.hook_attn_out" for i in range(len(self.blocks))]

    @property
    def mlp_out_sites(self) -> list[str]:
        return [f"blocks.{i}.hook_mlp_out" for i in range(len(self.blocks))]

    @property
    def default_penalty_sites(self) -> list[str]:
        """Every sub-layer output before its residual add, in forward order (the paper's site)."""
        return [s for i in range(len(self.blocks)) for s in (self.attn_out_sites[i], self.mlp_out_sites[i])]


class Transformer(BlockSites, nn.Module):
    """A pre-LN transformer on ``[a, op, b, =]``, logits over P at the last position.

    Defaults follow the paper's Table 3: 2 layers, 4 heads, d_model 128, MLP 4x.
    ``ln`` picks the LayerNorm variant (Table 9); a final norm of the same kind
    precedes the unembedding. Weights start from GPT-2's init (``init_gpt2_``), then
    every parameter is multiplied by ``init_scale`` (a knob for large-init studies).
    """

    n_ctx = 4  # [a, op, b, =]

    def __init__(
        self,
        p: int,
        n_layers: int = 2,
        n_heads: int = 4,
        d_model: int = 128,
        d_mlp: int | None = None,
        act: Activation = "relu",
        ln: LNKind = "affine",
        causal: bool = True,
        dropout: float = 0.0,
        init_scale: float = 1.0,
        n_out: int | None = None,
    ) -> None:
        super().__init__()
        if p < 2:
            raise ValueError(f"p must be >= 2, got {p}")
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}")
        self.p, self.ln_kind = p, ln
        d_mlp = 4 * d_model if d_mlp is None else d_mlp
        self.tok_emb = nn.Embedding(p + 2, d_model)
        self.pos_emb = nn.Embedding(self.n_ctx, d_model)
        self.blocks = nn.ModuleList(
            Block(d_model, n_heads, d_mlp, self.n_ctx, act, ln, causal, dropout) for _ in range(n_layers)
        )
        self.ln_f = make_norm(ln, d_model)
        self.unembed = nn.Linear(d_model, n_out or p, bias=False)
        init_gpt2_(self, n_layers)
        if init_scale != 1.0:
            with torch.no_grad():
                for prm in self.parameters():
                    prm.mul_(init_scale)

    @property
    def vocab_size(self) -> int:
        return self.p + 2

    @property
    def op_token(self) -> int:
        return self.p

    @property
    def eq_token(self) -> int:
        return self.p + 1

    def make_sequence(self, x: torch.Tensor) -> torch.Tensor:
        """(..., 2) ids (a, b) -> (..., 4) tokens ``[a, op, b, =]``."""
        # full_like (not torch.full with an explicit shape) keeps this vmap-friendly.
        op = torch.full_like(x[..., :1], self.op_token)
        eq = torch.full_like(x[..., :1], self.eq_token)
        return torch.cat([x[..., :1], op, x[..., 1:2], eq], dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (N, 2) ids (a, b), or (N, 4) ready-made sequences -> (N, n_out) logits."""
        if x.shape[-1] == 2:
            x = self.make_sequence(x)
        elif x.shape[-1] != self.n_ctx:
            raise ValueError(f"expected (..., 2) pairs or (..., 4) sequences, got shape {tuple(x.shape)}")
        h = self.tok_emb(x) + self.pos_emb.weight
        for block in self.blocks:
            h = block(h)
        return self.unembed(self.ln_f(h[..., -1, :]))
