"""Scaled dot-product attention in CUDA C (source and version notes: attention.cu).

Versions: v1_naive (matmul + masked row softmax + matmul), v2_flash (fused online softmax).
Reference: minillm.ops.attention.attention_forward / attention_backward.
Deviation from the reference: boolean masks only (a float additive mask raises TypeError), no
dropout, v with the same head dim as k, head dim <= 64 for v2_flash.
"""

import math

import cupy
import numpy as np

from .._pair import KernelPair
from .._shapes import attention_dims, same_shape
from ._module import blocks, f32, i32, i64, kernel, row_threads
from .matmul import launch_v1_naive

CU_FILE = "attention.cu"
# (DMAX, threads, tile) of each flash kernel per padded head dim; shared memory stays < 48 KiB.
# No DMAX 128: with q, o (forward) or dk, dv (backward) in registers one thread per row needs
# > 255 registers there (ptxas -v: kilobytes of spills) and NVRTC took ~20 s on it.
_FWD = {16: (16, 64, 32), 32: (32, 64, 32), 64: (64, 64, 32)}
_BWD = {16: (16, 64, 64), 32: (32, 64, 32), 64: (64, 32, 32)}


def _name(kern, cfg):
    return f"{kern}<{cfg[0]}, {cfg[1]}, {cfg[2]}>"


KERNEL_NAMES = (
    "attn_softmax_fwd_v1_naive",
    "attn_softmax_bwd_v1_naive",
    "attn_bwd_delta",
    *(_name("attn_fwd_v2_flash", c) for c in _FWD.values()),
    *(_name("attn_bwd_dkdv_v2_flash", c) for c in _BWD.values()),
    *(_name("attn_bwd_dq_v2_flash", c) for c in _BWD.values()),
)


def _inputs(q, k, v, attn_mask, is_causal, scale):
    """Checked float32 (BH, T|S, D) views, the mask's kernel arguments, and the shapes."""
    q, k, v = f32(q, "q", "attention"), f32(k, "k", "attention"), f32(v, "v", "attention")
    mshape = None if attn_mask is None else attn_mask.shape
    BH, T, S, D, ms = attention_dims(q.shape, k.shape, v.shape, mshape)
    if attn_mask is None:
        mask, ms = cupy.zeros(1, dtype=cupy.uint8), (1, 0, 0, 0, 0)
    elif attn_mask.dtype != np.bool_:
        raise TypeError(f"attention kernels take a boolean attn_mask; got {attn_mask.dtype}")
    else:
        mask = cupy.ascontiguousarray(cupy.asarray(attn_mask).view(cupy.uint8))
    mask_args = (mask, i32(attn_mask is not None), i32(ms[0]), *map(i64, ms[1:]), i32(is_causal))
    scale = np.float32(1.0 / math.sqrt(D) if scale is None else scale)
    views = (q.reshape(BH, T, D), k.reshape(BH, S, D), v.reshape(BH, S, D))
    return views, mask_args, scale, (BH, T, S, D), q.shape


def _forward_v1(q, k, v, attn_mask=None, is_causal=False, scale=None):
    """O = softmax(q k^T * scale, masked) v   (F5): scores, softmax, weighted sum"""
    (q3, k3, v3), mask_args, scale, (BH, T, S, D), shape = _inputs(
        q, k, v, attn_mask, is_causal, scale
    )
    P = launch_v1_naive(q3, (T * D, D, 1), k3, (S * D, 1, D), BH, T, D, S)  # (BH, T, S) q k^T
    t = row_threads(S)
    kernel(CU_FILE, KERNEL_NAMES, "attn_softmax_fwd_v1_naive")(
        (T, BH), (t,), (P, i32(T), i32(S), scale, *mask_args), shared_mem=4 * t
    )
    O = launch_v1_naive(P, (T * S, S, 1), v3, (S * D, D, 1), BH, T, S, D)  # (BH, T, D)
    return O.reshape(shape), (q3, k3, v3, P, scale, shape)


