"""Models built from minillm.nn: each takes token ids and returns (logits, loss)."""

from .rnnlm import RNNLM

__all__ = [
    "RNNLM",
]
