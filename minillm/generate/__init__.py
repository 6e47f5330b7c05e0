"""Text generation from a language model: sampling (greedy, temperature, top-k, top-p) with a KV
cache (F1, C19)."""

from .autoregressive import generate, iter_generate
from .sampling import sample_next, sample_rows, softmax, top_k_filter, top_p_filter

__all__ = [
    "generate",
    "iter_generate",
    "sample_next",
    "sample_rows",
    "softmax",
    "top_k_filter",
    "top_p_filter",
]
