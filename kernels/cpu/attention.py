"""Scaled dot-product attention on the CPU: BLAS products around one fused softmax loop (Numba).

  S = Q K^T scale (+ mask);  P = softmax(S);  O = P V
  dV = P^T dO;  dP = dO V^T;  dS = P (dP - rowsum(dP P)) scale;  dQ = dS K;  dK = dS^T Q

Versions:
  v1_fused_softmax  the four products by NumPy's matmul (OpenBLAS, both cores). The steps between
                    them are one Numba loop per row each way, instead of ~8 NumPy passes over the
                    (B, H, T, S) scores: the forward scales, masks and normalises the row in place
                    (for causal rows it touches only the keys j <= i + S - T and writes 0 past
                    them); the backward forms dS in place of dP with the scale folded in, so
                    dQ and dK need no extra pass.
A query whose keys are all masked gets P = 0, output 0 and zero gradients, as the reference.
Boolean masks only, no dropout (the dispatcher runs the reference for float masks, dropout and
return_weights). The cache is (q, k, v, P, scale), with P at [3] as in the reference.
Reference: minillm.ops.attention.attention_forward / attention_backward (is_causal aligned
bottom-right: query i of T sees keys j <= i + S - T, as the reference's causal_mask).
"""

import math

import numpy as np
from numba import njit

from .._pair import KernelPair
from .._shapes import same_shape
from ._math import REDUCE, exp_f32, f32, float32_rows


@njit(**REDUCE)
def _softmax_rows(P, scale, causal, mask, has_mask):
    """In place on P (BH, T, S) holding the unscaled scores: P = softmax(P scale, masked)."""
    BH, T, S = P.shape
    for b in range(BH):
        for t in range(T):
            end = min(max(t + S - T + 1, 0), S) if causal else S  # keys past end are masked
            row = P[b, t]  # (S,)
            for j in range(end):
                row[j] *= scale
            if has_mask:  # a separate pass, so that the loops below vectorise
                for j in range(end):
                    if not mask[b, t, j]:
                        row[j] = -np.inf
            m = f32(-np.inf)
            for j in range(end):
                m = row[j] if row[j] > m else m
            if not (-np.inf < m < np.inf):  # all masked (or an inf score): as the reference
                m = f32(0.0)
            total = f32(0.0)
            for j in range(end):
                e = exp_f32(row[j] - m)
                row[j] = e
                total += e
            inv = f32(1.0) / (total if total != 0 else f32(1.0))
            for j in range(end):
                row[j] *= inv
            for j in range(end, S):
                row[j] = 0


@njit(**REDUCE)
def _softmax_rows_backward(P, dP, scale, causal):
    """In place on dP (BH, T, S): dS = P (dP - rowsum(dP P)) scale."""
    BH, T, S = P.shape
    for b in range(BH):
        for t in range(T):
            end = min(max(t + S - T + 1, 0), S) if causal else S
            dot = f32(0.0)
            for j in range(end):
                dot += dP[b, t, j] * P[b, t, j]
            for j in range(end):
                dP[b, t, j] = P[b, t, j] * (dP[b, t, j] - dot) * scale
            for j in range(end, S):
                dP[b, t, j] = 0


def _forward(q, k, v, attn_mask=None, is_causal=False, scale=None, dropout_p=0.0, rng=None):
    """O = softmax(Q K^T scale + mask) V; q (..., T, D), k and v (..., S, D); boolean masks"""
    if dropout_p > 0.0:
        raise ValueError("attention v1_fused_softmax: no dropout (the reference has it)")
    q, k, v = (float32_rows(a, n, "attention") for a, n in ((q, "q"), (k, "k"), (v, "v")))
    *lead, T, D = q.shape
    S = k.shape[-2]
    same_shape("k", k.shape, "(..., S, D)", (*lead, S, D), "attention")
    scale = 1.0 / math.sqrt(D) if scale is None else scale
    BH = math.prod(lead)
    P = np.matmul(q.reshape(BH, T, D), np.swapaxes(k.reshape(BH, S, D), -1, -2))  # (BH, T, S)
    has_mask = attn_mask is not None
    if has_mask:
        if attn_mask.dtype != np.bool_:
            raise TypeError(
                f"attention v1_fused_softmax: boolean masks only, not {attn_mask.dtype}"
            )
        mask = np.broadcast_to(attn_mask, (*lead, T, S)).reshape(BH, T, S)  # a view if it can
    else:
        mask = np.ones((1, 1, 1), np.bool_)  # never read
    _softmax_rows(P, f32(scale), bool(is_causal), mask, has_mask)
    O = np.matmul(P, v.reshape(BH, S, v.shape[-1]))  # (BH, T, Dv)
    return O.reshape(*lead, T, v.shape[-1]), (q, k, v, P.reshape(*lead, T, S), scale, is_causal)


def _backward(dO, cache):
    """(dQ, dK, dV) through the softmax, the two products and the scale"""
    q, k, v, P, scale, is_causal = cache
    *lead, T, D = q.shape
    S, Dv = v.shape[-2:]
    BH = math.prod(lead)
    dO = float32_rows(dO, "dO", "attention").reshape(BH, T, Dv)
    P = P.reshape(BH, T, S)
    dV = np.matmul(np.swapaxes(P, -1, -2), dO)  # (BH, S, Dv)
    dS = np.matmul(dO, np.swapaxes(v.reshape(BH, S, Dv), -1, -2))  # (BH, T, S) dP, then dS
    _softmax_rows_backward(P, dS, f32(scale), bool(is_causal))
    dQ = np.matmul(dS, k.reshape(BH, S, D))  # (BH, T, D)
    dK = np.matmul(np.swapaxes(dS, -1, -2), q.reshape(BH, T, D))  # (BH, S, D)
    return dQ.reshape(q.shape), dK.reshape(k.shape), dV.reshape(v.shape)


VERSIONS = {"v1_fused_softmax": KernelPair(_forward, _backward)}
