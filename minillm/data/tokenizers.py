"""One entry point for stored tokenizers: rebuild any kind from its ``to_dict()``.

A checkpoint stores its tokenizer as a small dict with a ``"type"`` key; these helpers read that
key and hand the dict to the right class.
"""

import json
from os import PathLike

from .bpe import BPETokenizer
from .char_tokenizer import CharTokenizer
from .digits import DigitTokenizer
from .wordpiece import WordPieceTokenizer

TOKENIZERS = {
    "char": CharTokenizer,
    "bpe": BPETokenizer,
    "wordpiece": WordPieceTokenizer,
    "digits": DigitTokenizer,
}


def tokenizer_from_dict(d: dict):
    """Return the tokenizer (a class of ``TOKENIZERS``) that a ``to_dict()`` result describes."""
    kind = d.get("type") if isinstance(d, dict) else None
    if kind not in TOKENIZERS:
        raise ValueError(
            f"tokenizer_from_dict: unknown tokenizer type {kind!r}; expected one of "
            f"{sorted(TOKENIZERS)}"
        )
    return TOKENIZERS[kind].from_dict(d)


def load_tokenizer(path: str | PathLike):
    """Read a tokenizer JSON file written by any tokenizer's ``save``."""
    with open(path, encoding="utf-8") as f:
        return tokenizer_from_dict(json.load(f))
