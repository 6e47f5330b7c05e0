"""Layer normalisation over the last axis (C14)."""

from ..tensor import Tensor
from ..tensor.backend import array_module
from . import dispatch as _dispatch


def layer_norm_forward(x, gamma, beta, eps=1e-5):
    """y = (x - mu) / sqrt(sigma^2 + eps) * gamma + beta, mu and sigma^2 over the last axis (C14)

    Shapes: x (..., C), gamma and beta (C,) or None (no gain / no bias) -> y (..., C).
    Returns (y, cache), cache = (x, gamma, mean, rstd, has_beta); the kernels keep mean at [2] and
    rstd at [3] too, and their tests compare both.
    Deviation: none from Ba et al.; stated because sources differ: the variance is the biased
    one (divide by C) and eps sits inside the sqrt (PyTorch), not `std + eps` (Annotated
    Transformer)."""
    xp = array_module(x)
    mean = x.mean(axis=-1, keepdims=True)  # (..., 1) mu
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # (..., 1) sigma^2, biased
    rstd = 1.0 / xp.sqrt(var + eps)  # (..., 1) 1 / sqrt(sigma^2 + eps)
    xhat = (x - mean) * rstd  # (..., C) x_hat, zero mean and unit variance per row
    y = xhat
    if gamma is not None:
        y = y * gamma  # (..., C)
    if beta is not None:
        y = y + beta  # (..., C)
    return y, (x, gamma, mean, rstd, beta is not None)


def layer_norm_backward(dy, cache):
    """With x_hat = (x - mu) rstd, rows = every axis but the last, means over the last axis:

    (1) dbeta  = sum_rows dy
    (2) dgamma = sum_rows dy * x_hat
    (3) dx_hat = dy * gamma
    (4) dx     = rstd * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat))

    (4) is llm.c's `dx = dnorm - mean(dnorm) - norm * mean(dnorm * norm)`, times rstd: the two
    means are the paths through mu and through sigma^2. Returns (dx, dgamma, dbeta), None for an
    absent parameter."""
    x, gamma, mean, rstd, has_beta = cache
    xhat = (x - mean) * rstd  # (..., C) recomputed: the cache keeps x, not x_hat
    rows = tuple(range(x.ndim - 1))
    dbeta = dy.sum(axis=rows) if has_beta else None  # (1) (C,)
    dgamma = (dy * xhat).sum(axis=rows) if gamma is not None else None  # (2) (C,)
    dxhat = dy * gamma if gamma is not None else dy  # (3) (..., C)
    # BEGIN EXERCISE C14: dx = rstd * (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)), means
    # over the last axis
    dxhat_mean = dxhat.mean(axis=-1, keepdims=True)  # (..., 1) through mu
    dxhat_xhat_mean = (dxhat * xhat).mean(axis=-1, keepdims=True)  # (..., 1) through sigma^2
    dx = rstd * (dxhat - dxhat_mean - xhat * dxhat_xhat_mean)  # (4) (..., C)
    # END EXERCISE
    return dx, dgamma, dbeta


def layer_norm(x: Tensor, gamma=None, beta=None, eps=1e-5) -> Tensor:
    """Tensor wrapper; gamma/beta are Tensors of shape (C,) or None."""
    C = x.shape[-1]
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p is not None and p.shape != (C,):
            raise ValueError(
                f"layer_norm: {name} has shape {p.shape}, expected ({C},) for x {x.shape}"
            )
    g_arr = None if gamma is None else gamma.data
    b_arr = None if beta is None else beta.data
    reference = (layer_norm_forward, layer_norm_backward)
    fwd, bwd = _dispatch.layer_norm_pair(reference, x.data, g_arr, b_arr)
    y, cache = fwd(x.data, g_arr, b_arr, eps)
    parents = tuple(p for p in (x, gamma, beta) if p is not None)

    def backward(d):
        dx, dg, db = bwd(d, cache)
        return tuple(g for g, p in zip((dx, dg, db), (x, gamma, beta)) if p is not None)

    return Tensor.from_op(y, parents, backward, "layer_norm")
