"""Layer norm over the last axis on the CPU (Numba), one row at a time.

  y = (x - mu) rstd gamma + beta,  rstd = 1 / sqrt(var + eps)   (biased var, eps inside)
  dx = rstd (g - mean(g) - x_hat mean(g x_hat)),  g = dy gamma
  dgamma = sum_rows dy x_hat;  dbeta = sum_rows dy

Versions:
  v1_rows   per row: one pass for the mean, one for the variance (two-pass, as the reference:
            no cancellation when the mean is large), one to write y. The backward reads each row
            twice: once for the two row means and the column sums of dgamma and dbeta, once to
            write dx. x_hat is recomputed, never stored. The row sums vectorise under REDUCE
            (kernels/cpu/_math.py); dgamma and dbeta accumulate in float32, as NumPy's sum does.
The cache is the reference's: (x, gamma, mean, rstd, has_beta), mean and rstd of shape (..., 1).
Reference: minillm.ops.layer_norm.layer_norm_forward / layer_norm_backward.
"""

import numpy as np
from numba import njit

from .._pair import KernelPair
from .._shapes import rows, same_shape
from ._math import REDUCE, f32, float32_rows


@njit(**REDUCE)
def _forward(x, gamma, beta, eps, y, mean, rstd):
    N, C = x.shape
    for r in range(N):
        s = 0.0  # float64: a row of C values near 1e3 loses 1e-4 of its mean in float32
        for c in range(C):
            s += x[r, c]
        mu = f32(s / C)
        ss = 0.0
        for c in range(C):
            d = x[r, c] - mu
            ss += d * d
        rs = f32(1.0 / np.sqrt(ss / C + eps))
        mean[r] = mu
        rstd[r] = rs
        for c in range(C):
            y[r, c] = (x[r, c] - mu) * rs * gamma[c] + beta[c]


@njit(**REDUCE)
def _backward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta):
    N, C = x.shape
    for r in range(N):
        mu, rs = mean[r], rstd[r]
        g_sum = f32(0.0)
        gx_sum = f32(0.0)
        for c in range(C):
            xhat = (x[r, c] - mu) * rs
            g = dy[r, c] * gamma[c]
            g_sum += g
            gx_sum += g * xhat
            dgamma[c] += dy[r, c] * xhat
            dbeta[c] += dy[r, c]
        g_mean = g_sum / f32(C)
        gx_mean = gx_sum / f32(C)
        for c in range(C):
            xhat = (x[r, c] - mu) * rs
            dx[r, c] = rs * (dy[r, c] * gamma[c] - g_mean - xhat * gx_mean)


def _forward_host(x, gamma, beta, eps=1e-5):
    """y = (x - mu) / sqrt(var + eps) * gamma + beta over the last axis; gamma, beta may be None"""
    x = float32_rows(x, "x", "layer_norm")
    N, C = rows(x.shape, "layer_norm")
    g = np.ones(C, np.float32) if gamma is None else float32_rows(gamma, "gamma", "layer_norm")
    b = np.zeros(C, np.float32) if beta is None else float32_rows(beta, "beta", "layer_norm")
    same_shape("gamma", g.shape, "(C,)", (C,), "layer_norm")
    same_shape("beta", b.shape, "(C,)", (C,), "layer_norm")
    y = np.empty_like(x)
    mean = np.empty(x.shape[:-1] + (1,), np.float32)  # (..., 1)
    rstd = np.empty(x.shape[:-1] + (1,), np.float32)  # (..., 1)
    _forward(x.reshape(N, C), g, b, f32(eps), y.reshape(N, C), mean.reshape(N), rstd.reshape(N))
    return y, (x, None if gamma is None else g, mean, rstd, beta is not None)


def _backward_host(dy, cache):
    """(dx, dgamma, dbeta), None for an absent gamma or beta"""
    x, gamma, mean, rstd, has_beta = cache
    dy = float32_rows(dy, "dy", "layer_norm")
    same_shape("dy", dy.shape, "x", x.shape, "layer_norm")
    N, C = rows(x.shape, "layer_norm")
    g = np.ones(C, np.float32) if gamma is None else gamma
    dx = np.empty_like(x)
    dgamma = np.zeros(C, np.float32)
    dbeta = np.zeros(C, np.float32)
    _backward(x.reshape(N, C), g, mean.reshape(N), rstd.reshape(N), dy.reshape(N, C),
              dx.reshape(N, C), dgamma, dbeta)  # fmt: skip
    return dx, (None if gamma is None else dgamma), (dbeta if has_beta else None)


VERSIONS = {"v1_rows": KernelPair(_forward_host, _backward_host)}
