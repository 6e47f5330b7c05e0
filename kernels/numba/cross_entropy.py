"""Cross-entropy fused with the softmax, as Numba CUDA kernels (probabilities never stored).

  l_n = logsumexp(z_n) - z_{n, y_n};  loss = mean over non-ignored rows, sum, or l itself
  dz_n = (exp(z_n - lse_n) - onehot(y_n)) dl_n, 0 at ignored rows (dl_n / #valid for "mean")

Versions:
  v1_smem_reduce   one block per row: max pass and sum-of-exp pass, shared-memory trees; the
                   row's lse is kept for the backward. One block then sums the row losses and
                   counts the valid rows (fixed order: deterministic).
The backward is one block per row recomputing exp(z - lse). make_v1(threads) takes another
block size (a power of two). Reference: minillm.ops.cross_entropy.
Targets are checked on the host first: an id outside [0, V) that is not ignore_index raises
IndexError naming its position, as the reference does.
"""

import functools
import math

import numpy as np
from numba import boolean, cuda, float32, int64

from .._pair import KernelPair
from .._shapes import cross_entropy_dims, same_shape
from ._device import empty, f32, i64
from ._reduce import NEG_INF, fmax, tree_max, tree_sum


@functools.cache
def _kernels(threads):
    @cuda.jit
    def fwd_v1_smem_reduce(z, targets, losses, lse, ignore_index):
        buf = cuda.shared.array(threads, float32)
        r, tid, V = cuda.blockIdx.x, cuda.threadIdx.x, z.shape[1]
        m = NEG_INF
        for i in range(tid, V, threads):
            m = fmax(m, z[r, i])
        m = tree_max(buf, m)
        s = float32(0.0)
        for i in range(tid, V, threads):
            s += math.exp(z[r, i] - m)
        s = tree_sum(buf, s)
        if tid == 0:
            L = m + math.log(s)
            t = targets[r]
            lse[r] = L
            losses[r] = float32(0.0) if t == ignore_index else L - z[r, t]

    @cuda.jit
    def reduce(losses, targets, ignore_index, mean, out, n_valid):
        buf = cuda.shared.array(threads, float32)
        tid = cuda.threadIdx.x
        s, c = float32(0.0), float32(0.0)
        for i in range(tid, losses.shape[0], threads):
            s += losses[i]
            c += float32(1.0) if targets[i] != ignore_index else float32(0.0)
        s = tree_sum(buf, s)
        c = tree_sum(buf, c)
        if tid == 0:
            out[0] = s / c if mean else s  # no valid row: 0/0 = nan, as the reference
            n_valid[0] = c

    @cuda.jit
    def bwd(z, targets, lse, dloss, n_valid, dz, ignore_index, per_row, mean):
        r, tid, V = cuda.blockIdx.x, cuda.threadIdx.x, z.shape[1]
        t = targets[r]
        g = float32(0.0)
        if t != ignore_index:
            g = dloss[r] if per_row else dloss[0]
            if mean:
                g = g / n_valid[0]
        for i in range(tid, V, threads):
            dz[r, i] = g * (math.exp(z[r, i] - lse[r]) - (float32(1.0) if i == t else 0))

    return fwd_v1_smem_reduce, reduce, bwd


def _host(targets):
    if cuda.devicearray.is_cuda_ndarray(targets):
        return targets.copy_to_host()
    if hasattr(targets, "__cuda_array_interface__"):  # CuPy
        return cuda.as_cuda_array(targets).copy_to_host()
    return np.asarray(targets)


def _check_targets(t, V, ignore_index):
    bad = (t != ignore_index) & ((t < 0) | (t >= V))
    if bad.any():
        i = int(bad.argmax())
        raise IndexError(
            f"cross_entropy target: id {int(t[i])} at flat position {i} is out of range [0, {V})"
        )


def make_v1(threads=128):
    if threads & (threads - 1) or threads < 1:
        raise ValueError(f"cross_entropy: threads must be a power of two; got {threads}")
    fwd, reduce, bwd = _kernels(threads)

    def forward(logits, targets, ignore_index=-100, reduction="mean"):
        """l_n = logsumexp(z_n) - z_{n, y_n}; mean over non-ignored rows, sum, or none"""
        logits = f32(logits, "logits", "cross_entropy")
        host_t = _host(targets)  # checked on the host: ids outside [0, V) raise IndexError
        N, V = cross_entropy_dims(logits.shape, host_t.shape, reduction)
        _check_targets(host_t, V, ignore_index)
        t = i64(host_t, "targets", "cross_entropy")
        losses, lse = empty(N), empty(N)  # (N,) each
        out, n_valid = empty(1), empty(1)
        if N:
            fwd[N, threads](logits, t, losses, lse, ignore_index)
        reduce[1, threads](losses, t, ignore_index, reduction == "mean", out, n_valid)
        loss = losses if reduction == "none" else out.reshape(())
        return loss, (logits, t, lse, n_valid, ignore_index, reduction)

    def backward(dloss, cache):
        """dz_n = (softmax(z_n) - onehot(y_n)) dl_n, 0 at ignored rows, / #valid for "mean\""""
        logits, t, lse, n_valid, ignore_index, reduction = cache
        N, V = tuple(logits.shape)
        dloss = f32(dloss, "dloss", "cross_entropy")
        want = (N,) if reduction == "none" else ()
        same_shape("dloss", tuple(dloss.shape), "loss", want, "cross_entropy")
        dz = empty((N, V))
        if N:
            args = (logits, t, lse, dloss.reshape(dloss.size), n_valid, dz, ignore_index)
            bwd[N, threads](*args, reduction == "none", reduction == "mean")
        return dz

    return KernelPair(forward, backward)


VERSIONS = {"v1_smem_reduce": make_v1()}


def compile_targets():
    """(name, python function, argument types) of each kernel at the default block size, for
    numba.cuda.compile_ptx checks on machines without a GPU."""
    fwd, reduce, bwd = _kernels(128)
    a1, a2, t = float32[::1], float32[:, ::1], int64[::1]
    return [
        ("fwd_v1_smem_reduce", fwd.py_func, (a2, t, a1, a1, int64)),
        ("reduce", reduce.py_func, (a1, t, int64, boolean, a1, a1)),
        ("bwd", bwd.py_func, (a2, t, a1, a1, a1, a2, int64, boolean, boolean)),
    ]
