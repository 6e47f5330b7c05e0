"""Inverted dropout (C22)."""

import numbers

from ..tensor import Tensor
from ..tensor.backend import array_module


def check_p(p, name="dropout: p"):
    """ValueError unless p is a number in [0, 1] (checked in eval mode too, as torch)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {p!r}")


def dropout_forward(x, p, rng):
    """y = x * m / (1 - p), m_i ~ Bernoulli(1 - p): the expected value of y is x, so evaluation
    (no dropout) needs no rescaling. p = 1 drops everything: y = x * 0, gradient 0 (torch)."""
    check_p(p)
    keep = rng.random(x.shape) >= p  # (same as x)
    inv = 1.0 / (1.0 - p) if p < 1.0 else 0.0  # p = 1: scale 0, not 0 * 1 / 0 = nan
    scale = array_module(x).asarray(keep, dtype=x.dtype) * x.dtype.type(inv)
    return x * scale, scale


def dropout_backward(dout, scale):
    """dx = dout * m / (1 - p)"""
    return dout * scale


def dropout(x: Tensor, p=0.5, training=True, rng=None) -> Tensor:
    """Identity when not training or p == 0. `rng`: a np.random.Generator (fresh one if None)."""
    check_p(p)
    if not training or p == 0.0:
        return x
    rng = rng if rng is not None else array_module(x.data).random.default_rng()
    y, scale = dropout_forward(x.data, p, rng)
    return Tensor.from_op(y, (x,), lambda d: (dropout_backward(d, scale),), "dropout")
