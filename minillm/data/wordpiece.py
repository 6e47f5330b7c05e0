"""WordPiece, part 2: BERT's tokenizer (encode, decode, load a vocab.txt, save).

Encoding has two stages (Devlin et al. 2019, section A.2; Wu et al. 2016, section 4.1):

1. the basic tokenizer (``basic_tokenizer.py``) cuts the text into words: clean, CJK apart,
   lower-case and strip accents when asked, split on whitespace and punctuation;
2. each word is cut into pieces greedily, longest match first: take the longest prefix of the
   word that is in the vocabulary, then the longest ``##``-piece of the rest that is, and so on.
   "unaffable" -> ``un ##aff ##able``. A word with any part that matches nothing, or a word of
   more than ``max_input_chars_per_word`` (100) characters, becomes one ``[UNK]``.

Unlike BPE the merges learned in training are not replayed: only the vocabulary matters, which
is why a BERT ``vocab.txt`` (one token per line, the line number is the id) is all a WordPiece
tokenizer needs.

The special tokens ``[PAD] [UNK] [CLS] [SEP] [MASK]`` are read out of the text where they
appear verbatim (as Hugging Face's tokenizers do), so "Paris is the [MASK] of France." has the
mask token. ``encode(text)`` returns ``[CLS] ... [SEP]`` like ``BertTokenizer``;
``encode(text, add_special_tokens=False)`` the text's ids alone; see ``Tokenizer`` for pairs,
truncation, padding and batches.
"""

import json
import re
from collections import Counter
from os import PathLike

import numpy as np

from .basic_tokenizer import basic_tokenize
from .ids import as_id_array
from .tokenizer_base import Tokenizer, check_special_tokens
from .wordpiece_train import train_wordpiece

