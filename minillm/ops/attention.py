"""Scaled dot-product attention (F5, F13, F16-F18), with causal/padding masks and dropout."""

import math
import numbers

from ..tensor import Tensor
from ..tensor.backend import array_module
from . import dispatch as _dispatch
from .dropout import check_p
from .softmax import row_max


def causal_mask(T, S, xp):
    """(T, S) boolean, True where query i may attend key j: j <= i + (S - T).

    Bottom-right aligned: the T queries are the *last* T of the S positions (a KV cache, or
    prefix rows before the keys), so the last query sees every key. For T == S this is the usual
    lower triangle. Deviation: torch's scaled_dot_product_attention aligns is_causal top-left
    when T != S (query i sees keys 0..i); flash-attention >= 2.1 aligns bottom-right, as we do."""
    return xp.tril(xp.ones((T, S), dtype=bool), k=S - T)  # (T, S)


def attention_forward(
    q, k, v, attn_mask=None, is_causal=False, scale=None, dropout_p=0.0, rng=None
):
    """O = softmax(Q K^T / sqrt(d_k) + mask) V   (F5; row-vector form of F13)

    Per query i: e_ij = q_i . k_j (F16), alpha_ij = exp(e_ij/sqrt d_k) / sum_l exp(e_il/sqrt d_k)
    (F17, computed max-subtracted), o_i = sum_j alpha_ij v_j (F18).
    Shapes: q (B, H, T, D), k and v (B, H, S, D) -> O (B, H, T, D); masks broadcast to (B, H, T, S).
    attn_mask: boolean (True = may attend) or float (added to the scores), as PyTorch.
    A query whose keys are all masked gets alpha = 0 and output 0, as PyTorch 2.13 (older
    PyTorch, and the softmax of a row of -inf, give NaN); so does a query when there are no keys
    (S = 0). With D = 0 every score is 0: O is the mean of v, as PyTorch."""
    xp = array_module(q)
    scale = 1.0 / math.sqrt(q.shape[-1] or 1) if scale is None else scale  # D = 0: scores are 0
    # BEGIN EXERCISE F5: scores (B, H, T, S) = q k^T * scale; then -inf where masked: causal_mask(T,
    # S, xp) when is_causal, a boolean attn_mask and-ed with it, a float attn_mask added to the
    # scores
    scores = (q @ xp.swapaxes(k, -1, -2)) * q.dtype.type(scale)  # (B, H, T, S) e_ij / sqrt(d_k)
    allowed = causal_mask(q.shape[-2], k.shape[-2], xp) if is_causal else None  # (T, S)
    if attn_mask is not None and attn_mask.dtype == bool:
        allowed = attn_mask if allowed is None else (allowed & attn_mask)
    elif attn_mask is not None:  # in the scores' dtype: a float64 mask must not promote float32
        scores = scores + attn_mask.astype(scores.dtype, copy=False)  # (B, H, T, S)
    if allowed is not None:
        scores = xp.where(allowed, scores, -xp.inf)  # (B, H, T, S) masked scores = -inf
    # END EXERCISE
    m = row_max(scores)  # (B, H, T, 1); 0 when there are no keys
    m = xp.where(xp.isfinite(m), m, 0)  # all-masked row: keep exp(-inf - 0) = 0
    e = xp.exp(scores - m)  # (B, H, T, S)
    z = e.sum(axis=-1, keepdims=True)  # (B, H, T, 1)
    P = e / xp.where(z == 0, 1, z)  # (B, H, T, S) alpha_ij; all-masked rows stay 0
    Pd = P  # P' = P after dropout
    if dropout_p > 0.0:
        keep = xp.asarray(rng.random(P.shape) >= dropout_p)  # (B, H, T, S)
        inv = 1.0 / (1.0 - dropout_p) if dropout_p < 1.0 else 0.0  # p = 1: 0, not 0 * inf
        Pd = P * keep * P.dtype.type(inv)  # (B, H, T, S)
    O = Pd @ v  # (B, H, T, D)
    return O, (q, k, v, P, Pd, scale, dropout_p)


