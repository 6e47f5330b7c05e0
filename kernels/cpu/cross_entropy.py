"""Cross-entropy of logits against class ids on the CPU, fused with its softmax (Numba).

  l_n = logsumexp(z_n) - z_{n, y_n};  dz_n = (softmax(z_n) - onehot(y_n)) w_n
  w_n = dl_n (/ #non-ignored rows for "mean"), 0 for a row whose target is ignore_index

Versions:
  v1_rows   per row: the max, then e = exp_f32(z - max) (kernels/cpu/_math.py) written out and
            summed, which gives logsumexp and the loss. The backward reads e and 1 / sum e back,
            so it writes (e / sum e) w - onehot w in one pass with no exp: without SVML an exp
            costs more than the memory traffic of keeping e. The loss adds up in float64.
Targets are checked first, as in the reference: an id outside [0, V) that is not ignore_index
raises IndexError naming its position. "mean" over no valid rows gives a nan loss and a zero
gradient, as the reference and PyTorch.
Reference: minillm.ops.cross_entropy.cross_entropy_forward / cross_entropy_backward.
"""

import math

import numpy as np
from numba import njit

from .._pair import KernelPair
from .._shapes import cross_entropy_dims, same_shape
from ._math import REDUCE, exp_f32, f32, float32_rows


@njit(**REDUCE)
def _forward(z, y, ignore_index, e, inv_sum, losses):
    """e[n] = exp(z_n - max z_n), inv_sum[n] = 1 / sum e[n], losses[n] = l_n (0 where ignored);
    returns (sum l_n, #valid)"""
    N, V = z.shape
    total = 0.0
    n_valid = 0
    for n in range(N):
        m = z[n, 0]
        for j in range(1, V):
            m = z[n, j] if z[n, j] > m else m
        s = f32(0.0)
        for j in range(V):
            e[n, j] = exp_f32(z[n, j] - m)
            s += e[n, j]
        inv_sum[n] = f32(1.0) / s
        losses[n] = 0
        if y[n] != ignore_index:
            losses[n] = m + f32(math.log(s)) - z[n, y[n]]  # logsumexp(z_n) - z_{n, y_n}
            total += losses[n]
            n_valid += 1
    return total, n_valid


@njit(**REDUCE)
def _backward(e, inv_sum, y, ignore_index, w, dz):
    """dz_n = (e_n / sum e_n - onehot(y_n)) w_n, w_n times 0 for an ignored row"""
    N, V = e.shape
    for n in range(N):
        valid = y[n] != ignore_index
        wn = w[n] if valid else f32(0.0)  # an ignored row: 0, even where w[n] is inf
        scale = inv_sum[n] * wn
        for j in range(V):
            dz[n, j] = e[n, j] * scale
        if valid:
            dz[n, y[n]] -= wn


def _targets(targets, N, V, ignore_index):
    t = np.asarray(targets).astype(np.int64, copy=False).reshape(N)  # (N,)
    bad = (t != ignore_index) & ((t < 0) | (t >= V))
    if bad.any():
        i = int(bad.argmax())
        raise IndexError(
            f"cross_entropy target: id {int(t[i])} at flat position {i} is out of range [0, {V})"
        )
    return t


def _forward_host(logits, targets, ignore_index=-100, reduction="mean"):
    """l = logsumexp(z) - z_y per row; mean over non-ignored rows, sum, or none"""
    logits = float32_rows(logits, "logits", "cross_entropy")
    N, V = cross_entropy_dims(logits.shape, np.shape(targets), reduction)
    t = _targets(targets, N, V, ignore_index)
    e = np.empty_like(logits)  # (N, V) exp(z - max z), for the backward
    inv_sum = np.empty(N, np.float32)  # (N,)
    losses = np.empty(N, np.float32)  # (N,) 0 at ignored rows
    total, n_valid = _forward(logits, t, ignore_index, e, inv_sum, losses)
    if reduction == "none":
        loss = losses
    else:
        with np.errstate(invalid="ignore", divide="ignore"):  # "mean" of no rows: nan
            loss = np.float64(total) / n_valid if reduction == "mean" else total
        loss = np.asarray(loss, np.float32)
    return loss, (e, inv_sum, t, ignore_index, n_valid, reduction)


def _backward_host(dloss, cache):
    """dlogits (N, V)"""
    e, inv_sum, t, ignore_index, n_valid, reduction = cache
    N = e.shape[0]
    dloss = np.asarray(dloss, np.float32)
    same_shape("dloss", dloss.shape, "loss", (N,) if reduction == "none" else (), "cross_entropy")
    w = dloss / np.float32(max(n_valid, 1)) if reduction == "mean" else dloss  # 0 valid: w = 0
    w = np.broadcast_to(np.asarray(w, np.float32), (N,)).copy()  # (N,)
    dz = np.empty_like(e)
    _backward(e, inv_sum, t, ignore_index, w, dz)
    return dz


VERSIONS = {"v1_rows": KernelPair(_forward_host, _backward_host)}
