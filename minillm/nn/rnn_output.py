"""The RNN language model's output layer: log p(y_t | y_<t) = log softmax(h_t W_o + b_o) (F3)."""

import math

import numpy as np

from ..ops.softmax import log_softmax
from .module import Module, Parameter


class LogSoftmaxOutput(Module):
    """log p(y_t | y_<t; theta) = log softmax(h_t W_o + b_o)     (F3)

    Shapes: h (..., H), W_o (H, V), b_o (V,) -> log-probabilities (..., V), computed stably as
    z - logsumexp(z) (ops.softmax.log_softmax). Deviation: the source's W_o h_t is on column
    vectors; our W_o is its transpose. Init U(-1/sqrt(H), 1/sqrt(H)), as nn.Linear."""

    PARAM_ROLES = {"W_o": "weight", "b_o": "bias"}

    def __init__(self, hidden_size, vocab_size, bias=True, rng=None, dtype=np.float32):
        super().__init__()
        self.hidden_size, self.vocab_size = hidden_size, vocab_size
        rng = rng if rng is not None else np.random.default_rng()
        bound = 1.0 / math.sqrt(hidden_size)
        self.W_o = Parameter(rng.uniform(-bound, bound, (hidden_size, vocab_size)).astype(dtype))
        self.b_o = Parameter(rng.uniform(-bound, bound, vocab_size).astype(dtype)) if bias else None

    def forward(self, h):
        if h.shape[-1] != self.hidden_size:
            raise ValueError(
                f"LogSoftmaxOutput: expected h (..., {self.hidden_size}), got shape {h.shape}"
            )
        z = h @ self.W_o  # (..., H) -> (..., V)
        z = z + self.b_o if self.b_o is not None else z
        return log_softmax(z, axis=-1)  # (..., V)

    def extra_repr(self):
        return f"{self.hidden_size}, {self.vocab_size}, bias={self.b_o is not None}"
