"""``eval_mode(model)``: the model in eval mode for the length of a ``with`` block, its mode restored after.

Evaluations, probes and diagnostics run between training steps: dropout must draw no random numbers
there (a resumed run stays on the same random stream), and the training step after them must find the
model in the mode it left it in, also when the block raised.

>>> import torch
>>> m = torch.nn.Dropout(0.5)
>>> with eval_mode(m):
...     m.training
False
>>> m.training
True
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from torch import nn

__all__ = ["eval_mode"]


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)
