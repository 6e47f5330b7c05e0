"""Quantisation (C4) as plain array functions: float <-> b-bit integers, int4 packing, and the
integer matmul of a quantised layer. The layer itself is minillm.compress.QuantLinear.

    symmetric:   s = max|w| / q_max,               z = 0,                 q_max = 2^(b-1) - 1
    asymmetric:  s = (max w - min w) / (2^b - 1),  z = q_min - round(min w / s),  q_min = -2^(b-1)
    quantise:    q = clip(round(w / s) + z, q_min, q_max)     (integers, stored as int8)
    dequantise:  w_hat = (q - z) * s,                         |w_hat - w| <= s / 2 for w in range
The range of the asymmetric grid always holds 0 (min w <= 0 <= max w), so zero stays exact.
Per-tensor: one (s, z) for the whole array; per-channel: one per index of `axis` (minillm's
Linear W is (in, out), so the output channels are axis=-1 and each column gets its own scale).
Shapes: w (..., K, N) with axis=-1 -> s, z (N,); per-tensor -> s, z of shape (1,).
"""

import numpy as np

BITS = (4, 8)
EXACT_FLOAT32 = 2**24  # every integer of magnitude <= 2^24 is exact in float32 (2^53: float64)


def check_bits(bits) -> int:
    if isinstance(bits, bool) or bits not in BITS:
        raise ValueError(f"quantize: bits must be 4 or 8, got {bits!r}")
    return int(bits)


def qrange(bits: int, symmetric: bool) -> tuple:
    """(q_min, q_max): symmetric grids use -q_max..q_max, so that -w quantises to -q."""
    q_max = 2 ** (check_bits(bits) - 1) - 1
    return (-q_max if symmetric else -q_max - 1), q_max


def _reduce(w, axis, fn):
    """fn over every axis but `axis` (keepdims), or over all of w for axis=None -> (1,)."""
    if axis is None:
        return fn(w).reshape(1)  # (1,)
    others = tuple(i for i in range(w.ndim) if i != axis % w.ndim)
    return fn(w, axis=others)  # (w.shape[axis],)


def quant_params(w, bits=8, symmetric=True, axis=None):
    """(scale, zero_point) of w: float64 (n,) and int32 (n,), n = w.shape[axis] (1 when None).
    An all-zero channel gets scale 1 (its values quantise to z and come back as 0)."""
    q_min, q_max = qrange(bits, symmetric)
    w = np.asarray(w, dtype=np.float64)  # (..., K, N)
    if symmetric:
        scale = _reduce(np.abs(w), axis, np.max) / q_max  # (n,)
        zero = np.zeros(scale.shape, dtype=np.int32)  # (n,)
    else:
        lo = np.minimum(_reduce(w, axis, np.min), 0.0)  # (n,) the grid holds 0
        hi = np.maximum(_reduce(w, axis, np.max), 0.0)  # (n,)
        scale = (hi - lo) / (q_max - q_min)  # (n,)
        safe = np.where(scale > 0, scale, 1.0)  # (n,)
        zero = (q_min - np.round(lo / safe)).astype(np.int32)  # (n,)
    return np.where(scale > 0, scale, 1.0), zero  # (n,) (n,)


def _expand(v, ndim, axis):
    """A per-channel (n,) vector shaped to broadcast along `axis` of an ndim array."""
    if axis is None:
        return v  # (1,) broadcasts everywhere
    shape = [1] * ndim
    shape[axis % ndim] = v.shape[0]
    return v.reshape(shape)  # (1, .., n, .., 1)


def quantize(w, scale, zero_point, bits=8, symmetric=True, axis=None):
    """q = clip(round(w / s) + z, q_min, q_max) as int8 (C4); round half to even, as NumPy."""
    q_min, q_max = qrange(bits, symmetric)
    w = np.asarray(w, dtype=np.float64)  # (..., K, N)
    s = _expand(scale, w.ndim, axis)
    z = _expand(zero_point, w.ndim, axis)
    q = np.clip(np.round(w / s) + z, q_min, q_max)  # (...) same shape as w
    return q.astype(np.int8)


def dequantize(q, scale, zero_point, axis=None, dtype=np.float32):
    """w_hat = (q - z) * s (C4), in `dtype`."""
    s = _expand(np.asarray(scale, dtype=np.float64), q.ndim, axis)  # broadcasts to q
    z = _expand(np.asarray(zero_point, dtype=np.int32), q.ndim, axis)  # broadcasts to q
    return ((q.astype(np.int32) - z) * s).astype(dtype)  # same shape as q


def fake_quantize(w, bits=8, symmetric=True, axis=None):
    """dequantize(quantize(w)): the float values a quantised layer computes with."""
    scale, zero = quant_params(w, bits, symmetric, axis)
    q = quantize(w, scale, zero, bits, symmetric, axis)
    return dequantize(q, scale, zero, axis, np.asarray(w).dtype)


def pack_int4(q):
    """Two int4 values (-8..7) per byte, flattened: byte i = (q[2i] & 0xF) | (q[2i+1] << 4).
    An odd count is padded with one 0. q (...) int8 -> (ceil(size / 2),) uint8."""
    flat = q.reshape(-1).astype(np.int16)  # (n,)
    if (flat < -8).any() or (flat > 7).any():
        raise ValueError("pack_int4: values must lie in [-8, 7]")
    if flat.size % 2:
        flat = np.concatenate([flat, np.zeros(1, np.int16)])  # (n + 1,)
    nibbles = (flat & 0xF).astype(np.uint8)  # (n,) two's complement in 4 bits
    return nibbles[0::2] | (nibbles[1::2] << 4)  # (n / 2,)


def unpack_int4(packed, shape):
    """Inverse of pack_int4: (m,) uint8 -> int8 array of `shape` (sign-extended nibbles)."""
    n = int(np.prod(shape))
    nibbles = np.stack([packed & 0xF, packed >> 4], axis=-1).reshape(-1)[:n]  # (n,)
    return ((nibbles.astype(np.int16) ^ 8) - 8).astype(np.int8).reshape(shape)  # (n,) -> shape


def quantize_rows(x, bits=8):
    """Dynamic symmetric per-row quantisation of activations: s_m = max_k |x_mk| / q_max,
    q_mk = round(x_mk / s_m). x (M, K) float -> (q (M, K) int8, s (M,) float64)."""
    scale, _ = quant_params(x, bits, True, axis=0)  # (M,)
    q = quantize(x, scale, np.zeros_like(scale, np.int32), bits, True, axis=0)  # (M, K) int8
    return q, scale


def int_matmul_reference(a, b):
    """acc = a @ b with int32 accumulation: a (M, K) int8, b (K, N) int8 -> (M, N) int32.
    NumPy's integer matmul (no BLAS): the readable, slow reference."""
    return a.astype(np.int32) @ b.astype(np.int32)  # (M, K) @ (K, N) -> (M, N)


def int_matmul(a, b):
    """The same int32 result as int_matmul_reference, computed by float BLAS: every product of
    two int8 values and every partial sum of K of them is an integer of magnitude at most
    K * 128 * 128, exact in float32 while that is <= 2^24 (K <= 1024), else in float64 (< 2^53).
    So the float matmul IS the integer matmul, bit for bit, at BLAS speed."""
    K = a.shape[-1]
    dtype = np.float32 if K * 128 * 128 <= EXACT_FLOAT32 else np.float64
    acc = a.astype(dtype) @ b.astype(dtype)  # (M, K) @ (K, N) -> (M, N), exact integers
    return acc.astype(np.int32)
