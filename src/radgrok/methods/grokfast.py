"""Grokfast (arXiv 2405.20233): amplify the slow part of the gradient.

The idea: a parameter's gradient over training is a signal in time. Its fast,
high-frequency part drives memorisation; its slow part is what eventually
generalises. Grokfast low-pass filters the gradient and adds ``lamb`` times the
filtered signal back, so the optimizer sees ``g + lamb * lowpass(g)``.

Two filters:

* EMA: ``e_1 = g_1``; ``e_t = alpha * e_{t-1} + (1 - alpha) * g_t``. Unrolled,
  ``e_k = alpha^(k-1) g_1 + (1 - alpha) * sum_{i=2..k} alpha^(k-i) g_i``.
  Amplification starts at the first step (with ``e_1 = g_1`` it doubles as
  ``g_1 * (1 + lamb)``).
* MA: the mean of the last ``window`` raw gradients. By default it does *nothing*
  until the window is full, as the reference method does: the mean of a handful of
  early gradients is not a low-pass estimate, and amplifying it would mostly amplify
  the first, largest gradients. ``amplify_before_full=True`` uses the mean of what is
  stored instead.

Both filters always see the *raw* gradient (the filter is updated before ``.grad``
is modified), so the state never feeds back on itself.

Each filter is a function ``gradfilter_*(params, state, ...) -> state`` that edits
``.grad`` in place and returns the state to pass in next time, plus a small class
that holds the state and can be checkpointed. Use them after ``loss.backward()`` and
before ``optimizer.step()``; anything added to the loss (e.g. radgrok's penalty) is
already inside ``.grad`` by then, so no special case is needed.

Parameters whose ``.grad`` is None (or that do not require grad) are skipped at that
step: their state is neither updated nor decayed.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Iterable, Iterator, Mapping, Union

import torch
from torch import nn

__all__ = ["gradfilter_ema", "gradfilter_ma", "GrokfastEMA", "GrokfastMA", "make_filter", "scaled_lr"]

# A model, a {name: parameter} mapping, or (name, parameter) pairs.
Params = Union[nn.Module, Mapping[str, torch.Tensor], Iterable[tuple[str, torch.Tensor]]]


def scaled_lr(lr: float, lamb: float) -> float:
    """``lr / (1 + lamb)``: the learning rate that keeps SGD's step size unchanged.

    Once the gradient is steady the filter output is about g itself, so the
    optimizer sees about ``(1 + lamb) * g``. Dividing the learning rate by
    ``1 + lamb`` removes that overall gain and leaves only the change of direction.
    Adam-type optimizers normalise the gradient's scale away, so for them this
    matters much less.
    """
    if lamb <= -1:
        raise ValueError(f"lamb must be > -1, got {lamb}")
    return lr / (1.0 + lamb)


def _named_grads(params: Params) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, grad) for every parameter that has a gradient this step."""
    if isinstance(params, nn.Module):
        items: Iterable[tuple[str, torch.Tensor]] = params.named_parameters()
    elif isinstance(params, Mapping):
        items = params.items()
    else:
        items = params
    for name, p in items:
        if p.requires_grad and p.grad is not None:
            if p.grad.is_sparse:
                raise ValueError(f"Grokfast: sparse gradient for {name!r} is not supported")
            yield name, p.grad


@torch.no_grad()
def gradfilter_ema(params: Params, ema: dict[str, torch.Tensor] | None = None, alpha: float = 0.98,
                   lamb: float = 2.0) -> dict[str, torch.Tensor]:
    """One Grokfast-EMA step: ``g <- g + lamb * e`` with ``e`` updated from raw g first.

    Args:
        params: a model, a ``{name: parameter}`` mapping or ``(name, parameter)`` pairs.
        ema: the state returned by the previous call (None on the first call). It is
            updated in place, to avoid reallocating a model-sized buffer every step.
        alpha: EMA momentum in [0, 1); the filter's memory is about ``1/(1-alpha)`` steps.
        lamb: amplification of the filtered gradient.

    Returns:
        The state, ``{name: EMA tensor}``, to pass to the next call.
    """
    if not 0.0 <= alpha < 1.0:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    ema = {} if ema is None else ema
    for name, g in _named_grads(params):
        e = ema.get(name)
        if e is None:
            # Start from the first gradient rather than from zero: a zero start would
            # bias the filter towards 0 for ~1/(1-alpha) steps (Adam's bias problem).
            ema[name] = e = g.detach().clone()
        else:
            e.mul_(alpha).add_(g, alpha=1.0 - alpha)
        g.add_(e, alpha=lamb)
    return ema


