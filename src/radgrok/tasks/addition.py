"""n-digit addition as character-level language modelling (the paper's nanoGPT task).

One example is one string, for n = 3:

    plain:     $123+456=579;        reversed:  $123+456=975;
               $005+007=12;                    $005+007=21;

* ``$`` starts an example and ``;`` ends it; the end marker is how a generating
  model says "the answer is complete", so exact match requires it.
* Operands are written with exactly n digits (leading zeros) by default
  (``pad_operands``): every prompt then has the same length, 2n + 3 tokens, so a
  batch of prompts needs no padding and a digit's position fixes its place value.
* The answer is written without padding by default (``pad_answer=False``): n or
  n + 1 digits for large operands, fewer for small ones. ``pad_answer=True`` writes
  exactly n + 1 digits: leading zeros in plain order, which become trailing zeros
  when reversed ($005+007=0012; and $005+007=2100;).
* "reversed" writes the answer least-significant digit first, the order in which
  carries are computed, which is known to make addition much easier to learn.

The tokenizer has 15 characters: the digits 0-9 (ids 0-9, so a digit's id is its
value), '+' 10, '=' 11, '$' 12, ';' 13 and the pad '_' 14. Language-model tensors
are right-padded with '_', which is never a target.

The split samples distinct operand pairs (a, b), a, b in [0, 10^n), without
replacement from all 10^(2n) with a seeded generator: train and test never share a
pair, and the same seed gives the same split.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from .lm import IGNORE_INDEX, generate_tokens
from .text import CharTokenizer

__all__ = [
    "START", "END", "PAD", "TOKENIZER", "AdditionFormat", "AdditionData", "LMTensors",
    "make_addition", "exact_match_accuracy",
]

START, END, PAD = "$", ";", "_"
TOKENIZER = CharTokenizer("0123456789+=$;", pad=PAD)

Format = Literal["plain", "reversed"]
Split = Literal["train", "test"]
LossOn = Literal["answer", "all"]


@dataclass(frozen=True)
class AdditionFormat:
    """How an addition example is written (see the module docstring)."""

    n_digits: int = 3
    fmt: Format = "reversed"
    pad_operands: bool = True
    pad_answer: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.n_digits <= 9:
            raise ValueError(f"n_digits must be in [1, 9], got {self.n_digits}")
        if self.fmt not in ("plain", "reversed"):
            raise ValueError(f"fmt must be 'plain' or 'reversed', got {self.fmt!r}")

    def _operand(self, v: int) -> str:
        if not 0 <= v < 10 ** self.n_digits:
            raise ValueError(f"operand {v} does not have at most {self.n_digits} digits")
        return str(v).zfill(self.n_digits) if self.pad_operands else str(v)

    def prompt(self, a: int, b: int) -> str:
        """What the model is given: ``$123+456=``."""
        return f"{START}{self._operand(a)}+{self._operand(b)}="

    def answer(self, a: int, b: int) -> str:
        """The answer digits alone, in this format's order and width: ``975``."""
        s = str(a + b)
        if self.pad_answer:
            s = s.zfill(self.n_digits + 1)
        return s[::-1] if self.fmt == "reversed" else s

    def example(self, a: int, b: int) -> str:
        """The full training string: prompt, answer, end marker."""
        return self.prompt(a, b) + self.answer(a, b) + END

    @property
    def max_len(self) -> int:
        """Tokens in the longest example: 3n + 5 (14 for n = 3)."""
        return 2 * self.n_digits + 3 + self.n_digits + 1 + 1


@dataclass
class LMTensors:
    """Next-token training tensors: ``y[:, t]`` is the token after ``x[:, t]``.

    ``y`` holds IGNORE_INDEX wherever ``mask`` is False, so ``lm_loss(model(x), y)``
    scores exactly the masked-in targets.
    """

    x: torch.Tensor  # (N, L - 1) int64 inputs
    y: torch.Tensor  # (N, L - 1) int64 targets
    mask: torch.Tensor  # (N, L - 1) bool

    def __len__(self) -> int:
        return self.x.shape[0]

    def subset(self, index: torch.Tensor) -> "LMTensors":
        return LMTensors(self.x[index], self.y[index], self.mask[index])

    def to(self, device: torch.device | str) -> "LMTensors":
        return LMTensors(self.x.to(device), self.y.to(device), self.mask.to(device))


