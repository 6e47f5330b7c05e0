"""A character-level tokenizer: one token per distinct character.

A *tokenizer* turns text into a sequence of integers (token ids) that a model can embed, and turns
ids back into text. The simplest one gives every distinct character of the training text its own
id: the vocabulary is the sorted set of characters (65 for Karpathy's tiny Shakespeare, 76 for
ours), ``encode`` looks each character up and ``decode`` joins them back. Sequences are long (one
token per character) but the vocabulary is tiny, which makes it the tokenizer of the first
chapters (char-RNN, nanoGPT's ``shakespeare_char``).

Its weakness: a character never seen in training has no id. By default that is an error; pass
``unk="<unk>"`` to map every unknown character to one extra "unknown" token instead (lossy:
``decode`` then gives back the ``unk`` string, not the original character).

Special tokens (``special_tokens={"pad": "<pad>", "eos": "<eos>"}``, roles as in
``tokenizer_base.ROLES``) get the ids after the characters (and after ``unk``), in role order;
``encode`` never reads one out of the text (``"<pad>"`` in a text is five characters), they are
added by ``encode(..., add_special_tokens=True)`` and used by ``pad``/``encode_batch``. Without
special tokens the ids and the saved file are what they always were.
"""

import json
from os import PathLike

import numpy as np

from .ids import as_id_array
from .tokenizer_base import Tokenizer, check_special_tokens


class CharTokenizer(Tokenizer):
    """Maps each character of a fixed vocabulary to its index, and back.

    ``chars`` is the vocabulary in id order (single characters, no repeats). ``unk`` (optional) is
    the string that stands for an unknown character: if it is one of ``chars`` that id is used,
    otherwise it becomes one extra token after the characters. ``special_tokens`` (role -> string,
    no ``"unk"``: that is the ``unk`` argument) adds one token per role after those.
    """

    def __init__(self, chars, unk: str | None = None, special_tokens: dict | None = None):
        chars = list(chars)
        for i, ch in enumerate(chars):
            if not isinstance(ch, str) or len(ch) != 1:
                raise ValueError(f"CharTokenizer: vocabulary entry {i} is {ch!r}, not one char")
        if len(set(chars)) != len(chars):
            dup = next(ch for ch in chars if chars.count(ch) > 1)
            raise ValueError(f"CharTokenizer: character {dup!r} appears twice in the vocabulary")
        if unk is not None and (not isinstance(unk, str) or unk == ""):
            raise ValueError(f"CharTokenizer: unk must be a non-empty string or None, got {unk!r}")
        self.chars = chars
        self.unk = unk
        self.itos = chars + [unk] if unk is not None and unk not in chars else list(chars)
        self.stoi = {ch: i for i, ch in enumerate(chars)}
        self.unk_id = None if unk is None else self.itos.index(unk)
        extra = check_special_tokens(special_tokens, "CharTokenizer")
        if "unk" in extra:
            raise ValueError("CharTokenizer: give the unknown token as unk=..., not special_tokens")
        for role, token in extra.items():
            if token in self.itos:
                raise ValueError(
                    f"CharTokenizer: special token {token!r} ({role}) is already in the vocabulary"
                )
        self.extra_special_tokens = extra
        self.special_tokens = {}
        if unk is not None and unk not in chars:
            self.special_tokens["unk"] = unk  # an extra token; a vocabulary char stays ordinary
        self.special_tokens.update(extra)
        self.itos = self.itos + list(extra.values())
        self.special_ids = {role: self.itos.index(t) for role, t in self.special_tokens.items()}

    @classmethod
    def from_text(
        cls, text: str, unk: str | None = None, special_tokens: dict | None = None
    ) -> "CharTokenizer":
        """Build the vocabulary from the sorted distinct characters of ``text``."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.from_text: expected str, got {type(text).__name__}")
        return cls(sorted(set(text)), unk=unk, special_tokens=special_tokens)

    @property
    def vocab_size(self) -> int:
        """Number of ids: the distinct characters, ``unk``'s extra token, the special tokens."""
        return len(self.itos)

    def _encode_ordinary(self, text: str) -> np.ndarray:
        """The ids of the characters of ``text``: shape (N,) int64, N = len(text).

        ``encode(text)`` returns this (see ``Tokenizer.encode`` for pairs, special tokens and
        truncation). An unknown character raises ValueError naming it and its position, unless
        the tokenizer has an ``unk`` token, which it then becomes.
        """
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode: expected str, got {type(text).__name__}")
        ids = np.fromiter((self.stoi.get(ch, -1) for ch in text), np.int64, len(text))  # (N,)
        unknown = np.flatnonzero(ids < 0)
        if unknown.size:
            if self.unk_id is None:
                pos = int(unknown[0])
                raise ValueError(
                    f"CharTokenizer.encode: unknown character {text[pos]!r} at position {pos} "
                    f"({unknown.size} unknown in all); build the vocabulary from text that has "
                    f"it, or pass unk='<unk>' to map unknown characters to one token"
                )
            ids[unknown] = self.unk_id
        return ids

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """Join the characters of ``ids`` (a 1-D sequence of ints in [0, vocab_size)).

        A special token decodes to its string, or to nothing with ``skip_special_tokens``.
        """
        arr = as_id_array(ids, self.vocab_size, "CharTokenizer.decode")
        if skip_special_tokens:
            arr = self._drop_special(arr)
        return "".join([self.itos[i] for i in arr.tolist()])

    def to_dict(self) -> dict:
        """A JSON-serialisable description, e.g. to store inside a checkpoint."""
        d = {"type": "char", "chars": self.chars, "unk": self.unk}
        if self.extra_special_tokens:
            d["special_tokens"] = dict(self.extra_special_tokens)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "CharTokenizer":
        """Rebuild a tokenizer from ``to_dict()``'s output."""
        if not isinstance(d, dict) or d.get("type") != "char" or "chars" not in d:
            got = d.get("type") if isinstance(d, dict) else type(d).__name__
            raise ValueError(
                f"CharTokenizer.from_dict: expected a dict of type 'char', got {got!r}"
            )
        return cls(d["chars"], unk=d.get("unk"), special_tokens=d.get("special_tokens"))

    def save(self, path: str | PathLike) -> None:
        """Write ``to_dict()`` as UTF-8 JSON."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False, indent=1)

    @classmethod
    def load(cls, path: str | PathLike) -> "CharTokenizer":
        """Read a tokenizer written by ``save``."""
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def __repr__(self) -> str:
        extra = f", special_tokens={self.extra_special_tokens}" if self.extra_special_tokens else ""
        return f"CharTokenizer(vocab_size={self.vocab_size}, unk={self.unk!r}{extra})"
