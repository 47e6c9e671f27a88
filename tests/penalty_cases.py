"""Shared by the penalty package's tests: closed forms, small models, the readings."""

import math

import torch
from torch import nn


def closed_form(h: torch.Tensor, r: float | None = None):
    d = h.shape[-1]
    r = math.sqrt(d) if r is None else r
    flat = h.reshape(-1, d)
    norms = flat.norm(dim=-1)
    value = ((norms - r) ** 2).mean() / d
    m = flat.shape[0]
    grad = (2.0 / d) * ((norms - r) / norms)[:, None] * flat / m
    return value, grad.reshape(h.shape)


class Foreign(nn.Module):
    """A model radgrok did not define, with a tuple-returning sub-module."""

    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(6, 16)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        z = self.enc(x)
        a, _ = self.attn(z, z, z)
        return self.head(a).mean(1)


def grads(model, loss):
    model.zero_grad(set_to_none=True)
    loss.backward()
    return [p.grad.clone() if p.grad is not None else None for p in model.parameters()]


def mlp():
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 6), nn.ReLU(), nn.Linear(6, 3)).double()


READINGS = [("example", "mean"), ("example", "sum"), ("batch", "mean")]


def closed_form_reading(h: torch.Tensor, r: float, norm_over: str, reduce: str):
    """Value and gradient of (1/d)(||h|| - r)^2 under one reading, written out by hand."""
    d = h.shape[-1]
    flat = h.reshape(-1, d)
    if norm_over == "batch":
        n = flat.norm()
        return (n - r) ** 2 / d, ((2.0 / d) * (n - r) / n * h)
    n = flat.norm(dim=-1)
    m = flat.shape[0] if reduce == "mean" else 1
    grad = (2.0 / (d * m)) * ((n - r) / n)[:, None] * flat
    return ((n - r) ** 2).sum() / (d * m), grad.reshape(h.shape)


class Residual(nn.Module):
    """``out(h + block(h))``: autograd hands block's output and h one and the same gradient."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(2)
        self.inp, self.block, self.out = nn.Linear(5, 6), nn.Linear(6, 6), nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        return self.out(h + self.block(h))
