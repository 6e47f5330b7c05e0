"""Models built from minillm.nn: each takes token ids and returns (logits, loss)."""

from . import gpt_names
from .gpt import GPT, GPTConfig
from .rnnlm import RNNLM
from .seq2seq import Seq2SeqConfig, Seq2SeqTransformer
from .seq2seq_task import ReversalTask

__all__ = [
    "GPT",
    "GPTConfig",
    "RNNLM",
    "ReversalTask",
    "Seq2SeqConfig",
    "Seq2SeqTransformer",
    "gpt_names",
]
