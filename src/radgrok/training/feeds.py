"""Where a run's batches and evaluations come from: one small class per task kind.

The loop (``loop.py``) is the same for every task: it asks its feed for the batch
of a step, and for one evaluation row at each evaluation. A feed owns the
device-resident data and knows what "accuracy" means for its task:

* ``ModularFeed`` -- (a op b) mod P: argmax accuracy of the answer on every train
  and test pair (full batch or seeded mini-batches).
* ``AdditionFeed`` -- n-digit addition with a GPT: token loss on the answer, and
  **exact match of the greedily generated answer** on held-out pairs, which is the
  accuracy the grok step is defined on (as for the modular tasks).
* ``TextFeed`` -- a character LM: next-character loss and accuracy on fixed windows
  of the training text and of its held-out tail. Nothing groks here; the figure of
  merit is the held-out loss (the paper's Table 10).

Every batch is a pure function of (seed, step), so a resumed run draws exactly the
batches an uninterrupted one would have.
"""

from __future__ import annotations

import math

import torch

from ..models.modes import eval_mode
from ..runs.config import batch_rows, window_rows
from ..tasks.addition import AdditionData
from ..tasks.lm import lm_loss
from ..tasks.modular import ModularData
from ..tasks.text import TextData

__all__ = ["ModularFeed", "AdditionFeed", "TextFeed", "batch_indices", "model_stats", "probe_indices", "evaluate"]


def probe_indices(n: int, size: int) -> torch.Tensor:
    """The diagnostics' fixed probe batch: ``size`` training examples drawn uniformly.

    Not the first ``size``: training pairs are stored sorted by (a, b), so a prefix
    holds only the smallest few values of a and skews every probe statistic (the
    input covariance most of all). The generator is fixed, so every evaluation,
    every resumption and the vmapped multi-seed engine use the same batch.
    """
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:size].sort().values


def batch_indices(n: int, batch_size: int, seed: int, step: int, cache: dict) -> torch.Tensor | None:
    """Mini-batch for ``step``: epoch e uses randperm(n) seeded by (seed, e); None = full batch."""
    if batch_size <= 0 or batch_size >= n:
        return None
    per_epoch = math.ceil(n / batch_size)
    epoch, j = divmod(step, per_epoch)
    if cache.get("epoch") != epoch:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        cache["epoch"], cache["perm"] = epoch, torch.randperm(n, generator=g)
    return cache["perm"][j * batch_size:(j + 1) * batch_size]


def model_stats(b) -> dict:
    """Penalty (raw and weighted), weight norm and radius per site, from the last forward.

    ``penalty_raw`` is the unweighted sum over the sites; ``penalty`` is the term the
    loss actually carried (0 in projection mode).
    """
    rs, penalty_raw = b.rs, float(b.rs.penalty_sum())
    weight_norm = math.sqrt(sum(float(p.detach().double().square().sum()) for p in b.model.parameters()))
    return {"penalty_raw": penalty_raw, "penalty": rs.lam * penalty_raw if rs.active else 0.0,
            "weight_norm": weight_norm, **{f"radius/{k}": v for k, v in rs.radii().items()}}


def _scores(b, split: str, x: torch.Tensor, y: torch.Tensor) -> dict:
    """``<split>_loss`` (the run's loss: CE, StableMax or the LM's) and ``<split>_acc`` (argmax accuracy) of
    one forward of ``x``."""
    logits = b.model(x)
    return {f"{split}_loss": b.loss_fn(logits, y).item(),
            f"{split}_acc": (logits.argmax(-1) == y).double().mean().item()}


@torch.no_grad()
def evaluate(b, x_tr, y_tr, x_te, y_te, x_va=None, y_va=None) -> dict:
    """Loss and accuracy on the full train and test sets, radii, penalty and weight norm."""
    with eval_mode(b.model):
        row = _scores(b, "train", x_tr, y_tr)
        stats = model_stats(b)  # radii and penalty of the training forward; logged for every arm, lam = 0 included
        row.update(_scores(b, "test", x_te, y_te))
        if x_va is not None:
            row.update(_scores(b, "val", x_va, y_va))
    return {**row, **stats}


