"""Softmax over the last axis as Numba CUDA kernels, one block per row.

  s = exp(x - max x) / sum exp(x - max x)   (F17, max-subtracted);   dx = s * (dy - sum(dy * s))

Versions (reductions through shared memory: the simulator has no warp shuffles):
  v1_smem_reduce   three passes over the row (max, sum of exp, write), each reduced by a
                   shared-memory tree.
  v2_online_smem   online softmax: each thread keeps (running max, rescaled sum), so one pass
                   gives both; the pairs merge in the tree. Two passes over the row, not three.
Both share the backward kernel (one tree reduction of sum(dy * s)). make_v1/make_v2(threads)
build them with another block size (a power of two; the simulator tests use small ones).
Reference: minillm.ops.softmax.softmax_forward / softmax_backward (axis=-1 only).
"""

import functools
import math

from numba import cuda, float32

from .._pair import KernelPair
from .._shapes import last_axis, rows, same_shape
from ._device import empty, f32
from ._reduce import NEG_INF, fmax, online_merge, tree_max, tree_online, tree_sum


@functools.cache
def _kernels(threads):
    @cuda.jit
    def fwd_v1_smem_reduce(x, s):
        buf = cuda.shared.array(threads, float32)
        r, tid, C = cuda.blockIdx.x, cuda.threadIdx.x, x.shape[1]
        m = NEG_INF
        for i in range(tid, C, threads):
            m = fmax(m, x[r, i])
        m = tree_max(buf, m)
        z = float32(0.0)
        for i in range(tid, C, threads):
            z += math.exp(x[r, i] - m)
        inv = float32(1.0) / tree_sum(buf, z)
        for i in range(tid, C, threads):
            s[r, i] = math.exp(x[r, i] - m) * inv

    @cuda.jit
    def fwd_v2_online_smem(x, s):
        buf_m = cuda.shared.array(threads, float32)
        buf_z = cuda.shared.array(threads, float32)
        r, tid, C = cuda.blockIdx.x, cuda.threadIdx.x, x.shape[1]
        m, z = NEG_INF, float32(0.0)
        for i in range(tid, C, threads):
            m, z = online_merge(m, z, x[r, i], float32(1.0))
        m, z = tree_online(buf_m, buf_z, m, z)
        inv = float32(1.0) / z
        for i in range(tid, C, threads):
            s[r, i] = math.exp(x[r, i] - m) * inv

    @cuda.jit
    def bwd_smem_reduce(dy, s, dx):
        buf = cuda.shared.array(threads, float32)
        r, tid, C = cuda.blockIdx.x, cuda.threadIdx.x, s.shape[1]
        dot = float32(0.0)
        for i in range(tid, C, threads):
            dot += dy[r, i] * s[r, i]
        dot = tree_sum(buf, dot)
        for i in range(tid, C, threads):
            dx[r, i] = s[r, i] * (dy[r, i] - dot)

    return {"v1": fwd_v1_smem_reduce, "v2": fwd_v2_online_smem, "bwd": bwd_smem_reduce}


def _make(version, threads):
    if threads & (threads - 1) or threads < 1:
        raise ValueError(f"softmax: threads must be a power of two; got {threads}")

    def forward(x, axis=-1):
        """s = softmax(x) over the last axis (F17); returns (s, s)"""
        x = f32(x, "x", "softmax")
        last_axis(axis, x.ndim, "softmax")
        R, C = rows(x.shape, "softmax")
        s = empty(x.shape)
        if R:
            _kernels(threads)[version][R, threads](x.reshape((R, C)), s.reshape((R, C)))
        return s, s

    def backward(dout, s, axis=-1):
        """dx = s * (dy - sum(dy * s))"""
        dout, s = f32(dout, "dout", "softmax"), f32(s, "s", "softmax")
        last_axis(axis, s.ndim, "softmax")
        same_shape("dout", tuple(dout.shape), "s", tuple(s.shape), "softmax")
        R, C = rows(s.shape, "softmax")
        dx = empty(s.shape)
        if R:
            args = (dout.reshape((R, C)), s.reshape((R, C)), dx.reshape((R, C)))
            _kernels(threads)["bwd"][R, threads](*args)
        return dx

    return KernelPair(forward, backward)


def make_v1(threads=128):
    return _make("v1", threads)


def make_v2(threads=128):
    return _make("v2", threads)


VERSIONS = {"v1_smem_reduce": make_v1(), "v2_online_smem": make_v2()}


def compile_targets():
    """(name, python function, argument types) of each kernel at the default block size, for
    numba.cuda.compile_ptx checks on machines without a GPU."""
    k, a2 = _kernels(128), float32[:, ::1]
    return [
        ("fwd_v1_smem_reduce", k["v1"].py_func, (a2, a2)),
        ("fwd_v2_online_smem", k["v2"].py_func, (a2, a2)),
        ("bwd_smem_reduce", k["bwd"].py_func, (a2, a2, a2)),
    ]