@torch.no_grad()
def gradfilter_ma(params: Params, history: dict[str, deque] | None = None, window: int = 100, lamb: float = 5.0,
                  amplify_before_full: bool = False) -> dict[str, deque]:
    """One Grokfast-MA step: ``g <- g + lamb * mean(last window raw gradients)``.

    Args:
        params: as for ``gradfilter_ema``.
        history: the state returned by the previous call (None on the first call),
            ``{name: deque of past raw gradients}``; updated in place.
        window: how many past gradients to average. Memory is ``window`` copies of
            the model's gradients.
        lamb: amplification of the filtered gradient.
        amplify_before_full: False (the reference behaviour): leave ``.grad``
            untouched until ``window`` gradients are stored. True: amplify from the
            first step with the mean of those stored so far.

    Returns:
        The state to pass to the next call.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    history = {} if history is None else history
    for name, g in _named_grads(params):
        buf = history.get(name)
        if buf is None or buf.maxlen != window:
            buf = history[name] = deque(buf or (), maxlen=window)
        buf.append(g.detach().clone())
        if len(buf) < window and not amplify_before_full:
            continue
        # Sum the stored gradients afresh each step (rather than keeping a running
        # sum) so that rounding errors cannot accumulate over a long run.
        mean = buf[0].clone()
        for past in list(buf)[1:]:
            mean.add_(past)
        g.add_(mean, alpha=lamb / len(buf))
    return history


def _param_devices(model: nn.Module) -> dict[str, torch.device]:
    return {n: p.device for n, p in model.named_parameters()}


class GrokfastEMA:
    """Grokfast-EMA for one model: call ``.step()`` after backward, before the optimizer.

    ``state_dict()`` holds the hyper-parameters and a copy of every EMA tensor, so a
    run restored with ``load_state_dict`` takes exactly the same next step.
    """

    def __init__(self, model: nn.Module, alpha: float = 0.98, lamb: float = 2.0) -> None:
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha must be in [0, 1), got {alpha}")
        self.model = model
        self.alpha = float(alpha)
        self.lamb = float(lamb)
        self.ema: dict[str, torch.Tensor] = {}

    def step(self) -> None:
        """Filter and amplify the current ``.grad`` of every parameter that has one."""
        self.ema = gradfilter_ema(self.model, self.ema, self.alpha, self.lamb)

    def reset(self) -> None:
        """Forget the filter's history (the next gradient restarts the EMA)."""
        self.ema = {}

    def state_dict(self) -> dict[str, Any]:
        ema = {k: v.detach().clone() for k, v in self.ema.items()}
        return {"alpha": self.alpha, "lamb": self.lamb, "ema": ema}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        devices = _param_devices(self.model)
        self.alpha = float(state["alpha"])
        self.lamb = float(state["lamb"])
        # clone: the loaded dict must not alias our buffers, which we update in place.
        self.ema = {k: v.detach().to(devices.get(k, v.device)).clone() for k, v in state["ema"].items()}

    def __repr__(self) -> str:
        return f"GrokfastEMA(alpha={self.alpha}, lamb={self.lamb})"


class GrokfastMA:
    """Grokfast-MA for one model: call ``.step()`` after backward, before the optimizer.

    ``amplify_before_full``: as for ``gradfilter_ma``.
    """

    def __init__(self, model: nn.Module, window: int = 100, lamb: float = 5.0,
                 amplify_before_full: bool = False) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.model = model
        self.window = int(window)
        self.lamb = float(lamb)
        self.amplify_before_full = bool(amplify_before_full)
        self.history: dict[str, deque] = {}

    def step(self) -> None:
        """Record the raw gradients, then amplify them by their moving average."""
        self.history = gradfilter_ma(self.model, self.history, self.window, self.lamb, self.amplify_before_full)

    def reset(self) -> None:
        """Forget the stored gradients (the window starts filling again)."""
        self.history = {}

    def state_dict(self) -> dict[str, Any]:
        history = {k: [t.detach().clone() for t in buf] for k, buf in self.history.items()}
        return {"window": self.window, "lamb": self.lamb, "amplify_before_full": self.amplify_before_full,
                "history": history}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        devices = _param_devices(self.model)
        self.window = int(state["window"])
        self.lamb = float(state["lamb"])
        self.amplify_before_full = bool(state["amplify_before_full"])
        self.history = {
            k: deque((t.detach().to(devices.get(k, t.device)).clone() for t in buf), maxlen=self.window)
            for k, buf in state["history"].items()
        }

    def __repr__(self) -> str:
        return f"GrokfastMA(window={self.window}, lamb={self.lamb}, amplify_before_full={self.amplify_before_full})"


def make_filter(model: nn.Module, kind: str | None, alpha: float = 0.98, lamb: float = 2.0,
                window: int = 100) -> GrokfastEMA | GrokfastMA | None:
    """The Grokfast filter named ``kind`` ("ema", "ma"; "none" or None: no filter) for ``model``."""
    if kind in (None, "none"):
        return None
    if kind == "ema":
        return GrokfastEMA(model, alpha=alpha, lamb=lamb)
    if kind == "ma":
        return GrokfastMA(model, window=window, lamb=lamb)
    raise ValueError(f"grokfast must be 'ema', 'ma' or none, got {kind!r}")