def attention_backward(dO, cache):
    """With S = Q K^T scale (+ mask), P = softmax(S), P' = P after dropout, O = P' V:

    (1) dV = P'^T dO
    (2) dP = (dO V^T) * dropout mask / (1 - p)      (= dO V^T without dropout)
    (3) dS = P * (dP - rowsum(dP * P))              (softmax_backward, row by row)
    (4) dQ = dS K * scale
    (5) dK = dS^T Q * scale
    Masked entries have P = 0, so dS = 0 there and no gradient reaches their q or k."""
    q, k, v, P, Pd, scale, dropout_p = cache
    xp = array_module(dO)
    dV = xp.swapaxes(Pd, -1, -2) @ dO  # (1) (B, H, S, D)
    dP = dO @ xp.swapaxes(v, -1, -2)  # (B, H, T, S)
    if dropout_p > 0.0:
        dP = dP * (Pd / xp.where(P == 0, 1, P))  # (2) the dropout mask times 1/(1-p)
    dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))  # (3) (B, H, T, S)
    s = q.dtype.type(scale)
    dQ = (dS @ k) * s  # (4) (B, H, T, D)
    dK = (xp.swapaxes(dS, -1, -2) @ q) * s  # (5) (B, H, S, D)
    return dQ, dK, dV


def combine_masks(allowed, attn_mask):
    """A boolean "may attend" mask and an optional user mask as one mask: boolean masks are
    and-ed; a float mask keeps its values where allowed and gets -inf elsewhere."""
    if attn_mask is None:
        return allowed
    if attn_mask.dtype == bool:
        return allowed & attn_mask  # (..., T, S)
    return array_module(attn_mask).where(allowed, attn_mask, -array_module(attn_mask).inf)


def check_attention_shapes(q, k, v, attn_mask):
    if q.ndim < 2 or k.ndim != q.ndim or v.ndim != q.ndim:
        raise ValueError(
            f"attention: q, k, v need the same rank >= 2, got {q.shape}, {k.shape}, {v.shape}"
        )
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2] or q.shape[:-2] != k.shape[:-2]:
        raise ValueError(
            f"attention: expected q (..., T, D), k (..., S, D), v (..., S, Dv) with equal leading "
            f"dims, got q {q.shape}, k {k.shape}, v {v.shape}"
        )
    if attn_mask is not None:
        target = q.shape[:-1] + (k.shape[-2],)
        try:
            array_module(q).broadcast_shapes(attn_mask.shape, target)
        except ValueError as e:
            raise ValueError(
                f"attention: mask shape {attn_mask.shape} does not broadcast to {target}"
            ) from e


def scaled_dot_product_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    attn_mask=None,
    dropout_p=0.0,
    is_causal=False,
    scale=None,
    return_weights=False,
    rng=None,
):
    """Tensor wrapper with PyTorch's argument names. With return_weights=True returns (O, alpha),
    alpha an array (B, H, T, S) without gradient, for plots (C24). The weights are computed on
    the side by the reference formula, so asking for them never changes which code computes O
    (a kernel keeps no weights): a recorded forward gives the same O as an unrecorded one."""
    mask = attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask
    check_attention_shapes(q.data, k.data, v.data, mask)
    check_p(dropout_p, "attention: dropout_p")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, numbers.Real)):
        raise TypeError(f"attention: scale must be a number or None, got {scale!r}")
    T, S = q.shape[-2], k.shape[-2]
    if is_causal and T == 1:  # one query, the last position: it sees every key (no mask needed)
        is_causal = False
    elif is_causal and T != S:  # the kernels align is_causal top-left: pass an explicit mask
        mask, is_causal = combine_masks(causal_mask(T, S, array_module(q.data)), mask), False
    if dropout_p > 0.0 and rng is None:
        rng = array_module(q.data).random.default_rng()
    fwd, bwd = _dispatch.attention_pair(
        (attention_forward, attention_backward), q.data, k.data, v.data, mask, dropout_p, False
    )
    O, cache = fwd(q.data, k.data, v.data, mask, is_causal, scale, dropout_p, rng)
    out = Tensor.from_op(O, (q, k, v), lambda d: bwd(d, cache), "attention")
    if not return_weights:
        return out
    _, reference = attention_forward(q.data, k.data, v.data, mask, is_causal, scale)
    return out, reference[3]  # alpha (B, H, T, S), before dropout
