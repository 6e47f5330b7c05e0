"""Models built from minillm.nn: each takes token ids and returns (logits, loss)."""

from . import gpt_names
from .gpt import GPT, GPTConfig
from .rnnlm import RNNLM

__all__ = [
    "GPT",
    "GPTConfig",
    "RNNLM",
    "gpt_names",
]
