"""Tiny models and data for the compression tests (a module of its own so that its name cannot
clash with another folder's conftest)."""

import numpy as np

from minillm.data import CharTokenizer, Corpus
from minillm.models import GPT, GPTConfig

TEXT = "to be, or not to be, that is the question: whether 'tis nobler in the mind\n" * 12
TOKENIZER = CharTokenizer.from_text(TEXT)
# ragged sizes: 3 heads of 6, d_ff 72, vocabulary 24
TINY = dict(vocab_size=TOKENIZER.vocab_size, block_size=12, n_layers=2, n_heads=3, d_model=18)


def tiny_gpt(seed=0, **overrides) -> GPT:
    return GPT(GPTConfig(**{**TINY, **overrides}), seed=seed)


def corpus() -> Corpus:
    return Corpus.from_text(TEXT, TOKENIZER)


def batch(seed=0, B=3, T=12):
    return corpus().get_batch("val", B, T, np.random.default_rng(seed))  # (B, T) each


def copy_of(model) -> GPT:
    """A fresh model with the same config and the same weights."""
    new = GPT(model.config)
    new.load_state_dict(model.state_dict())
    return new
