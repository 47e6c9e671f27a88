"""A nanoGPT-style causal language model: the paper's model for 3-digit addition.

Token + learned position embeddings, a stack of pre-LN blocks (causal attention
written by hand, GELU MLP; the ``Block`` of ``transformer.py``), a final LayerNorm,
and an output head that shares its weight with the token embedding. The paper's
size is 6 layers, 6 heads, 384 wide (about 10.7M parameters); tests use ~0.1M.

The hook points are named as in ``Transformer``: ``blocks.{i}.hook_attn_out`` and
``blocks.{i}.hook_mlp_out``, so ``RadialSuppression(gpt, gpt.default_penalty_sites,
lam)`` puts the penalty on every sub-layer output at every token position.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from radgrok.models.transformer import Block, BlockSites, init_gpt2_

__all__ = ["GPTConfig", "GPT"]


@dataclass(frozen=True)
class GPTConfig:
    """Sizes of a GPT. The defaults other than ``vocab_size`` are the paper's ≈10M model."""

    vocab_size: int
    block_size: int = 64  # longest context, in tokens
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.0
    bias: bool = True  # biases in Linear layers and LayerNorms

    @classmethod
    def tiny(cls, vocab_size: int, block_size: int = 64, **kw) -> "GPTConfig":
        """About 0.1M parameters: 2 layers, 2 heads, 64 wide (tests, CPU smoke runs)."""
        return cls(vocab_size, block_size, **{"n_layer": 2, "n_head": 2, "n_embd": 64, **kw})


class GPT(BlockSites, nn.Module):
    """A decoder-only transformer: ``GPT(GPTConfig(...))`` or ``GPT(vocab_size=..., n_layer=...)``.

    ``forward(idx)`` maps (B, T) token ids to (B, T, vocab_size) logits; loss, masking and decoding
    are the task's (``radgrok.tasks.lm``: ``lm_loss``, ``generate_tokens(gpt, idx, n, gpt.config.block_size)``).
    """

    def __init__(self, config: GPTConfig | None = None, **overrides) -> None:
        super().__init__()
        cfg = GPTConfig(**overrides) if config is None else replace(config, **overrides)
        if cfg.vocab_size < 1 or cfg.block_size < 1 or cfg.n_layer < 1:
            raise ValueError(f"vocab_size, block_size and n_layer must be >= 1, got {cfg}")
        self.config = cfg
        d = cfg.n_embd
        self.tok_emb = nn.Embedding(cfg.vocab_size, d)
        self.pos_emb = nn.Embedding(cfg.block_size, d)
        self.drop = nn.Dropout(cfg.dropout) if cfg.dropout > 0 else nn.Identity()
        self.blocks = nn.ModuleList(
            Block(d, cfg.n_head, 4 * d, cfg.block_size, act="gelu", ln="affine",
                  causal=True, dropout=cfg.dropout, bias=cfg.bias)
            for _ in range(cfg.n_layer)
        )
        self.ln_f = nn.LayerNorm(d, bias=cfg.bias)
        self.lm_head = nn.Linear(d, cfg.vocab_size, bias=False)
        init_gpt2_(self, cfg.n_layer)
        # Tie after init: the head reads out with the same vectors the embedding
        # writes in, which saves vocab_size * n_embd parameters and is GPT-2's choice.
        self.lm_head.weight = self.tok_emb.weight

    def num_params(self, include_position: bool = True) -> int:
        """Number of distinct parameters (the tied head/embedding counted once).

        ``include_position=False`` leaves out the position table, whose size is set
        by ``block_size`` rather than by the model's capacity.
        """
        n = sum(prm.numel() for prm in self.parameters())
        return n if include_position else n - self.pos_emb.weight.numel()

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """idx: (B, T) int64 with T <= block_size -> (B, T, vocab_size) logits."""
        t = idx.shape[-1]
        if t > self.config.block_size:
            raise ValueError(f"sequence length {t} exceeds block_size {self.config.block_size}")
        h = self.drop(self.tok_emb(idx) + self.pos_emb.weight[:t])
        for block in self.blocks:
            h = block(h)
        return self.lm_head(self.ln_f(h))
