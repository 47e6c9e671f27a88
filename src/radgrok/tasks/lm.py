"""What the language-model tasks (addition, text) agree on with whatever model they train:
a target that does not count, the next-token loss, and decoding.

The model is any callable mapping (B, T) token ids to (B, T, V) logits (``GPT`` is one); the
loss and the masking are the task's, so the model stays a plain logits-returning module that any
training loop and any hook (the penalty, diagnostics) can read.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch.nn import functional as F

__all__ = ["IGNORE_INDEX", "lm_loss", "generate_tokens"]

IGNORE_INDEX = -100  # targets with this value do not count in lm_loss


def lm_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over targets != IGNORE_INDEX.

    logits: (B, T, V); targets: (B, T).
    """
    return F.cross_entropy(logits.flatten(0, -2), targets.flatten(), ignore_index=IGNORE_INDEX)


@torch.no_grad()
def generate_tokens(
    model: Callable[[torch.Tensor], torch.Tensor],
    idx: torch.Tensor,
    max_new_tokens: int,
    block_size: int | None = None,
    temperature: float = 0.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Extend every row of ``idx`` (B, T) by ``max_new_tokens`` tokens -> (B, T + new).

    ``model`` is any callable mapping (B, T) token ids to (B, T, V) logits. Greedy
    (argmax) when ``temperature`` is 0, else sampled from softmax(logits / T).
    The context is cropped to the last ``block_size`` tokens when given (a GPT's
    ``config.block_size``). There is no KV cache: the sequences this library generates
    are short, and re-running the prefix keeps any callable usable here. The model is used
    as it is (call ``.eval()`` first to switch dropout off).
    """
    for _ in range(max_new_tokens):
        ctx = idx if block_size is None else idx[:, -block_size:]
        logits = model(ctx)[:, -1, :]
        if temperature == 0.0:
            nxt = logits.argmax(dim=-1, keepdim=True)
        else:
            probs = (logits.float() / temperature).softmax(dim=-1)
            nxt = torch.multinomial(probs, 1, generator=generator)
        idx = torch.cat([idx, nxt.to(idx.dtype)], dim=1)
    return idx
