"""Batched float32 matmul as Numba CUDA kernels: C[z] = A[z] @ B[z].

Versions (the CUDA C twins, with their notes, are in kernels/cupy/matmul.cu):
  v1_naive          one thread per C element, threadIdx.x along N (coalesced B loads, C stores).
  v2_smem_tiles     tile x tile blocks of A and B staged in shared memory (default tile 16).
  v3_reg_block_2d   each thread accumulates a TM x TN block of C in a local (register) array from
                    an A column slice and a B row slice: fewer shared loads per multiply-add.

Operands are passed flat with (batch, row, col) element strides, so the backward's transposed
operands need no copy (host logic: kernels/_matmul_host.py). make_v2(tile) and
make_v3(BM, BN, BK, TM, TN) build the same versions with other tile sizes (the simulator tests
use small ones). Reference: minillm.tensor.primitives.matmul_forward / matmul_backward.
"""

import functools

from numba import cuda, float32, int64

from .._matmul_host import matmul_pair
from .._shapes import check_grid_y
from ._device import blocks, empty, f32, flat, zeros


@cuda.jit
def _v1_naive(A, B, C, M, N, K, sAb, sAm, sAk, sBb, sBk, sBn):
    n = cuda.blockIdx.x * cuda.blockDim.x + cuda.threadIdx.x
    m = cuda.blockIdx.y * cuda.blockDim.y + cuda.threadIdx.y
    z = cuda.blockIdx.z
    if m < M and n < N:
        a0 = z * sAb + m * sAm
        b0 = z * sBb + n * sBn
        acc = float32(0.0)
        for k in range(K):
            acc += A[a0 + k * sAk] * B[b0 + k * sBk]
        C[(z * M + m) * N + n] = acc


@functools.cache
def _v2_kernel(tile):
    @cuda.jit
    def v2_smem_tiles(A, B, C, M, N, K, sAb, sAm, sAk, sBb, sBk, sBn):
        As = cuda.shared.array((tile, tile), float32)
        Bs = cuda.shared.array((tile, tile), float32)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        n = cuda.blockIdx.x * tile + tx
        m = cuda.blockIdx.y * tile + ty
        z = cuda.blockIdx.z
        acc = float32(0.0)
        for k0 in range(0, K, tile):
            # zero-fill outside the matrix so the inner loop needs no bounds test
            As[ty, tx] = A[z * sAb + m * sAm + (k0 + tx) * sAk] if m < M and k0 + tx < K else 0
            Bs[ty, tx] = B[z * sBb + (k0 + ty) * sBk + n * sBn] if k0 + ty < K and n < N else 0
            cuda.syncthreads()
            for k in range(tile):
                acc += As[ty, k] * Bs[k, tx]
            cuda.syncthreads()
        if m < M and n < N:
            C[(z * M + m) * N + n] = acc

    return v2_smem_tiles


@functools.cache
def _v3_kernel(BM, BN, BK, TM, TN):
    NT = (BM // TM) * (BN // TN)  # threads per block

    @cuda.jit
    def v3_reg_block_2d(A, B, C, M, N, K, sAb, sAm, sAk, sBb, sBk, sBn):
        As = cuda.shared.array((BK, BM), float32)  # transposed: a column of the A tile is a row
        Bs = cuda.shared.array((BK, BN), float32)
        acc = cuda.local.array((TM, TN), float32)
        ra = cuda.local.array(TM, float32)
        rb = cuda.local.array(TN, float32)
        tid = cuda.threadIdx.x
        tcol = tid % (BN // TN)
        trow = tid // (BN // TN)
        m0 = cuda.blockIdx.y * BM
        n0 = cuda.blockIdx.x * BN
        z = cuda.blockIdx.z
        for i in range(TM):
            for j in range(TN):
                acc[i, j] = 0
        for k0 in range(0, K, BK):
            for i in range(tid, BM * BK, NT):  # consecutive threads: consecutive k
                r, c = i // BK, i % BK
                ok = m0 + r < M and k0 + c < K
                As[c, r] = A[z * sAb + (m0 + r) * sAm + (k0 + c) * sAk] if ok else 0
            for i in range(tid, BK * BN, NT):  # consecutive threads: consecutive n
                r, c = i // BN, i % BN
                ok = k0 + r < K and n0 + c < N
                Bs[r, c] = B[z * sBb + (k0 + r) * sBk + (n0 + c) * sBn] if ok else 0
            cuda.syncthreads()
            for k in range(BK):
                for i in range(TM):
                    ra[i] = As[k, trow * TM + i]
                for j in range(TN):
                    rb[j] = Bs[k, tcol * TN + j]
                for i in range(TM):
                    for j in range(TN):
                        acc[i, j] += ra[i] * rb[j]
            cuda.syncthreads()
        for i in range(TM):
            for j in range(TN):
                m, n = m0 + trow * TM + i, n0 + tcol * TN + j
                if m < M and n < N:
                    C[(z * M + m) * N + n] = acc[i, j]

    return v3_reg_block_2d


def _launcher(kern, grid_of, block):
    def launch(A, sA, B, sB, Bt, M, K, N):
        C = empty(Bt * M * N)
        grid = grid_of(Bt, M, N)
        check_grid_y(grid[1], M, "matmul")
        kern[grid, block](flat(A), flat(B), C, M, N, K, *sA, *sB)
        return C.reshape((Bt, M, N))

    return launch


def launcher_v1(block=(16, 16)):
    """The v1_naive launcher (attention.py's v1_naive reuses it for q k^T, P v, ...)."""
    bx, by = block
    return _launcher(_v1_naive, lambda Bt, M, N: (blocks(N, bx), blocks(M, by), Bt), block)


def make_v1(block=(16, 16)):
    """v1_naive with a (bx, by) thread block."""
    return matmul_pair(launcher_v1(block), f32, zeros)


def make_v2(tile=16):
    """v2_smem_tiles with tile x tile threads per block."""
    grid = lambda Bt, M, N: (blocks(N, tile), blocks(M, tile), Bt)  # noqa: E731
    return matmul_pair(_launcher(_v2_kernel(tile), grid, (tile, tile)), f32, zeros)


def make_v3(BM=64, BN=64, BK=8, TM=4, TN=4):
    """v3_reg_block_2d: BM x BN tile of C per block, TM x TN per thread, BK-deep k steps."""
    if BM % TM or BN % TN:
        raise ValueError(f"matmul v3: TM={TM}, TN={TN} must divide BM={BM}, BN={BN}")
    grid = lambda Bt, M, N: (blocks(N, BN), blocks(M, BM), Bt)  # noqa: E731
    block = ((BM // TM) * (BN // TN),)
    return matmul_pair(_launcher(_v3_kernel(BM, BN, BK, TM, TN), grid, block), f32, zeros)


VERSIONS = {
    "v1_naive": make_v1(),
    "v2_smem_tiles": make_v2(),
    "v3_reg_block_2d": make_v3(),
}


def compile_targets():
    """(name, python function, argument types) of each kernel at the default tile sizes, for
    numba.cuda.compile_ptx checks on machines without a GPU."""
    sig = (float32[::1], float32[::1], float32[::1]) + (int64,) * 9
    return [
        ("v1_naive", _v1_naive.py_func, sig),
        ("v2_smem_tiles", _v2_kernel(16).py_func, sig),
        ("v3_reg_block_2d", _v3_kernel(64, 64, 8, 4, 4).py_func, sig),
    ]
