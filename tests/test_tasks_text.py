"""Character-level text data: tokenizer, positional split, batches, the bundled sample."""

import pytest
import torch

from radgrok.tasks.text import CharTokenizer, bundled_text_path, make_text_data, read_text

TEXT = "to be, or not to be: that is the question.\n" * 20


def test_tokenizer_round_trip():
    tok = CharTokenizer.from_text(TEXT)
    assert tok.itos == sorted(set(TEXT))
    s = "that is the question"
    assert tok.decode(tok.encode(s)) == s
    assert tok.encode_tensor(TEXT).tolist() == tok.encode(TEXT)
    with pytest.raises(KeyError):
        tok.encode("Z")
    with pytest.raises(KeyError):
        tok.encode_tensor("Z")


def test_non_ascii_text():
    text = "naïve café — ok"
    tok = CharTokenizer.from_text(text)
    assert tok.decode(tok.encode_tensor(text)) == text


def test_split_by_position():
    d = make_text_data(text=TEXT, val_frac=0.25)
    n = len(TEXT)
    assert len(d.train) + len(d.val) == n
    assert len(d.val) == round(0.25 * n)
    # The train split is the start of the text and the validation split its end.
    assert d.tokenizer.decode(d.train) == TEXT[: len(d.train)]
    assert d.tokenizer.decode(d.val) == TEXT[len(d.train):]
    with pytest.raises(ValueError):
        make_text_data(text=TEXT, val_frac=1.0)


def test_batches():
    d = make_text_data(text=TEXT, val_frac=0.2)
    g = torch.Generator().manual_seed(0)
    x, y = d.get_batch("train", 8, 16, generator=g)
    assert x.shape == y.shape == (8, 16) and x.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1])  # y is x shifted by one
    # Every window is a contiguous piece of the training split.
    train = d.tokenizer.decode(d.train)
    for r in range(8):
        assert d.tokenizer.decode(torch.cat([x[r], y[r, -1:]])) in train
    x2, _ = d.get_batch("train", 8, 16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(x, x2)  # seeded
    xv, _ = d.get_batch("val", 4, 16, generator=g)
    assert xv.shape == (4, 16)
    with pytest.raises(ValueError):
        d.get_batch("val", 4, len(d.val))
    with pytest.raises(ValueError):
        d.get_batch("test", 4, 16)


def test_bundled_text_loads(tmp_path):
    path = bundled_text_path()
    assert path.is_file()
    text = read_text()
    assert len(text) > 4000 and "Shall I compare thee to a summer's day?" in text
    d = make_text_data()
    assert d.tokenizer.vocab_size > 40 and len(d.val) > 0
    assert d.split_record()["n_train"] == len(d.train)
    # A user's own file works the same way.
    own = tmp_path / "own.txt"
    own.write_text(TEXT, encoding="utf-8")
    mine = make_text_data(own)
    assert mine.tokenizer.decode(mine.train) == TEXT[: len(mine.train)] and mine.source == str(own)
