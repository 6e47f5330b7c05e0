"""Layer norm over the last axis as Numba CUDA kernels, one block per row.

  mu = mean(x), var = mean((x - mu)^2) (biased), rstd = 1/sqrt(var + eps), y = xhat gamma + beta
  dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy gamma;  dgamma = sum dy xhat, dbeta = sum dy

Versions (shared-memory reductions: the simulator has no warp shuffles):
  v1_two_pass   pass 1 sums x for mu, pass 2 sums (x - mu)^2, each with a shared-memory tree.
  v2_welford    one pass: each thread runs Welford's update on its elements, then the
                (n, mean, M2) triples merge in a shared tree (Chan et al.'s parallel formula).
Both share the backward: dx by one block per row (two tree sums), dgamma/dbeta by a column kernel
(cols x rows_per threads per block: columns coalesced, rows strided, partials summed in shared
memory; deterministic). make_v1/make_v2(threads, cols, rows_per) take other block sizes.
Reference: minillm.ops.layer_norm; the cache has its layout (x, gamma, mean, rstd, has_beta).
"""

import functools
import math

from numba import boolean, cuda, float32, float64

from .._pair import KernelPair
from .._shapes import rows, same_shape
from ._device import blocks, empty, f32, zeros
from ._reduce import tree_sum


@cuda.jit(device=True)
def _affine(xhat, gamma, beta, i, has_gamma, has_beta):
    g = gamma[i] if has_gamma else float32(1.0)
    return xhat * g + beta[i] if has_beta else xhat * g


@cuda.jit(device=True)
def _welford_merge(n, m, m2, nb, mb, m2b):
    """Merge Welford triple (nb, mb, m2b) into (n, m, m2) (Chan, Golub & LeVeque)."""
    nt = n + nb
    if nt == 0:
        return n, m, m2
    d = mb - m
    wb = nb / nt
    return nt, m + d * wb, m2 + m2b + d * d * n * wb


@functools.cache
def _kernels(threads, cols, rows_per):
    @cuda.jit
    def fwd_v1_two_pass(x, gamma, beta, y, mean, rstd, eps, has_gamma, has_beta):
        buf = cuda.shared.array(threads, float32)
        r, tid, C = cuda.blockIdx.x, cuda.threadIdx.x, x.shape[1]
        s = float32(0.0)
        for i in range(tid, C, threads):
            s += x[r, i]
        mu = tree_sum(buf, s) / C
        v = float32(0.0)
        for i in range(tid, C, threads):
            v += (x[r, i] - mu) * (x[r, i] - mu)
        rs = float32(1.0) / math.sqrt(tree_sum(buf, v) / C + eps)
        for i in range(tid, C, threads):
            y[r, i] = _affine((x[r, i] - mu) * rs, gamma, beta, i, has_gamma, has_beta)
        if tid == 0:
            mean[r] = mu
            rstd[r] = rs

    @cuda.jit
    def fwd_v2_welford(x, gamma, beta, y, mean, rstd, eps, has_gamma, has_beta):
        bn = cuda.shared.array(threads, float32)
        bm = cuda.shared.array(threads, float32)
        b2 = cuda.shared.array(threads, float32)
        r, tid, C = cuda.blockIdx.x, cuda.threadIdx.x, x.shape[1]
        n, m, m2 = float32(0.0), float32(0.0), float32(0.0)
        for i in range(tid, C, threads):  # Welford: one pass, no catastrophic cancellation
            n += float32(1.0)
            d = x[r, i] - m
            m += d / n
            m2 += d * (x[r, i] - m)
        bn[tid], bm[tid], b2[tid] = n, m, m2
        cuda.syncthreads()
        s = threads // 2
        while s > 0:
            if tid < s:
                n, m, m2 = _welford_merge(n, m, m2, bn[tid + s], bm[tid + s], b2[tid + s])
                bn[tid], bm[tid], b2[tid] = n, m, m2
            cuda.syncthreads()
            s //= 2
        mu = bm[0]
        rs = float32(1.0) / math.sqrt(b2[0] / C + eps)
        for i in range(tid, C, threads):
            y[r, i] = _affine((x[r, i] - mu) * rs, gamma, beta, i, has_gamma, has_beta)
        if tid == 0:
            mean[r] = mu
            rstd[r] = rs

    @cuda.jit
    def bwd_dx(dy, x, gamma, mean, rstd, dx, has_gamma):
        buf = cuda.shared.array(threads, float32)
        r, tid, C = cuda.blockIdx.x, cuda.threadIdx.x, x.shape[1]
        mu, rs = mean[r], rstd[r]
        sg, sgx = float32(0.0), float32(0.0)
        for i in range(tid, C, threads):
            g = dy[r, i] * gamma[i] if has_gamma else dy[r, i]
            sg += g
            sgx += g * (x[r, i] - mu) * rs
        mg = tree_sum(buf, sg) / C
        mgx = tree_sum(buf, sgx) / C
        for i in range(tid, C, threads):
            g = dy[r, i] * gamma[i] if has_gamma else dy[r, i]
            dx[r, i] = rs * (g - mg - (x[r, i] - mu) * rs * mgx)

    @cuda.jit
    def bwd_dparams(dy, x, mean, rstd, dgamma, dbeta):
        sg = cuda.shared.array((rows_per, cols), float32)
        sb = cuda.shared.array((rows_per, cols), float32)
        tx, ty = cuda.threadIdx.x, cuda.threadIdx.y
        R, C = x.shape
        c = cuda.blockIdx.x * cols + tx
        g, b = float32(0.0), float32(0.0)
        if c < C:
            for r in range(ty, R, rows_per):
                g += dy[r, c] * (x[r, c] - mean[r]) * rstd[r]
                b += dy[r, c]
        sg[ty, tx] = g
        sb[ty, tx] = b
        cuda.syncthreads()
        if ty == 0 and c < C:
            for k in range(1, rows_per):
                g += sg[k, tx]
                b += sb[k, tx]
            dgamma[c] = g
            dbeta[c] = b

    return {"v1": fwd_v1_two_pass, "v2": fwd_v2_welford, "dx": bwd_dx, "dparams": bwd_dparams}