BERT_SPECIAL_TOKENS = {
    "pad": "[PAD]",
    "unk": "[UNK]",
    "cls": "[CLS]",
    "sep": "[SEP]",
    "mask": "[MASK]",
}
_CACHE_LIMIT = 1 << 16  # distinct words remembered by encode before the cache is emptied
# transformers' clean_up_tokenization: the spaces a decoded BERT text has that English has not
_CLEAN_UP = (
    (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
    (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
)  # fmt: skip


class WordPieceTokenizer(Tokenizer):
    """BERT's tokenizer: basic tokenization, then greedy longest-match-first WordPiece.

    ``vocab``: the tokens in id order (None: the special tokens alone, to ``train`` on).
    ``lowercase``, ``strip_accents`` (None: follow ``lowercase``) and ``tokenize_chinese_chars``
    are the basic tokenizer's switches, with ``BertTokenizer``'s defaults.
    ``special_tokens``: role -> token, each of which must be in ``vocab``; ``"unk"`` is required.
    """

    add_special_tokens_default = True

    def __init__(
        self,
        vocab=None,
        *,
        lowercase: bool = True,
        strip_accents: bool | None = None,
        tokenize_chinese_chars: bool = True,
        max_input_chars_per_word: int = 100,
        special_tokens: dict | None = None,
    ):
        specials = check_special_tokens(
            BERT_SPECIAL_TOKENS if special_tokens is None else special_tokens, "WordPieceTokenizer"
        )
        if "unk" not in specials:
            raise ValueError("WordPieceTokenizer: special_tokens needs an 'unk' token")
        self.special_tokens = specials
        self.lowercase = bool(lowercase)
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.max_input_chars_per_word = int(max_input_chars_per_word)
        self._special_re = re.compile(
            "("
            + "|".join(re.escape(t) for t in sorted(specials.values(), key=len, reverse=True))
            + ")"
        )
        self._set_vocab(list(specials.values()) if vocab is None else list(vocab))

    def _set_vocab(self, vocab: list[str], source: str = "vocab") -> None:
        for i, token in enumerate(vocab):
            if not isinstance(token, str):
                raise TypeError(f"WordPieceTokenizer: {source} entry {i} is {token!r}, not a str")
        stoi = {}
        for i, token in enumerate(vocab):
            if token in stoi:
                raise ValueError(
                    f"WordPieceTokenizer: token {token!r} appears twice in {source} "
                    f"(ids {stoi[token]} and {i})"
                )
            stoi[token] = i
        missing = [t for t in self.special_tokens.values() if t not in stoi]
        if missing:
            raise ValueError(
                f"WordPieceTokenizer: {source} lacks the special token(s) {missing}; a BERT "
                f"vocab.txt has {list(self.special_tokens.values())}"
            )
        self.itos = vocab
        self.stoi = stoi
        self.special_ids = {role: stoi[t] for role, t in self.special_tokens.items()}
        self.unk_id = self.special_ids["unk"]
        self._longest = max((len(t) for t in vocab), default=1)  # no match can be longer
        self._cache = {}

    @classmethod
    def from_vocab_file(cls, path: str | PathLike, lowercase: bool = True, **kwargs):
        """Load a BERT ``vocab.txt``: one token per line, the line number (from 0) is its id.

        ``lowercase`` must match the model (True for "uncased" models such as MiniLM); other
        keyword arguments go to the constructor.
        """
        with open(path, encoding="utf-8") as f:
            vocab = [line.rstrip("\n") for line in f]
        tok = cls(None, lowercase=lowercase, **kwargs)
        tok._set_vocab(vocab, source=f"vocab file {str(path)!r}")
        return tok

    def save_vocab_file(self, path: str | PathLike) -> None:
        """Write the vocabulary as a BERT ``vocab.txt``."""
        with open(path, "w", encoding="utf-8") as f:
            f.writelines(t + "\n" for t in self.itos)

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def pre_tokenize(self, text: str) -> list[str]:
        """The basic tokenizer's words of ``text``, with this tokenizer's switches."""
        return basic_tokenize(text, self.lowercase, self.strip_accents, self.tokenize_chinese_chars)

    def train(self, text: str, vocab_size: int, score: str = "ratio") -> "WordPieceTokenizer":
        """Learn a vocabulary of ``vocab_size`` tokens from ``text`` (see ``wordpiece_train``).

        The vocabulary is the special tokens (ids 0-4: ``[PAD] [UNK] [CLS] [SEP] [MASK]``), the
        alphabet, then the learned pieces. ``score``: ``"ratio"``, freq(ab) / (freq(a) freq(b)),
        or ``"likelihood"``, the unigram log-likelihood gain, which keeps frequent words whole
        on a small corpus. Replaces the vocabulary; returns ``self``.
        """
        if not isinstance(text, str):
            raise TypeError(f"WordPieceTokenizer.train: expected str, got {type(text).__name__}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
            raise ValueError(
                f"WordPieceTokenizer.train: vocab_size must be an int, got {vocab_size!r}"
            )
        counts = Counter(self.pre_tokenize(text))
        specials = list(self.special_tokens.values())
        vocab = train_wordpiece(counts, vocab_size, specials, score=score)
        self._set_vocab(vocab, source="trained vocab")
        return self

    def _wordpiece(self, word: str) -> list[int]:
        """Greedy longest-match-first pieces of one word, or [unk_id]."""
        if len(word) > self.max_input_chars_per_word:
            return [self.unk_id]
        out = []
        start = 0
        while start < len(word):
            prefix = "##" if start > 0 else ""
            for end in range(min(len(word), start + self._longest), start, -1):
                piece_id = self.stoi.get(prefix + word[start:end])
                if piece_id is not None:
                    break
            else:
                return [self.unk_id]  # some part of the word matches no piece
            out.append(piece_id)
            start = end
        return out

    def _encode_ordinary(self, text: str) -> np.ndarray:
        """The ids of ``text`` without the template's ``[CLS]``/``[SEP]``: (N,) int64."""
        if not isinstance(text, str):
            raise TypeError(f"WordPieceTokenizer.encode: expected str, got {type(text).__name__}")
        out = []
        for i, chunk in enumerate(self._special_re.split(text)):
            if i % 2:  # the split keeps the special tokens at the odd positions
                out.append(self.stoi[chunk])
                continue
            for word in self.pre_tokenize(chunk):
                ids = self._cache.get(word)
                if ids is None:
                    ids = self._wordpiece(word)
                    if len(self._cache) >= _CACHE_LIMIT:
                        self._cache.clear()
                    self._cache[word] = ids
                out.extend(ids)
        return np.array(out, dtype=np.int64)  # (N,)

    def tokenize(self, text: str) -> list[str]:
        """The token strings of ``text``, no specials: "unaffable" -> un ##aff ##able."""
        return [self.itos[i] for i in self._encode_ordinary(text).tolist()]

    def encode_words(self, words, add_special_tokens: bool = True):
        """Encode text already split into words (token classification): ``(ids, word_ids)``.

        Each word goes through the basic tokenizer and WordPiece on its own. ``word_ids`` (N,)
        int64 gives the index of the word each token came from, -1 for ``[CLS]``/``[SEP]``
        (Hugging Face's ``word_ids()`` with None as -1). A word the basic tokenizer drops
        entirely (only control characters) has no token.
        """
        if isinstance(words, str) or not all(isinstance(w, str) for w in words):
            raise TypeError("WordPieceTokenizer.encode_words: words must be a list of str")
        ids, word_ids = [], []
        for i, word in enumerate(words):
            pieces = self._encode_ordinary(word).tolist()
            ids.extend(pieces)
            word_ids.extend([i] * len(pieces))
        ids = np.array(ids, dtype=np.int64)  # (N,)
        word_ids = np.array(word_ids, dtype=np.int64)  # (N,)
        if not add_special_tokens:
            return ids, word_ids
        full, _ = self.build_inputs(ids)  # (N + 2,)
        lead = 1 if self.cls_id is not None else 0
        index = np.full(len(full), -1, dtype=np.int64)
        index[lead : lead + len(word_ids)] = word_ids
        return full, index

    def decode(self, ids, skip_special_tokens: bool = False, clean_up_spaces: bool = False) -> str:
        """Join the tokens of ``ids``: spaces between words, ``##`` pieces glued on.

        Lossy: the text comes back lower-cased, without accents and with spaces around
        punctuation ("hello , world !"); ``clean_up_spaces`` removes the common ones (" ,", " .",
        " 's", ...) as transformers' ``clean_up_tokenization_spaces`` does.
        """
        arr = as_id_array(ids, self.vocab_size, "WordPieceTokenizer.decode")
        if skip_special_tokens:
            arr = self._drop_special(arr)
        text = " ".join(self.itos[i] for i in arr.tolist()).replace(" ##", "").strip()
        if clean_up_spaces:
            for old, new in _CLEAN_UP:
                text = text.replace(old, new)
        return text

    def to_dict(self) -> dict:
        """A JSON-serialisable description: the vocabulary and the switches."""
        return {
            "type": "wordpiece",
            "vocab": list(self.itos),
            "lowercase": self.lowercase,
            "strip_accents": self.strip_accents,
            "tokenize_chinese_chars": self.tokenize_chinese_chars,
            "max_input_chars_per_word": self.max_input_chars_per_word,
            "special_tokens": dict(self.special_tokens),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "WordPieceTokenizer":
        """Rebuild a tokenizer from ``to_dict()``'s output."""
        if not isinstance(d, dict) or d.get("type") != "wordpiece" or "vocab" not in d:
            got = d.get("type") if isinstance(d, dict) else type(d).__name__
            raise ValueError(
                f"WordPieceTokenizer.from_dict: expected a dict of type 'wordpiece', got {got!r}"
            )
        keys = ("lowercase", "strip_accents", "tokenize_chinese_chars", "max_input_chars_per_word")
        return cls(
            d["vocab"],
            special_tokens=d.get("special_tokens"),
            **{k: d[k] for k in keys if k in d},
        )

    def save(self, path: str | PathLike) -> None:
        """Write ``to_dict()`` as UTF-8 JSON."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, ensure_ascii=False)

    @classmethod
    def load(cls, path: str | PathLike) -> "WordPieceTokenizer":
        """Read a tokenizer written by ``save``."""
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))

    def __repr__(self) -> str:
        return f"WordPieceTokenizer(vocab_size={self.vocab_size}, lowercase={self.lowercase})"
