"""Layer normalisation over the last axis (C14)."""

from ..tensor import Tensor
from ..tensor.backend import array_module
from . import dispatch as _dispatch


def layer_norm_forward(x, gamma, beta, eps=1e-5):
    """y = (x - mu) / sqrt(sigma^2 + eps) * gamma + beta, mu and sigma^2 over the last axis.

    Deviation: none from Ba et al.; stated because sources differ: the variance is the biased one
    (divide by C) and eps sits inside the sqrt (PyTorch), not `std + eps` (Annotated Transformer).
    gamma or beta may be None (no affine scale / no bias)."""
    xp = array_module(x)
    C = x.shape[-1]
    mean = x.mean(axis=-1, keepdims=True)  # (..., 1)
    y = x - mean  # (..., C) centred; the in-place steps below reuse this one array
    var = xp.einsum("...i,...i->...", y, y)[..., None]  # (..., 1) sum of squares, no temporary
    var *= 1.0 / C
    var += eps
    rstd = xp.sqrt(var, out=var)
    xp.reciprocal(rstd, out=rstd)  # (..., 1)
    y *= rstd  # (..., C) x_hat
    if gamma is not None:
        y *= gamma
    if beta is not None:
        y += beta
    return y, (x, gamma, mean, rstd, beta is not None)


def layer_norm_backward(dy, cache):
    """x_hat = (x - mu) rstd;  dbeta = sum dy;  dgamma = sum dy x_hat;  g = dy gamma
    dx = rstd * (g - mean(g) - x_hat * mean(g x_hat))      (means over the last axis)"""
    x, gamma, mean, rstd, has_beta = cache
    xp = array_module(x)
    C = x.shape[-1]
    xhat = x - mean  # (..., C)
    xhat *= rstd
    lead = tuple(range(x.ndim - 1))
    dbeta = dy.sum(axis=lead) if has_beta else None
    dgamma = (
        None if gamma is None else xp.einsum("ni,ni->i", dy.reshape(-1, C), xhat.reshape(-1, C))
    )
    g = dy * gamma if gamma is not None else dy.copy()  # (..., C)
    g_mean = g.mean(axis=-1, keepdims=True)  # (..., 1)
    gx_mean = xp.einsum("...i,...i->...", g, xhat)[..., None]  # (..., 1)
    gx_mean *= 1.0 / C
    xhat *= gx_mean
    g -= g_mean
    g -= xhat
    g *= rstd
    return g, dgamma, dbeta


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
