"""Block-wide reductions through shared memory, as Numba device functions.

The simulator has no warp shuffles, so every Numba kernel reduces with a shared-memory tree:
each level halves the active threads, with a syncthreads per level. blockDim.x must be a power
of two and every buffer blockDim.x long. All threads of the block must call these (barriers).
"""

import math

from numba import cuda, float32

NEG_INF = float32(-math.inf)


@cuda.jit(device=True)
def fmax(a, b):
    """max(a, b): the builtin max is an overload that compile_ptx cannot build without a GPU."""
    return a if a > b else b


@cuda.jit(device=True)
def exp_sub(a, b):
    """exp(a - b), and 0 for a = -inf even when b is -inf too (a masked or empty row)."""
    return float32(0.0) if a == NEG_INF else math.exp(a - b)


@cuda.jit(device=True)
def tree_sum(buf, v):
    tid = cuda.threadIdx.x
    buf[tid] = v
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            buf[tid] += buf[tid + s]
        cuda.syncthreads()
        s //= 2
    r = buf[0]
    cuda.syncthreads()  # buf is reused by the next reduction
    return r


@cuda.jit(device=True)
def tree_max(buf, v):
    tid = cuda.threadIdx.x
    buf[tid] = v
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            buf[tid] = fmax(buf[tid], buf[tid + s])
        cuda.syncthreads()
        s //= 2
    r = buf[0]
    cuda.syncthreads()
    return r


@cuda.jit(device=True)
def online_merge(m, z, m2, z2):
    """Merge online-softmax pairs (running max, sum of exp(x - max)): returns (m, z)."""
    mn = fmax(m, m2)
    return mn, z * exp_sub(m, mn) + z2 * exp_sub(m2, mn)


@cuda.jit(device=True)
def tree_online(buf_m, buf_z, m, z):
    """Block-wide online_merge of every thread's (m, z); each thread gets the row's pair."""
    tid = cuda.threadIdx.x
    buf_m[tid] = m
    buf_z[tid] = z
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if tid < s:
            mm, zz = online_merge(buf_m[tid], buf_z[tid], buf_m[tid + s], buf_z[tid + s])
            buf_m[tid] = mm
            buf_z[tid] = zz
        cuda.syncthreads()
        s //= 2
    m, z = buf_m[0], buf_z[0]
    cuda.syncthreads()
    return m, z
