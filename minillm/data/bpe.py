"""Byte-pair encoding, part 2: the tokenizer (train, encode, decode, save).

Why byte-level BPE can encode any string: the first 256 ids are the 256 byte values, and every
Unicode string has a UTF-8 byte sequence. Encoding starts from those bytes and only ever *joins*
neighbouring tokens with a learned merge, so ``decode(encode(s)) == s`` for every ``s``: Chinese,
emoji and characters never seen in training included (they just stay as several byte tokens).
There is no "unknown token".

Encoding a chunk applies merges in the order they were learned: repeatedly find the adjacent pair
with the lowest rank and merge all its occurrences, until no pair of the chunk has a merge. The
result of each distinct chunk is cached, since words repeat.

Decoding joins the tokens' bytes and decodes them as UTF-8 with ``errors="replace"``: an arbitrary
id sequence (say, sampled from a model) may cut a multi-byte character in half, and such bytes
become U+FFFD instead of raising.

Text with lone surrogates (not valid Unicode, e.g. "\\ud800") cannot be encoded as UTF-8 and raises
UnicodeEncodeError.

Special tokens (``special_tokens={"eos": "<|endoftext|>", "pad": "<pad>"}``, roles as in
``tokenizer_base.ROLES``) get the ids after the merges, in role order, so training again moves
them. ``encode`` never reads one out of the text (as tiktoken's ``encode_ordinary``): they are
added by ``encode(..., add_special_tokens=True)`` and used by ``pad``/``encode_batch``. Without
special tokens the ids and the saved file are what they always were.
"""

import json
import re
from collections import Counter
from os import PathLike

import numpy as np

from .bpe_train import GPT2_SPLIT_PATTERN, adjacent_pairs, merge_pair, split_chunks, train_merges
from .ids import as_id_array
from .tokenizer_base import Tokenizer, check_special_tokens

_CACHE_LIMIT = 1 << 16  # distinct chunks remembered by encode before the cache is emptied