def _backward_v1(do, cache):
    """dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(P dP)) scale, dQ = dS K, dK = dS^T Q"""
    q3, k3, v3, P, scale, shape = cache
    do = f32(do, "do", "attention")
    same_shape("do", do.shape, "o", shape, "attention")
    BH, T, D = q3.shape
    S = k3.shape[1]
    do3 = do.reshape(BH, T, D)
    dV = launch_v1_naive(P, (T * S, 1, S), do3, (T * D, D, 1), BH, S, T, D)  # (BH, S, D)
    dP = launch_v1_naive(do3, (T * D, D, 1), v3, (S * D, 1, D), BH, T, D, S)  # (BH, T, S)
    t = row_threads(S)
    kernel(CU_FILE, KERNEL_NAMES, "attn_softmax_bwd_v1_naive")(
        (BH * T,), (t,), (P, dP, i32(S), scale), shared_mem=4 * t
    )  # dP is now dS * scale
    dQ = launch_v1_naive(dP, (T * S, S, 1), k3, (S * D, D, 1), BH, T, S, D)  # (BH, T, D)
    dK = launch_v1_naive(dP, (T * S, 1, S), q3, (T * D, D, 1), BH, S, T, D)  # (BH, S, D)
    kshape = shape[:-2] + (S, D)  # k's and v's original shape
    return dQ.reshape(shape), dK.reshape(kshape), dV.reshape(kshape)


def _dmax(D):
    for dmax in _FWD:
        if D <= dmax:
            return dmax
    raise ValueError(
        f"attention v2_flash supports head dim D <= {max(_FWD)}; got D={D} (v1_naive takes any D)"
    )


def _forward_v2(q, k, v, attn_mask=None, is_causal=False, scale=None):
    """O = softmax(q k^T * scale, masked) v   (F5), fused: one pass over K, V per query tile"""
    (q3, k3, v3), mask_args, scale, (BH, T, S, D), shape = _inputs(
        q, k, v, attn_mask, is_causal, scale
    )
    cfg = _FWD[_dmax(D)]
    O = cupy.empty_like(q3)  # (BH, T, D)
    L = cupy.empty((BH, T), dtype=cupy.float32)  # logsumexp of each row's scaled scores
    kernel(CU_FILE, KERNEL_NAMES, _name("attn_fwd_v2_flash", cfg))(
        (blocks(T, cfg[1]), BH),
        (cfg[1],),
        (q3, k3, v3, O, L, i32(T), i32(S), i32(D), scale, *mask_args),
    )
    return O.reshape(shape), (q3, k3, v3, O, L, scale, mask_args, shape)


def _backward_v2(do, cache):
    """Delta = rowsum(O dO); dK, dV per key tile and dQ per query tile, P recomputed from L"""
    q3, k3, v3, O, L, scale, mask_args, shape = cache
    do = f32(do, "do", "attention")
    same_shape("do", do.shape, "o", shape, "attention")
    BH, T, D = q3.shape
    S = k3.shape[1]
    do3 = do.reshape(BH, T, D)
    Delta = cupy.empty((BH, T), dtype=cupy.float32)
    kernel(CU_FILE, KERNEL_NAMES, "attn_bwd_delta")(
        (blocks(BH * T, 8),), (256,), (O, do3, Delta, i64(BH * T), i32(D))
    )
    cfg = _BWD[_dmax(D)]
    dQ, dK, dV = cupy.empty_like(q3), cupy.empty_like(k3), cupy.empty_like(v3)
    common = (i32(T), i32(S), i32(D), scale, *mask_args)
    kernel(CU_FILE, KERNEL_NAMES, _name("attn_bwd_dkdv_v2_flash", cfg))(
        (blocks(S, cfg[1]), BH), (cfg[1],), (q3, k3, v3, do3, L, Delta, dK, dV, *common)
    )
    kernel(CU_FILE, KERNEL_NAMES, _name("attn_bwd_dq_v2_flash", cfg))(
        (blocks(T, cfg[1]), BH), (cfg[1],), (q3, k3, v3, do3, L, Delta, dQ, *common)
    )
    kshape = shape[:-2] + (S, D)  # k's and v's original shape
    return dQ.reshape(shape), dK.reshape(kshape), dV.reshape(kshape)


VERSIONS = {
    "v1_naive": KernelPair(_forward_v1, _backward_v1),
    "v2_flash": KernelPair(_forward_v2, _backward_v2),
}