def _param(p, name, C):
    if p is None:
        return None
    p = f32(p, name, "layer_norm")
    same_shape(name, tuple(p.shape), "(C,)", (C,), "layer_norm")
    return p


def _make(version, threads, cols, rows_per):
    if threads & (threads - 1) or threads < 1:
        raise ValueError(f"layer_norm: threads must be a power of two; got {threads}")
    ks = _kernels(threads, cols, rows_per)

    def forward(x, gamma, beta, eps=1e-5):
        """y = (x - mu) / sqrt(var + eps) * gamma + beta over the last axis (biased var)"""
        x = f32(x, "x", "layer_norm")
        R, C = rows(x.shape, "layer_norm")
        gamma, beta = _param(gamma, "gamma", C), _param(beta, "beta", C)
        y = empty(x.shape)
        lead = tuple(x.shape)[:-1] + (1,)
        mean, rstd = empty(lead), empty(lead)
        g = x.reshape(x.size) if gamma is None else gamma  # any array when the flag says absent
        b = x.reshape(x.size) if beta is None else beta
        if R:
            x2, y2 = x.reshape((R, C)), y.reshape((R, C))
            args = (x2, g, b, y2, mean.reshape(R), rstd.reshape(R), float(eps))
            ks[version][R, threads](*args, gamma is not None, beta is not None)
        return y, (x, gamma, mean, rstd, beta is not None)

    def backward(dy, cache):
        """dx = rstd (g - mean(g) - xhat mean(g xhat)), g = dy gamma; dgamma, dbeta row sums"""
        x, gamma, mean, rstd, has_beta = cache
        dy = f32(dy, "dy", "layer_norm")
        same_shape("dy", tuple(dy.shape), "x", tuple(x.shape), "layer_norm")
        R, C = rows(x.shape, "layer_norm")
        dx = empty(x.shape)
        dgamma, dbeta = zeros(C), zeros(C)
        if R:
            dy2, x2, m1, r1 = (
                dy.reshape((R, C)),
                x.reshape((R, C)),
                mean.reshape(R),
                rstd.reshape(R),
            )
            g = x.reshape(x.size) if gamma is None else gamma
            ks["dx"][R, threads](dy2, x2, g, m1, r1, dx.reshape((R, C)), gamma is not None)
            if gamma is not None or has_beta:
                grid = blocks(C, cols)
                ks["dparams"][grid, (cols, rows_per)](dy2, x2, m1, r1, dgamma, dbeta)
        return dx, (dgamma if gamma is not None else None), (dbeta if has_beta else None)

    return KernelPair(forward, backward)


def make_v1(threads=128, cols=32, rows_per=8):
    return _make("v1", threads, cols, rows_per)


def make_v2(threads=128, cols=32, rows_per=8):
    return _make("v2", threads, cols, rows_per)


VERSIONS = {"v1_two_pass": make_v1(), "v2_welford": make_v2()}


def compile_targets():
    """(name, python function, argument types) of each kernel at the default block sizes, for
    numba.cuda.compile_ptx checks on machines without a GPU."""
    k, a1, a2 = _kernels(128, 32, 8), float32[::1], float32[:, ::1]
    fwd = (a2, a1, a1, a2, a1, a1, float64, boolean, boolean)
    return [
        ("fwd_v1_two_pass", k["v1"].py_func, fwd),
        ("fwd_v2_welford", k["v2"].py_func, fwd),
        ("bwd_dx", k["dx"].py_func, (a2, a2, a1, a1, a1, a2, boolean)),
        ("bwd_dparams", k["dparams"].py_func, (a2, a2, a1, a1, a1, a1)),
    ]
