"""Inverted dropout (C22)."""

from ..tensor import Tensor
from ..tensor.backend import array_module


def dropout_forward(x, p, rng):
    """y = x * m / (1 - p), m_i ~ Bernoulli(1 - p): the expected value of y is x, so evaluation
    (no dropout) needs no rescaling."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: p must be in [0, 1), got {p}")
    keep = rng.random(x.shape) >= p  # (same as x)
    scale = array_module(x).asarray(keep, dtype=x.dtype) * x.dtype.type(1.0 / (1.0 - p))
    return x * scale, scale


def dropout_backward(dout, scale):
    """dx = dout * m / (1 - p)"""
    return dout * scale


def dropout(x: Tensor, p=0.5, training=True, rng=None) -> Tensor:
    """Identity when not training or p == 0. `rng`: a np.random.Generator (fresh one if None)."""
    if not training or p == 0.0:
        return x
    rng = rng if rng is not None else array_module(x.data).random.default_rng()
    y, scale = dropout_forward(x.data, p, rng)
    return Tensor.from_op(y, (x,), lambda d: (dropout_backward(d, scale),), "dropout")
