"""Scaled dot-product attention as Numba CUDA kernels, forward and backward.

  O = softmax(q k^T * scale, masked) v  (F5);  dV = P^T dO, dP = dO V^T,
  dS = P (dP - Delta), Delta = rowsum(dP P) = rowsum(O dO), dQ = dS K scale, dK = dS^T Q scale
q (..., T, D), k and v (..., S, D); causal masking is top-left aligned (key s visible to query t
iff s <= t); a boolean mask (True = may attend) is read in place through broadcast strides; a
query with every key masked gets output 0 (as the reference).

Versions (kernels/cupy/attention.cu has the same two with longer notes):
  v1_naive  scores = q k^T (matmul v1), one block per row masks and takes the softmax in place,
            O = P v (matmul v1); the (BH, T, S) matrix P is kept for the backward.
  v2_flash  fused: a block owns BR query rows (one per thread, q and o rows in local arrays) and
            streams BC-key tiles of K, V through shared memory with an online softmax; saves the
            row logsumexp L (+inf for a fully masked row). Backward: Delta = rowsum(O dO), then
            dK, dV with one thread per key over query tiles, dQ with one thread per query over
            key tiles, recomputing P = exp(q.k scale - L). No atomics.
The flash kernels are in _flash_attention.py. make_v1(threads, mm_block) and make_v2(BR, BC)
take other block sizes (the simulator tests use small ones).
Reference: minillm.ops.attention.attention_forward / attention_backward.
Deviation from the reference: boolean masks only, no dropout, v with k's head dim.
"""

import functools
import math

import numpy as np
from numba import boolean, cuda, float32, float64, int64, uint8

from .._pair import KernelPair
from .._shapes import attention_dims, same_shape
from ._device import blocks, empty, f32, flat, u8
from ._flash_attention import allowed, flash_kernels
from ._reduce import NEG_INF, exp_sub, fmax, tree_max, tree_sum
from .matmul import launcher_v1


@functools.cache
def _naive_kernels(threads):
    @cuda.jit
    def softmax_fwd(P, scale, mask, has_mask, mH, msB, msH, msT, msS, causal):
        """P (BH, T, S) scores -> masked softmax of scale * scores, in place; one block per row"""
        buf = cuda.shared.array(threads, float32)
        t, bh, tid, S = cuda.blockIdx.x, cuda.blockIdx.y, cuda.threadIdx.x, P.shape[2]
        m = NEG_INF
        for s in range(tid, S, threads):
            ok = allowed(mask, has_mask, mH, msB, msH, msT, msS, causal, bh, t, s)
            x = P[bh, t, s] * scale if ok else NEG_INF
            P[bh, t, s] = x
            m = fmax(m, x)
        m = tree_max(buf, m)
        z = float32(0.0)
        for s in range(tid, S, threads):
            z += exp_sub(P[bh, t, s], m)
        z = tree_sum(buf, z)
        inv = float32(1.0) / z if z > 0 else float32(0.0)  # fully masked row: P = 0
        for s in range(tid, S, threads):
            P[bh, t, s] = exp_sub(P[bh, t, s], m) * inv

    @cuda.jit
    def softmax_bwd(P, dP, scale):
        """dP (R, S) <- P (dP - rowsum(P dP)) * scale: dS with the scale of dQ, dK folded in"""
        buf = cuda.shared.array(threads, float32)
        r, tid, S = cuda.blockIdx.x, cuda.threadIdx.x, P.shape[1]
        dot = float32(0.0)
        for s in range(tid, S, threads):
            dot += P[r, s] * dP[r, s]
        dot = tree_sum(buf, dot)
        for s in range(tid, S, threads):
            dP[r, s] = P[r, s] * (dP[r, s] - dot) * scale

    return softmax_fwd, softmax_bwd


def _inputs(q, k, v, attn_mask, is_causal, scale):
    """Checked float32 (BH, T|S, D) device views, the mask's kernel arguments, and the shapes."""
    q, k, v = f32(q, "q", "attention"), f32(k, "k", "attention"), f32(v, "v", "attention")
    mshape = None if attn_mask is None else tuple(attn_mask.shape)
    BH, T, S, D, ms = attention_dims(q.shape, k.shape, v.shape, mshape)
    if attn_mask is None:
        mask, ms = u8(np.zeros(1, dtype=np.uint8), "attn_mask", "attention"), (1, 0, 0, 0, 0)
    elif attn_mask.dtype != np.bool_:
        raise TypeError(f"attention kernels take a boolean attn_mask; got {attn_mask.dtype}")
    else:
        mask = flat(u8(attn_mask, "attn_mask", "attention"))
    mask_args = (mask, attn_mask is not None, *ms, bool(is_causal))
    scale = float(1.0 / math.sqrt(D) if scale is None else scale)
    views = (q.reshape((BH, T, D)), k.reshape((BH, S, D)), v.reshape((BH, S, D)))
    return views, mask_args, scale, (BH, T, S, D), tuple(q.shape)