def _sample_distinct(total: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """k distinct ids from range(total), uniformly without replacement."""
    if total <= 1 << 24:
        return torch.randperm(total, generator=generator)[:k]
    # Too many ids to permute (n_digits >= 5): draw with replacement and keep the
    # first occurrence of each id until k are distinct; order stays seed-determined.
    ids = torch.empty(0, dtype=torch.long)
    while ids.numel() < k:
        ids = torch.cat([ids, torch.randint(total, (k + k // 8 + 16,), generator=generator)])
        uniq, inverse = torch.unique(ids, return_inverse=True)
        first = torch.full((uniq.numel(),), ids.numel(), dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(ids.numel()), reduce="amin")
        ids = ids[first.sort().values]
    return ids[:k]


@dataclass
class AdditionData:
    """A seeded split of operand pairs plus the format that turns them into text."""

    fmt: AdditionFormat
    train_pairs: torch.Tensor  # (n_train, 2) int64 (a, b)
    test_pairs: torch.Tensor  # (n_test, 2) int64
    split_seed: int

    def pairs(self, split: Split) -> torch.Tensor:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return self.train_pairs if split == "train" else self.test_pairs

    def _map(self, split: Split, fn: Callable[[int, int], str]) -> list[str]:
        return [fn(a, b) for a, b in self.pairs(split).tolist()]

    def examples(self, split: Split) -> list[str]:
        return self._map(split, self.fmt.example)

    def prompts(self, split: Split) -> list[str]:
        return self._map(split, self.fmt.prompt)

    def answers(self, split: Split) -> list[str]:
        return self._map(split, self.fmt.answer)

    @property
    def block_size(self) -> int:
        """The context a GPT needs to train on (and answer) every example: max_len - 1."""
        return self.fmt.max_len - 1

    def lm_tensors(self, split: Split, loss_on: LossOn = "answer") -> LMTensors:
        """All examples of a split as (x, y, mask), right-padded to ``fmt.max_len``.

        ``loss_on="answer"`` scores the answer digits and the end marker (the
        prompt is given, so predicting it is not the task); ``"all"`` scores every
        real token after the start marker. Padding is never scored.
        """
        if loss_on not in ("answer", "all"):
            raise ValueError(f"loss_on must be 'answer' or 'all', got {loss_on!r}")
        tokens = TOKENIZER.encode_batch(self.examples(split), length=self.fmt.max_len)
        x, y = tokens[:, :-1], tokens[:, 1:].clone()
        mask = y != TOKENIZER.pad_id
        if loss_on == "answer":
            prompt_len = torch.tensor([len(p) for p in self.prompts(split)])
            target_pos = torch.arange(1, tokens.shape[1])  # y[:, t] is token t + 1
            mask &= target_pos[None, :] >= prompt_len[:, None]
        y[~mask] = IGNORE_INDEX
        return LMTensors(x, y, mask)

    def exact_match(self, model: Callable, split: Split = "test", limit: int | None = None,
                    batch_size: int = 1024) -> float:
        """``exact_match_accuracy`` on the first ``limit`` examples of a split."""
        p, a = self.prompts(split), self.answers(split)
        if limit is not None:
            p, a = p[:limit], a[:limit]
        return exact_match_accuracy(model, p, a, batch_size=batch_size)

    def split_record(self) -> dict:
        return {"task": "addition", "n_digits": self.fmt.n_digits, "fmt": self.fmt.fmt,
                "pad_operands": self.fmt.pad_operands, "pad_answer": self.fmt.pad_answer,
                "split_seed": self.split_seed, "n_train": len(self.train_pairs),
                "n_test": len(self.test_pairs), "train_pairs": self.train_pairs.tolist()}


def make_addition(
    n_digits: int = 3,
    fmt: Format = "reversed",
    n_train: int | None = None,
    n_test: int | None = None,
    train_frac: float | None = None,
    split_seed: int = 0,
    pad_operands: bool = True,
    pad_answer: bool = False,
) -> AdditionData:
    """Sample disjoint train and test operand pairs.

    Sizes: ``train_frac`` gives n_train = round(train_frac * 10^(2n)) and, unless
    ``n_test`` is set, every other pair for testing. Otherwise n_train and n_test
    default to min(10,000, what is left). Pairs are sorted within each split.
    """
    form = AdditionFormat(n_digits, fmt, pad_operands, pad_answer)
    base = 10 ** n_digits
    total = base * base
    if train_frac is not None:
        if n_train is not None:
            raise ValueError("give train_frac or n_train, not both")
        if not 0.0 < train_frac < 1.0:
            raise ValueError(f"train_frac must be in (0, 1), got {train_frac}")
        n_train = max(1, min(total - 1, round(train_frac * total)))
        n_test = total - n_train if n_test is None else n_test
    else:
        n_train = min(10_000, total // 2) if n_train is None else n_train
        n_test = min(10_000, total - n_train) if n_test is None else n_test
    if n_train < 1 or n_test < 0 or n_train + n_test > total:
        raise ValueError(f"n_train={n_train}, n_test={n_test} do not fit in {total} pairs")
    g = torch.Generator().manual_seed(split_seed)
    ids = _sample_distinct(total, n_train + n_test, g)
    train_ids, test_ids = ids[:n_train].sort().values, ids[n_train:].sort().values

    def to_pairs(i: torch.Tensor) -> torch.Tensor:
        return torch.stack([i // base, i % base], dim=1)

    return AdditionData(form, to_pairs(train_ids), to_pairs(test_ids), split_seed)


@torch.no_grad()
def exact_match_accuracy(
    model: Callable,
    prompts: Sequence[str],
    answers: Sequence[str],
    tokenizer: CharTokenizer = TOKENIZER,
    end: str = END,
    batch_size: int = 1024,
    block_size: int | None = None,
) -> float:
    """Fraction of prompts whose greedy continuation is exactly ``answer + end``.

    ``model`` is a GPT or any callable mapping (B, T) token ids to (B, T, V) logits
    (greedy decoding via ``generate_tokens``, the context cropped to ``block_size`` when
    given; a GPT built for the data never needs it: prompt and answer fit its block).
    Prompts are batched by length so that no prompt needs padding. Tokens after the end
    marker are not looked at. An ``nn.Module`` is put in eval mode for the call and
    restored after.
    """
    if len(prompts) != len(answers):
        raise ValueError(f"{len(prompts)} prompts but {len(answers)} answers")
    if not prompts:
        raise ValueError("no prompts")
    was_training = isinstance(model, nn.Module) and model.training
    if isinstance(model, nn.Module):
        model.eval()
    params = model.parameters() if isinstance(model, nn.Module) else iter(())
    device = next((prm.device for prm in params), torch.device("cpu"))
    by_len: dict[int, list[int]] = defaultdict(list)
    for i, p in enumerate(prompts):
        by_len[len(p)].append(i)
    correct = 0
    try:
        for plen, rows in by_len.items():
            for s in range(0, len(rows), batch_size):
                chunk = rows[s:s + batch_size]
                targets = [tokenizer.encode(answers[i] + end) for i in chunk]
                n_new = max(len(t) for t in targets)
                # -1 marks "beyond this row's end marker": never compared.
                want = pad_sequence([torch.tensor(t) for t in targets], batch_first=True, padding_value=-1)
                idx = tokenizer.encode_batch([prompts[i] for i in chunk]).to(device)
                out = generate_tokens(model, idx, n_new, block_size)
                got = out[:, plen:plen + n_new].cpu()
                correct += int(((got == want) | (want < 0)).all(dim=1).sum())
    finally:
        if was_training and isinstance(model, nn.Module):
            model.train()
    return correct / len(prompts)
