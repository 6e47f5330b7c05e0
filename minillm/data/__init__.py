"""minillm.data: text, tokenizers and training batches (a leaf package: NumPy arrays only).

- ``load_text``, ``train_val_split``: the shipped Shakespeare corpus or any UTF-8 file, cut 90/10.
- ``CharTokenizer``: one token per character.
- ``BPETokenizer``: byte-level byte-pair encoding, trained from scratch.
- ``get_batch``, ``Corpus``: random (x, y) windows for next-token prediction.
"""

from .batches import Corpus, get_batch
from .bpe import BPETokenizer
from .bpe_train import GPT2_SPLIT_PATTERN
from .char_tokenizer import CharTokenizer
from .corpus import SHIPPED_TEXTS, load_text, train_val_split
from .tokenizers import load_tokenizer, tokenizer_from_dict

__all__ = [
    "GPT2_SPLIT_PATTERN",
    "SHIPPED_TEXTS",
    "BPETokenizer",
    "CharTokenizer",
    "Corpus",
    "get_batch",
    "load_text",
    "load_tokenizer",
    "tokenizer_from_dict",
    "train_val_split",
]
