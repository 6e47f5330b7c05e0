"""Host logic shared by every matmul version of both backends.

A version supplies one launcher, ``launch(A, sA, B, sB, Bt, rows, inner, cols) -> C``, computing
C (Bt, rows, cols) = A (Bt, rows, inner) @ B (Bt, inner, cols) from element strides
sA = (batch, row, col) and sB. The backward is two more launches on transposed strides, so it
needs no transpose copies (y = a @ b; da = dy b^T, db = a^T dy, as in the reference).
"""

from ._pair import KernelPair
from ._shapes import matmul_dims, same_shape


def _bmm(launch, zeros, A, sA, B, sB, Bt, rows, inner, cols):
    if Bt * rows * cols * inner == 0:  # empty product: nothing to launch, the sum over k is 0
        return zeros((Bt, rows, cols))
    return launch(A, sA, B, sB, Bt, rows, inner, cols)  # (Bt, rows, cols)


def matmul_pair(launch, as_f32, zeros) -> KernelPair:
    """The KernelPair of one matmul version (as_f32/zeros: the backend's array helpers)."""

    def forward(a, b):
        """y = a @ b   ((..., M, K) @ (..., K, N), or (..., M, K) @ (K, N) as one GEMM)"""
        a, b = as_f32(a, "a", "matmul"), as_f32(b, "b", "matmul")
        Bt, M, K, N, _ = matmul_dims(a.shape, b.shape)
        c = _bmm(launch, zeros, a, (M * K, K, 1), b, (K * N, N, 1), Bt, M, K, N)  # (Bt, M, N)
        return c.reshape(tuple(a.shape)[:-1] + (N,)), (a, b, (Bt, M, K, N))

    def backward(dout, cache):
        """da = dy b^T, db = a^T dy (b 2-D: summed over the folded rows by the GEMM itself)"""
        a, b, (Bt, M, K, N) = cache
        dout = as_f32(dout, "dout", "matmul")
        same_shape("dout", tuple(dout.shape), "y", tuple(a.shape)[:-1] + (N,), "matmul")
        # b^T: element (n, k) of batch z sits at b[z, k, n], strides (K*N, 1, N)
        da = _bmm(launch, zeros, dout, (M * N, N, 1), b, (K * N, 1, N), Bt, M, N, K)  # (Bt, M, K)
        # a^T: element (k, m) sits at a[z, m, k], strides (M*K, 1, K)
        db = _bmm(launch, zeros, a, (M * K, 1, K), dout, (M * N, N, 1), Bt, K, M, N)  # (Bt, K, N)
        return da.reshape(a.shape), db.reshape(b.shape)

    return KernelPair(forward, backward)
