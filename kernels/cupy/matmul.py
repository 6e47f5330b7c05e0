"""Batched float32 matmul in CUDA C (source and version notes: matmul.cu).

Versions: v1_naive, v2_smem_tiles, v3_reg_block_2d, v4_float4 (see the header of matmul.cu).
Reference: minillm.tensor.primitives.matmul_forward / matmul_backward.
"""

import cupy
from cupy.lib.stride_tricks import as_strided

from .._matmul_host import matmul_pair
from .._shapes import check_grid_y
from ._module import blocks, f32, i32, i64, kernel

CU_FILE = "matmul.cu"
_V2 = "matmul_v2_smem_tiles<32>"
_V3 = "matmul_v3_reg_block_2d<128, 128, 8, 8, 8>"
_V4 = "matmul_v4_float4<128, 128, 8, 8, 8>"
KERNEL_NAMES = ("matmul_v1_naive", _V2, _V3, _V4)


def _zeros(shape):
    return cupy.zeros(shape, dtype=cupy.float32)


def _strided_launcher(name, tile_n, tile_m, block):
    """Launcher of a v1-v3 kernel: one block per tile_m x tile_n tile of C, strided A and B."""

    def launch(A, sA, B, sB, Bt, M, K, N):
        C = cupy.empty((Bt, M, N), dtype=cupy.float32)
        args = (A, B, C, i32(M), i32(N), i32(K), *map(i64, sA), *map(i64, sB))
        grid = (blocks(N, tile_n), blocks(M, tile_m), Bt)
        check_grid_y(grid[1], M, f"matmul {name}")
        kernel(CU_FILE, KERNEL_NAMES, name)(grid, block, args)
        return C

    return launch


def _row_major(X, sX, shape):
    """X viewed through strides sX as `shape`, made row-major (copies transposed views)."""
    view = as_strided(X, shape=shape, strides=tuple(4 * s for s in sX))
    return cupy.ascontiguousarray(view)


def _launch_v4(A, sA, B, sB, Bt, M, K, N):
    A = _row_major(A, sA, (Bt, M, K))  # (Bt, M, K)
    B = _row_major(B, sB, (Bt, K, N))  # (Bt, K, N)
    C = cupy.empty((Bt, M, N), dtype=cupy.float32)
    vec_a = K % 4 == 0 and A.data.ptr % 16 == 0  # 128-bit loads need 16-byte aligned rows
    vec_b = N % 4 == 0 and B.data.ptr % 16 == 0
    args = (A, B, C, i32(M), i32(N), i32(K), i32(vec_a), i32(vec_b), i32(N % 4 == 0))
    check_grid_y(blocks(M, 128), M, "matmul v4_float4")
    kernel(CU_FILE, KERNEL_NAMES, _V4)((blocks(N, 128), blocks(M, 128), Bt), (256,), args)
    return C


# attention.py's v1_naive reuses this launcher for q k^T, P v and the backward products
launch_v1_naive = _strided_launcher("matmul_v1_naive", 32, 8, (32, 8))

VERSIONS = {
    "v1_naive": matmul_pair(launch_v1_naive, f32, _zeros),
    "v2_smem_tiles": matmul_pair(_strided_launcher(_V2, 32, 32, (32, 32)), f32, _zeros),
    "v3_reg_block_2d": matmul_pair(_strided_launcher(_V3, 128, 128, (256,)), f32, _zeros),
    "v4_float4": matmul_pair(_launch_v4, f32, _zeros),
}
