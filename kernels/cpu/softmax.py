"""Softmax over the last axis on the CPU (Numba), one row at a time.

  s = exp(x - max x) / sum exp(x - max x)   (F17, max-subtracted);   dx = s * (dy - sum(dy * s))

Versions:
  v1_rows   three passes over a row: the max, exp_f32 (kernels/cpu/_math.py) written into s and
            summed, then s times 1 / sum. The backward: one pass for sum(dy * s), one to write dx.
            The sums vectorise under REDUCE. A row whose max is -inf or nan gives nan, as the
            reference does.
Attention's softmax has loops of its own (kernels/cpu/attention.py): they also scale and mask.
Reference: minillm.ops.softmax.softmax_forward / softmax_backward (axis=-1 only).
"""

import numpy as np
from numba import njit

from .._pair import KernelPair
from .._shapes import last_axis, rows, same_shape
from ._math import REDUCE, exp_f32, f32, float32_rows


@njit(**REDUCE)
def _rows_forward(x, s):
    R, N = x.shape
    for r in range(R):
        m = x[r, 0]
        for j in range(1, N):
            m = x[r, j] if x[r, j] > m else m
        total = f32(0.0)
        for j in range(N):
            e = exp_f32(x[r, j] - m)
            s[r, j] = e
            total += e
        inv = f32(1.0) / total
        for j in range(N):
            s[r, j] *= inv


@njit(**REDUCE)
def _rows_backward(dy, s, dx):
    R, N = s.shape
    for r in range(R):
        dot = f32(0.0)
        for j in range(N):
            dot += dy[r, j] * s[r, j]
        for j in range(N):
            dx[r, j] = s[r, j] * (dy[r, j] - dot)


def _forward(x, axis=-1):
    """s = softmax(x) over the last axis; returns (s, s)"""
    x = float32_rows(x, "x", "softmax")
    last_axis(axis, x.ndim, "softmax")
    R, N = rows(x.shape, "softmax")
    s = np.empty_like(x)
    _rows_forward(x.reshape(R, N), s.reshape(R, N))
    return s, s


def _backward(dout, s, axis=-1):
    """dx = s * (dout - sum(dout * s))"""
    last_axis(axis, s.ndim, "softmax")
    dout = float32_rows(dout, "dout", "softmax")
    same_shape("dout", dout.shape, "s", s.shape, "softmax")
    R, N = rows(s.shape, "softmax")
    dx = np.empty_like(s)
    _rows_backward(dout.reshape(R, N), s.reshape(R, N), dx.reshape(R, N))
    return dx


VERSIONS = {"v1_rows": KernelPair(_forward, _backward)}
