"""n-digit addition: formats, tokenizer, split, LM tensors, exact-match accuracy."""

import pytest
import torch

from radgrok.models.gpt import GPT, GPTConfig
from radgrok.tasks.addition import (
    END,
    TOKENIZER,
    AdditionFormat,
    exact_match_accuracy,
    make_addition,
)
from radgrok.tasks.lm import IGNORE_INDEX, lm_loss

PLAIN, REVERSED = AdditionFormat(fmt="plain"), AdditionFormat(fmt="reversed")


def test_formats_on_fixed_examples():
    assert PLAIN.example(123, 456) == "$123+456=579;"
    assert REVERSED.example(123, 456) == "$123+456=975;"
    assert PLAIN.prompt(123, 456) == REVERSED.prompt(123, 456) == "$123+456="
    assert PLAIN.example(999, 999) == "$999+999=1998;"
    assert REVERSED.example(999, 999) == "$999+999=8991;"
    assert PLAIN.example(5, 7) == "$005+007=12;"
    assert REVERSED.example(5, 7) == "$005+007=21;"
    assert REVERSED.example(0, 0) == "$000+000=0;"
    padded = AdditionFormat(fmt="plain", pad_answer=True)
    assert padded.example(5, 7) == "$005+007=0012;"
    assert AdditionFormat(fmt="reversed", pad_answer=True).example(5, 7) == "$005+007=2100;"
    assert AdditionFormat(fmt="plain", pad_operands=False).example(5, 7) == "$5+7=12;"
    assert AdditionFormat(n_digits=2, fmt="reversed").example(99, 1) == "$99+01=001;"
    assert PLAIN.max_len == len(PLAIN.example(999, 999)) == 14
    with pytest.raises(ValueError):
        PLAIN.example(1000, 1)
    with pytest.raises(ValueError):
        AdditionFormat(fmt="backwards")


def test_tokenizer():
    assert TOKENIZER.vocab_size == 15
    assert [TOKENIZER.stoi[str(d)] for d in range(10)] == list(range(10))
    s = "$123+456=975;"
    ids = TOKENIZER.encode(s)
    assert TOKENIZER.decode(ids) == s
    assert TOKENIZER.encode_tensor(s).tolist() == ids
    batch = TOKENIZER.encode_batch(["$1+2=3;", "$10+20=30;"])
    assert batch.shape == (2, 10) and (batch[0, 7:] == TOKENIZER.pad_id).all()
    assert TOKENIZER.decode(batch[0], strip_pad=True) == "$1+2=3;"
    with pytest.raises(KeyError):
        TOKENIZER.encode("12*3")


def test_split_disjoint_seeded_and_sized():
    d = make_addition(n_train=5000, n_test=2000, split_seed=3)
    tr = set(map(tuple, d.train_pairs.tolist()))
    te = set(map(tuple, d.test_pairs.tolist()))
    assert len(tr) == 5000 and len(te) == 2000 and not tr & te  # distinct and disjoint
    assert d.train_pairs.min() >= 0 and d.train_pairs.max() <= 999
    again = make_addition(n_train=5000, n_test=2000, split_seed=3)
    assert torch.equal(again.train_pairs, d.train_pairs) and torch.equal(again.test_pairs, d.test_pairs)
    other = make_addition(n_train=5000, n_test=2000, split_seed=4)
    assert not torch.equal(other.train_pairs, d.train_pairs)
    # train_frac on a small space: every pair is used exactly once.
    small = make_addition(n_digits=1, train_frac=0.3, split_seed=0)
    assert len(small.train_pairs) == 30 and len(small.test_pairs) == 70
    every = set(map(tuple, torch.cat([small.train_pairs, small.test_pairs]).tolist()))
    assert len(every) == 100
    with pytest.raises(ValueError):
        make_addition(n_digits=1, n_train=90, n_test=20)


def test_split_large_space_without_permutation():
    d = make_addition(n_digits=5, n_train=3000, n_test=1000, split_seed=0)  # 10^10 pairs
    ids = torch.cat([d.train_pairs, d.test_pairs])
    assert len(set(map(tuple, ids.tolist()))) == 4000
    assert torch.equal(make_addition(n_digits=5, n_train=3000, n_test=1000).test_pairs, d.test_pairs)


def test_lm_tensors_mask_answer_tokens():
    d = make_addition(fmt="reversed", n_train=64, n_test=8)
    t = d.lm_tensors("train")
    assert t.x.shape == t.y.shape == t.mask.shape == (64, d.block_size)
    for r, (a, b) in enumerate(d.train_pairs.tolist()):
        scored = TOKENIZER.decode(t.y[r][t.mask[r]])
        assert scored == d.fmt.answer(a, b) + END
        assert (t.y[r][~t.mask[r]] == IGNORE_INDEX).all()
        # x is the right-padded example without its last character.
        assert TOKENIZER.decode(t.x[r]) == d.fmt.example(a, b).ljust(d.fmt.max_len, "_")[:-1]
    everything = d.lm_tensors("train", loss_on="all")
    r = 0
    a, b = d.train_pairs[r].tolist()
    assert TOKENIZER.decode(everything.y[r][everything.mask[r]]) == d.fmt.example(a, b)[1:]
    assert everything.mask.sum() > t.mask.sum()


def oracle(fmt: AdditionFormat):
    """A perfect model: reads each row's prompt and predicts the next correct character."""

    def model(idx: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(*idx.shape, TOKENIZER.vocab_size)
        for r, row in enumerate(TOKENIZER.decode(idx[r]) for r in range(idx.shape[0])):
            prompt, _, done = row.partition("=")
            a, b = (int(s) for s in prompt[1:].split("+"))
            full = fmt.answer(a, b) + END
            nxt = full[len(done)] if len(done) < len(full) else END
            logits[r, -1, TOKENIZER.stoi[nxt]] = 1.0
        return logits

    return model


@pytest.mark.parametrize("fmt", [PLAIN, REVERSED, AdditionFormat(fmt="plain", pad_operands=False)])
def test_exact_match_oracle_is_perfect(fmt):
    d = make_addition(fmt=fmt.fmt, pad_operands=fmt.pad_operands, n_train=10, n_test=300, split_seed=1)
    acc = exact_match_accuracy(oracle(fmt), d.prompts("test"), d.answers("test"), batch_size=64)
    assert acc == 1.0
    # A model that is right on the digits but never ends the answer gets nothing.
    def never_ends(idx):
        logits = oracle(fmt)(idx)
        logits[..., TOKENIZER.stoi[END]] = -1.0
        return logits

    assert exact_match_accuracy(never_ends, d.prompts("test"), d.answers("test")) == 0.0


def test_exact_match_untrained_gpt_below_one():
    d = make_addition(fmt="reversed", n_train=10, n_test=200)
    torch.manual_seed(0)
    m = GPT(GPTConfig.tiny(TOKENIZER.vocab_size, d.block_size))
    m.train()
    assert d.exact_match(m, "test") < 1.0
    assert m.training  # the evaluation restored the mode


def test_tiny_gpt_memorises_a_few_examples():
    # End to end: the mask, the shift and generation agree, so a model trained on
    # the masked answer loss can emit those answers.
    d = make_addition(fmt="reversed", n_train=16, n_test=16, split_seed=0)
    torch.manual_seed(0)
    m = GPT(GPTConfig.tiny(TOKENIZER.vocab_size, d.block_size))
    t = d.lm_tensors("train")
    opt = torch.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=0.0)
    for _ in range(150):
        loss = lm_loss(m(t.x), t.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert d.exact_match(m, "train") == 1.0
