"""The task kinds radgrok trains on, in one registry: what differs between them, asked of one place.

For each kind (``TaskConfig.task``): how its data is made and split, which feed gives its batches
and evaluations (``feeds.py``), the vocabulary and context a GPT needs for it, one line that
describes it in a report, and whether its held-out split is a validation set whose best loss a
report reads (a language model). Models are chosen by ``model.arch``, losses by the arch and
``methods.loss``; neither depends on the kind.

Importing this module does not import torch (reports describe runs through it); the kinds'
functions import what they build when called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..runs.config import RunConfig, batch_rows, window_rows
from ..runs.sizes import trained_count

__all__ = ["TaskKind", "TASK_KINDS", "kind_of"]


@dataclass(frozen=True)
class TaskKind:
    data: Callable[[RunConfig], Any]  # the dataset of a config, split by its seed
    feed: Callable[[Any, RunConfig, Any], Any]  # (data, config, device) -> the task's feed
    describe: Callable[[dict], str]  # one report line from a recorded config's task section
    gpt_shape: Callable[[Any, RunConfig], tuple[int, int]] | None = None  # (vocab, block) of a GPT on it
    held_out_is_validation: bool = False  # reports take the best held-out loss, as an LM is kept at it
    # rows (examples, sequences or windows) of one training step, from the config alone, as the feed takes them
    rows: Callable[[RunConfig], int] = lambda cfg: 0


def _split_seed(cfg: RunConfig) -> int:
    return cfg.train.seed if cfg.task.split_seed is None else cfg.task.split_seed


def _modular_data(cfg: RunConfig) -> Any:
    from ..tasks.modular import make_modular

    t = cfg.task
    return make_modular(t.op, t.p, t.train_frac, _split_seed(cfg), t.val_frac)


def _modular_feed(data: Any, cfg: RunConfig, device: Any) -> Any:
    from .feeds import ModularFeed

    return ModularFeed(data, device, cfg.optim.batch_size, cfg.train.seed)


def _modular_rows(cfg: RunConfig) -> int:
    t = cfg.task
    return batch_rows(cfg.optim.batch_size, trained_count(t.op, t.p, t.train_frac, t.val_frac))


def _addition_data(cfg: RunConfig) -> Any:
    from ..tasks.addition import make_addition

    t = cfg.task
    return make_addition(t.n_digits, t.fmt, n_train=t.train_pairs, n_test=t.test_pairs, split_seed=_split_seed(cfg))


def _addition_feed(data: Any, cfg: RunConfig, device: Any) -> Any:
    from .feeds import AdditionFeed

    return AdditionFeed(data, device, cfg.optim.batch_size, cfg.train.seed)


def _addition_shape(data: Any, cfg: RunConfig) -> tuple[int, int]:
    from ..tasks.addition import TOKENIZER

    return TOKENIZER.vocab_size, data.block_size


def _text_data(cfg: RunConfig) -> Any:
    from ..tasks.text import make_text_data

    # A text splits by position (its last 10% is held out); there is nothing to seed.
    return make_text_data(cfg.task.text_path or None, val_frac=0.1)


def _text_feed(data: Any, cfg: RunConfig, device: Any) -> Any:
    from .feeds import TextFeed

    return TextFeed(data, device, cfg.optim.batch_size, cfg.train.seed, cfg.task.block_size, cfg.task.eval_windows)


TASK_KINDS: dict[str, TaskKind] = {
    "modular": TaskKind(
        _modular_data, _modular_feed,
        lambda t: f"Task: {t['op']} mod {t['p']}, train fraction {t['train_frac']}",
        rows=_modular_rows),
    "addition": TaskKind(
        _addition_data, _addition_feed,
        lambda t: (f"Task: {t['n_digits']}-digit addition, answer {t['fmt']}, {t['train_pairs']:,} training and "
                   f"{t['test_pairs']:,} held-out pairs, accuracy = exact match of the greedy answer"),
        gpt_shape=_addition_shape, rows=lambda cfg: batch_rows(cfg.optim.batch_size, cfg.task.train_pairs)),
    "text": TaskKind(
        _text_data, _text_feed,
        lambda t: f"Task: character LM on {t['text_path'] or 'the bundled sample'}, context {t['block_size']}",
        gpt_shape=lambda data, cfg: (data.tokenizer.vocab_size, cfg.task.block_size),
        held_out_is_validation=True, rows=lambda cfg: window_rows(cfg.optim.batch_size)),
}


def kind_of(task: str | None) -> TaskKind:
    """The kind named by a config's ``task.task`` (records older than the field are modular)."""
    return TASK_KINDS[task or "modular"]