class _RowFeed:
    """A feed whose training set is one (inputs, targets) pair of row tensors on the device: full
    batch or seeded mini-batches (``batch_indices``), and the probe rows of ``probe_indices``."""

    def __init__(self, x_tr: torch.Tensor, y_tr: torch.Tensor, device: torch.device, batch_size: int,
                 seed: int) -> None:
        self.x_tr, self.y_tr = x_tr, y_tr
        self.n_train = x_tr.shape[0]
        self.batch = batch_rows(batch_size, self.n_train)
        self.seed, self.device = seed, device
        self._cache: dict = {}

    def train_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = batch_indices(self.n_train, self.batch, self.seed, step, self._cache)
        if idx is None:
            return self.x_tr, self.y_tr
        idx = idx.to(self.device)
        return self.x_tr[idx], self.y_tr[idx]

    def probe(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = probe_indices(self.n_train, size).to(self.device)
        return self.x_tr[idx], self.y_tr[idx]


class ModularFeed(_RowFeed):
    """(a op b) mod P on the device: the whole train and test sets, evaluated exactly."""

    def __init__(self, data: ModularData, device: torch.device, batch_size: int, seed: int) -> None:
        super().__init__(data.x_train.to(device), data.y_train.to(device), device, batch_size, seed)
        self.x_te, self.y_te = data.x_test.to(device), data.y_test.to(device)
        x_va, y_va = data.x_val, data.y_val  # None without a validation split
        self.val = (x_va.to(device), y_va.to(device)) if x_va is not None and y_va is not None else ()

    def evaluate(self, b) -> dict:
        return evaluate(b, self.x_tr, self.y_tr, self.x_te, self.y_te, *self.val)


class AdditionFeed(_RowFeed):
    """n-digit addition: answer-token loss for training, exact match of generations for accuracy."""

    def __init__(self, data: AdditionData, device: torch.device, batch_size: int, seed: int) -> None:
        self.train = data.lm_tensors("train").to(device)
        self.test = data.lm_tensors("test").to(device)
        super().__init__(self.train.x, self.train.y, device, batch_size, seed)
        # Exact match over every test pair, and over a fixed uniform sample of 1,000 training
        # pairs (``probe_indices``): memorisation only needs an estimate.
        self.train_eval = self.train.subset(probe_indices(self.n_train, 1000).to(device))

    @torch.no_grad()
    def evaluate(self, b) -> dict:
        with eval_mode(b.model):
            train_loss, train_acc = _loss_and_exact_match(b.model, self.train_eval)
            # radii of the training forward, as for the modular task
            row = {"train_loss": train_loss, "train_acc": train_acc, **model_stats(b)}
            test_loss, test_acc = _loss_and_exact_match(b.model, self.test)
        return {**row, "test_loss": test_loss, "test_acc": test_acc}


def _loss_and_exact_match(model, lm, chunk: int = 4096) -> tuple[float, float]:
    """Answer-token loss and exact-match accuracy of greedy decoding, in one forward.

    Greedy generation reproduces the answer exactly iff, fed the true prefix, the
    argmax is right at every answer position: if all are right, generation walks
    the true sequence; at the first wrong position it has seen the true prefix and
    emits the same wrong token. A causal model's logits at a position depend only
    on its prefix, so one teacher-forced forward gives what ``exact_match_accuracy``
    (batched generation, answer length + 1 forwards) gives; tests check the two agree.
    """
    total, count, correct = 0.0, 0, 0
    for s in range(0, len(lm), chunk):
        x, y, mask = lm.x[s:s + chunk], lm.y[s:s + chunk], lm.mask[s:s + chunk]
        logits = model(x)
        k = int(mask.sum())
        if k:
            total += lm_loss(logits, y).item() * k
            count += k
        correct += int(((logits.argmax(-1) == y) | ~mask).all(dim=1).sum())
    return total / max(count, 1), correct / max(len(lm), 1)


class TextFeed:
    """A character LM: random training windows per step, fixed windows for evaluation."""

    def __init__(self, data: TextData, device: torch.device, batch_size: int, seed: int,
                 block_size: int, eval_windows: int) -> None:
        self.data, self.device, self.seed, self.block = data, device, seed, block_size
        # "Examples" are non-overlapping windows, so that epoch = step * batch / n_train
        # counts passes over the training text as for the other tasks.
        self.n_train = max(1, len(data.train) // block_size)
        self.batch = window_rows(batch_size)
        # The evaluation windows are the same at every evaluation and for every seed
        # (generator 0), so curves and arms are compared on identical text.
        g = torch.Generator().manual_seed(0)
        self.eval_tr = data.get_batch("train", eval_windows, block_size, g, device)
        self.eval_va = data.get_batch("val", eval_windows, block_size, g, device)

    def train_batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        return self.data.get_batch("train", self.batch, self.block, g, self.device)

    def probe(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.eval_tr[0][:size], self.eval_tr[1][:size]

    @torch.no_grad()
    def evaluate(self, b) -> dict:
        with eval_mode(b.model):  # the radii are of the training forward: model_stats follows it
            row = {**_scores(b, "train", *self.eval_tr), **model_stats(b)}
            return {**row, **_scores(b, "test", *self.eval_va)}
