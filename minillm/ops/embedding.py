"""Embedding lookup: row y = W[id] of a (V, C) table (C15)."""

from ..tensor import Tensor
from ..tensor.backend import array_module
from .cross_entropy import check_ids


def embedding_forward(ids, W):
    """y[..., :] = W[ids[...], :]   ids (...) ints, W (V, C) -> y (..., C)"""
    check_ids(ids, W.shape[0], "embedding")
    return W[ids], (ids, W.shape)


def embedding_backward(dout, cache):
    """dW[v] = sum of dout at every position whose id is v (repeated ids accumulate)"""
    ids, shape = cache
    xp = array_module(dout)
    dW = xp.zeros(shape, dtype=dout.dtype)  # (V, C)
    xp.add.at(dW, ids.reshape(-1), dout.reshape(-1, shape[1]))  # (N,) ids, (N, C) rows
    return dW


def embedding(ids, W: Tensor) -> Tensor:
    ids = ids.data if isinstance(ids, Tensor) else array_module(W.data).asarray(ids)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"embedding: ids must be integers, got dtype {ids.dtype}")
    y, cache = embedding_forward(ids, W.data)
    return Tensor.from_op(y, (W,), lambda d: (embedding_backward(d, cache),), "embedding")
