"""Character-level language-model data from a text file (the paper's Table 10 check).

The vocabulary is the sorted set of characters in the text; the split is by
position (the first ``1 - val_frac`` of the characters train, the rest validate),
so no validation window overlaps a training one except across the single cut.
Batches are random windows of ``block_size + 1`` characters drawn with an explicit
``torch.Generator``, so a run's data order is reproducible from its seed.

A few KB of public-domain text (ten of Shakespeare's sonnets) ship with the
package as ``data/tiny_text.txt`` for tests and demos; for the paper's setting pass
the path of Tiny Shakespeare (about 1 MB) or any other text file.

``CharTokenizer`` is also the tokenizer of the addition task (``addition.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable, Literal, Sequence

import torch

__all__ = ["CharTokenizer", "TextData", "bundled_text_path", "read_text", "make_text_data"]

Split = Literal["train", "val"]


class CharTokenizer:
    """One token per character; ids follow the order of ``chars``.

    ``pad``, when given, is a character reserved for padding (appended to the
    vocabulary if absent); ``pad_id`` is its id.
    """

    def __init__(self, chars: Iterable[str], pad: str | None = None) -> None:
        itos = list(dict.fromkeys(chars))  # unique, order kept
        if any(len(c) != 1 for c in itos):
            raise ValueError("every vocabulary entry must be a single character")
        if pad is not None and pad not in itos:
            itos.append(pad)
        self.itos: list[str] = itos
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(itos)}
        self.pad = pad
        # A byte -> id table makes encoding a large ASCII text one gather instead of
        # a Python loop over its characters.
        self._lut: torch.Tensor | None = None
        if all(ord(c) < 128 for c in itos):
            self._lut = torch.full((128,), -1, dtype=torch.long)
            for c, i in self.stoi.items():
                self._lut[ord(c)] = i

    @classmethod
    def from_text(cls, text: str, pad: str | None = None) -> "CharTokenizer":
        return cls(sorted(set(text)), pad)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    @property
    def pad_id(self) -> int:
        if self.pad is None:
            raise ValueError("this tokenizer has no pad character")
        return self.stoi[self.pad]

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError as e:
            raise KeyError(f"character {e.args[0]!r} is not in the vocabulary") from None

    def encode_tensor(self, text: str) -> torch.Tensor:
        """``encode`` as a 1-D int64 tensor (fast for ASCII vocabularies)."""
        if self._lut is not None and text.isascii():
            codes = torch.frombuffer(bytearray(text.encode("ascii")), dtype=torch.uint8).long()
            ids = self._lut[codes]
            if bool((ids < 0).any()):
                bad = text[int((ids < 0).nonzero()[0])]
                raise KeyError(f"character {bad!r} is not in the vocabulary")
            return ids
        return torch.tensor(self.encode(text), dtype=torch.long)

    def encode_batch(self, texts: Sequence[str], length: int | None = None) -> torch.Tensor:
        """(N, L) int64 ids, each row right-padded with ``pad`` to ``length`` (default: the longest)."""
        if not texts:
            raise ValueError("texts is empty")
        longest = max(len(t) for t in texts)
        length = longest if length is None else length
        if length < longest:
            raise ValueError(f"length {length} is shorter than the longest text ({longest})")
        if any(len(t) != length for t in texts):
            if self.pad is None:
                raise ValueError("texts need padding and this tokenizer has no pad character")
            texts = [t.ljust(length, self.pad) for t in texts]
        return self.encode_tensor("".join(texts)).view(len(texts), length)

    def decode(self, ids: Iterable[int] | torch.Tensor, strip_pad: bool = False) -> str:
        if isinstance(ids, torch.Tensor):
            ids = ids.tolist()
        s = "".join(self.itos[i] for i in ids)
        return s.replace(self.pad, "") if strip_pad and self.pad is not None else s

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size}, pad={self.pad!r})"


def bundled_text_path() -> Path:
    """Path of the bundled public-domain sample (see ``data/README.md`` for its source)."""
    return Path(str(resources.files("radgrok.tasks").joinpath("data").joinpath("tiny_text.txt")))


def read_text(path: str | Path | None = None) -> str:
    """The UTF-8 text of ``path``, or of the bundled sample when ``path`` is None."""
    return Path(path if path is not None else bundled_text_path()).read_text(encoding="utf-8")


@dataclass
class TextData:
    """An encoded text, split by position into ``train`` and ``val`` (1-D int64)."""

    tokenizer: CharTokenizer
    train: torch.Tensor
    val: torch.Tensor
    source: str

    def split(self, split: Split) -> torch.Tensor:
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        return self.train if split == "train" else self.val

    def get_batch(
        self,
        split: Split,
        batch_size: int,
        block_size: int,
        generator: torch.Generator | None = None,
        device: torch.device | str | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random windows: x (B, block_size) and y = x shifted left by one (the next characters)."""
        data = self.split(split)
        if len(data) <= block_size:
            raise ValueError(f"the {split} split has {len(data)} tokens; block_size {block_size} needs more")
        starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
        windows = data[starts[:, None] + torch.arange(block_size + 1)]  # (B, block_size + 1)
        x, y = windows[:, :-1], windows[:, 1:]
        return (x.to(device), y.to(device)) if device is not None else (x, y)

    def split_record(self) -> dict:
        return {"source": self.source, "vocab": "".join(self.tokenizer.itos),
                "n_train": len(self.train), "n_val": len(self.val)}


def make_text_data(
    path: str | Path | None = None,
    val_frac: float = 0.1,
    text: str | None = None,
) -> TextData:
    """Encode a text (``text``, else the file at ``path``, else the bundled sample) and split it."""
    if not 0.0 < val_frac < 1.0:
        raise ValueError(f"val_frac must be in (0, 1), got {val_frac}")
    if text is None:
        source = str(path) if path is not None else "<bundled tiny_text.txt>"
        text = read_text(path)
    else:
        source = "<text>"
    tok = CharTokenizer.from_text(text)
    ids = tok.encode_tensor(text)
    n_val = round(val_frac * len(ids))
    if n_val < 2 or len(ids) - n_val < 2:
        raise ValueError(f"text of {len(ids)} characters is too short for val_frac {val_frac}")
    return TextData(tok, ids[: len(ids) - n_val], ids[len(ids) - n_val:], source)