def make_v1(threads=128, mm_block=(16, 16)):
    """v1_naive: `threads` (a power of two) per softmax row, mm_block for the matmuls."""
    if threads & (threads - 1) or threads < 1:
        raise ValueError(f"attention: threads must be a power of two; got {threads}")
    softmax_fwd, softmax_bwd = _naive_kernels(threads)
    mm = launcher_v1(mm_block)

    def forward(q, k, v, attn_mask=None, is_causal=False, scale=None):
        """O = softmax(q k^T * scale, masked) v   (F5): scores, softmax, weighted sum"""
        (q3, k3, v3), mask_args, scale, (BH, T, S, D), shape = _inputs(
            q, k, v, attn_mask, is_causal, scale
        )
        P = mm(q3, (T * D, D, 1), k3, (S * D, 1, D), BH, T, D, S)  # (BH, T, S) q k^T
        softmax_fwd[(T, BH), threads](P, scale, *mask_args)
        O = mm(P, (T * S, S, 1), v3, (S * D, D, 1), BH, T, S, D)  # (BH, T, D)
        return O.reshape(shape), (q3, k3, v3, P, scale, shape)

    def backward(do, cache):
        """dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(P dP)) scale, dQ = dS K, dK = dS^T Q"""
        q3, k3, v3, P, scale, shape = cache
        do = f32(do, "do", "attention")
        same_shape("do", tuple(do.shape), "o", shape, "attention")
        BH, T, D = tuple(q3.shape)
        S = k3.shape[1]
        do3 = do.reshape((BH, T, D))
        dV = mm(P, (T * S, 1, S), do3, (T * D, D, 1), BH, S, T, D)  # (BH, S, D)
        dP = mm(do3, (T * D, D, 1), v3, (S * D, 1, D), BH, T, D, S)  # (BH, T, S)
        softmax_bwd[BH * T, threads](P.reshape((BH * T, S)), dP.reshape((BH * T, S)), scale)
        dQ = mm(dP, (T * S, S, 1), k3, (S * D, D, 1), BH, T, S, D)  # (BH, T, D)
        dK = mm(dP, (T * S, 1, S), q3, (T * D, D, 1), BH, S, T, D)  # (BH, S, D)
        kshape = shape[:-2] + (S, D)
        return dQ.reshape(shape), dK.reshape(kshape), dV.reshape(kshape)

    return KernelPair(forward, backward)


def make_v2(BR=64, BC=32):
    """v2_flash: BR query rows (threads) per forward/dQ block, BC keys per dK/dV block."""

    def forward(q, k, v, attn_mask=None, is_causal=False, scale=None):
        """O = softmax(q k^T * scale, masked) v   (F5), fused: one pass over K, V per query tile"""
        (q3, k3, v3), mask_args, scale, (BH, T, S, D), shape = _inputs(
            q, k, v, attn_mask, is_causal, scale
        )
        fwd = flash_kernels(D, BR, BC)[0]
        O, L = empty((BH, T, D)), empty((BH, T))
        fwd[(blocks(T, BR), BH), BR](q3, k3, v3, O, L, scale, *mask_args)
        return O.reshape(shape), (q3, k3, v3, O, L, scale, mask_args, shape)

    def backward(do, cache):
        """Delta = rowsum(O dO); dK, dV per key tile and dQ per query tile, P recomputed from L"""
        q3, k3, v3, O, L, scale, mask_args, shape = cache
        do = f32(do, "do", "attention")
        same_shape("do", tuple(do.shape), "o", shape, "attention")
        BH, T, D = tuple(q3.shape)
        S = k3.shape[1]
        _, delta, dkdv, dq = flash_kernels(D, BR, BC)
        do3 = do.reshape((BH, T, D))
        Delta = empty((BH, T))
        delta[blocks(BH * T, 128), 128](
            O.reshape((BH * T, D)), do3.reshape((BH * T, D)), flat(Delta)
        )
        dQ, dK, dV = empty((BH, T, D)), empty((BH, S, D)), empty((BH, S, D))
        dkdv[(blocks(S, BC), BH), BC](q3, k3, v3, do3, L, Delta, dK, dV, scale, *mask_args)
        dq[(blocks(T, BR), BH), BR](q3, k3, v3, do3, L, Delta, dQ, scale, *mask_args)
        kshape = shape[:-2] + (S, D)
        return dQ.reshape(shape), dK.reshape(kshape), dV.reshape(kshape)

    return KernelPair(forward, backward)


VERSIONS = {"v1_naive": make_v1(), "v2_flash": make_v2()}


def compile_targets():
    """(name, python function, argument types) of each kernel at the default block sizes and
    head dim 64, for numba.cuda.compile_ptx checks on machines without a GPU."""
    a1, a2, a3 = float32[::1], float32[:, ::1], float32[:, :, ::1]
    mask = (uint8[::1], boolean, int64, int64, int64, int64, int64, boolean)
    softmax_fwd, softmax_bwd = _naive_kernels(128)
    fwd, delta, dkdv, dq = flash_kernels(64, 64, 32)
    return [
        ("softmax_fwd_v1_naive", softmax_fwd.py_func, (a3, float64, *mask)),
        ("softmax_bwd_v1_naive", softmax_bwd.py_func, (a2, a2, float64)),
        ("fwd_v2_flash", fwd.py_func, (a3, a3, a3, a3, a2, float64, *mask)),
        ("delta_v2_flash", delta.py_func, (a2, a2, a1)),
        ("dkdv_v2_flash", dkdv.py_func, (a3, a3, a3, a3, a2, a2, a3, a3, float64, *mask)),
        ("dq_v2_flash", dq.py_func, (a3, a3, a3, a3, a2, a2, a3, float64, *mask)),
    ]
