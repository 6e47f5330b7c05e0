"""Layer normalisation over the last axis (C14)."""

from ..tensor import Tensor
from ..tensor.backend import array_module


def layer_norm_forward(x, gamma, beta, eps=1e-5):
    """y = (x - mu) / sqrt(sigma^2 + eps) * gamma + beta, mu and sigma^2 over the last axis.

    Deviation: none from Ba et al.; stated because sources differ: the variance is the biased one
    (divide by C) and eps sits inside the sqrt (PyTorch), not `std + eps` (Annotated Transformer).
    gamma or beta may be None (no affine scale / no bias)."""
    xp = array_module(x)
    mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
    xc = x - mean  # (..., C)
    rstd = 1.0 / xp.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)  # (..., 1)
    y = xc * rstd  # (..., C) x_hat
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    return y, (x, gamma, mean, rstd, beta is not None)


def layer_norm_backward(dy, cache):
    """x_hat = (x - mu) rstd;  dbeta = sum dy;  dgamma = sum dy x_hat;  g = dy gamma
    dx = rstd * (g - mean(g) - x_hat * mean(g x_hat))      (means over the last axis)"""
    x, gamma, mean, rstd, has_beta = cache
    xhat = (x - mean) * rstd  # (..., C)
    lead = tuple(range(x.ndim - 1))
    dbeta = dy.sum(axis=lead) if has_beta else None
    dgamma = (dy * xhat).sum(axis=lead) if gamma is not None else None
    g = dy * gamma if gamma is not None else dy
    dx = rstd * (
        g - g.mean(axis=-1, keepdims=True) - xhat * (g * xhat).mean(axis=-1, keepdims=True)
    )
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
    y, cache = layer_norm_forward(x.data, g_arr, b_arr, eps)
    parents = tuple(p for p in (x, gamma, beta) if p is not None)

    def backward(d):
        dx, dg, db = layer_norm_backward(d, cache)
        return tuple(g for g, p in zip((dx, dg, db), (x, gamma, beta)) if p is not None)

    return Tensor.from_op(y, parents, backward, "layer_norm")