class BPETokenizer(Tokenizer):
    """Byte-level BPE: 256 byte tokens, one token per learned merge, then the special tokens.

    ``merges`` are the pairs in rank order (rank ``r`` makes id ``256 + r``); ``pattern`` is the
    pre-split regex (``GPT2_SPLIT_PATTERN`` by default, ``None`` for no pre-split). A new
    tokenizer has no merges; call ``train`` or ``load``.

    With ``pattern=None`` the whole text is one chunk: fine for short texts, slow for megabytes
    (each merge rewrites the whole sequence, and nothing repeats to be cached).
    """

    unk_id = None  # any text has an encoding: no unknown token

    def __init__(
        self,
        merges=(),
        pattern: str | None = GPT2_SPLIT_PATTERN,
        special_tokens: dict | None = None,
    ):
        if pattern is not None and not isinstance(pattern, str):
            raise TypeError(f"BPETokenizer: pattern must be a str or None, got {pattern!r}")
        self.pattern = pattern
        self._regex = None if pattern is None else re.compile(pattern)
        self.special_tokens = check_special_tokens(special_tokens, "BPETokenizer")
        if "unk" in self.special_tokens:
            raise ValueError("BPETokenizer: byte-level BPE encodes any text; it has no 'unk' token")
        self._set_merges(merges)

    def _set_merges(self, merges) -> None:
        checked = []
        for rank, pair in enumerate(merges):
            ok = len(pair) == 2 and all(
                isinstance(t, (int, np.integer)) and not isinstance(t, bool) for t in pair
            )
            if not ok or not all(0 <= t < 256 + rank for t in pair):
                raise ValueError(
                    f"BPETokenizer: merge {rank} is {pair!r}; it must be a pair of ids that "
                    f"exist before it, in [0, {256 + rank})"
                )
            checked.append((int(pair[0]), int(pair[1])))
        if len(set(checked)) != len(checked):
            raise ValueError("BPETokenizer: the same pair is merged twice")
        self.merges = checked
        self.ranks = {pair: rank for rank, pair in enumerate(checked)}
        self.vocab = [bytes([b]) for b in range(256)]  # id -> the bytes it stands for
        for a, b in checked:
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self.special_ids = {}
        for role, token in self.special_tokens.items():  # after the merges, in role order
            self.special_ids[role] = len(self.vocab)
            self.vocab.append(token.encode("utf-8"))
        self._cache = {}

    @property
    def vocab_size(self) -> int:
        """256 byte tokens, plus the number of merges, plus the special tokens."""
        return len(self.vocab)

    def train(self, text: str, vocab_size: int, verbose: bool = False) -> "BPETokenizer":
        """Learn ``vocab_size - 256`` merges from ``text`` (fewer if the text runs out of pairs).

        Replaces any earlier merges and returns ``self``. Ties in pair counts go to the smallest
        pair in id order (see ``bpe_train``), so training is deterministic. ``vocab_size`` counts
        the bytes and merges, not the special tokens (they come on top).
        """
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.train: expected str, got {type(text).__name__}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 256:
            raise ValueError(
                f"BPETokenizer.train: vocab_size must be an int >= 256 (the byte tokens), "
                f"got {vocab_size!r}"
            )
        chunks = Counter(c.encode("utf-8") for c in split_chunks(text, self._regex))
        self._set_merges(train_merges(chunks, vocab_size - 256, verbose=verbose))
        return self

    def _encode_chunk(self, chunk: bytes) -> list[int]:
        ids = list(chunk)
        while len(ids) >= 2:
            pair = min(adjacent_pairs(ids), key=lambda p: self.ranks.get(p, len(self.ranks)))
            rank = self.ranks.get(pair)
            if rank is None:
                break  # no adjacent pair has a merge
            ids = merge_pair(ids, pair, 256 + rank)
        return ids

    def _encode_ordinary(self, text: str) -> np.ndarray:
        """The token ids of ``text``: shape (N,) int64, N <= number of UTF-8 bytes.

        ``encode(text)`` returns this (see ``Tokenizer.encode`` for pairs, special tokens and
        truncation).
        """
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode: expected str, got {type(text).__name__}")
        out = []
        for chunk in split_chunks(text, self._regex):
            ids = self._cache.get(chunk)
            if ids is None:
                ids = self._encode_chunk(chunk.encode("utf-8"))
                if len(self._cache) >= _CACHE_LIMIT:
                    self._cache.clear()
                self._cache[chunk] = ids
            out.extend(ids)
        return np.array(out, dtype=np.int64)  # (N,)

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        """Join the bytes of ``ids`` and decode them as UTF-8 (``errors="replace"``).

        A special token decodes to its string, or to nothing with ``skip_special_tokens``.
        """
        arr = as_id_array(ids, self.vocab_size, "BPETokenizer.decode")
        if skip_special_tokens:
            arr = self._drop_special(arr)
        return b"".join([self.vocab[i] for i in arr.tolist()]).decode("utf-8", errors="replace")

    def to_dict(self) -> dict:
        """A JSON-serialisable description: the pre-split pattern and the merges in rank order."""
        d = {"type": "bpe", "pattern": self.pattern, "merges": [list(p) for p in self.merges]}
        if self.special_tokens:
            d["special_tokens"] = dict(self.special_tokens)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BPETokenizer":
        """Rebuild a tokenizer from ``to_dict()``'s output."""
        if not isinstance(d, dict) or d.get("type") != "bpe" or "merges" not in d:
            got = d.get("type") if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"BPETokenizer.from_dict: expected a dict of type 'bpe', got {got!r}")
        return cls(d["merges"], d.get("pattern"), special_tokens=d.get("special_tokens"))

    def save(self, path: str | PathLike) -> None:
        """Write ``to_dict()`` as JSON."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f)

    @classmethod
    def load(cls, path: str | PathLike) -> "BPETokenizer":
        """Read a tokenizer written by ``save``."""
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def __repr__(self) -> str:
        extra = f", special_tokens={self.special_tokens}" if self.special_tokens else ""
        return (
            f"BPETokenizer(vocab_size={self.vocab_size}, pre_split={self.pattern is not None}"
            f"{extra})"
        )
