"""Positional information for attention, which by itself ignores token order (F20, C15)."""

import numpy as np

from ..tensor import Tensor
from ..tensor.backend import to_device
from .layers import Embedding
from .module import Module


def sinusoidal_table(max_len, d_model, dtype=np.float64):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d_model)),  PE(pos, 2i+1) = cos(pos / 10000^(2i/d_model))
    (F20, Vaswani et al. 3.5).  Returns an array (max_len, C).

    Column j uses the pair index i = j // 2, so an odd d_model ends with a sine column whose cosine
    partner is cut off. Wavelengths run geometrically from 2 pi (i = 0) to 10000 * 2 pi."""
    # BEGIN EXERCISE F20: pe (max_len, d_model): sin(pos / 10000^(2i/d_model)) in even columns j =
    # 2i, cos in odd columns j = 2i + 1
    pos = np.arange(max_len, dtype=np.float64)[:, None]  # (T, 1)
    two_i = 2 * (np.arange(d_model) // 2)  # (C,) 0, 0, 2, 2, 4, 4, ...
    angle = pos / 10000.0 ** (two_i / d_model)  # (T, C)
    pe = np.where(np.arange(d_model) % 2 == 0, np.sin(angle), np.cos(angle))  # (T, C)
    # END EXERCISE
    return pe.astype(dtype)


def _check(x, d_model, max_len, start, who):
    if x.ndim != 3 or x.shape[-1] != d_model:
        raise ValueError(f"{who}: expected input (B, T, d_model={d_model}), got shape {x.shape}")
    T = x.shape[1]
    if start < 0 or start + T > max_len:
        raise ValueError(
            f"{who}: positions {start}..{start + T - 1} (T={T}, start={start}) exceed "
            f"max_len={max_len}; build it with a larger max_len"
        )
    return T


class SinusoidalPositionalEncoding(Module):
    """y = x + PE[start : start + T]  for x (B, T, C)   (F20; C15 adds it to the embeddings).

    The table is fixed (no parameters). `start` offsets the positions, for decoding one token at
    a time with a KV cache. Deviation: none; the paper's dropout on the sum is left to the model."""

    def __init__(self, d_model, max_len=5000, dtype=np.float32):
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        # (max_len, C): a buffer (moved by to(), never trained), not persistent: it is a function
        # of (max_len, d_model), so checkpoints do not store it
        self.register_buffer("pe", sinusoidal_table(max_len, d_model, dtype), persistent=False)

    def forward(self, x: Tensor, start=0) -> Tensor:
        T = _check(x, self.d_model, self.max_len, start, "SinusoidalPositionalEncoding")
        pe = self.pe[start : start + T].astype(x.dtype, copy=False)  # (T, C), on x's device
        return x + Tensor(pe)  # (B, T, C) + (T, C)

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}"


class LearnedPositionalEmbedding(Module):
    """y = x + P[start : start + T] with P a learned (max_len, C) table (BERT, GPT-2; C15).

    Init N(0, 0.02^2), as GPT-2. It cannot extrapolate: positions >= max_len have no row."""

    def __init__(self, max_len, d_model, rng=None, dtype=np.float32):
        super().__init__()
        self.max_len, self.d_model = max_len, d_model
        self.P = Embedding(max_len, d_model, rng, dtype)
        rng = rng if rng is not None else np.random.default_rng()
        self.P.W.data[...] = rng.normal(0.0, 0.02, (max_len, d_model))  # (max_len, C)

    def forward(self, x: Tensor, start=0) -> Tensor:
        T = _check(x, self.d_model, self.max_len, start, "LearnedPositionalEmbedding")
        pos = np.arange(start, start + T)  # (T,)
        return x + self.P(to_device(pos, x.device))  # (B, T, C) + (T, C)

    def extra_repr(self):
        return f"max_len={self.max_len}, d_model={self.d_model}"
